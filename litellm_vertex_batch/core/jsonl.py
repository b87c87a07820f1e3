"""JSON Lines the way Vertex and OpenAI clients read them: strict parsing, safe writing.

Python's json module accepts NaN/Infinity (not JSON) and writes U+0085/U+2028/U+2029 raw, which line
splitters such as ``str.splitlines`` treat as line breaks; lone surrogate escapes cannot be encoded as UTF-8.
The ``*_fast`` forms use orjson on hot paths and fall back to these rules wherever orjson would differ.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to infinity, which no JSON writer can write back
        raise ValueError(f"the number {text[:40]} is too large to be represented")
    return value


def loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN, Infinity, -Infinity and numbers that overflow to infinity."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


#: Every digit made "0", so that a run of 19 digits (long enough to be an integer orjson would read as a float:
#: beyond 64 bits, where json keeps it exact) is one substring search (a regex is 15x slower here).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def has_long_digits(raw: bytes) -> bool:
    """Whether ``raw`` may hold an integer orjson would read as a float."""
    return _LONG_RUN in raw.translate(_DIGITS_AS_ZERO)


def loads_fast(raw: bytes) -> Any:
    """``loads`` by orjson where orjson reads the same value; otherwise (long integers, lone surrogate escapes,
    anything orjson refuses) ``loads`` itself decides, so results and errors are exactly those of ``loads``."""
    if not has_long_digits(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return loads(raw.decode("utf-8"))


def top_level_keys(text: str | bytes) -> list[str]:
    """The keys of a JSON object line in their written order, repeats included (``loads`` keeps the last)."""
    found: list[list[str]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        found.append([key for key, _ in items])
        return dict(items)

    json.loads(text, object_pairs_hook=pairs, parse_constant=_reject_constant)
    return found[-1] if found else []


def dumps_line(value: Any) -> bytes:
    """One UTF-8 JSON line; raises UnicodeEncodeError for text with a lone surrogate."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in _LINE_BREAKS.items():
        if char in text:
            text = text.replace(char, escaped)
    return text.encode("utf-8") + b"\n"


_RAW_LINE_BREAKS = ((b"\xc2\x85", b"\\u0085"), (b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))


def dumps_line_fast(value: Any) -> bytes:
    """``dumps_line`` by orjson, for values read from JSON (so no NaN, which orjson would write as null);
    whatever orjson cannot write (lone surrogates, integers beyond 64 bits) goes through ``dumps_line``."""
    try:
        data = orjson.dumps(value)
    except (TypeError, ValueError, OverflowError):
        return dumps_line(value)
    if data.isascii():  # the three line breaks are not ASCII: one quick pass instead of three searches
        return data + b"\n"
    for raw, escaped in _RAW_LINE_BREAKS:
        if raw in data:
            data = data.replace(raw, escaped)
    return data + b"\n"

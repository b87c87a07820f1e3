"""JSON Lines the way Vertex and OpenAI clients read them: strict parsing, safe writing.

Python's json module accepts NaN/Infinity (not JSON) and writes U+0085/U+2028/U+2029 raw, which line
splitters such as ``str.splitlines`` treat as line breaks; lone surrogate escapes cannot be encoded as UTF-8.
"""

from __future__ import annotations

import json
import math
from typing import Any

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

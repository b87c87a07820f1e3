"""JSON Lines the way Vertex and OpenAI clients read them: strict parsing, safe writing.

Python's json module accepts NaN/Infinity (not JSON) and writes U+0085/U+2028/U+2029 raw, which line
splitters such as ``str.splitlines`` treat as line breaks; lone surrogate escapes cannot be encoded as UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses NaN, Infinity and -Infinity."""
    return json.loads(text, parse_constant=_reject_constant)


def dumps_line(value: Any) -> bytes:
    """One UTF-8 JSON line; raises UnicodeEncodeError for text with a lone surrogate."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in _LINE_BREAKS.items():
        if char in text:
            text = text.replace(char, escaped)
    return text.encode("utf-8") + b"\n"

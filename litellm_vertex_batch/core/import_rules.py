"""What Vertex's batch importer accepts, checked before anything is uploaded.

Vertex imports a JSONL input like a BigQuery load: every key must be a valid column name, objects nest
at most 15 levels below the row, arrays hold no arrays, no object may be empty, and each key path has
one type across the whole file. One
bad line fails the whole job hours later, so lines are rewritten where that is safe (JSON-schema
``$ref``/``$defs`` inlined) and refused otherwise. Pure code, no I/O.
"""

from __future__ import annotations

import copy
import re
from typing import Any

MAX_DEPTH = 15
#: Objects and arrays an input line may nest before it is refused unread: a line Vertex could import
#: stays well below (15 object levels, never an array directly in an array), and every later step,
#: LiteLLM's mapping included, recurses per level.
MAX_LINE_NESTING = 40
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCHEMA_DEF_KEYS = ("$defs", "definitions")


def inline_schema_refs(value: Any) -> Any:
    """``value`` with every JSON-schema ``$ref`` to local ``$defs``/``definitions`` replaced by its target.

    Recursive schemas cannot be inlined; their ``$ref`` is left in place and refused by ``row_problems``.
    """
    if isinstance(value, list):
        return [inline_schema_refs(item) for item in value]
    if not isinstance(value, dict):
        return value
    defs = {}
    for key in _SCHEMA_DEF_KEYS:
        if isinstance(value.get(key), dict):
            defs.update({f"#/{key}/{name}": schema for name, schema in value[key].items()})
    node = {k: inline_schema_refs(v) for k, v in value.items() if not (defs and k in _SCHEMA_DEF_KEYS)}
    return _resolve(node, defs, ()) if defs else node


def _resolve(node: Any, defs: dict[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref in defs and ref not in seen:
        target = copy.deepcopy(defs[ref])
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, defs, seen + (ref,))
    return {k: _resolve(v, defs, seen) for k, v in node.items()}


def nesting_problem(value: Any, limit: int = MAX_LINE_NESTING) -> str | None:
    """Why ``value`` nests too deeply to be processed, found without recursion; None when it does not."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth >= limit:
                return (f"nests objects and arrays more than {limit} levels deep (Vertex imports at most "
                        f"{MAX_DEPTH} levels of nested objects)")
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return None


def row_problems(row: Any, limit: int = 3) -> list[str]:
    """Why Vertex's importer would reject this row (at most ``limit`` reasons), or [] if it would not."""
    problems: list[str] = []
    _walk(row, "", 0, problems, limit)
    return problems


def _walk(value: Any, path: str, depth: int, problems: list[str], limit: int) -> None:
    if len(problems) >= limit:
        return
    if isinstance(value, dict):
        if depth > MAX_DEPTH:  # the row is level 0, as BigQuery counts nested levels
            problems.append(f"nesting deeper than {MAX_DEPTH} levels at {path or 'top level'}")
            return
        if not value and path:
            problems.append(f"empty object at {path} (Vertex rejects empty objects)")
            return
        for key, item in value.items():
            if not _COLUMN_NAME.fullmatch(key):
                problems.append(f"key {key!r} at {path or 'top level'} is not a valid field name for Vertex "
                                "(letters, digits and underscores, not starting with a digit)")
                if len(problems) >= limit:
                    return
                continue
            _walk(item, f"{path}.{key}" if path else key, depth + 1, problems, limit)
    elif isinstance(value, list):
        if any(isinstance(item, list) for item in value):
            problems.append(f"array of arrays at {path or 'top level'} (Vertex does not accept nested arrays)")
            return
        for item in value:
            _walk(item, f"{path}[]", depth, problems, limit)


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class TypeTracker:
    """Remembers the type of each key path across the file; memory grows with distinct paths, not lines."""

    def __init__(self) -> None:
        self._types: dict[str, tuple[str, int]] = {}

    def conflicts(self, row: Any, line_no: int) -> list[str]:
        found: list[str] = []
        self._observe(row, "", line_no, found)
        return list(dict.fromkeys(found))[:3]

    def _observe(self, value: Any, path: str, line_no: int, found: list[str]) -> None:
        kind = _kind(value)
        if kind is None:
            return
        if path:
            seen = self._types.setdefault(path, (kind, line_no))
            if seen[0] != kind:
                found.append(f"{path} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} here but "
                             f"{'an' if seen[0][0] in 'aeiou' else 'a'} {seen[0]} on line {seen[1]} "
                             "(Vertex needs one type per field across the file)")
                return
        if isinstance(value, dict):
            for key, item in value.items():
                self._observe(item, f"{path}.{key}" if path else key, line_no, found)
        elif isinstance(value, list):
            for item in value:
                self._observe(item, f"{path}[]", line_no, found)

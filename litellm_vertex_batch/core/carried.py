"""What a Vertex row carries back of the OpenAI line it came from, so every output row finds its custom_id.

Every row holds ``"custom_id": "cid:<custom_id>"`` as an extra field, which Vertex echoes on the output row (a
text-embedding row is its own instance, echoed as ``instance``). The ``cid:`` prefix keeps a numeric-looking
custom_id a string. A row that is one of several a line became (an embeddings ``input`` array) holds
``"cix:<index>/<count>/<option>:<custom_id>"`` instead. Pure; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

#: Key on every Vertex row that carries the OpenAI custom_id; Vertex echoes extra top-level keys.
CUSTOM_ID_KEY = "custom_id"
#: Prefix that keeps the carried value a string even when the custom_id looks numeric ("000123").
CUSTOM_ID_TAG = "cid:"


def carried_custom_id(custom_id: str) -> str:
    return CUSTOM_ID_TAG + custom_id


#: Prefix of a row that is one part of a line mapped to several rows: ``cix:<index>/<count>/<option>:<custom_id>``.
PART_TAG = "cix:"
_PART = re.compile(r"cix:(\d{1,9})/(\d{1,9})/([a-z0-9]{0,8}):(.*)\Z", re.S)


@dataclass(frozen=True)
class Carried:
    """What a Vertex row carries back of its line: the custom_id, which part of the line it is (an embeddings
    line with an array ``input`` becomes one row per element) and an adapter's option for the answer."""

    custom_id: str
    index: int = 0
    count: int = 1
    option: str = ""


def carried_part(carried_id: str, index: int, count: int, option: str = "") -> str:
    """The carried value of part ``index`` of ``count`` of the line whose carried value is ``carried_id``."""
    return f"{PART_TAG}{index}/{count}/{option}:{carried_id.removeprefix(CUSTOM_ID_TAG)}"


def parse_carried(value: object) -> Carried | None:
    """The ``Carried`` of a row's custom_id value, or None when it is not one this plugin wrote."""
    if not isinstance(value, str):
        return None
    if value.startswith(CUSTOM_ID_TAG):
        return Carried(value[len(CUSTOM_ID_TAG):])
    match = _PART.match(value)
    if match is None or not int(match.group(1)) < int(match.group(2)):
        return None
    return Carried(match.group(4), int(match.group(1)), int(match.group(2)), match.group(3))


def row_carried(row: Mapping[str, Any]) -> Carried | None:
    """What a Vertex row (input, or output echoing it) carries of its line, or None if Vertex did not echo it.
    A text-embedding output row echoes its input row as ``instance``."""
    value = row.get(CUSTOM_ID_KEY)
    if value is None and isinstance(row.get("instance"), Mapping):
        value = row["instance"].get(CUSTOM_ID_KEY)
    return parse_carried(value)


def row_custom_id(row: Mapping[str, Any]) -> str | None:
    """The custom_id a Vertex row carries back, or None if Vertex did not echo it."""
    carried = row_carried(row)
    return carried.custom_id if carried else None


#: The start of a row this plugin wrote: its carried value comes first, as a JSON string.
_LEADING = re.compile(rb'\{"' + CUSTOM_ID_KEY.encode() + rb'":("(?:[^"\\]|\\.)*")')


def leading_carried(raw: bytes) -> Carried | None:
    """The ``Carried`` of a row whose first key is the carried value (every input row this plugin writes), read
    from the line's first bytes instead of parsing a whole request; None when the row does not start so."""
    found = _LEADING.match(raw)
    if found is None:
        return None
    try:
        return parse_carried(orjson.loads(found.group(1)))
    except orjson.JSONDecodeError:
        return None

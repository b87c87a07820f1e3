"""What a Vertex row carries of its line, read from a whole row and from a row's first bytes alike."""

from __future__ import annotations

import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from litellm_vertex_batch.core.carried import (
    CUSTOM_ID_KEY,
    carried_custom_id,
    carried_part,
    leading_carried,
    row_carried,
)

_IDS = st.text(max_size=30) | st.sampled_from(['a"b', "a\\\\b", "\\u2028", "0001", 'x\\"', "日本"])


@settings(max_examples=400, deadline=None)
@given(custom_id=_IDS, part=st.none() | st.tuples(st.integers(0, 3), st.sampled_from(["", "b64"])),
       ascii_only=st.booleans())
def test_leading_carried_reads_what_the_whole_row_carries(custom_id: str, part: tuple[int, str] | None,
                                                          ascii_only: bool) -> None:
    value = carried_custom_id(custom_id) if part is None else carried_part(
        carried_custom_id(custom_id), part[0], 4, part[1])
    row = {CUSTOM_ID_KEY: value, "request": {"contents": [{"role": "user", "parts": [{"text": '"custom_id":"x"'}]}]}}
    raw = json.dumps(row, ensure_ascii=True, separators=(",", ":")).encode() if ascii_only else orjson.dumps(row)
    assert leading_carried(raw) == row_carried(row) is not None


def test_leading_carried_is_none_unless_the_carried_value_comes_first() -> None:
    assert leading_carried(orjson.dumps({"request": {}, CUSTOM_ID_KEY: "cid:a"})) is None
    assert leading_carried(b'{"custom_id": "cid:a"}') is None  # not this plugin's writing: parsed whole instead
    assert leading_carried(b'{"custom_id":"not-carried"}') is None
    assert leading_carried(b'{"custom_id":"cid:a') is None
    assert leading_carried(b"") is None

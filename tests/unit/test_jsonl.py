"""The orjson forms of JSON Lines reading and writing give exactly what the json-module rules give."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litellm_vertex_batch.core import jsonl

_LINE_BREAKS = ["\u0085", "\u2028", "\u2029"]
_TEXT = st.text(max_size=30) | st.sampled_from(["plain", "a\u2028b", "\u0085", "x\u2029", "日本語 \u2028", "é", ""])
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20)


def _same_value(fast: bytes, slow: bytes) -> bool:
    """Both lines read back alike (orjson and json may spell a float differently, never its value)."""
    return json.loads(fast) == json.loads(slow)


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_the_fast_line_writer_writes_what_the_json_rules_write(value: object) -> None:
    fast, slow = jsonl.dumps_line_fast(value), jsonl.dumps_line(value)
    assert fast.endswith(b"\n") and fast.count(b"\n") == 1
    for char in _LINE_BREAKS:
        assert char.encode() not in fast  # escaped, so line splitters see one line
    assert _same_value(fast, slow)
    if not any(isinstance(leaf, float) for leaf in _leaves(value)):
        assert fast == slow


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for item in value.items() for part in item for leaf in _leaves(part)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


@pytest.mark.parametrize("text", ["ascii only", "a\u2028b\u2029c\u0085d", "日本", "\u2028"])
def test_ascii_and_non_ascii_lines_alike(text: str) -> None:
    assert jsonl.dumps_line_fast({"t": text}) == jsonl.dumps_line({"t": text})


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_the_fast_reader_reads_what_the_json_rules_read(value: object) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode()
    assert jsonl.loads_fast(raw) == jsonl.loads(raw)


@pytest.mark.parametrize("raw", [b'{"n": 123456789012345678901234567890}', b'{"n": -18446744073709551616}'])
def test_integers_beyond_64_bits_stay_exact(raw: bytes) -> None:
    assert jsonl.loads_fast(raw) == json.loads(raw) and isinstance(jsonl.loads_fast(raw)["n"], int)


@pytest.mark.parametrize("raw", [b'{"x": NaN}', b'{"x": Infinity}', b'{"x": 1e999}'])
def test_what_is_not_json_is_refused_alike(raw: bytes) -> None:
    with pytest.raises(ValueError):
        jsonl.loads(raw)
    with pytest.raises(ValueError):
        jsonl.loads_fast(raw)

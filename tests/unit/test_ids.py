"""ids: opaque tokens, newest first, and strict parsing of exactly what was issued."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from litellm_vertex_batch.core import ids as ids
from litellm_vertex_batch.core.ids import (
    ALPHABET,
    BATCH_PREFIX,
    FILE_PREFIX,
    TOKEN_LEN,
    batch_id,
    file_id,
    new_token,
    parse_batch_id,
    parse_file_id,
    token_created_at,
)

# Unix seconds, with sub-millisecond fractions, from 1970 to ~2200.
times = st.floats(min_value=0, max_value=7.3e9, allow_nan=False, allow_infinity=False)
millis = st.integers(min_value=0, max_value=7_300_000_000_000)
tokens = times.map(new_token)
NOT_IN_ALPHABET = sorted(set("ilouILOU-_./%+=~ :#?&\\\n\t\x00é" + "ABCDEFGHJKMNPQRSTVWXYZ") - set(ALPHABET))


def test_alphabet_is_sorted_and_has_32_distinct_chars() -> None:
    assert len(ALPHABET) == 32 == len(set(ALPHABET))
    assert list(ALPHABET) == sorted(ALPHABET)


@given(times)
def test_token_shape(now: float) -> None:
    token = new_token(now)
    assert len(token) == TOKEN_LEN == 26
    assert set(token) <= set(ALPHABET)


@given(times)
def test_file_id_round_trip(now: float) -> None:
    token = new_token(now)
    fid = file_id(token)
    assert fid == FILE_PREFIX + token
    assert parse_file_id(fid) == token
    assert parse_batch_id(fid) is None


@given(times)
def test_batch_id_round_trip(now: float) -> None:
    token = new_token(now)
    bid = batch_id(token)
    assert bid == BATCH_PREFIX + token
    assert parse_batch_id(bid) == token
    assert parse_file_id(bid) is None


@given(millis, millis)
def test_later_token_sorts_before_earlier(a: int, b: int) -> None:
    assume(a != b)
    earlier, later = sorted((a, b))
    t_earlier, t_later = new_token(earlier / 1000), new_token(later / 1000)
    assert t_later < t_earlier
    # the ids (same prefix) sort the same way, so a GCS prefix listing is newest first
    assert file_id(t_later) < file_id(t_earlier)
    assert batch_id(t_later) < batch_id(t_earlier)


@given(times)
def test_created_at_recoverable_to_the_second(now: float) -> None:
    assert token_created_at(new_token(now)) == math.floor(now)


def test_created_at_of_a_fresh_token_is_now() -> None:
    before = int(time.time())
    token = new_token()
    after = int(time.time())
    assert before <= token_created_at(token) <= after


def test_tokens_made_in_the_same_millisecond_differ() -> None:
    made = {new_token(1_700_000_000.123) for _ in range(2000)}
    assert len(made) == 2000
    # they share the time part and differ only in the random part
    assert {token[:10] for token in made} == {new_token(1_700_000_000.123)[:10]}


@pytest.mark.parametrize("value", [None, 0, 1.5, b"file-vb" + b"0" * 26, ["file-vb"], {"id": "x"}, "", "file-vb"])
def test_parse_rejects_non_ids(value: object) -> None:
    assert parse_file_id(value) is None
    assert parse_batch_id(value) is None


def test_parse_rejects_foreign_openai_ids() -> None:
    assert parse_file_id("file-abc123") is None
    assert parse_batch_id("batch_abc123") is None
    assert parse_file_id("file-" + "a" * 26) is None
    assert parse_batch_id("batch_" + "a" * 28) is None


@given(tokens, st.sampled_from([file_id, batch_id]), st.data())
def test_parse_rejects_prefix_changes(token: str, make: object, data: st.DataObject) -> None:
    value = make(token)  # type: ignore[operator]
    parse = parse_file_id if make is file_id else parse_batch_id
    prefix = FILE_PREFIX if make is file_id else BATCH_PREFIX
    i = data.draw(st.integers(0, len(prefix) - 1))
    char = data.draw(st.characters(codec="utf-8").filter(lambda c: c != prefix[i]))
    assert parse(value[:i] + char + value[i + 1:]) is None
    # the uppercased prefix is a different prefix
    assert parse(prefix.upper() + token) is None


@given(tokens, st.sampled_from([file_id, batch_id]), st.data())
def test_parse_rejects_length_changes(token: str, make: object, data: st.DataObject) -> None:
    value = make(token)  # type: ignore[operator]
    parse = parse_file_id if make is file_id else parse_batch_id
    cut = data.draw(st.integers(1, TOKEN_LEN))
    assert parse(value[:-cut]) is None
    extra = data.draw(st.text(alphabet=ALPHABET, min_size=1, max_size=30))
    assert parse(value + extra) is None
    assert parse(extra + value) is None


@given(tokens, st.sampled_from([file_id, batch_id]), st.data())
def test_parse_rejects_any_foreign_char_in_token(token: str, make: object, data: st.DataObject) -> None:
    value = make(token)  # type: ignore[operator]
    parse = parse_file_id if make is file_id else parse_batch_id
    prefix_len = len(value) - TOKEN_LEN
    i = data.draw(st.integers(prefix_len, len(value) - 1))
    char = data.draw(st.sampled_from(NOT_IN_ALPHABET) | st.characters(codec="utf-8").filter(lambda c: c not in ALPHABET))
    assert parse(value[:i] + char + value[i + 1:]) is None


@given(tokens, st.sampled_from([file_id, batch_id]), st.data())
def test_parse_accepts_any_alphabet_char_in_token(token: str, make: object, data: st.DataObject) -> None:
    """Control for the test above: the only reason for rejection is the character itself."""
    value = make(token)  # type: ignore[operator]
    parse = parse_file_id if make is file_id else parse_batch_id
    prefix_len = len(value) - TOKEN_LEN
    i = data.draw(st.integers(prefix_len, len(value) - 1))
    char = data.draw(st.sampled_from(ALPHABET))
    changed = value[:i] + char + value[i + 1:]
    assert parse(changed) == changed[prefix_len:]


@given(tokens)
def test_parse_rejects_uppercase(token: str) -> None:
    assume(token.upper() != token)
    assert parse_file_id(file_id(token.upper())) is None
    assert parse_file_id(file_id(token).upper()) is None
    assert parse_batch_id(batch_id(token.upper())) is None


@pytest.mark.parametrize("insert", ["..", "%2F", "%2f", "/", "../", "\\", " ", "\n", "\x00", "%"])
def test_parse_rejects_path_tricks(insert: str) -> None:
    token = new_token(1_700_000_000)
    for make, parse in ((file_id, parse_file_id), (batch_id, parse_batch_id)):
        value = make(token)
        # inserted (length changes) and overwriting (same length)
        assert parse(value[:10] + insert + value[10:]) is None
        assert parse(value[: -len(insert)] + insert) is None
        assert parse(insert + value) is None
        assert parse(value + insert) is None


def test_parse_rejects_surrounding_whitespace() -> None:
    fid = file_id(new_token(1_700_000_000))
    assert parse_file_id(fid + "\n") is None
    assert parse_file_id(" " + fid) is None


def test_time_part_encodes_inverted_millis() -> None:
    token = new_token(0)
    assert token[:10] == ALPHABET[-1] * 10  # the largest time value: sorts after every later token
    assert token_created_at(token) == 0
    assert ids._decode(ids._encode(123_456_789, 10)) == 123_456_789

"""Fuzzing ids.parse_file_id / parse_batch_id: for any input they return the token exactly when the input is a
well-formed id of their kind, None otherwise, and never raise.

The oracle is written independently of ids.py: the prefix, then 26 characters of lowercase Crockford base32
(digits and a-z without i, l, o, u), all ASCII, nothing before or after. Inputs are arbitrary text, arbitrary
objects, and valid ids put through chains of mutations (insert/delete/replace a character, percent-encoding,
path segments, case changes, Unicode confusables and normalisation, whitespace and invisible characters).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from litellm_vertex_batch.core.ids import batch_id, file_id, new_token, parse_batch_id, parse_file_id

FILE, BATCH = "file-vb", "batch_vb"
CROCKFORD = "[0-9a-hjkmnp-tv-z]"
WELL_FORMED = {FILE: re.compile(rf"file-vb({CROCKFORD}{{26}})", re.ASCII),
               BATCH: re.compile(rf"batch_vb({CROCKFORD}{{26}})", re.ASCII)}
PARSERS: dict[str, Callable[[object], str | None]] = {FILE: parse_file_id, BATCH: parse_batch_id}
MAKERS: dict[str, Callable[[str], str]] = {FILE: file_id, BATCH: batch_id}
KINDS = st.sampled_from([FILE, BATCH])


def oracle(value: object, prefix: str) -> str | None:
    if type(value) is not str:
        return None
    match = WELL_FORMED[prefix].fullmatch(value)
    return match.group(1) if match else None


def check(value: object) -> None:
    """Both parsers agree with the oracle (a parser that raises fails here too)."""
    for prefix, parse in PARSERS.items():
        got = parse(value)
        assert got == oracle(value, prefix), (prefix, value, got)
        if got is not None:
            assert type(got) is str and MAKERS[prefix](got) == value, (value, got)


# ---- what the inputs are made of -------------------------------------------------------------------------------

#: Look-alikes of characters that occur in ids: other scripts, fullwidth forms, letter-like symbols that
#: case-fold or normalise (NFKC) to ASCII, and the characters Crockford base32 leaves out.
CONFUSABLES: dict[str, list[str]] = {
    "0": ["O", "o", "\u041e", "\u043e", "\u039f", "\u03bf", "\uff10", "\u2070", "\u2080", "\u0660", "\u06f0"],
    "1": ["l", "I", "i", "|", "\u0131", "\u0406", "\uff11", "\u00b9", "\u2081", "\u0661"],
    "a": ["\u0430", "\u03b1", "\uff41", "\u00e0", "a\u0301", "\u1d43"],
    "b": ["\u042c", "\u0184", "\uff42", "\u1d47"],
    "c": ["\u0441", "\u03f2", "\uff43", "\u217d"],
    "e": ["\u0435", "\u0454", "\uff45", "\u212f", "\u00e9"],
    "f": ["\uff46", "\u0192", "\u1da0"],
    "h": ["\u04bb", "\uff48", "\u210e"],
    "i": ["\u0456", "\u0131", "\uff49", "\u2170", "1", "l"],
    "j": ["\u0458", "\uff4a", "\u2c7c"],
    "k": ["\u212a", "\u03ba", "\u043a", "\uff4b", "K"],
    "l": ["\u217c", "\u04cf", "\uff4c", "1", "I", "|"],
    "m": ["\u217f", "\uff4d"],
    "p": ["\u0440", "\u03c1", "\uff50"],
    "s": ["\u017f", "\u0455", "\uff53", "S"],
    "t": ["\uff54", "\u0442"],
    "v": ["\u03bd", "\u2174", "\uff56", "u"],
    "w": ["\u0461", "\uff57"],
    "x": ["\u0445", "\u00d7", "\u2179", "\uff58"],
    "y": ["\u0443", "\u00fd", "\uff59"],
    "z": ["\u1d22", "\uff5a"],
    "-": ["\u2010", "\u2011", "\u2012", "\u2013", "\u2212", "\ufe63", "\uff0d", "_"],
    "_": ["\uff3f", "\u2017", "-", " "],
}
CONFUSABLE_CHARS = sorted({c for options in CONFUSABLES.values() for c in options})
NEAR_CHARS = sorted(set("0123456789abcdefghijklmnopqrstuvwxyz-_%./\\ ABCDEFGHIJKLMNOPQRSTUVWXYZ")) + CONFUSABLE_CHARS
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\x00", "\n", "\r", "\t", " ", "\u00a0",
             "\u3000", "\u0301"]

times = st.floats(min_value=0, max_value=7.3e9, allow_nan=False, allow_infinity=False)
#: Real tokens: new_token's time part (its random part is drawn here, so examples replay deterministically).
CROCKFORD_CHARS = "0123456789abcdefghjkmnpqrstvwxyz"
tokens = st.one_of(st.builds(lambda now, rest: new_token(now)[:10] + rest, times,
                             st.text(CROCKFORD_CHARS, min_size=16, max_size=16)),
                   st.from_regex(rf"\A{CROCKFORD}{{26}}\Z"))
any_char = st.one_of(st.characters(), st.sampled_from(NEAR_CHARS), st.sampled_from(INVISIBLE))


@st.composite
def valid_ids(draw: st.DrawFn) -> tuple[str, str]:
    prefix = draw(KINDS)
    return prefix, MAKERS[prefix](draw(tokens))


def _at(value: str, draw: st.DrawFn, extra: int = 0) -> int:
    return draw(st.integers(0, max(len(value) - 1 + extra, 0)))


def insert(value: str, draw: st.DrawFn) -> str:
    i = _at(value, draw, extra=1)
    return value[:i] + draw(any_char) + value[i:]


def delete(value: str, draw: st.DrawFn) -> str:
    i = _at(value, draw)
    return value[:i] + value[i + 1:]


def replace(value: str, draw: st.DrawFn) -> str:
    i = _at(value, draw)
    return value[:i] + draw(any_char) + value[i + 1:]


def confusable(value: str, draw: st.DrawFn) -> str:
    spots = [i for i, c in enumerate(value) if c in CONFUSABLES]
    if not spots:
        return value
    i = draw(st.sampled_from(spots))
    return value[:i] + draw(st.sampled_from(CONFUSABLES[value[i]])) + value[i + 1:]


def percent_one(value: str, draw: st.DrawFn) -> str:
    if not value:
        return value
    i = _at(value, draw)
    return value[:i] + "".join(f"%{b:02X}" for b in value[i].encode()) + value[i + 1:]


def percent_all(value: str, draw: st.DrawFn) -> str:
    encoded = "".join(f"%{b:02{draw(st.sampled_from('Xx'))}}" for b in value.encode())
    return encoded.replace("%", "%25") if draw(st.booleans()) else encoded


def path_trick(value: str, draw: st.DrawFn) -> str:
    piece = draw(st.sampled_from(["/..", "../", "/../", "/", "%2F..", "..%2f", "\\..", "/.", "./", "..", "//"]))
    where = draw(st.sampled_from(["start", "end", "middle"]))
    if where == "start":
        return piece + value
    if where == "end":
        return value + piece
    i = _at(value, draw, extra=1)
    return value[:i] + piece + value[i:]


def case_change(value: str, draw: st.DrawFn) -> str:
    how = draw(st.sampled_from(["upper", "lower", "swapcase", "title", "casefold", "capitalize", "one"]))
    if how == "one":
        i = _at(value, draw)
        return value[:i] + value[i:i + 1].swapcase() + value[i + 1:]
    return getattr(value, how)()


def normalise(value: str, draw: st.DrawFn) -> str:
    return unicodedata.normalize(draw(st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"])), value)


def wrap(value: str, draw: st.DrawFn) -> str:
    return draw(st.sampled_from(INVISIBLE)) * draw(st.integers(0, 2)) + value + \
        draw(st.sampled_from(INVISIBLE)) * draw(st.integers(0, 2))


def swap_kind(value: str, draw: st.DrawFn) -> str:
    if value.startswith(FILE):
        return BATCH + value[len(FILE):]
    if value.startswith(BATCH):
        return FILE + value[len(BATCH):]
    return value


def repeat_or_cut(value: str, draw: st.DrawFn) -> str:
    cut = draw(st.integers(0, len(value)))
    return draw(st.sampled_from([value + value[cut:], value[:cut], value[cut:], value[:cut] + value]))


MUTATIONS = [insert, delete, replace, confusable, percent_one, percent_all, path_trick, case_change, normalise,
             wrap, swap_kind, repeat_or_cut]


@st.composite
def mutated_ids(draw: st.DrawFn) -> tuple[str, list[str]]:
    _, value = draw(valid_ids())
    applied = []
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=4)):
        value = mutation(value, draw)
        applied.append(mutation.__name__)
    return value, applied


# ---- properties ------------------------------------------------------------------------------------------------

@settings(max_examples=1000)
@given(st.text())
@example("")
@example("file-vb")
@example("batch_vb")
@example("file-vb" + "0" * 26)
@example("batch_vb" + "z" * 26)
def test_arbitrary_text(value: str) -> None:
    check(value)


@settings(max_examples=1000)
@given(st.text(alphabet=sorted({c for c in NEAR_CHARS + INVISIBLE if len(c) == 1}), min_size=26, max_size=40))
def test_near_miss_text(body: str) -> None:
    """Text made of id-like characters, alone and behind each prefix (most of it close to a valid id)."""
    check(body)
    check(FILE + body)
    check(BATCH + body)
    check(FILE + body[:26])
    check(BATCH + body[:26])


@settings(max_examples=300)
@given(st.from_regex(rf"\A(file-vb|batch_vb){CROCKFORD}{{26}}\Z"))
def test_every_well_formed_id_parses(value: str) -> None:
    check(value)
    prefix = FILE if value.startswith(FILE) else BATCH
    assert PARSERS[prefix](value) == value[len(prefix):]


@settings(max_examples=2000)
@given(mutated_ids())
def test_mutated_ids_parse_only_if_still_well_formed(mutated: tuple[str, list[str]]) -> None:
    value, applied = mutated
    event("still a well-formed id" if oracle(value, FILE) or oracle(value, BATCH) else "not an id")
    try:
        check(value)
    except AssertionError as exc:
        raise AssertionError(f"after {applied}: {exc}") from None


@settings(max_examples=500)
@given(valid_ids(), st.data())
def test_every_confusable_at_every_position_is_refused(made: tuple[str, str], data: st.DataObject) -> None:
    prefix, value = made
    for i, char in enumerate(value):
        for look_alike in CONFUSABLES.get(char, []):
            forged = value[:i] + look_alike + value[i + 1:]
            assert PARSERS[prefix](forged) is None, (value, i, look_alike)
            check(forged)


@settings(max_examples=300)
@given(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.binary(), st.binary().map(bytearray),
                 st.lists(st.text(), max_size=3), st.tuples(st.text()), st.dictionaries(st.text(), st.text()),
                 valid_ids().map(lambda made: made[1].encode()), valid_ids().map(lambda made: [made[1]]),
                 valid_ids().map(lambda made: memoryview(made[1].encode()))))
def test_non_strings_are_never_ids(value: Any) -> None:
    assert parse_file_id(value) is None and parse_batch_id(value) is None

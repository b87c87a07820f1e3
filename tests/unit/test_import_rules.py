"""import_rules: what Vertex's BigQuery-like importer accepts, checked before upload."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from litellm_vertex_batch.core.import_rules import MAX_DEPTH, TypeTracker, inline_schema_refs, row_problems


def _keys(value: object) -> set[str]:
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            found |= _keys(item)
    elif isinstance(value, list):
        for item in value:
            found |= _keys(item)
    return found


def _nested(levels: int) -> dict:
    """``levels`` objects nested inside each other (the outermost counts as one)."""
    node: dict = {"leaf": 1}
    for _ in range(levels - 1):
        node = {"a": node}
    return node


# --- inline_schema_refs ---------------------------------------------------------------------------------

def test_inlines_defs_ref() -> None:
    schema = {"type": "object", "properties": {"step": {"$ref": "#/$defs/Step"}},
              "$defs": {"Step": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}
    assert inline_schema_refs(schema) == {
        "type": "object",
        "properties": {"step": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}


def test_inlines_definitions_ref() -> None:
    schema = {"type": "array", "items": {"$ref": "#/definitions/Item"},
              "definitions": {"Item": {"type": "string", "enum": ["a", "b"]}}}
    assert inline_schema_refs(schema) == {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}}


def test_inlines_refs_between_defs_and_inside_lists() -> None:
    schema = {
        "type": "object",
        "properties": {
            "plan": {"$ref": "#/$defs/Plan"},
            "either": {"anyOf": [{"$ref": "#/$defs/Leaf"}, {"type": "null"}]},
        },
        "$defs": {
            "Plan": {"type": "object", "properties": {"steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}}}},
            "Step": {"type": "object", "properties": {"leaf": {"$ref": "#/$defs/Leaf"}}},
            "Leaf": {"type": "string"},
        },
    }
    assert inline_schema_refs(schema) == {
        "type": "object",
        "properties": {
            "plan": {"type": "object", "properties": {"steps": {"type": "array", "items": {
                "type": "object", "properties": {"leaf": {"type": "string"}}}}}},
            "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    }


def test_ref_siblings_override_the_target() -> None:
    schema = {"properties": {"x": {"$ref": "#/$defs/X", "description": "mine"}},
              "$defs": {"X": {"type": "string", "description": "theirs"}}}
    assert inline_schema_refs(schema) == {"properties": {"x": {"type": "string", "description": "mine"}}}


def test_defs_deeper_in_the_document_are_inlined_where_they_are() -> None:
    request = {"generationConfig": {"response_json_schema": {
        "type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "boolean"}}}},
        "tools": [{"function_declarations": [{"name": "f", "parameters": {
            "type": "object", "properties": {"b": {"$ref": "#/definitions/B"}},
            "definitions": {"B": {"type": "number"}}}}]}]}
    out = inline_schema_refs(request)
    assert out["generationConfig"]["response_json_schema"] == {"type": "object", "properties": {"a": {"type": "boolean"}}}
    assert out["tools"][0]["function_declarations"][0]["parameters"] == {
        "type": "object", "properties": {"b": {"type": "number"}}}
    assert row_problems(out) == []


def test_recursive_ref_is_left_in_place_and_refused() -> None:
    schema = {"$ref": "#/$defs/Node", "$defs": {"Node": {
        "type": "object", "properties": {"value": {"type": "string"}, "child": {"$ref": "#/$defs/Node"}}}}}
    out = inline_schema_refs(schema)
    # the outer reference is expanded once; the self reference inside stays a $ref
    assert out["type"] == "object"
    assert out["properties"]["value"] == {"type": "string"}
    assert out["properties"]["child"] == {"$ref": "#/$defs/Node"}
    assert any("'$ref'" in problem for problem in row_problems({"request": {"schema": out}}))


def test_mutually_recursive_refs_terminate() -> None:
    schema = {"properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {
        "A": {"properties": {"b": {"$ref": "#/$defs/B"}}}, "B": {"properties": {"a": {"$ref": "#/$defs/A"}}}}}
    out = inline_schema_refs(schema)
    assert out["properties"]["a"]["properties"]["b"]["properties"]["a"] == {"$ref": "#/$defs/A"}


def test_unknown_and_remote_refs_are_left_alone() -> None:
    schema = {"properties": {"a": {"$ref": "#/$defs/Missing"}, "b": {"$ref": "https://example.com/s.json"}},
              "$defs": {"Other": {"type": "string"}}}
    out = inline_schema_refs(schema)
    assert out == {"properties": {"a": {"$ref": "#/$defs/Missing"}, "b": {"$ref": "https://example.com/s.json"}}}


def test_input_is_not_mutated_and_shared_defs_are_copied() -> None:
    schema = {"properties": {"a": {"$ref": "#/$defs/X"}, "b": {"$ref": "#/$defs/X"}},
              "$defs": {"X": {"type": "object", "properties": {"n": {"type": "integer"}}}}}
    before = copy.deepcopy(schema)
    out = inline_schema_refs(schema)
    assert schema == before
    out["properties"]["a"]["properties"]["n"]["type"] = "string"
    assert out["properties"]["b"]["properties"]["n"]["type"] == "integer"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(alphabet="abcxyz_", min_size=1, max_size=4), children, max_size=3),
    max_leaves=20)


@given(json_values)
def test_documents_without_defs_are_unchanged(value: object) -> None:
    assert inline_schema_refs(value) == value


# --- row_problems ---------------------------------------------------------------------------------------

def test_valid_row_has_no_problems() -> None:
    row = {"custom_id": "cid:1", "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                                             "generationConfig": {"temperature": 0.2, "stop_sequences": ["x"]}}}
    assert row_problems(row) == []


def test_nesting_depth_limit() -> None:
    # the row is level 0 (BigQuery's count): MAX_DEPTH levels of objects below it are fine, one more is not
    assert row_problems(_nested(MAX_DEPTH + 1)) == []
    problems = row_problems(_nested(MAX_DEPTH + 2))
    assert len(problems) == 1
    assert f"nesting deeper than {MAX_DEPTH} levels" in problems[0]
    assert "a.a.a" in problems[0]  # names where


def test_lists_do_not_add_depth_but_objects_in_them_do() -> None:
    assert row_problems({"a": [{"b": [{"c": 1}]}]}) == []
    deep = _nested(MAX_DEPTH + 1)
    assert row_problems({"list": [deep]}) != []


def test_arrays_of_arrays_are_refused() -> None:
    problems = row_problems({"request": {"args": {"m": [[1, 2], [3, 4]]}}})
    assert problems == ["array of arrays at request.args.m (Vertex does not accept nested arrays)"]


@pytest.mark.parametrize("row, where", [
    ({"request": {"tools": [{"googleSearch": {}}]}}, "request.tools[].googleSearch"),
    ({"request": {"contents": [{"parts": [{"functionCall": {"name": "f", "args": {}}}]}]}},
     "request.contents[].parts[].functionCall.args"),
    ({"a": {}}, "a"),
    ({"a": [{}]}, "a[]"),
])
def test_empty_objects_are_flagged(row: dict, where: str) -> None:
    problems = row_problems(row)
    assert len(problems) == 1
    assert f"empty object at {where} " in problems[0]


def test_empty_top_level_and_empty_lists_are_fine() -> None:
    assert row_problems({}) == []
    assert row_problems({"a": []}) == []


@pytest.mark.parametrize("key", ["$schema", "$defs", "$ref", "a b", "1x", "", "a-b", "a.b", "é", "x\n"])
def test_invalid_key_names_are_flagged(key: str) -> None:
    problems = row_problems({"request": {"schema": {key: {"type": "string"}}}})
    assert len(problems) == 1
    assert repr(key) in problems[0]
    assert "request.schema" in problems[0]
    assert "not a valid field name" in problems[0]


@pytest.mark.parametrize("key", ["a", "_a", "A1", "snake_case", "camelCase", "_1"])
def test_valid_key_names_pass(key: str) -> None:
    assert row_problems({"request": {key: 1}}) == []


def test_problems_are_capped_by_limit() -> None:
    row = {f"bad key {i}": 1 for i in range(10)}
    assert len(row_problems(row)) == 3
    assert len(row_problems(row, limit=5)) == 5
    assert len(row_problems(row, limit=1)) == 1


def test_several_kinds_of_problem_in_one_row() -> None:
    row = {"request": {"$schema": "x", "tools": [{"google_search": {}}]}}
    problems = row_problems(row)
    assert len(problems) == 2
    assert any("'$schema'" in p for p in problems)
    assert any("empty object at request.tools[].google_search" in p for p in problems)


# --- TypeTracker ----------------------------------------------------------------------------------------

def test_string_then_number_conflicts() -> None:
    tracker = TypeTracker()
    assert tracker.conflicts({"request": {"x": "abc"}}, 1) == []
    found = tracker.conflicts({"request": {"x": 5}}, 2)
    assert len(found) == 1
    assert "request.x" in found[0]
    assert "a number here but a string on line 1" in found[0]


def test_number_then_string_conflicts_naming_first_line() -> None:
    tracker = TypeTracker()
    tracker.conflicts({"x": 1}, 7)
    tracker.conflicts({"y": "other"}, 8)
    found = tracker.conflicts({"x": "1"}, 9)
    assert found and "a string here but a number on line 7" in found[0]


@pytest.mark.parametrize("first, second", [(1, 2.5), (2.5, 1), (0, -1e30), (None, "s"), ("s", None), (None, 3),
                                           ([], [1]), ({"a": 1}, {"b": "x"}), (True, False)])
def test_compatible_values(first: object, second: object) -> None:
    tracker = TypeTracker()
    assert tracker.conflicts({"k": first}, 1) == []
    assert tracker.conflicts({"k": second}, 2) == []


@pytest.mark.parametrize("first, second, kinds", [
    (True, 1, ("number", "boolean")),
    ("s", {"a": 1}, ("object", "string")),
    ([1], "s", ("string", "array")),
    ({"a": 1}, [1], ("array", "object")),
])
def test_incompatible_values(first: object, second: object, kinds: tuple[str, str]) -> None:
    tracker = TypeTracker()
    tracker.conflicts({"k": first}, 1)
    found = tracker.conflicts({"k": second}, 2)
    assert len(found) == 1
    assert f"{kinds[0]} here but" in found[0] and f"{kinds[1]} on line 1" in found[0]


def test_list_items_share_one_type() -> None:
    tracker = TypeTracker()
    found = tracker.conflicts({"stop": ["a", 1]}, 1)
    assert len(found) == 1 and "stop[]" in found[0]


def test_null_does_not_fix_the_type() -> None:
    tracker = TypeTracker()
    tracker.conflicts({"k": None}, 1)
    assert tracker.conflicts({"k": 1}, 2) == []
    assert tracker.conflicts({"k": "s"}, 3) != []  # number was fixed by line 2, not by line 1's null


def test_conflict_does_not_replace_the_remembered_type() -> None:
    tracker = TypeTracker()
    tracker.conflicts({"k": "s"}, 1)
    assert tracker.conflicts({"k": 1}, 2) != []
    assert tracker.conflicts({"k": "t"}, 3) == []


def test_conflicts_capped_at_three_per_row() -> None:
    tracker = TypeTracker()
    tracker.conflicts({f"k{i}": "s" for i in range(6)}, 1)
    assert len(tracker.conflicts({f"k{i}": 1 for i in range(6)}, 2)) == 3


@given(st.lists(json_values, min_size=1, max_size=5))
def test_rows_that_agreed_once_agree_again(rows: list) -> None:
    """Re-reading rows whose types were consistent adds no conflict (the tracker only remembers types)."""
    tracker = TypeTracker()
    first = [c for n, row in enumerate(rows, 1) for c in tracker.conflicts({"row": row}, n)]
    again = [c for n, row in enumerate(rows, 100) for c in tracker.conflicts({"row": row}, n)]
    if not first:
        assert again == []

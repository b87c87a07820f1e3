"""transform_input: OpenAI batch lines -> Vertex rows, line splitting, and the problems reported per line.

The central property is that a batch line becomes exactly the request LiteLLM sends online for the same
chat.completions body. It is proved by calling ``litellm.completion`` against a tiny local HTTP server that
records the generateContent body (and serves an OAuth token for a throwaway service account).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from litellm_vertex_batch.adapters import ADAPTERS
from litellm_vertex_batch.adapters.chat import ChatCompletions
from litellm_vertex_batch.adapters.chat import vertex_request as openai_body_to_vertex_request
from litellm_vertex_batch.core import input_lines as transform_input
from litellm_vertex_batch.core.carried import CUSTOM_ID_KEY, carried_custom_id, row_custom_id
from litellm_vertex_batch.core.import_rules import inline_schema_refs, row_problems
from litellm_vertex_batch.core.input_lines import MAX_PROBLEMS, InputConverter, bare_model, iter_lines
from tests.unit.online_recorder import recording

MODEL = "gemini-2.5-flash"
BOM = b"\xef\xbb\xbf"


def line(custom_id: Any = "r1", model: str | None = MODEL, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "Hello"}]}
    if model is not None:
        body["model"] = model
    entry = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    entry.update(overrides)
    return entry


def dump(entry: Any) -> bytes:
    return json.dumps(entry, ensure_ascii=False).encode("utf-8")


def openai_line_to_vertex_row(entry: dict[str, Any], model: str) -> dict[str, Any]:
    """The chat adapter's one row for a line, as upload writes it."""
    (row,) = ChatCompletions().vertex_rows(carried_custom_id(entry["custom_id"]), entry["body"], model)
    return row


def run(lines: list[bytes], model: str | None = None) -> tuple[list[dict], Any]:
    converter = InputConverter(ADAPTERS, model)
    data = b"".join(raw + b"\n" for raw in lines)
    rows = [row for n, raw in iter_lines([data]) for row in converter.convert(n, raw) or ()]
    return rows, converter.finish()


def nested_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for item in value.values() for k in nested_keys(item)}
    if isinstance(value, list):
        return {k for item in value for k in nested_keys(item)}
    return set()


# --- bare_model -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("given_model", [
    "gemini-2.5-flash", "vertex_ai/gemini-2.5-flash", "vertex_batch/gemini-2.5-flash", "gemini/gemini-2.5-flash",
    "vertex_ai_beta/gemini-2.5-flash", "publishers/google/models/gemini-2.5-flash",
    "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash",
])
def test_bare_model(given_model: str) -> None:
    assert bare_model(given_model) == "gemini-2.5-flash"


# --- custom_id carried through Vertex -------------------------------------------------------------------

def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1))
@example("a/b#c d")
@example("000123")
@example("0")
@example("1e5")
@example("-12.50")
@example("true")
@example("null")
@example("request-" + "x" * 80)
@example("ünïcødé / 日本語 # 🚀 " * 5)
@example("cid:already-tagged")
def test_custom_id_round_trips_through_a_vertex_row(custom_id: str) -> None:
    row = openai_line_to_vertex_row(line(custom_id), MODEL)
    carried = row[CUSTOM_ID_KEY]
    assert carried == carried_custom_id(custom_id)
    assert isinstance(carried, str) and not _looks_numeric(carried)  # never coerced by type inference
    assert row_problems(row) == []
    # Vertex writes the input row back, with status and response, as JSON
    wire = json.dumps(row, ensure_ascii=False).encode("utf-8")
    output_row = {**json.loads(wire.decode("utf-8")), "status": "", "processed_time": "2026-01-01T00:00:00Z",
                  "response": {"candidates": []}}
    assert row_custom_id(json.loads(json.dumps(output_row))) == custom_id


@pytest.mark.parametrize("row", [{}, {CUSTOM_ID_KEY: None}, {CUSTOM_ID_KEY: 123}, {CUSTOM_ID_KEY: "no-tag"},
                                 {CUSTOM_ID_KEY: ["cid:x"]}, {"key": "cid:x"}])
def test_row_without_a_carried_custom_id(row: dict) -> None:
    assert row_custom_id(row) is None


def test_row_custom_id_keeps_empty_and_tag_like_suffixes() -> None:
    assert row_custom_id({CUSTOM_ID_KEY: "cid:"}) == ""
    assert row_custom_id({CUSTOM_ID_KEY: "cid:cid:x"}) == "cid:x"


# --- iter_lines -----------------------------------------------------------------------------------------

def test_iter_lines_plain() -> None:
    assert list(iter_lines([b"a\nb\nc\n"])) == [(1, b"a"), (2, b"b"), (3, b"c")]


def test_iter_lines_crlf() -> None:
    assert list(iter_lines([b"a\r\nb\r\n"])) == [(1, b"a"), (2, b"b")]


def test_iter_lines_bom_only_at_start() -> None:
    assert list(iter_lines([BOM + b"{}\n" + BOM + b"x\n"])) == [(1, b"{}"), (2, BOM + b"x")]
    assert list(iter_lines([BOM + b"{}"])) == [(1, b"{}")]


def test_iter_lines_blank_lines_skipped_but_counted() -> None:
    data = b"\n  \na\n\r\n\t\nb\n\n"
    assert list(iter_lines([data])) == [(3, b"a"), (6, b"b")]


def test_iter_lines_missing_final_newline() -> None:
    assert list(iter_lines([b"a\nb"])) == [(1, b"a"), (2, b"b")]
    assert list(iter_lines([b"a\r\nb\r"])) == [(1, b"a"), (2, b"b")]
    assert list(iter_lines([b"only"])) == [(1, b"only")]


def test_iter_lines_empty_inputs() -> None:
    assert list(iter_lines([])) == []
    assert list(iter_lines([b""])) == []
    assert list(iter_lines([b"\n\n", b"", b"  "])) == []
    assert list(iter_lines([BOM + b"\n"])) == []
    assert list(iter_lines([BOM + b"\n\n", b"  \r\n"])) == []


def test_iter_lines_bom_split_across_chunks() -> None:
    assert list(iter_lines([b"\xef", b"\xbb", b"\xbfa\n", b"b"])) == [(1, b"a"), (2, b"b")]


def _reference_lines(data: bytes) -> list[tuple[int, bytes]]:
    """What iter_lines should yield, written the obvious (non-streaming) way."""
    parts = data.split(b"\n")
    parts[0] = parts[0].removeprefix(BOM)
    return [(n, part.rstrip(b"\r")) for n, part in enumerate(parts, 1) if part.strip()]


_pieces = st.sampled_from([b"a", b"{\"k\": 1}", b" ", b"\t", b"\r", b"\n", b"\r\n", BOM, b"\xef", b"\xbb",
                           "é".encode(), "日".encode(), b"\xff"])
_data = st.lists(_pieces, max_size=40).map(b"".join)


def _bom_then_blank_unterminated(data: bytes) -> bool:
    """A file that is a BOM plus whitespace and no newline: iter_lines yields it as a line (see report)."""
    return b"\n" not in data and data.startswith(BOM) and not data[len(BOM):].strip()


@given(_data, st.data())
def test_iter_lines_independent_of_chunk_boundaries(data: bytes, draw: st.DataObject) -> None:
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=12)))
    chunks = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)])]
    assert b"".join(chunks) == data
    assert list(iter_lines(chunks)) == list(iter_lines([data]))
    assert list(iter_lines(data[i:i + 1] for i in range(len(data)))) == list(iter_lines([data]))


@given(_data, st.data())
def test_iter_lines_matches_a_plain_split(data: bytes, draw: st.DataObject) -> None:
    assume(not _bom_then_blank_unterminated(data))
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=12)))
    chunks = [data[i:j] for i, j in zip([0, *cuts], [*cuts, len(data)])]
    assert list(iter_lines(chunks)) == _reference_lines(data)


# --- InputConverter: valid files ------------------------------------------------------------------------

def test_valid_file_converts_every_line() -> None:
    rows, summary = run([dump(line("a")), dump(line("b", model="vertex_ai/gemini-2.5-flash"))])
    assert summary.problems == [] and summary.more_problems == 0
    assert summary.lines == 2
    assert summary.model == MODEL
    assert summary.endpoint == "/v1/chat/completions"
    assert [row_custom_id(row) for row in rows] == ["a", "b"]
    assert rows[0]["request"] == openai_body_to_vertex_request(line("a")["body"], MODEL)
    assert set(rows[0]) == {"custom_id", "request"}


def test_fixed_model_ignores_and_does_not_require_body_model() -> None:
    rows, summary = run([dump(line("a", model=None)), dump(line("b", model="gemini-2.5-pro"))],
                        model="vertex_batch/gemini-2.5-flash")
    assert summary.problems == []
    assert summary.model == MODEL
    assert len(rows) == 2


def test_bom_crlf_and_blank_lines_in_a_real_file() -> None:
    data = BOM + dump(line("a")) + b"\r\n\r\n" + dump(line("b")) + b"\r\n" + dump(line("c"))
    converter = InputConverter(ADAPTERS)
    chunks = [data[i:i + 7] for i in range(0, len(data), 7)]
    rows = [row for n, raw in iter_lines(chunks) for row in converter.convert(n, raw) or ()]
    summary = converter.finish()
    assert summary.problems == []
    assert [row_custom_id(r) for r in rows] == ["a", "b", "c"]


# --- InputConverter: problems ---------------------------------------------------------------------------

def _only_problem(lines: list[bytes], model: str | None = None) -> str:
    _, summary = run(lines, model)
    assert len(summary.problems) == 1, summary.problems
    return summary.problems[0]


def test_invalid_json() -> None:
    problem = _only_problem([dump(line("a")), b'{"custom_id": "b", "method": "POST",'])
    assert problem.startswith("line 2: not valid JSON")


def test_not_utf8() -> None:
    problem = _only_problem([dump(line("a")), b'{"custom_id": "\xff\xfe"}'])
    assert problem.startswith("line 2: not valid UTF-8")


def test_not_an_object() -> None:
    assert _only_problem([b"[1, 2]"]).startswith("line 1: must be a JSON object")


def test_missing_custom_id() -> None:
    entry = line()
    del entry["custom_id"]
    assert _only_problem([dump(entry)]) == "line 1: custom_id is missing"


@pytest.mark.parametrize("custom_id", [None, 123, "", ["a"], {"a": 1}, True])
def test_non_string_custom_id(custom_id: Any) -> None:
    problem = _only_problem([dump(line(custom_id))])
    assert problem.startswith("line 1")
    assert "custom_id must be a non-empty string" in problem


def test_duplicate_custom_id_names_line_and_id() -> None:
    problem = _only_problem([dump(line("same")), dump(line("other")), dump(line("same"))])
    assert problem.startswith("line 3 (custom_id 'same'): ")
    assert "duplicate" in problem


@pytest.mark.parametrize("method", ["GET", "post", None, 1])
def test_method_must_be_post(method: Any) -> None:
    problem = _only_problem([dump(line("a", method=method))])
    assert problem.startswith("line 1 (custom_id 'a'): ")
    assert 'method must be "POST"' in problem and repr(method) in problem


@pytest.mark.parametrize("url", ["/v1/completions", "/v1/moderations", "/v1/images/generations", "v1/chat/completions", None])
def test_unsupported_url(url: Any) -> None:
    problem = _only_problem([dump(line("a", url=url))])
    assert problem.startswith("line 1 (custom_id 'a'): ")
    assert f"url {url!r} is not supported" in problem
    assert "/v1/chat/completions" in problem


@pytest.mark.parametrize("body, expected", [
    (None, "body must be a JSON object"),
    ("text", "body must be a JSON object"),
    ({"model": MODEL}, "body.messages must be a non-empty list"),
    ({"model": MODEL, "messages": []}, "body.messages must be a non-empty list"),
    ({"messages": [{"role": "user", "content": "x"}]}, "body.model is missing"),
    ({"model": "", "messages": [{"role": "user", "content": "x"}]}, "body.model is missing"),
    ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, "body.model must be a string"),
])
def test_bad_body(body: Any, expected: str) -> None:
    problem = _only_problem([dump(line("a", body=body))])
    assert problem.startswith("line 1 (custom_id 'a'): ")
    assert expected in problem


def test_mixed_models_names_both_models_and_the_line() -> None:
    problem = _only_problem([dump(line("a")), dump(line("b")), dump(line("c", model="gemini-2.5-pro"))])
    assert problem.startswith("line 3 (custom_id 'c'): ")
    assert "'gemini-2.5-pro'" in problem and f"'{MODEL}'" in problem


def test_provider_prefixes_are_the_same_model() -> None:
    _, summary = run([dump(line("a", model="vertex_ai/gemini-2.5-flash")), dump(line("b", model=MODEL)),
                      dump(line("c", model="publishers/google/models/gemini-2.5-flash"))])
    assert summary.problems == []


def test_empty_file() -> None:
    for data in (b"", b"\n\n  \r\n", BOM + b"\n"):
        converter = InputConverter(ADAPTERS)
        for n, raw in iter_lines([data]):
            converter.convert(n, raw)
        summary = converter.finish()
        assert summary.problems == ["file: the file has no requests"]
        assert "the file has no requests" in summary.message()


def test_import_rule_problems_name_line_and_custom_id() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"first name": {"type": "string"}}}}}]
    problem = _only_problem([dump(line("a", body={"model": MODEL, "messages": [{"role": "user", "content": "x"}],
                                                  "tools": tools}))])
    assert problem.startswith("line 1 (custom_id 'a'): key 'first name'")


def test_type_conflict_across_lines_is_reported_on_the_later_line() -> None:
    def with_enum(custom_id: str, values: list) -> bytes:
        entry = line(custom_id)
        entry["body"]["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"x": {"type": "string", "enum": values}}}}}]
        return dump(entry)

    rows, summary = run([with_enum("a", ["p", "q"]), dump(line("plain")), with_enum("b", [1])])
    assert len(summary.problems) == 1
    problem = summary.problems[0]
    assert problem.startswith("line 3 (custom_id 'b'): ")
    assert ".enum[] is a number here but a string on line 1" in problem


def test_stop_as_string_or_list_does_not_conflict() -> None:
    first, second = line("a"), line("b")
    first["body"]["stop"] = "END"
    second["body"]["stop"] = ["x", "y"]
    _, summary = run([dump(first), dump(second)])
    assert summary.problems == []


def test_multiple_problems_reported_together_in_line_order() -> None:
    entry_no_id = line()
    del entry_no_id["custom_id"]
    lines = [dump(line("ok")), b"not json", dump(entry_no_id), dump(line("g", method="GET")), dump(line("ok")),
             dump(line("u", url="/v1/embeddings")), dump(line("m", model="gemini-2.0-flash")), dump(line("fine"))]
    rows, summary = run(lines)
    assert [p.split(":", 1)[0] for p in summary.problems] == [
        "line 2", "line 3", "line 4 (custom_id 'g')", "line 5 (custom_id 'ok')", "line 6 (custom_id 'u')",
        "line 7 (custom_id 'm')"]
    assert len(rows) == 2
    message = summary.message()
    assert message.startswith("Invalid batch input file:\n")
    assert all(problem in message for problem in summary.problems)
    assert "more problems" not in message


def test_problems_capped_with_a_note() -> None:
    _, summary = run([b"{bad json"] * (MAX_PROBLEMS + 17))
    assert len(summary.problems) == MAX_PROBLEMS
    assert summary.more_problems == 17
    assert summary.message().endswith("\n... and 17 more problems")
    assert summary.problems[-1].startswith(f"line {MAX_PROBLEMS}:")


def test_too_many_lines_reported_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transform_input, "MAX_LINES", 3)  # the real limit is 200,000 lines
    rows, summary = run([dump(line(f"r{i}")) for i in range(6)])
    assert len(rows) == 3
    assert len(summary.problems) == 1
    assert summary.problems[0].startswith("line 4 (custom_id 'r3'): more than 3 requests")


def test_unmappable_lines_are_problems_not_crashes() -> None:
    bad_role = line("a")
    bad_role["body"]["messages"] = [{"role": "wizard", "content": "x"}]
    unsupported = line("b")
    unsupported["body"]["logit_bias"] = {"1": 2}  # LiteLLM refuses it for Vertex online too
    rows, summary = run([dump(bad_role), dump(unsupported), dump(line("c"))])
    assert len(summary.problems) == 2
    assert summary.problems[0].startswith("line 1 (custom_id 'a'): cannot be mapped to a Vertex request")
    assert summary.problems[1].startswith("line 2 (custom_id 'b'): cannot be mapped to a Vertex request")
    assert "logit_bias" in summary.problems[1]
    assert [row_custom_id(r) for r in rows] == ["c"]


# --- the central property: a batch line maps exactly like an online call --------------------------------

def _gemini_ok(path: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
            "modelVersion": MODEL, "responseId": "r"}


@pytest.fixture(scope="module")
def online() -> Iterator[Any]:
    """``online(body)`` -> the JSON body ``litellm.completion`` POSTs to generateContent for ``body``."""
    import litellm

    with recording(_gemini_ok) as server:
        def call(body: dict[str, Any]) -> dict[str, Any]:
            body = copy.deepcopy(body)  # litellm mutates some arguments
            server.bodies.clear()
            params = {k: v for k, v in body.items() if k not in ("model", "messages")}
            litellm.completion(model="vertex_ai/" + body["model"], messages=body["messages"], api_base=server.url,
                               vertex_project="p", vertex_location="us-central1",
                               vertex_credentials=server.credentials, num_retries=0, **params)
            assert len(server.bodies) == 1
            path, sent = server.bodies[0]
            assert path == (f"/v1/projects/p/locations/us-central1/publishers/google/models/{body['model']}"
                            ":generateContent")
            return sent

        yield call


_TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "days": {"type": "integer", "minimum": 1}},
        "required": ["city"]}}}]
_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "number"},
                                           "tags": {"type": "array", "items": {"type": "string"}}},
           "required": ["answer", "score"], "additionalProperties": False}
_IMAGE_MESSAGES = [{"role": "user", "content": [
    {"type": "text", "text": "What is in this picture?"},
    {"type": "image_url", "image_url": {"url": "gs://bucket/cat.png"}}]}]

EQUIVALENT_BODIES = {
    "system": {"messages": [{"role": "system", "content": "Answer in French."},
                            {"role": "user", "content": "Hello"}]},
    "developer": {"messages": [{"role": "developer", "content": "Be terse."}, {"role": "user", "content": "Hi"}]},
    "image_gs_uri": {"messages": _IMAGE_MESSAGES},
    "tools": {"messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": _TOOLS,
              "tool_choice": "auto"},
    "tool_round_trip": {"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"}], "tools": _TOOLS},
    "json_schema": {"messages": [{"role": "user", "content": "Rate this."}],
                    "response_format": {"type": "json_schema",
                                        "json_schema": {"name": "rating", "schema": _SCHEMA, "strict": True}}},
    "json_object": {"messages": [{"role": "user", "content": "JSON please"}], "response_format": {"type": "json_object"}},
    "sampling": {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 123, "temperature": 0.3,
                 "top_p": 0.9, "stop": ["END", "STOP"], "n": 2, "seed": 7},
    "stop_string": {"messages": [{"role": "user", "content": "Hi"}], "stop": "END", "max_completion_tokens": 50},
    "reasoning_low": {"messages": [{"role": "user", "content": "Think"}], "reasoning_effort": "low"},
    "reasoning_high": {"messages": [{"role": "user", "content": "Think"}], "reasoning_effort": "high"},
    "everything": {"messages": [{"role": "system", "content": "You are careful."}, *_IMAGE_MESSAGES],
                   "tools": _TOOLS, "response_format": {"type": "json_schema",
                                                        "json_schema": {"name": "rating", "schema": _SCHEMA}},
                   "max_tokens": 500, "temperature": 0, "stop": ["\n\n"], "n": 1, "reasoning_effort": "medium"},
}


@pytest.mark.parametrize("case", sorted(EQUIVALENT_BODIES))
def test_batch_request_equals_online_request(online: Any, case: str) -> None:
    body = {"model": MODEL, **EQUIVALENT_BODIES[case]}
    sent_online = online(body)
    # No key needs removing: for these bodies LiteLLM puts nothing per-call (ids, timestamps) in the request.
    assert openai_body_to_vertex_request(copy.deepcopy(body), MODEL) == sent_online
    # and the row the converter writes carries that same request
    rows, summary = run([dump({"custom_id": case, "method": "POST", "url": "/v1/chat/completions", "body": body})])
    assert summary.problems == []
    assert rows[0]["request"] == sent_online


def test_online_capture_sees_the_parameters(online: Any) -> None:
    """Guard against a vacuous equality: the captured request really carries what was asked for."""
    sent = online({"model": MODEL, **EQUIVALENT_BODIES["everything"]})
    config = sent["generationConfig"]
    assert config["max_output_tokens"] == 500
    assert config["temperature"] == 0
    assert config["stop_sequences"] == ["\n\n"]
    assert config["response_mime_type"] == "application/json"
    assert "thinkingConfig" in config
    assert sent["system_instruction"] == {"parts": [{"text": "You are careful."}]}
    assert sent["tools"][0]["function_declarations"][0]["name"] == "get_weather"
    parts = sent["contents"][0]["parts"]
    assert {"file_data": {"mime_type": "image/png", "file_uri": "gs://bucket/cat.png"}} in parts


def test_schema_defs_are_inlined_on_top_of_the_online_request(online: Any) -> None:
    schema = {"type": "object", "properties": {"steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
                                               "final": {"$ref": "#/$defs/Answer"}},
              "required": ["steps", "final"],
              "$defs": {"Step": {"type": "object", "properties": {"explanation": {"type": "string"},
                                                                 "output": {"type": "string"}}},
                        "Answer": {"type": "string"}}}
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Solve"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "math", "schema": schema}}}
    sent_online = online(body)
    mine = openai_body_to_vertex_request(copy.deepcopy(body), MODEL)
    assert mine == inline_schema_refs(sent_online)
    assert not {"$defs", "$ref", "definitions"} & nested_keys(mine)
    assert row_problems({"custom_id": "cid:x", "request": mine}) == []
    assert mine["generationConfig"]["response_json_schema"]["properties"]["final"] == {"type": "string"}


def test_tool_parameter_defs_are_inlined(online: Any) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"item": {"$ref": "#/definitions/Item"}},
        "definitions": {"Item": {"type": "object", "properties": {"id": {"type": "integer"}}}}}}}]
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "tools": tools}
    mine = openai_body_to_vertex_request(copy.deepcopy(body), MODEL)
    assert mine == inline_schema_refs(online(body))
    assert not {"$defs", "$ref", "definitions"} & nested_keys(mine)


def test_recursive_schema_is_refused_by_the_converter() -> None:
    schema = {"$ref": "#/$defs/Node", "$defs": {"Node": {"type": "object", "properties": {
        "name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}}}
    entry = line("tree")
    entry["body"]["response_format"] = {"type": "json_schema", "json_schema": {"name": "tree", "schema": schema}}
    _, summary = run([dump(entry)])
    assert summary.problems, "a recursive schema cannot be imported by Vertex and must be refused"
    assert all(p.startswith("line 1 (custom_id 'tree'): ") for p in summary.problems)

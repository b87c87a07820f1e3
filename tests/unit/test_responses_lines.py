"""``/v1/responses`` lines map exactly as ``litellm.responses(model="vertex_ai/...")`` maps the same call online
(the Gemini request it POSTs), and come back as the Response object it returns (ids and clocks aside)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from openai.types.responses import Response

from litellm_vertex_batch.adapters import ADAPTERS
from litellm_vertex_batch.adapters.responses import ECHO_KEY, Responses
from litellm_vertex_batch.core import jsonl
from litellm_vertex_batch.core.carried import carried_custom_id
from litellm_vertex_batch.core.input_lines import InputConverter
from litellm_vertex_batch.core.output_lines import RowConverter
from tests.unit.online_recorder import recording

MODEL = "gemini-2.5-flash-lite"
_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "number"}},
           "required": ["answer", "score"], "additionalProperties": False}
_TOOL = {"type": "function", "name": "get_weather", "description": "Weather for a city",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
BODIES: list[dict[str, Any]] = [
    {"input": "Tell me a joke"},
    {"input": "Tell me a joke", "instructions": "You answer in one line.", "max_output_tokens": 40},
    {"input": [{"role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
               {"role": "assistant", "content": [{"type": "output_text", "text": "Hi! How can I help?"}]},
               {"role": "user", "content": "What is 2+2?"}], "temperature": 0.2, "top_p": 0.9},
    {"input": [{"type": "message", "role": "developer", "content": "Be terse."},
               {"type": "message", "role": "user", "content": "Weather in Paris?"}],
     "tools": [_TOOL], "tool_choice": "auto"},
    {"input": "Rate this", "text": {"format": {"type": "json_schema", "name": "rating", "schema": _SCHEMA,
                                               "strict": True}}},
    {"input": "Think first", "reasoning": {"effort": "low"}},
    {"input": "Short", "max_output_tokens": 16, "metadata": {"k": "v"}, "store": False},
]


@pytest.fixture(scope="module")
def online() -> Iterator[Any]:
    """``online(body)`` -> (the generateContent body ``litellm.responses`` POSTs, the Response it returns)."""
    import litellm

    with recording(lambda path, body: gemini_answer()) as server:
        def call(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
            body = copy.deepcopy(body)
            server.bodies.clear()
            params = {k: v for k, v in body.items() if k != "input"}
            response = litellm.responses(model="vertex_ai/" + MODEL, input=body["input"], api_base=server.url,
                                         vertex_project="p", vertex_location="us-central1",
                                         vertex_credentials=server.credentials, num_retries=0, **params)
            assert len(server.bodies) == 1
            return server.bodies[0][1], response.model_dump(exclude_none=False)

        yield call


def gemini_answer() -> dict[str, Any]:
    """What the recorder answers every generateContent call with (and a batch row carries back)."""
    return {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
            "modelVersion": MODEL, "responseId": "r"}


def without_ids(value: Any) -> Any:
    """Ids and clocks are minted per call; everything else must be equal."""
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k not in ("id", "created_at", "call_id")}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


def batch_row(body: dict[str, Any]) -> dict[str, Any]:
    (row,) = Responses().vertex_rows(carried_custom_id("r"), {"model": MODEL, **copy.deepcopy(body)}, MODEL)
    return row


@pytest.mark.parametrize("body", BODIES, ids=[f"body{i}" for i in range(len(BODIES))])
def test_a_responses_line_maps_and_answers_as_litellm_responses_does_online(online: Any,
                                                                              body: dict[str, Any]) -> None:
    sent, answer = online(body)
    row = batch_row(body)
    assert row["request"] == sent
    converted = RowConverter(Responses().response_reader(MODEL), None, Responses().row_response).convert(
        {**row, "status": "", "response": gemini_answer()}, "r")
    assert converted.ok, converted.line
    ours = converted.line["response"]["body"]
    # the one addition: a count the openai SDK's Response type requires and LiteLLM leaves out (Gemini writes
    # no cache entries a caller pays for)
    answer["usage"]["input_tokens_details"].setdefault("cache_write_tokens", 0)
    assert without_ids(ours) == without_ids(answer)
    parsed = Response.model_validate(ours)  # the openai SDK's own type
    assert parsed.object == "response" and parsed.output_text == "ok"
    assert parsed.usage is not None and (parsed.usage.input_tokens, parsed.usage.output_tokens) == (3, 1)


def test_the_row_carries_only_what_the_answer_echoes_as_one_string() -> None:
    row = batch_row(BODIES[1])
    assert set(row) == {"custom_id", "request", ECHO_KEY}
    assert json.loads(row[ECHO_KEY]) == {"instructions": "You answer in one line.", "max_output_tokens": 40}


@pytest.mark.parametrize(("body", "expected"), [
    ({"input": "x", "stream": True}, "body.stream: a batch line is not streamed"),
    ({"input": "x", "previous_response_id": "resp_1"}, "body.previous_response_id: a batch line cannot continue"),
    ({"input": "x", "background": True}, "body.background: a batch line already runs in the background"),
    ({"input": "x", "frobnicate": 1}, "body.frobnicate is not a Responses API parameter"),
    ({"input": []}, "body.input must be a string or a non-empty array of input items"),
    ({"input": "x", "model": "text-embedding-005"}, "is an embedding model"),
])
def test_what_a_batch_line_cannot_do_is_refused_naming_the_line(body: dict[str, Any], expected: str) -> None:
    converter = InputConverter(ADAPTERS)
    entry = {"custom_id": "r1", "method": "POST", "url": "/v1/responses", "body": {"model": MODEL, **body}}
    assert converter.encoded(1, jsonl.dumps_line(entry)) == []
    problems = converter.finish().problems
    assert len(problems) == 1 and problems[0].startswith("line 1 (custom_id 'r1'): ") and expected in problems[0]


def test_a_failed_row_keeps_googles_reason() -> None:
    row = {**batch_row(BODIES[0]), "status": 'Bad Request: {"error": {"code": 400, "message": "bad", '
                                            '"status": "INVALID_ARGUMENT"}}'}
    converted = RowConverter(Responses().response_reader(MODEL), None, Responses().row_response).convert(row, "r")
    assert not converted.ok and converted.line["response"]["status_code"] == 400
    assert converted.line["response"]["body"]["error"]["message"] == "bad"

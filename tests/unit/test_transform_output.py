"""output lines (with the chat adapter): Vertex output rows -> OpenAI batch output/error lines, and usage."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion

from litellm_vertex_batch.adapters.chat import ChatCompletions
from litellm_vertex_batch.core.endpoint import RowUsage
from litellm_vertex_batch.core.output_lines import (
    ConvertedRow,
    RowConverter,
    error_line,
    not_run_line,
    parse_row_status,
    request_fingerprint,
    usage_totals,
)

MODEL = "gemini-2.5-flash"
CREATE_TIME = "2026-01-02T03:04:05.123456Z"
CREATE_UNIX = 1767323045


@pytest.fixture(scope="module")
def converter() -> RowConverter:
    return RowConverter(ChatCompletions().response_reader(MODEL))


def success_row(**usage: int) -> dict[str, Any]:
    usage_metadata = {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 150,
                      "cachedContentTokenCount": 40, "thoughtsTokenCount": 30, **usage}
    return {"status": "", "processed_time": "2026-01-02T03:04:06Z", "custom_id": "cid:req-1",
            "request": {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]},
            "response": {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello there"}]},
                                         "finishReason": "STOP", "avgLogprobs": -0.25}],
                         "modelVersion": "gemini-2.5-flash-001", "responseId": "resp-abc",
                         "createTime": CREATE_TIME, "usageMetadata": usage_metadata}}


def _envelope_keys(line: dict) -> None:
    assert set(line) == {"id", "custom_id", "response", "error"}
    assert line["id"].startswith("batch_req_")
    json.dumps(line)  # JSON-serialisable as it will be written


# --- parse_row_status -----------------------------------------------------------------------------------

@pytest.mark.parametrize("status, expected", [
    ('Bad Request: {"error": {"code": 400, "message": "Request contains an invalid argument.", '
     '"status": "INVALID_ARGUMENT"}}', (400, "Request contains an invalid argument.", "INVALID_ARGUMENT")),
    ('Too Many Requests: {"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}',
     (429, "Resource exhausted.", "RESOURCE_EXHAUSTED")),
    ('Internal Server Error: {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}',
     (500, "Internal error encountered.", "INTERNAL")),
    # no numeric code: Google's status name decides
    ('Service Unavailable: {"error": {"message": "try later", "status": "UNAVAILABLE"}}', (503, "try later", "UNAVAILABLE")),
    ('{"error": {"code": 404, "message": "Publisher model not found", "status": "NOT_FOUND"}}',
     (404, "Publisher model not found", "NOT_FOUND")),
    # multi-line JSON
    ('Bad Request: {\n  "error": {\n    "code": 400,\n    "message": "m",\n    "status": "FAILED_PRECONDITION"\n  }\n}',
     (400, "m", "FAILED_PRECONDITION")),
])
def test_parse_row_status_with_google_json(status: str, expected: tuple) -> None:
    assert parse_row_status(status) == expected


@pytest.mark.parametrize("status, code", [
    ("Bad Request: the input was bad", 400),
    ("Too Many Requests", 429),
    ("too many requests: quota", 429),
    ("Not Found: model", 404),
    ("Forbidden: no", 403),
    ("Unauthorized", 401),
    ("Service Unavailable: backend down", 503),
    ("Deadline Exceeded: slow", 504),
    ("Internal error occurred.", 500),
    ("something nobody expected", 500),
    ("Bad Request: {not json}", 400),
    ('Bad Request: {"no_error_key": 1}', 400),
])
def test_parse_row_status_plain_text(status: str, code: int) -> None:
    assert parse_row_status(status) == (code, status, "")  # the whole text is kept as the message


def test_parse_row_status_ignores_nonsense_codes() -> None:
    code, message, name = parse_row_status('Bad Request: {"error": {"code": 7, "message": "x", "status": "PERMISSION_DENIED"}}')
    assert (code, message, name) == (403, "x", "PERMISSION_DENIED")
    assert parse_row_status('Bad Request: {"error": {"code": "400", "message": "x"}}')[0] == 500


# --- RowConverter with the chat adapter's reader: success -------------------------------------------------------------------------

def test_success_row(converter: RowConverter) -> None:
    result = converter.convert(success_row(), "req-1")
    assert isinstance(result, ConvertedRow)
    assert result.ok and result.custom_id == "req-1"
    line = result.line
    _envelope_keys(line)
    assert line["custom_id"] == "req-1"
    assert line["error"] is None
    assert line["response"]["status_code"] == 200
    body = line["response"]["body"]
    assert line["response"]["request_id"] == body["id"] == "resp-abc"
    assert body["object"] == "chat.completion"
    assert body["created"] == CREATE_UNIX
    assert body["model"] == "gemini-2.5-flash-001"
    assert len(body["choices"]) == 1
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Hello there"
    completion = ChatCompletion.model_validate(body)
    assert completion.choices[0].message.content == "Hello there"


def test_success_usage_includes_cached_and_reasoning_tokens(converter: RowConverter) -> None:
    result = converter.convert(success_row(), "req-1")
    usage = result.line["response"]["body"]["usage"]
    assert usage["prompt_tokens"] == 100
    assert usage["completion_tokens"] == 20 + 30  # candidates + thoughts
    assert usage["total_tokens"] == 150
    assert usage["prompt_tokens_details"]["cached_tokens"] == 40
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 30
    CompletionUsage.model_validate(usage)
    assert result.usage == RowUsage(input_tokens=100, output_tokens=50, cached_tokens=40, reasoning_tokens=30)


def test_success_usage_without_cache_or_thoughts(converter: RowConverter) -> None:
    row = success_row()
    row["response"]["usageMetadata"] = {"promptTokenCount": 7, "candidatesTokenCount": 3, "totalTokenCount": 10}
    result = converter.convert(row, "x")
    assert result.usage == RowUsage(input_tokens=7, output_tokens=3, cached_tokens=0, reasoning_tokens=0)


def test_tool_call_response(converter: RowConverter) -> None:
    row = success_row()
    row["response"]["candidates"] = [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}, "finishReason": "STOP"}]
    result = converter.convert(row, "tool")
    assert result.ok
    body = result.line["response"]["body"]
    completion = ChatCompletion.model_validate(body)
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("reason, expected", [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"),
                                              ("STOP", "stop")])
def test_finish_reasons(converter: RowConverter, reason: str, expected: str) -> None:
    row = success_row()
    row["response"]["candidates"][0]["finishReason"] = reason
    assert converter.convert(row, "f").line["response"]["body"]["choices"][0]["finish_reason"] == expected


def test_multiple_candidates(converter: RowConverter) -> None:
    row = success_row()
    row["response"]["candidates"] = [
        {"index": 0, "content": {"role": "model", "parts": [{"text": "one"}]}, "finishReason": "STOP"},
        {"index": 1, "content": {"role": "model", "parts": [{"text": "two"}]}, "finishReason": "STOP"}]
    completion = ChatCompletion.model_validate(converter.convert(row, "n").line["response"]["body"])
    assert [c.message.content for c in completion.choices] == ["one", "two"]
    assert [c.index for c in completion.choices] == [0, 1]


def test_blocked_prompt_is_a_content_filter_completion(converter: RowConverter) -> None:
    row = {"status": "", "request": {}, "response": {
        "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
        "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12}, "modelVersion": MODEL,
        "createTime": CREATE_TIME}}
    result = converter.convert(row, "blocked")
    assert result.ok
    line = result.line
    _envelope_keys(line)
    assert line["response"]["status_code"] == 200
    body = line["response"]["body"]
    completion = ChatCompletion.model_validate(body)
    assert len(completion.choices) == 1
    assert completion.choices[0].finish_reason == "content_filter"
    assert completion.choices[0].message.content is None
    assert body["usage"]["prompt_tokens"] == 12
    assert result.usage == RowUsage(input_tokens=12, output_tokens=0)


def test_created_falls_back_to_now_without_create_time(converter: RowConverter) -> None:
    row = success_row()
    del row["response"]["createTime"]
    before = int(time.time())
    body = converter.convert(row, "x").line["response"]["body"]
    assert before <= body["created"] <= int(time.time()) + 1


# --- RowConverter with the chat adapter's reader: failures --------------------------------------------------------------------------

def test_failed_row_becomes_an_error_file_line(converter: RowConverter) -> None:
    row = {"status": 'Bad Request: {"error": {"code": 400, "message": "Unable to submit request because it has an '
                     'empty text parameter.", "status": "INVALID_ARGUMENT"}}',
           "processed_time": "2026-01-02T03:04:06Z", "request": {"contents": []}}
    result = converter.convert(row, "bad-1")
    assert not result.ok and result.usage is None
    line = result.line
    _envelope_keys(line)
    assert line["custom_id"] == "bad-1"
    assert line["error"] is None
    assert line["response"]["status_code"] == 400
    assert line["response"]["body"] == {"error": {
        "message": "Unable to submit request because it has an empty text parameter.",
        "type": "invalid_request_error", "param": None, "code": "INVALID_ARGUMENT"}}


def test_rate_limited_row(converter: RowConverter) -> None:
    row = {"status": 'Too Many Requests: {"error": {"code": 429, "message": "Quota exceeded", '
                     '"status": "RESOURCE_EXHAUSTED"}}'}
    line = converter.convert(row, "slow").line
    assert line["response"]["status_code"] == 429
    assert line["response"]["body"]["error"]["type"] == "rate_limit_error"
    assert line["response"]["body"]["error"]["code"] == "RESOURCE_EXHAUSTED"


def test_failed_row_with_a_response_is_still_failed(converter: RowConverter) -> None:
    row = success_row()
    row["status"] = "Internal error occurred."
    result = converter.convert(row, "x")
    assert not result.ok
    assert result.line["response"]["status_code"] == 500
    assert result.line["response"]["body"]["error"]["type"] == "server_error"
    assert result.line["response"]["body"]["error"]["message"] == "Internal error occurred."


@pytest.mark.parametrize("row", [{"status": ""}, {}, {"status": "", "response": None}, {"response": "text"}])
def test_row_without_response(converter: RowConverter, row: dict) -> None:
    result = converter.convert(row, "empty")
    assert not result.ok
    line = result.line
    _envelope_keys(line)
    assert line["response"]["status_code"] == 500
    assert line["response"]["body"]["error"]["message"] == "Vertex returned no response for this request"
    assert line["response"]["body"]["error"]["type"] == "server_error"


def test_unreadable_response_is_reported_not_dropped(converter: RowConverter) -> None:
    row = {"status": "", "response": {"candidates": "not-a-list", "usageMetadata": "nope"}}
    result = converter.convert(row, "weird")
    assert not result.ok
    assert result.custom_id == "weird"
    assert result.line["response"]["status_code"] == 500
    assert result.line["response"]["body"]["error"]["code"] == "response_transformation_error"


@pytest.mark.parametrize("status, kind", [(400, "invalid_request_error"), (404, "invalid_request_error"),
                                          (429, "rate_limit_error"), (500, "server_error"), (503, "server_error")])
def test_error_line_types(status: int, kind: str) -> None:
    line = error_line("c", status, "msg")
    _envelope_keys(line)
    assert line["response"]["status_code"] == status
    assert line["response"]["body"]["error"] == {"message": "msg", "type": kind, "param": None, "code": str(status)}


def test_request_ids_are_unique() -> None:
    assert len({error_line("c", 400, "m")["id"] for _ in range(200)}) == 200


# --- not_run_line ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["batch_expired", "batch_cancelled", "batch_failed"])
def test_not_run_line_shape(code: str) -> None:
    line = not_run_line("never", code, "This request was not run.")
    _envelope_keys(line)
    assert line["custom_id"] == "never"
    assert line["response"] is None
    assert line["error"] == {"code": code, "message": "This request was not run."}


# --- usage_totals ---------------------------------------------------------------------------------------

OPENAI_USAGE_KEYS = ("input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details", "total_tokens")


def _openai_usage(totals: dict) -> dict:
    """OpenAI's batch usage fields; LiteLLM's chat names, when present, must agree with them."""
    assert totals.get("prompt_tokens", totals["input_tokens"]) == totals["input_tokens"]
    assert totals.get("completion_tokens", totals["output_tokens"]) == totals["output_tokens"]
    return {key: totals[key] for key in OPENAI_USAGE_KEYS}


def test_usage_totals() -> None:
    totals = usage_totals({"input_tokens": 1000, "output_tokens": 250, "cached_tokens": 400, "reasoning_tokens": 90})
    assert _openai_usage(totals) == {
        "input_tokens": 1000, "input_tokens_details": {"cached_tokens": 400}, "output_tokens": 250,
        "output_tokens_details": {"reasoning_tokens": 90}, "total_tokens": 1250}
    from openai.types import BatchUsage

    parsed = BatchUsage.model_validate(totals)
    assert parsed.input_tokens_details.cached_tokens == 400
    assert parsed.output_tokens_details.reasoning_tokens == 90


def test_usage_totals_of_converted_rows(converter: RowConverter) -> None:
    sums = {"input_tokens": 0, "output_tokens": 0, "cached_tokens": 0, "reasoning_tokens": 0}
    rows = [success_row(), success_row(promptTokenCount=10, candidatesTokenCount=5, totalTokenCount=15,
                                       cachedContentTokenCount=0, thoughtsTokenCount=0),
            {"status": "Bad Request: nope"}]
    for n, row in enumerate(rows):
        usage = converter.convert(row, str(n)).usage
        if usage is not None:
            for key in sums:
                sums[key] += getattr(usage, key)
    assert _openai_usage(usage_totals(sums)) == {"input_tokens": 110, "input_tokens_details": {"cached_tokens": 40},
                                  "output_tokens": 55, "output_tokens_details": {"reasoning_tokens": 30},
                                  "total_tokens": 165}


# --- request_fingerprint --------------------------------------------------------------------------------

def test_request_fingerprint_ignores_key_order_only() -> None:
    a = {"contents": [{"role": "user", "parts": [{"text": "é"}]}], "generationConfig": {"temperature": 0.1}}
    b = {"generationConfig": {"temperature": 0.1}, "contents": [{"parts": [{"text": "é"}], "role": "user"}]}
    assert request_fingerprint({"request": a, "custom_id": "cid:1"}) == request_fingerprint({"request": b})
    assert len(request_fingerprint({"request": a})) == 32
    c = {"contents": [{"role": "user", "parts": [{"text": "e"}]}], "generationConfig": {"temperature": 0.1}}
    assert request_fingerprint({"request": a}) != request_fingerprint({"request": c})


def test_a_text_embedding_output_row_matches_its_input_row_by_the_instance_it_echoes() -> None:
    sent = {"content": "some text", "task_type": "RETRIEVAL_DOCUMENT", "custom_id": "cix:0/2/:a"}
    echoed = {"instance": {"task_type": "RETRIEVAL_DOCUMENT", "content": "some text"}, "predictions": [],
              "status": ""}  # the custom_id dropped from the echo
    assert request_fingerprint(sent) == request_fingerprint(echoed)
    assert request_fingerprint(sent) != request_fingerprint({"instance": {"content": "other text"}})


def test_a_batch_routed_by_a_model_list_name_reports_that_name(converter):
    """As the proxy answers an online call with the model name it was asked for; the rest is unchanged."""
    aliased = RowConverter(ChatCompletions().response_reader(MODEL), reported_model="gpt-4o-mini")
    plain, renamed = converter.convert(success_row(), "req-1"), aliased.convert(success_row(), "req-1")
    assert plain.line["response"]["body"]["model"] == "gemini-2.5-flash-001"
    assert renamed.line["response"]["body"]["model"] == "gpt-4o-mini"
    strip = ("id", "model")
    assert {k: v for k, v in renamed.line["response"]["body"].items() if k not in strip} == \
        {k: v for k, v in plain.line["response"]["body"].items() if k not in strip}

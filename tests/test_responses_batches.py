"""Responses-API batches through the stock proxy with the openai SDK: Response objects out, per-row errors,
blocked prompts, tool calls, structured output, usage and the batch's cost."""

from __future__ import annotations

import json
from typing import Any

import litellm
import openai
import pytest
from openai.types.responses import Response

from tests.conftest import batch_charges, create_batch, make_client, read_jsonl, upload, wait_done
from tests.test_spend import TOLERANCE, expected_cost
from tests.test_spend import vertex_rows as job_output_rows

MODEL = "gemini-2.5-flash-lite"
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
          "additionalProperties": False}
TOOL = {"type": "function", "name": "lookup", "description": "Look a word up",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}


def responses_line(custom_id: str, input_: Any, **body: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/responses",
            "body": {"model": MODEL, "input": input_, **body}}


LINES = [
    responses_line("text", "Hello there", instructions="Answer briefly.", max_output_tokens=64),
    responses_line("items", [{"role": "user", "content": [{"type": "input_text", "text": "What is up"}]}]),
    responses_line("json", "Give me JSON", text={"format": {"type": "json_schema", "name": "answer",
                                                              "schema": SCHEMA, "strict": True}}),
    responses_line("tool", "Please CALL_TOOL for cats", tools=[TOOL]),
    responses_line("thinking", "think about it", reasoning={"effort": "low"}),
    responses_line("failed", "EMULATOR_FAIL please"),
    responses_line("blocked", "EMULATOR_BLOCK this prompt"),
]


def test_a_responses_batch_comes_back_as_response_objects(client):
    file = upload(client, LINES)
    batch = create_batch(client, file.id, endpoint="/v1/responses")
    assert batch.endpoint == "/v1/responses"
    done = wait_done(client, batch.id)
    assert done.status == "completed", done
    output = {r["custom_id"]: r for r in read_jsonl(client, done.output_file_id)}
    errors = {r["custom_id"]: r for r in read_jsonl(client, done.error_file_id)}
    assert not set(output) & set(errors)  # each custom_id exactly once across the two files
    assert sorted([*output, *errors]) == sorted(line["custom_id"] for line in LINES)
    assert (done.request_counts.completed, done.request_counts.failed) == (len(output), len(errors))

    parsed = {cid: Response.model_validate(r["response"]["body"]) for cid, r in output.items()}
    text = parsed["text"]
    assert text.object == "response" and text.status == "completed"
    assert text.output_text.startswith("echo: Hello there")
    assert text.instructions == "Answer briefly." and text.max_output_tokens == 64
    assert text.usage is not None and text.usage.input_tokens > 0 and text.usage.output_tokens > 0
    assert output["text"]["response"]["request_id"] == text.id
    assert parsed["items"].output_text.startswith("echo: What is up")
    assert "answer" in json.loads(parsed["json"].output_text)
    assert parsed["json"].text is not None and parsed["json"].text.format.type == "json_schema"
    calls = [item for item in parsed["tool"].output if item.type == "function_call"]
    assert [c.name for c in calls] == ["lookup"] and json.loads(calls[0].arguments) == {"q": "x"}
    assert [t.name for t in parsed["tool"].tools] == ["lookup"]
    thinking = parsed["thinking"]
    assert thinking.usage is not None and thinking.usage.output_tokens_details.reasoning_tokens > 0

    failed = errors["failed"]["response"]
    assert failed["status_code"] == 400 and failed["body"]["error"]["code"] == "INVALID_ARGUMENT"
    # a blocked prompt is answered as LiteLLM's bridge answers it online: an incomplete response, no text
    blocked = parsed["blocked"]
    assert blocked.status == "incomplete" and blocked.output_text == "", blocked
    assert blocked.incomplete_details is not None and blocked.incomplete_details.reason == "content_filter"
    assert done.usage.input_tokens == sum(p.usage.input_tokens for p in parsed.values() if p.usage)
    assert done.usage.output_tokens == sum(p.usage.output_tokens for p in parsed.values() if p.usage)


def test_a_responses_batch_is_charged_once_at_the_chat_price(stand_ins, proxy_b, spy_log):
    client = make_client(proxy_b)
    file = upload(client, LINES[:2] + LINES[4:6])
    done = wait_done(client, create_batch(client, file.id, endpoint="/v1/responses").id)
    assert done.status == "completed"
    expected = expected_cost(job_output_rows(stand_ins, done.id), litellm.model_cost[MODEL])
    assert expected > 0
    events = batch_charges(spy_log, done.id)
    assert len(events) == 1, events
    assert abs(events[0]["response_cost"] - expected) < TOLERANCE
    assert abs(float(done.litellm_batch_cost_usd) - expected) < TOLERANCE


@pytest.mark.parametrize(("body", "expected"), [
    ({"stream": True}, "body.stream: a batch line is not streamed"),
    ({"previous_response_id": "resp_abc"}, "body.previous_response_id: a batch line cannot continue"),
    ({"not_a_parameter": 1}, "body.not_a_parameter is not a Responses API parameter"),
])
def test_what_a_responses_line_cannot_do_is_refused_at_upload(client, body, expected):
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, [LINES[0], responses_line("bad", "x", **body)])
    message = str(caught.value)
    assert "line 2 (custom_id 'bad')" in message and expected in message

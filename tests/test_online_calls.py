"""A vertex_batch/ deployment also answers online chat completions and Responses calls, through LiteLLM's own
Vertex provider with the deployment's settings, logged once at the Vertex price; or a clear 400 when the
operator turns that off. /v1/models lists it as a chat model, so this is what clients will try."""

from __future__ import annotations

import time

import openai
import pytest
from openai import OpenAI
from openai.types.responses import Response

from tests.conftest import spy_events
from tests.stand_ins.proxy import MASTER_KEY

MESSAGES = [{"role": "user", "content": "Hello online world"}]


def sdk(proxy) -> OpenAI:
    return OpenAI(api_key=MASTER_KEY, base_url=proxy.url + "/v1", max_retries=0)


def online_calls(stand_ins) -> dict[str, int]:
    return stand_ins.control("GET", "online")["calls"]


def success_events(spy_log, response_id: str, timeout: float = 10) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in spy_events(spy_log) if e["event"] == "success" and e["batch_id"] == response_id]
        if found or time.monotonic() > deadline:
            time.sleep(0.5)  # a second event would have arrived by now
            return [e for e in spy_events(spy_log) if e["event"] == "success" and e["batch_id"] == response_id]
        time.sleep(0.1)


def test_models_lists_the_deployment_and_it_answers_online(stand_ins, proxy):
    client = sdk(proxy)
    assert "gemini-2.5-flash-lite" in [m.id for m in client.models.list().data]
    before = online_calls(stand_ins).get("projects/emulator-project/locations/us-central1/models/gemini-2.5-flash-lite",
                                         0)
    answer = client.chat.completions.create(model="gemini-2.5-flash-lite", messages=MESSAGES, max_tokens=20)
    assert answer.choices[0].message.content == "echo: Hello online world"
    assert answer.choices[0].finish_reason == "stop" and answer.usage and answer.usage.prompt_tokens > 0
    streamed = client.chat.completions.create(model="gemini-2.5-flash-lite", messages=MESSAGES, stream=True,
                                              stream_options={"include_usage": True})
    chunks = list(streamed)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: Hello online world"
    usage = [c.usage for c in chunks if c.usage]
    assert usage and usage[-1].completion_tokens == 4, "Vertex's usage, not an estimate"
    after = online_calls(stand_ins)["projects/emulator-project/locations/us-central1/models/gemini-2.5-flash-lite"]
    assert after == before + 2


def test_responses_api_on_the_deployment(proxy):
    response = sdk(proxy).responses.create(model="gemini-2.5-flash-lite", input="Hello responses",
                                           instructions="Be brief.", max_output_tokens=30)
    assert isinstance(response, Response) and response.object == "response"
    assert response.output_text == "echo: Hello responses"
    assert response.usage and response.usage.input_tokens > 0 and response.usage.output_tokens == 3


def test_online_calls_use_the_deployments_project_and_are_logged_once_at_the_vertex_price(stand_ins, proxy_b,
                                                                                          spy_log):
    answer = sdk(proxy_b).chat.completions.create(model="team-b-flash", messages=MESSAGES)
    assert online_calls(stand_ins).get("projects/team-b-project/locations/europe-west4/models/gemini-2.5-flash")
    events = success_events(spy_log, answer.id)
    assert len(events) == 1, events
    event = events[0]
    assert event["slo"]["custom_llm_provider"] == "vertex_ai"
    from litellm import cost_per_token

    expected = sum(cost_per_token(model="vertex_ai/gemini-2.5-flash", prompt_tokens=answer.usage.prompt_tokens,
                                  completion_tokens=answer.usage.completion_tokens))
    assert event["response_cost"] == pytest.approx(expected) and expected > 0
    assert event["slo"]["metadata"]["user_api_key_hash"], "attributed to the caller's key"


def test_vertex_errors_keep_their_status(proxy):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(proxy).chat.completions.create(model="gemini-2.5-flash-lite",
                                           messages=[{"role": "user", "content": "EMULATOR_FAIL now"}])
    assert "invalid argument" in str(caught.value).lower()


def test_turned_off_online_calls_are_a_clear_400_never_a_500(proxies):
    client = sdk(proxies["off"])
    calls = (lambda: client.chat.completions.create(model="gemini-2.5-flash-lite", messages=MESSAGES),
             lambda: list(client.chat.completions.create(model="gemini-2.5-flash-lite", messages=MESSAGES,
                                                         stream=True)),
             lambda: client.responses.create(model="gemini-2.5-flash-lite", input="hi"))
    for call in calls:
        with pytest.raises(openai.BadRequestError) as caught:
            call()
        assert "serve_online_calls: false" in str(caught.value) and "Batches" in str(caught.value)

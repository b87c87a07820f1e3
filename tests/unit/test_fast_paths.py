"""The differential test of the fast paths (``adapters/chat_fast.py``, ``adapters/chat_fast_answers.py``): over a
large corpus, every request and every chat.completion body they build equals, byte for byte, what LiteLLM's own
mapping makes of the same line (tool-call ids aside: LiteLLM makes them up at random).

Corpus: the benchmark data (10,000 lines of the shapes batches carry, and the emulator's predictions for them),
the accepted-input corpus, and hypothesis-generated bodies and Gemini answers (tools, inline and other images,
response_format, multiple candidates, thinking, function calls, grounding, blocked and failed rows). Each fast
result is checked against a skeleton or template primed by a *different* line of the same shape, as in a real
batch.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import data
from litellm_vertex_batch.adapters.chat import CompletionReader, vertex_request
from litellm_vertex_batch.adapters.chat_fast import FastRequests, plain_messages
from litellm_vertex_batch.adapters.chat_fast_answers import answer_shape
from litellm_vertex_batch.core.input_lines import iter_lines

MODEL = data.MODEL
ACCEPTED = Path(__file__).parent.parent / "bad_inputs" / "accepted"
NEVER = 10**12  # the runtime spot check off: every fast result is the fast path's own
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def slow(body: dict[str, Any]) -> dict[str, Any]:
    return vertex_request(body, MODEL)


def same_bytes(a: Any, b: Any) -> bool:
    return orjson.dumps(a) == orjson.dumps(b)


def check_requests(bodies: list[dict[str, Any]]) -> FastRequests:
    fast = FastRequests(slow, check_every=NEVER)
    for body in bodies:
        built, _ = fast.request(json.loads(json.dumps(body)))
        expected = slow(json.loads(json.dumps(body)))
        assert same_bytes(built, expected), (body, built, expected)
    return fast


def test_benchmark_corpus_requests_equal_litellms() -> None:
    bodies = [orjson.loads(line)["body"] for line in data.chat_lines(10_000, line_bytes=400)]
    fast = check_requests(bodies)
    # the proof is about the fast path: most of this corpus must have gone through it
    assert fast.fast_lines > 7_000


def test_accepted_corpus_requests_equal_litellms() -> None:
    bodies = []
    for path in sorted(ACCEPTED.glob("*.jsonl")):
        for _, raw in iter_lines([path.read_bytes()]):
            entry = json.loads(raw)
            bodies.append({**entry["body"], "model": MODEL})
    check_requests(bodies + bodies)  # twice: the second pass is built from the skeletons


_TEXT = st.text(max_size=40) | st.sampled_from(["", " ", "\n", "héllo wörld", "日本語", "a\u2028b", "{\"x\": 1}"])
_PARTS = st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": _TEXT}), min_size=1, max_size=3)
_IMAGE = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data._PIXEL}"}}
_MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "user", "assistant"]), "content": _TEXT}),
    st.fixed_dictionaries({"role": st.just("user"), "content": _PARTS}),
    st.fixed_dictionaries({"role": st.just("user"), "content": st.just([{"type": "text", "text": "look"}, _IMAGE])}),
    st.fixed_dictionaries({"role": st.just("assistant"), "content": st.none(),
                           "tool_calls": st.just([{"id": "c1", "type": "function",
                                                   "function": {"name": "lookup", "arguments": "{\"q\": \"x\"}"}}])}),
    st.fixed_dictionaries({"role": st.just("tool"), "tool_call_id": st.just("c1"), "content": _TEXT}),
    st.fixed_dictionaries({"role": st.just("user"), "content": _TEXT, "name": st.just("ann")}),
)
_PARAM_VALUES: dict[str, Any] = {
    "temperature": st.floats(0, 2, allow_nan=False), "top_p": st.floats(0, 1, allow_nan=False),
    "max_tokens": st.integers(1, 8192), "max_completion_tokens": st.integers(1, 8192),
    "n": st.integers(1, 4), "seed": st.integers(0, 2**31), "stop": st.one_of(_TEXT, st.lists(_TEXT, max_size=3)),
    "presence_penalty": st.floats(-2, 2, allow_nan=False), "frequency_penalty": st.floats(-2, 2, allow_nan=False),
    "response_format": st.sampled_from([{"type": "json_object"}, {"type": "text"}, data._SCHEMA]),
    "reasoning_effort": st.sampled_from(["minimal", "low", "medium", "high"]),
    "tools": st.just([data._TOOL]), "tool_choice": st.sampled_from(["auto", "none", "required"]),
    "user": st.text(max_size=10), "logprobs": st.booleans(), "top_logprobs": st.integers(0, 5),
    "modalities": st.just(["text"]), "metadata": st.just({"team": "a"}), "parallel_tool_calls": st.booleans(),
}
_PARAMS = st.dictionaries(st.sampled_from(sorted(_PARAM_VALUES)), st.none(), max_size=5).flatmap(
    lambda keys: st.fixed_dictionaries({key: _PARAM_VALUES[key] for key in keys}))
_BASE64 = st.binary(min_size=1, max_size=40).map(lambda raw: base64.b64encode(raw).decode())
_MEDIA = st.sampled_from(["image/png", "image/jpeg", "image/webp", "image/heic", "application/pdf", "audio/x-wav"])
_INLINE_IMAGE = st.builds(lambda media, encoded, as_dict: {
    "type": "image_url", "image_url": {"url": f"data:{media};base64,{encoded}"} if as_dict
    else f"data:{media};base64,{encoded}"}, _MEDIA, _BASE64, st.booleans())
_PLAIN_MESSAGE = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "developer", "user", "assistant"]), "content": _TEXT}),
    st.fixed_dictionaries({"role": st.just("user"), "content": st.lists(st.fixed_dictionaries(
        {"type": st.just("text"), "text": _TEXT.filter(bool)}) | _INLINE_IMAGE, min_size=1, max_size=3)}))
_PLAIN = st.lists(_PLAIN_MESSAGE, min_size=1, max_size=6).filter(
    lambda messages: any(m["role"] in ("user", "assistant") for m in messages))
#: mostly the plain messages the fast path takes (their results are its own), also everything else
_MESSAGES = st.one_of(_PLAIN, _PLAIN, _PLAIN, st.lists(_MESSAGE, min_size=1, max_size=6))


@FAST
@given(params=_PARAMS, first=_MESSAGES, second=_MESSAGES)
def test_generated_requests_equal_litellms(params: dict[str, Any], first: list, second: list) -> None:
    bodies = [{"model": MODEL, **params, "messages": first}, {"model": MODEL, **params, "messages": second}]
    try:
        for body in bodies:
            slow(json.loads(json.dumps(body)))
    except Exception:  # LiteLLM refuses it: the upload names the line either way
        return
    check_requests(bodies)


def test_plain_messages_refuses_what_it_does_not_map() -> None:
    assert plain_messages([{"role": "user", "content": "hi"}]) == ([], [{"role": "user", "parts": [{"text": "hi"}]}])
    assert plain_messages([{"role": "system", "content": "s"}]) is None  # LiteLLM adds a user "." then
    assert plain_messages([{"role": "user", "content": "hi", "name": "x"}]) is None
    assert plain_messages([{"role": "user", "content": [{"type": "text", "text": ""}]}]) is None
    assert plain_messages([{"role": "assistant", "content": [{"type": "text", "text": "x"}]}]) is None
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}
    assert plain_messages([{"role": "user", "content": [image, {"type": "text", "text": "what is it?"}]}]) == (
        [], [{"role": "user", "parts": [{"inline_data": {"data": "iVBORw0K", "mime_type": "image/png"}},
                                        {"text": "what is it?"}]}])
    assert plain_messages([{"role": "user", "content": [image]}]) is None  # LiteLLM adds a blank text part then
    for url in ("https://example.com/a.png", "gs://bucket/a.png", "data:image/png;base64,", "data:image/png,abc",
                "data:image\\/png;base64,iVBO", "data:image/png;base64,iVBO\n"):
        assert plain_messages([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]) \
            is None, url
    for extra in ({"detail": "low"}, {"format": "image/jpeg"}, {"mime_type": "image/jpeg"}):
        element = {"type": "image_url", "image_url": {**image["image_url"], **extra}}
        assert plain_messages([{"role": "user", "content": [element]}]) is None, extra


def test_inline_image_lines_are_built_from_a_skeleton_proven_on_an_image_line() -> None:
    """A parameter set's first line with images is LiteLLM's own (it proves the skeleton for image lines), even
    when lines of the same parameters without images came before."""
    text = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    image = {"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data._PIXEL}"}}]}]}
    fast = FastRequests(slow, check_every=NEVER)
    assert fast.request(dict(text))[1] is None and fast.request(dict(text))[1] is not None
    assert fast.request(dict(image))[1] is None  # first of its kind: LiteLLM's
    built, key = fast.request(dict(image))
    assert key is not None and same_bytes(built, slow(dict(image)))


# ------------------------------------------------------------------ responses


def reference_read(reader: CompletionReader, response: dict[str, Any]) -> dict[str, Any]:
    reader.fast.enabled = False
    try:
        return reader.read(json.loads(json.dumps(response)))[0]
    finally:
        reader.fast.enabled = True


def comparable(body: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """LiteLLM stamps ``created`` with the clock when the answer has no createTime, and makes up a random id
    when it does not use the responseId (none given, blocked prompts): those two fields only are left out of the
    comparison then."""
    body = dict(body)
    if "createTime" not in response:
        body.pop("created", None)
    if body.get("id") != response.get("responseId"):
        body.pop("id", None)
    # tool calls Gemini gives no id get a random one from LiteLLM (and from the fast path, made the same way)
    for choice in body.get("choices") or []:
        for call in (choice.get("message") or {}).get("tool_calls") or []:
            call.pop("id", None)
    return body


def check_answers(responses: list[dict[str, Any]]) -> CompletionReader:
    reader = CompletionReader(MODEL)
    reader.fast.check_every = NEVER
    reference = CompletionReader(MODEL)
    for response in responses:
        built = reader.read(json.loads(json.dumps(response)))
        expected = reference_read(reference, response)
        assert same_bytes(comparable(built[0], response), comparable(expected, response)), (response, built[0])
        assert built[1] == reference.read(json.loads(json.dumps(response)))[1]
    return reader


def test_benchmark_predictions_read_as_litellm_reads_them(tmp_path: Path) -> None:
    _, _, predictions = data.write(tmp_path, 4_000, line_bytes=300)
    responses = [row["response"] for row in map(orjson.loads, predictions.read_bytes().splitlines())
                 if isinstance(row.get("response"), dict) and not row.get("status")]
    reader = check_answers(responses)
    assert reader.fast.fast_rows > 3_000


_FINISH = st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "OTHER", "BLOCKLIST", "SPII",
                           "MALFORMED_FUNCTION_CALL", "FINISH_REASON_UNSPECIFIED", "LANGUAGE"])
_COUNT = st.integers(0, 5000)
_DETAILS = st.lists(st.fixed_dictionaries({"modality": st.sampled_from(["TEXT", "IMAGE", "AUDIO", "VIDEO"]),
                                           "tokenCount": _COUNT}), max_size=3)
_USAGE = st.fixed_dictionaries({"promptTokenCount": _COUNT, "totalTokenCount": _COUNT}, optional={
    "candidatesTokenCount": _COUNT, "thoughtsTokenCount": _COUNT, "cachedContentTokenCount": _COUNT,
    "toolUsePromptTokenCount": _COUNT, "promptTokensDetails": _DETAILS, "candidatesTokensDetails": _DETAILS,
    "cacheTokensDetails": _DETAILS, "trafficType": st.sampled_from(["ON_DEMAND", "PROVISIONED_THROUGHPUT"])})
_PART = st.one_of(st.fixed_dictionaries({"text": _TEXT}),
                  st.fixed_dictionaries({"text": _TEXT, "thought": st.just(True)}),
                  st.fixed_dictionaries({"functionCall": st.fixed_dictionaries({"name": st.just("lookup"),
                                                                                "args": st.just({"q": "x"})})}),
                  st.fixed_dictionaries({"text": _TEXT, "thoughtSignature": st.just("c2ln")}))
_CANDIDATE = st.fixed_dictionaries(
    {"content": st.fixed_dictionaries({"parts": st.lists(_PART, min_size=1, max_size=3), "role": st.just("model")})},
    optional={"finishReason": _FINISH, "avgLogprobs": st.floats(-10, 0, allow_nan=False), "index": st.just(0),
              "safetyRatings": st.just([{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]),
              "groundingMetadata": st.just({"webSearchQueries": ["q"], "groundingChunks": [
                  {"web": {"uri": "https://example.com", "title": "t"}}]}),
              "citationMetadata": st.just({"citations": [{"startIndex": 0, "endIndex": 3}]})})
_ANSWER = st.fixed_dictionaries(
    {"candidates": st.lists(_CANDIDATE, min_size=1, max_size=2), "usageMetadata": _USAGE},
    optional={"modelVersion": st.sampled_from([MODEL, "gemini-2.5-flash-lite-001", "gemini-2.5-pro@001"]),
              "responseId": st.text("abcdef0123456789", min_size=1, max_size=12),
              "createTime": st.sampled_from(["2026-11-30T12:00:00.000001Z", "2026-12-01T00:00:00Z"])})
_ARGS = st.dictionaries(st.sampled_from(["q", "n", "ünï", "nested"]), st.one_of(
    _TEXT, st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False), st.booleans(), st.none(),
    st.lists(st.integers(0, 9), max_size=3), st.fixed_dictionaries({"k": _TEXT})), max_size=4)
_CALL = st.fixed_dictionaries({"functionCall": st.fixed_dictionaries(
    {"name": st.sampled_from(["lookup", "get_weather", "search"]), "args": _ARGS})})
_PLAIN_ANSWER = st.fixed_dictionaries(
    {"candidates": st.tuples(st.fixed_dictionaries(
        {"content": st.fixed_dictionaries({"parts": st.tuples(st.fixed_dictionaries(
            {"text": _TEXT.filter(bool)}) | _CALL).map(list), "role": st.just("model")})},
        optional={"finishReason": _FINISH, "avgLogprobs": st.floats(-10, 0, allow_nan=False),
                  "index": st.just(0)})).map(list),
     "usageMetadata": _USAGE, "responseId": st.text("abcdef0123456789", min_size=1, max_size=12),
     "createTime": st.sampled_from(["2026-11-30T12:00:00.000001Z", "2026-12-01T00:00:00Z"])},
    optional={"modelVersion": st.sampled_from([MODEL, "gemini-2.5-flash-lite-001", "gemini-2.5-pro@001"])})
_BLOCKED = st.fixed_dictionaries({"promptFeedback": st.just({"blockReason": "PROHIBITED_CONTENT"}),
                                  "usageMetadata": _USAGE, "responseId": st.just("b1"),
                                  "createTime": st.just("2026-12-01T00:00:00Z")})


@FAST
@given(answers=st.lists(st.one_of(_PLAIN_ANSWER, _PLAIN_ANSWER, _ANSWER, _BLOCKED), min_size=2, max_size=6))
def test_generated_answers_read_as_litellm_reads_them(answers: list[dict[str, Any]]) -> None:
    readable = []
    for answer in answers:
        try:
            reference_read(CompletionReader(MODEL), answer)
        except Exception:  # LiteLLM cannot read it: the row goes to the error file either way
            continue
        readable.append(answer)
    # pairs of one shape: the second is built from the template the first proved
    check_answers(list(itertools.chain.from_iterable((a, _another_of_its_shape(a)) for a in readable)))


def _another_of_its_shape(answer: dict[str, Any]) -> dict[str, Any]:
    """The same shape with another id, text and usage (what the template must not carry over)."""
    other = json.loads(json.dumps(answer))
    other["responseId"] = "x" + str(answer.get("responseId"))
    for candidate in other.get("candidates") or []:
        for part in (candidate.get("content") or {}).get("parts") or []:
            if isinstance(part.get("text"), str):
                part["text"] = part["text"] + " and more"
            if isinstance(part.get("functionCall"), dict):
                part["functionCall"]["args"] = {"other": [1, 2.5, "é"], **part["functionCall"]["args"]}
    usage = other.get("usageMetadata") or {}
    for key, value in list(usage.items()):
        if isinstance(value, int):
            usage[key] = value * 3 + 1
    return other


def test_answer_shape_takes_only_plain_answers() -> None:
    plain = {"candidates": [{"content": {"parts": [{"text": "hi"}], "role": "model"}, "finishReason": "STOP"}],
             "usageMetadata": {"promptTokenCount": 1}, "responseId": "r", "createTime": "2026-12-01T00:00:00Z"}
    assert answer_shape(plain) is not None
    assert answer_shape({**plain, "promptFeedback": {}}) is None
    two = {"content": {"parts": [{"text": "a"}, {"text": "b"}], "role": "model"}}
    assert answer_shape({**plain, "candidates": [two]}) is None
    thought = {"content": {"parts": [{"text": "a", "thought": True}], "role": "model"}}
    assert answer_shape({**plain, "candidates": [thought]}) is None
    call = {"functionCall": {"name": "lookup", "args": {"q": "x"}}}
    assert answer_shape({**plain, "candidates": [{"content": {"parts": [call], "role": "model"}}]}) is not None
    for other in ({"functionCall": {"name": "lookup", "args": {}, "id": "c1"}},  # Gemini's own id: LiteLLM's
                  {**call, "thoughtSignature": "c2ln"}, {"functionCall": {"name": "", "args": {}}},
                  {"functionCall": {"name": "lookup", "args": "q"}}):
        assert answer_shape({**plain, "candidates": [{"content": {"parts": [other], "role": "model"}}]}) is None
    two_calls = {"content": {"parts": [call, call], "role": "model"}}
    assert answer_shape({**plain, "candidates": [two_calls]}) is None


def test_function_call_answers_are_built_from_a_template_with_fresh_call_ids() -> None:
    """A call answer is LiteLLM's body but for its tool-call id, made fresh per row in LiteLLM's form (two rows
    never share one); each function name's first answer is LiteLLM's own."""
    reader = CompletionReader(MODEL)
    reader.fast.check_every = NEVER

    def answer(i: int, name: str) -> dict[str, Any]:
        return {"candidates": [{"content": {"parts": [{"functionCall": {"name": name, "args": {"q": f"x{i}"}}}],
                                            "role": "model"}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
                "responseId": f"r{i}", "createTime": "2026-12-01T00:00:00Z"}

    bodies = [reader.read(answer(i, name))[0] for i, name in enumerate(["lookup", "lookup", "lookup", "search"])]
    assert reader.fast.fast_rows == 2  # the 2nd and 3rd lookup rows; "search" is proven by LiteLLM first
    calls = [body["choices"][0]["message"]["tool_calls"][0] for body in bodies]
    assert [call["function"] for call in calls] == [{"arguments": f'{{"q": "x{i}"}}', "name": name}
                                                    for i, name in enumerate(["lookup", "lookup", "lookup", "search"])]
    assert len({call["id"] for call in calls}) == 4
    assert all(call["id"].startswith("call_") and len(call["id"]) == 33 for call in calls)
    assert bodies[1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_difference_switches_the_fast_path_off() -> None:
    """The runtime spot check: when a fast result differs from LiteLLM's (here: a LiteLLM that changed its
    mapping after the skeleton was proven), the batch continues on LiteLLM's mapping only."""
    calls = {"n": 0}

    def changing(body: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        request = slow(body)
        return {**request, "labels": {"v": "2"}} if calls["n"] > 2 else request

    fast = FastRequests(changing, check_every=3)
    lines = [{"model": MODEL, "messages": [{"role": "user", "content": f"q{i}"}]} for i in range(8)]
    results = [fast.request(body)[0] for body in lines]
    assert fast.enabled is False
    assert "labels" in results[-1]


@pytest.mark.parametrize("check_every", [1, 2])
def test_spot_checked_answers_stay_on_the_fast_path(check_every: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spot check made seconds after the template was proven: LiteLLM's clock-stamped ``created`` differs,
    which is no difference (the answer's createTime replaces it)."""
    clock = itertools.count(1_800_000_000, 7)
    monkeypatch.setattr(time, "time", lambda: float(next(clock)))
    reader = CompletionReader(MODEL)
    reader.fast.check_every = check_every
    plain = {"candidates": [{"content": {"parts": [{"text": "hi"}], "role": "model"}, "finishReason": "STOP"}],
             "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
             "responseId": "r", "createTime": "2026-12-01T00:00:00Z"}
    for i in range(5):
        reader.read({**plain, "responseId": f"r{i}"})
    assert reader.fast.enabled and reader.fast.fast_rows == 4

"""Embeddings batches through the stock proxy with the openai SDK: both Vertex formats, arrays, dimensions,
base64, partial failures, refusals at upload, and the batch's cost."""

from __future__ import annotations

import base64
import struct
from typing import Any

import litellm
import openai
import pytest
from openai.types import CreateEmbeddingResponse

from tests.conftest import (
    PROVIDER,
    batch_charges,
    create_batch,
    make_client,
    read_jsonl,
    upload,
    wait_done,
)
from tests.stand_ins import vertex_rows
from tests.test_spend import vertex_rows as job_output_rows

LEGACY = "text-embedding-005"
GEMINI = "gemini-embedding-001"
TOLERANCE = 1e-12


def embedding_line(custom_id: str, text: str | list[str], model: str = LEGACY, **body: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/embeddings",
            "body": {"model": model, "input": text, **body}}


def run(client: Any, lines: list[dict[str, Any]]) -> Any:
    file = upload(client, lines)
    batch = create_batch(client, file.id, endpoint="/v1/embeddings")
    assert batch.endpoint == "/v1/embeddings" and batch.request_counts.total == len(lines)
    done = wait_done(client, batch.id)
    assert done.status == "completed", done
    return done


def responses(client: Any, done: Any) -> dict[str, CreateEmbeddingResponse]:
    rows = read_jsonl(client, done.output_file_id)
    assert all(r["response"]["status_code"] == 200 and r["error"] is None for r in rows)
    return {r["custom_id"]: CreateEmbeddingResponse.model_validate(r["response"]["body"]) for r in rows}


@pytest.mark.parametrize("model", [LEGACY, GEMINI])
def test_an_embeddings_batch_answers_each_custom_id_once_with_its_inputs_in_order(client, model):
    texts = [f"document {i} about {'cats' if i % 2 else 'dogs'}" for i in range(40)]
    lines = [embedding_line("single", "just one text", model),
             embedding_line("array", texts, model),
             embedding_line("failing", ["fine", "EMULATOR_FAIL this one", "fine again"], model),
             embedding_line("short", ["a b", "c d e"], model, user="end-user-7")]
    done = run(client, lines)
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (4, 3, 1)

    answered = responses(client, done)
    errors = read_jsonl(client, done.error_file_id)
    assert sorted(answered) == ["array", "short", "single"] and [e["custom_id"] for e in errors] == ["failing"]
    array = answered["array"]
    assert [d.index for d in array.data] == list(range(40))
    assert [d.embedding for d in array.data] == [vertex_rows._fake_vector(t, 8) for t in texts]
    assert array.model == model and array.object == "list"
    assert array.usage.prompt_tokens == array.usage.total_tokens == sum(len(t.split()) for t in texts)
    assert len(answered["single"].data) == 1
    error = errors[0]["response"]
    assert error["status_code"] == 400 and error["body"]["error"]["code"] == "INVALID_ARGUMENT"
    assert error["body"]["error"]["message"] == "input[1]: Request contains an invalid argument."
    # the batch's usage adds up the answered lines (embeddings have no output tokens)
    assert done.usage.input_tokens == sum(r.usage.prompt_tokens for r in answered.values())
    assert done.usage.output_tokens == 0


def test_dimensions_reach_each_format_where_google_takes_them(client):
    gemini = run(client, [embedding_line("g", ["x", "y"], GEMINI, dimensions=16)])
    assert [len(d.embedding) for d in responses(client, gemini)["g"].data] == [16, 16]
    # a text-embedding job takes its size as a job parameter: one per batch
    legacy = run(client, [embedding_line("a", "p", dimensions=4), embedding_line("b", ["q", "r"], dimensions=4)])
    answered = responses(client, legacy)
    assert [len(d.embedding) for r in answered.values() for d in r.data] == [4, 4, 4]


def test_base64_answers_decode_to_the_float_answers(client):
    texts = ["alpha beta", "gamma"]
    done = run(client, [embedding_line("b", texts, GEMINI, encoding_format="base64"),
                        embedding_line("f", texts, GEMINI, encoding_format="float")])
    rows = {r["custom_id"]: r["response"]["body"] for r in read_jsonl(client, done.output_file_id)}
    floats = [d["embedding"] for d in rows["f"]["data"]]
    for item, expected in zip(rows["b"]["data"], floats, strict=True):
        raw = base64.b64decode(item["embedding"])
        assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("line", "expected"), [
    (embedding_line("tok", [101, 2023, 102]), "body.input is token ids"),
    (embedding_line("wide", "x", dimensions=1024), "body.dimensions 1024 is more than text-embedding-005 gives"),
    (embedding_line("empty", ["ok", ""]), "body.input[1] is empty"),
    (embedding_line("chat", "x", model="gemini-2.5-flash-lite"), "is not an embedding model"),
    (embedding_line("many", ["t"] * 2049), "a line takes at most 2048"),
])
def test_what_a_model_cannot_do_is_refused_at_upload_naming_the_line(client, line, expected):
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, [embedding_line("fine", "ok", line["body"]["model"]), line])
    message = str(caught.value)
    assert "line 2" in message and repr(line["custom_id"]) in message and expected in message
    assert caught.value.status_code == 400


def test_the_batch_cost_is_logged_once_at_the_price_litellm_gives_the_model(stand_ins, proxy_b, spy_log):
    client = make_client(proxy_b)
    for model in (LEGACY, GEMINI):
        texts = ["counting some characters here", "and here too", "EMULATOR_FAIL billed nothing"]
        done = run(client, [embedding_line("x", texts[:2], model), embedding_line("y", texts[2], model)])
        info = litellm.model_cost.get(f"vertex_ai/{model}") or litellm.model_cost[model]
        rows = [r for r in job_output_rows(stand_ins, done.id) if not r.get("status")]
        assert len(rows) == 2
        if model == LEGACY:  # priced per character online: half the online rate (no batch key in the map)
            count = getattr(litellm.utils, "count_characters", None) or litellm.utils._count_characters
            characters = sum(count(text=r["instance"]["content"]) for r in rows)
            expected = characters * info["input_cost_per_character"] * 0.5
        else:  # per token, the map's batch key
            tokens = sum(r["response"]["usageMetadata"]["promptTokenCount"] for r in rows)
            expected = tokens * info["input_cost_per_token_batches"]
        assert expected > 0
        events = batch_charges(spy_log, done.id)
        assert len(events) == 1, events
        assert abs(events[0]["response_cost"] - expected) < TOLERANCE
        assert abs(float(done.litellm_batch_cost_usd) - expected) < TOLERANCE


def test_an_embeddings_file_runs_only_as_an_embeddings_batch(client):
    file = upload(client, [embedding_line("a", "text")])
    with pytest.raises(openai.BadRequestError, match="does not match the input file"):
        client.batches.create(completion_window="24h", endpoint="/v1/chat/completions", input_file_id=file.id,
                              extra_headers=PROVIDER)

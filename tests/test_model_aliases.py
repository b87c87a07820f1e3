"""A batch line's body.model is resolved through the proxy's model_list as an online call would be: an operator
alias runs its deployment's Gemini model, with that deployment's storage, project and location."""

from __future__ import annotations

import io

import openai
import pytest

from tests.conftest import (
    ALIAS_MODEL_NAME,
    ALIAS_TARGET,
    OTHER_PROVIDER_MODEL_NAME,
    chat_line,
    jsonl,
    make_client,
    read_jsonl,
    wait_done,
)
from tests.stand_ins.stack import BUCKET, OTHER_BUCKET
from tests.test_replicas_and_routing import PREFIX, files_named, jobs_labelled, plugin_id

NO_HEADER: dict[str, str] = {}


def upload_lines(client, lines, name, headers=NO_HEADER, **kwargs):
    return client.files.create(file=(name, io.BytesIO(jsonl(lines))), purpose="batch", extra_headers=headers,
                               **kwargs)


def run(client, file_id, headers=NO_HEADER):
    batch = client.batches.create(completion_window="24h", endpoint="/v1/chat/completions", input_file_id=file_id,
                                  extra_headers=headers)
    done = wait_done(client, batch.id, headers=headers)
    assert done.status == "completed", done
    return batch, done, read_jsonl(client, done.output_file_id, headers=headers)


def test_alias_runs_its_gemini_model_without_any_header(stand_ins, client_b):
    name = "alias-plain.jsonl"
    file = upload_lines(client_b, [chat_line("a1", model=ALIAS_MODEL_NAME), chat_line("a2", model=ALIAS_MODEL_NAME)],
                        name)
    assert file.id.startswith("file-vb")  # the alias keeps the default storage: a plain id
    stored = files_named(stand_ins, BUCKET, name)
    assert [(b.metadata["model"], b.metadata["deployment"]) for b in stored] == [(ALIAS_TARGET, ALIAS_MODEL_NAME)]
    batch, done, rows = run(client_b, file.id)
    assert batch.model == ALIAS_TARGET
    token = batch.id.removeprefix("batch_vb")
    assert [job["model"] for job in jobs_labelled(stand_ins, token)] == [f"publishers/google/models/{ALIAS_TARGET}"]
    assert sorted(row["custom_id"] for row in rows) == ["a1", "a2"]
    online = client_b.chat.completions.create(model=ALIAS_MODEL_NAME, messages=[{"role": "user", "content": "hi"}])
    assert {row["response"]["body"]["model"] for row in rows} == {online.model} == {ALIAS_MODEL_NAME}, \
        "a batch row names the model as an online call through the alias does"
    assert done.usage is not None and done.usage.input_tokens > 0


def test_header_routed_alias_gets_the_same_as_model_routed(stand_ins, client_b):
    """team-b-flash has its own bucket, project and location: a header-routed upload naming it in its lines
    lands there, exactly as one routed by model does, and its id carries the model like the proxy's own."""
    results = {}
    for how, kwargs in (("header", {"headers": {"custom-llm-provider": "vertex_ai"}}),
                        ("model", {"extra_body": {"model": "team-b-flash"}})):
        name = f"alias-{how}.jsonl"
        file = upload_lines(client_b, [chat_line(f"{how}-1", model="team-b-flash")], name, **kwargs)
        assert len(files_named(stand_ins, OTHER_BUCKET, name)) == 1 and files_named(stand_ins, BUCKET, name) == []
        assert not file.id.startswith("file-vb"), "a model-routed id, so later calls reach team-b-flash"
        plugin_id(file.id, "file")
        batch, done, rows = run(client_b, file.id)  # later calls need no header and no model
        job = jobs_labelled(stand_ins, plugin_id(batch.id, "batch").removeprefix("batch_vb"))[0]
        assert job["name"].startswith("projects/team-b-project/locations/europe-west4/")
        assert job["inputConfig"]["gcsSource"]["uris"][0].startswith(f"gs://{OTHER_BUCKET}/{PREFIX}")
        results[how] = (batch.model, done.request_counts.completed, [r["response"]["body"]["model"] for r in rows])
    online = client_b.chat.completions.create(model="team-b-flash", messages=[{"role": "user", "content": "hi"}])
    assert results["header"] == results["model"] == ("gemini-2.5-flash", 1, [online.model])


def test_a_name_another_provider_serves_is_refused_naming_the_line(client_b):
    with pytest.raises(openai.BadRequestError) as caught:
        upload_lines(client_b, [chat_line("o1", model=OTHER_PROVIDER_MODEL_NAME)], "other-provider.jsonl")
    message = str(caught.value)
    assert "line 1" in message and repr(OTHER_PROVIDER_MODEL_NAME) in message and "not served by Vertex AI" in message
    assert "sk-never-called" not in message and "openai/gpt-4o" not in message


def test_unknown_model_advice_names_model_list_mapping(client_b):
    with pytest.raises(openai.BadRequestError) as caught:
        upload_lines(client_b, [chat_line("u1", model="gpt-5-turbo-ultra")], "unknown.jsonl")
    message = str(caught.value)
    assert "model_name: gpt-5-turbo-ultra" in message and "vertex_batch/<Gemini model>" in message
    assert "vertex_batch/gpt-5-turbo-ultra" not in message


def test_a_key_not_allowed_the_alias_is_refused_before_anything_is_stored(stand_ins, proxy_b):
    carol = make_client(proxy_b, "sk-tenant-carol")
    allowed = upload_lines(carol, [chat_line("c1", model=ALIAS_MODEL_NAME)], "carol-allowed.jsonl")
    assert allowed.id.startswith("file-vb")
    with pytest.raises(openai.PermissionDeniedError):
        upload_lines(carol, [chat_line("c2", model="team-b-flash")], "carol-denied.jsonl")
    assert files_named(stand_ins, OTHER_BUCKET, "carol-denied.jsonl") == []
    assert files_named(stand_ins, BUCKET, "carol-denied.jsonl") == []

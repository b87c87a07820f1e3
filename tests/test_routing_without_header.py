"""Clients that cannot send ``custom-llm-provider`` still reach the plugin; the built-in openai provider keeps
working beside it (against a stand-in of OpenAI's own Files/Batches API)."""

from __future__ import annotations

import io

import openai
import pytest
from openai import OpenAI

from tests.conftest import chat_line, jsonl, read_jsonl, wait_done
from tests.stand_ins.proxy import MASTER_KEY, Proxy

NO_HEADER: dict[str, str] = {}
OPENAI = {"custom-llm-provider": "openai"}


def sdk(proxy: Proxy, path: str = "/v1") -> OpenAI:
    return OpenAI(api_key=MASTER_KEY, base_url=proxy.url + path, max_retries=0)


def run_workflow(client: OpenAI, headers: dict[str, str]) -> tuple[str, str]:
    lines = [chat_line("alpha"), chat_line("beta", "Second")]
    file = client.files.create(file=("batch.jsonl", io.BytesIO(jsonl(lines))), purpose="batch",
                               extra_headers=headers)
    assert file.id.startswith("file-vb"), file.id
    assert client.files.retrieve(file.id, extra_headers=headers).id == file.id
    batch = client.batches.create(completion_window="24h", endpoint="/v1/chat/completions", input_file_id=file.id,
                                  extra_headers=headers)
    assert batch.id.startswith("batch_vb"), batch.id
    done = wait_done(client, batch.id, headers=headers)
    assert done.status == "completed", done
    rows = read_jsonl(client, done.output_file_id, headers=headers)
    assert sorted(row["custom_id"] for row in rows) == ["alpha", "beta"]
    assert all(row["response"]["status_code"] == 200 for row in rows)
    return file.id, batch.id


@pytest.mark.parametrize("base", ["/v1", "/vertex_ai/v1"])
def test_sdk_without_any_header_completes(proxies, fake_openai, base):
    client = sdk(proxies["on"], base)
    seen_by_openai = len(fake_openai.requests)
    file_id, batch_id = run_workflow(client, NO_HEADER)
    assert file_id in [f.id for f in client.files.list(limit=100).data]
    assert batch_id in [b.id for b in client.batches.list(limit=100).data]
    assert client.files.delete(file_id).deleted is True
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(file_id)
    assert len(fake_openai.requests) == seen_by_openai, "no call of the plugin's workflow went to OpenAI"


def test_openai_provider_keeps_working_beside_the_plugin(proxies, fake_openai):
    """Named by header, OpenAI's calls go to OpenAI; its ids, named without a header, still go to OpenAI."""
    client = sdk(proxies["on"])
    theirs = client.files.create(file=("openai.jsonl", io.BytesIO(jsonl([chat_line("o-1", model="gpt-4o-mini")]))),
                                 purpose="batch", extra_headers=OPENAI)
    assert theirs.id.startswith("file-") and not theirs.id.startswith("file-vb")
    assert theirs.id in fake_openai.files
    assert client.files.retrieve(theirs.id, extra_headers=OPENAI).id == theirs.id
    assert client.files.retrieve(theirs.id).id == theirs.id  # not ours: LiteLLM's default (openai) answers
    assert b"o-1" in client.files.content(theirs.id).content
    batch = client.batches.create(completion_window="24h", endpoint="/v1/chat/completions", input_file_id=theirs.id,
                                  extra_headers=OPENAI)
    assert batch.id in fake_openai.batches
    assert client.batches.retrieve(batch.id).id == batch.id
    ours, _ = run_workflow(client, NO_HEADER)  # and the plugin's own, interleaved
    assert ours not in fake_openai.files


def test_default_off_leaves_unnamed_creates_to_litellm_but_ids_still_decide(proxies, fake_openai):
    client = sdk(proxies["off"])
    unnamed = client.files.create(file=("x.jsonl", io.BytesIO(jsonl([chat_line("x")]))), purpose="batch")
    assert unnamed.id in fake_openai.files, "with the switch off, LiteLLM's default provider takes it"
    ours = client.files.create(file=("y.jsonl", io.BytesIO(jsonl([chat_line("a"), chat_line("b")]))),
                               purpose="batch", extra_headers={"custom-llm-provider": "vertex_ai"})
    assert ours.id.startswith("file-vb")
    # every later call names the plugin's ids: no header, or even the wrong one, still reaches the plugin
    assert client.files.retrieve(ours.id).id == ours.id
    assert client.files.retrieve(ours.id, extra_headers=OPENAI).id == ours.id
    batch = client.batches.create(completion_window="24h", endpoint="/v1/chat/completions", input_file_id=ours.id)
    assert batch.id.startswith("batch_vb")
    done = wait_done(client, batch.id, headers=NO_HEADER)
    assert done.status == "completed", done
    assert sorted(r["custom_id"] for r in read_jsonl(client, done.output_file_id, headers=OPENAI)) == ["a", "b"]
    assert client.batches.retrieve(batch.id, extra_headers=OPENAI).status == "completed"


@pytest.mark.parametrize("which", ["on", "off"])
def test_unknown_plugin_ids_are_404_never_500(proxies, which):
    client = sdk(proxies[which])
    for call in (lambda: client.files.retrieve("file-vb" + "0" * 26),
                 lambda: client.files.content("file-vb" + "1" * 26),
                 lambda: client.batches.retrieve("batch_vb" + "2" * 26),
                 lambda: client.batches.create(completion_window="24h", endpoint="/v1/chat/completions",
                                               input_file_id="file-vb" + "3" * 26)):
        with pytest.raises(openai.NotFoundError):
            call()

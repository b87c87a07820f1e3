"""The guide's workflow through a stock proxy started from proxy_config.yaml, with the openai SDK."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types import Batch, FileObject

from tests.conftest import PROVIDER, chat_line, create_batch, read_jsonl, upload, wait_done
from tests.stand_ins.proxy import MASTER_KEY

GUIDE_LINES = [
    {"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "gemini-2.5-flash-lite", "messages": [
         {"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hello world!"}],
         "max_tokens": 10}},
    {"custom_id": "request-2", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "gemini-2.5-flash-lite", "messages": [
         {"role": "system", "content": "You are an unhelpful assistant."},
         {"role": "user", "content": "Hello world!"}], "max_tokens": 10}},
]


@pytest.mark.parametrize("provider", ["vertex_ai", "vertex_batch"])
def test_guide_workflow_end_to_end(client, provider):
    headers = {"custom-llm-provider": provider}
    file = upload(client, GUIDE_LINES, name="batch_requests.jsonl", headers=headers)
    assert isinstance(file, FileObject) and file.purpose == "batch" and file.filename == "batch_requests.jsonl"
    assert file.id.startswith("file-") and len(file.id) <= 64
    batch = create_batch(client, file.id, headers=headers, metadata={"project": "demo"})
    assert isinstance(batch, Batch) and batch.status == "validating"
    assert batch.metadata == {"project": "demo"} and batch.endpoint == "/v1/chat/completions"
    assert batch.model == "gemini-2.5-flash-lite" and batch.input_file_id == file.id
    assert batch.request_counts.total == 2 and batch.created_at and batch.expires_at > batch.created_at

    done = wait_done(client, batch.id, headers=headers)
    assert done.status == "completed", done
    assert done.request_counts.total == 2 and done.request_counts.completed == 2 and done.request_counts.failed == 0
    assert done.in_progress_at and done.completed_at and done.finalizing_at
    assert done.usage.input_tokens > 0 and done.usage.output_tokens > 0
    assert done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    assert done.error_file_id is None

    rows = read_jsonl(client, done.output_file_id, headers=headers)
    assert sorted(r["custom_id"] for r in rows) == ["request-1", "request-2"]
    for row in rows:
        assert row["error"] is None and row["id"].startswith("batch_req_")
        assert row["response"]["status_code"] == 200
        body = row["response"]["body"]
        assert body["object"] == "chat.completion" and row["response"]["request_id"] == body["id"]
        assert body["choices"][0]["message"]["content"].startswith("echo: ")
    output = client.files.retrieve(done.output_file_id, extra_headers=headers)
    assert output.purpose == "batch_output"
    content = client.files.content(done.output_file_id, extra_headers=headers).content
    assert output.bytes == len(content)
    assert done.usage.input_tokens == sum(r["response"]["body"]["usage"]["prompt_tokens"] for r in rows)


def test_files_retrieve_list_content_delete(client):
    data_lines = [chat_line(f"r{i}") for i in range(3)]
    first = upload(client, data_lines, name="one.jsonl")
    second = upload(client, data_lines, name="two.jsonl")
    again = client.files.retrieve(first.id, extra_headers=PROVIDER)
    assert again.id == first.id and again.bytes == first.bytes and again.filename == "one.jsonl"
    assert client.files.content(first.id, extra_headers=PROVIDER).content.splitlines()[0].startswith(b'{"custom_id"')

    listed = [f.id for f in client.files.list(extra_headers=PROVIDER, purpose="batch")]
    assert listed.index(second.id) < listed.index(first.id)  # newest first
    page = client.files.list(extra_headers=PROVIDER, limit=1, after=second.id)
    assert [f.id for f in page.data] == [listed[listed.index(second.id) + 1]]

    deleted = client.files.delete(first.id, extra_headers=PROVIDER)
    assert deleted.deleted is True and deleted.id == first.id
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(first.id, extra_headers=PROVIDER)
    assert first.id not in [f.id for f in client.files.list(extra_headers=PROVIDER)]


def test_batches_list_paging(client):
    file = upload(client, [chat_line("only")])
    made = [create_batch(client, file.id).id for _ in range(3)]
    page1 = client.batches.list(extra_headers=PROVIDER, limit=2)
    assert [b.id for b in page1.data] == [made[2], made[1]] and page1.has_more
    page2 = client.batches.list(extra_headers=PROVIDER, limit=2, after=made[1])
    assert page2.data[0].id == made[0]
    for batch in page1.data + page2.data:
        assert isinstance(batch, Batch) and batch.request_counts is not None
    for batch_id in made:
        wait_done(client, batch_id)


def test_file_content_is_streamed(proxy, client):
    """The proxy answers files.content with a chunked stream, not a buffered body."""
    lines = [chat_line(f"s{i}", "x" * 2000) for i in range(600)]  # ~1.3 MB
    file = upload(client, lines)
    with httpx.stream("GET", f"{proxy.url}/v1/files/{file.id}/content",
                      headers={"Authorization": f"Bearer {MASTER_KEY}", **PROVIDER}, timeout=60) as response:
        assert response.status_code == 200
        chunks = [chunk for chunk in response.iter_raw()]
    assert b"".join(chunks) == client.files.content(file.id, extra_headers=PROVIDER).content
    assert len(b"".join(chunks)) == file.bytes


def test_other_providers_untouched(client):
    """The built-in openai provider still answers (here: no OpenAI key, so an error from LiteLLM's own path)."""
    with pytest.raises(openai.APIError) as caught:
        client.files.list(extra_headers={"custom-llm-provider": "openai"})
    assert "vertex" not in str(caught.value).lower()

"""OpenAI conformance of the Files and Batches objects and errors, checked with the openai SDK's own types and the
API reference's rules (limits, pagination, timestamps, error shapes), through the stock proxy."""

from __future__ import annotations

import io
import uuid
from typing import Any, cast

import httpx
import openai
import pytest
from openai.types import Batch, FileObject

from tests.conftest import chat_line, jsonl, wait_done
from tests.stand_ins.proxy import MASTER_KEY

NO_HEADER: dict[str, str] = {}


def sdk(proxy) -> openai.OpenAI:
    return openai.OpenAI(api_key=MASTER_KEY, base_url=proxy.url + "/v1", max_retries=0)


def upload(client, tag: str, lines: int = 1, purpose: str = "batch") -> FileObject:
    data = jsonl([chat_line(f"{tag}-{i}") for i in range(lines)])
    return client.files.create(file=(f"{tag}.jsonl", io.BytesIO(data)), purpose=cast(Any, purpose))


def error_body(proxy, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    answer = httpx.request(method, proxy.url + path, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30,
                           **kwargs)
    return answer.status_code, answer.json()["error"]


def test_files_list_pages_with_has_more_and_the_auto_pager_returns_every_file(proxy):
    client = sdk(proxy)
    made = [upload(client, f"page-{uuid.uuid4().hex[:6]}").id for _ in range(14)]
    first = client.files.list(limit=5)
    assert len(first.data) == 5 and first.has_more is True
    everything = [f.id for f in client.files.list(limit=5)]  # the SDK follows has_more with after=<last id>
    assert all(everything.count(file_id) == 1 for file_id in made), "each file exactly once"
    assert [i for i in everything if i in made] == made[::-1], "newest first by default"
    oldest_first = [f.id for f in client.files.list(limit=5, order="asc")]
    assert [i for i in oldest_first if i in made] == made and len(oldest_first) == len(everything)
    for params in ({"limit": 0}, {"limit": 10_001}, {"order": "sideways"}):
        status, error = error_body(proxy, "GET", "/v1/files", params=params)
        assert status == 400 and error["type"] == "invalid_request_error", (params, error)


def test_batch_output_cannot_be_uploaded_or_run(proxy):
    client = sdk(proxy)
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, "out", purpose="batch_output")
    assert "batch_output" in str(caught.value)
    done = wait_done(client, client.batches.create(completion_window="24h", endpoint="/v1/chat/completions",
                                                   input_file_id=upload(client, "src", 2).id).id, headers=NO_HEADER)
    output = client.files.retrieve(done.output_file_id)
    assert isinstance(output, FileObject) and output.purpose == "batch_output"
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(completion_window="24h", endpoint="/v1/chat/completions",
                              input_file_id=done.output_file_id)
    assert "purpose 'batch_output'" in str(caught.value)


@pytest.mark.parametrize(("field", "value"), [
    ("completion_window", "48h"),
    ("metadata", {f"k{i}": "v" for i in range(17)}),
    ("metadata", {"k" * 65: "v"}),
    ("metadata", {"k": "v" * 513}),
])
def test_batch_create_enforces_openais_limits(proxy, field, value):
    client = sdk(proxy)
    file_id = upload(client, "limits").id
    kwargs: dict[str, Any] = {"completion_window": "24h", "endpoint": "/v1/chat/completions", "input_file_id": file_id}
    kwargs[field] = value
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(**kwargs)
    assert field in str(caught.value)


def test_the_callers_metadata_comes_back_exactly_and_the_cost_has_a_field_of_its_own(proxy):
    client = sdk(proxy)
    metadata = {f"key{i}": f"value {i}" for i in range(16)}  # OpenAI's maximum
    batch = client.batches.create(completion_window="24h", endpoint="/v1/chat/completions",
                                  input_file_id=upload(client, "meta", 2).id, metadata=metadata)
    done = wait_done(client, batch.id, headers=NO_HEADER)
    assert isinstance(done, Batch) and done.status == "completed"
    assert done.metadata == metadata
    assert float(cast(Any, done).litellm_batch_cost_usd) >= 0
    assert done.created_at <= cast(int, done.in_progress_at) <= cast(int, done.finalizing_at) \
        <= cast(int, done.completed_at)
    assert done.errors is None


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_batches_list_limit_bounds(proxy, limit):
    status, error = error_body(proxy, "GET", "/v1/batches", params={"limit": limit})
    assert status == 400 and "limit" in error["message"], error


def test_batches_list_pages_with_has_more(proxy):
    client = sdk(proxy)
    page = client.batches.list(limit=1)
    assert len(page.data) == 1 and isinstance(page.data[0], Batch) and page.has_more in (True, False)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/files/file-vb" + "0" * 26), ("GET", "/v1/files/file-vb" + "0" * 26 + "/content"),
    ("DELETE", "/v1/files/file-vb" + "0" * 26), ("GET", "/v1/batches/batch_vb" + "0" * 26),
    ("POST", "/v1/batches/batch_vb" + "0" * 26 + "/cancel"), ("POST", "/v1/batches")])
def test_missing_objects_are_404_in_openais_error_shape(proxy, method, path):
    body = {"input_file_id": "file-vb" + "0" * 26, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    status, error = error_body(proxy, method, path, **({"json": body} if path == "/v1/batches" else {}))
    assert status == 404 and error["code"] == "404" and set(error) == {"message", "type", "param", "code"}, error
    if path.startswith("/v1/files"):
        assert error["type"] == "invalid_request_error", error
    # /v1/batches: LiteLLM's batches routes type every provider exception internal_server_error (see the README)

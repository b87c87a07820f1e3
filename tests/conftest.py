"""Session fixtures: the stand-ins (fake-gcs-server + Vertex emulator) and stock LiteLLM proxies,
started once per test session, not once per test."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tests.stand_ins.proxy import MASTER_KEY, REPO_ROOT, Proxy
from tests.stand_ins.stack import BUCKET, OTHER_BUCKET, StandIns

PROVIDER = {"custom-llm-provider": "vertex_ai"}
TERMINAL = ("completed", "failed", "cancelled", "expired")


@pytest.fixture(scope="session")
def stand_ins() -> Iterator[StandIns]:
    with StandIns(pending_seconds=0.2, running_seconds=0.5) as stack:
        yield stack


@pytest.fixture(scope="session")
def proxy(stand_ins: StandIns) -> Iterator[Proxy]:
    """A stock proxy started from the repo's proxy_config.yaml, unchanged."""
    with Proxy(stand_ins.env) as running:
        yield running


@pytest.fixture(scope="session")
def replica_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's proxy_config.yaml plus a deployment with its own project, location and bucket."""
    config = yaml.safe_load((REPO_ROOT / "proxy_config.yaml").read_text())
    config["model_list"].append({"model_name": "team-b-flash", "litellm_params": {
        "model": "vertex_batch/gemini-2.5-flash", "vertex_project": "team-b-project",
        "vertex_location": "europe-west4", "gcs_bucket_name": OTHER_BUCKET}})
    path = tmp_path_factory.mktemp("config") / "proxy_config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def proxy_b(stand_ins: StandIns, replica_config: Path) -> Iterator[Proxy]:
    """A second replica sharing the bucket (and serving one more deployment)."""
    with Proxy(stand_ins.env, config=replica_config) as running:
        yield running


def make_client(proxy: Proxy) -> Any:
    from openai import OpenAI

    return OpenAI(api_key=MASTER_KEY, base_url=proxy.url, max_retries=0, timeout=60)


@pytest.fixture(scope="session")
def client(proxy: Proxy) -> Any:
    return make_client(proxy)


@pytest.fixture(scope="session")
def client_b(proxy_b: Proxy) -> Any:
    return make_client(proxy_b)


def chat_line(custom_id: str, text: str = "Hello world!", model: str = "gemini-2.5-flash-lite",
              **body: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": text}], **body}}


def jsonl(lines: list[Any]) -> bytes:
    return b"".join(json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n" for line in lines)


def upload(client: Any, lines: list[Any] | bytes, name: str = "batch.jsonl", headers: dict | None = None) -> Any:
    data = lines if isinstance(lines, bytes) else jsonl(lines)
    return client.files.create(file=(name, io.BytesIO(data)), purpose="batch",
                               extra_headers=PROVIDER if headers is None else headers)


def create_batch(client: Any, file_id: str, headers: dict | None = None, **kwargs: Any) -> Any:
    return client.batches.create(completion_window="24h", endpoint="/v1/chat/completions", input_file_id=file_id,
                                 extra_headers=PROVIDER if headers is None else headers, **kwargs)


def wait_done(client: Any, batch_id: str, timeout: float = 60, headers: dict | None = None,
              until: tuple[str, ...] = TERMINAL) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id, extra_headers=PROVIDER if headers is None else headers)
        if batch.status in until or time.monotonic() > deadline:
            return batch
        time.sleep(0.3)


def read_jsonl(client: Any, file_id: str | None, headers: dict | None = None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    text = client.files.content(file_id, extra_headers=PROVIDER if headers is None else headers).text
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def gcs_bucket(stand_ins: StandIns, name: str = BUCKET) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="p", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": stand_ins.gcs_url},
                          use_auth_w_custom_endpoint=False).bucket(name)


def batch_record(stand_ins: StandIns, batch_id: str, bucket: str = BUCKET) -> dict[str, Any]:
    token = batch_id.removeprefix("batch_vb")
    blob = gcs_bucket(stand_ins, bucket).blob(f"litellm-vertex-batch/batches/{token}.json")
    return json.loads(blob.download_as_bytes())


def job_id(stand_ins: StandIns, batch_id: str) -> str:
    return batch_record(stand_ins, batch_id)["job_name"].rsplit("/", 1)[-1]

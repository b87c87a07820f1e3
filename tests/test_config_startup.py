"""Start-up and configuration: the plugin announces itself, answers both provider names, explains a missing
setting without crashing the proxy, and takes ``files_settings`` over the environment.

Two extra short-lived proxies at most (module-scoped): one with no bucket anywhere, one whose ``files_settings``
entry sets the bucket, the project (as an ``os.environ/`` reference) and the object prefix.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.conftest import (
    PROVIDER,
    chat_line,
    create_batch,
    gcs_bucket,
    jsonl,
    make_client,
    read_jsonl,
    upload,
    wait_done,
)
from tests.stand_ins.proxy import REPO_ROOT, Proxy
from tests.stand_ins.stack import BUCKET, LOCATION, OTHER_BUCKET

ALT_PREFIX = "vb-settings-prefix/"
ALT_PROJECT = "settings-project"


def derived_config(directory: Path, **files_settings: Any) -> Path:
    config = yaml.safe_load((REPO_ROOT / "proxy_config.yaml").read_text())
    entry = next(e for e in config["files_settings"] if e["custom_llm_provider"] == "vertex_batch")
    entry.update(files_settings)
    path = directory / "proxy_config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def proxy_without_bucket(stand_ins, tmp_path_factory) -> Iterator[Proxy]:
    config = derived_config(tmp_path_factory.mktemp("no-bucket"))
    assert "gcs_bucket_name" not in config.read_text()
    running = Proxy(stand_ins.env, config=config)
    running.env.pop("GCS_BUCKET_NAME", None)  # also if the test process itself has one
    with running:
        yield running


@pytest.fixture(scope="module")
def proxy_with_settings(stand_ins, tmp_path_factory) -> Iterator[Proxy]:
    """files_settings: gcs_bucket_name other-bucket, vertex_project os.environ/VB_TEST_SETTINGS_PROJECT,
    gcs_prefix; the environment still says batch-bucket and emulator-project."""
    config = derived_config(tmp_path_factory.mktemp("settings"), gcs_bucket_name=OTHER_BUCKET,
                            vertex_project="os.environ/VB_TEST_SETTINGS_PROJECT", gcs_prefix=ALT_PREFIX)
    with Proxy(stand_ins.env, config=config, extra_env={"VB_TEST_SETTINGS_PROJECT": ALT_PROJECT}) as running:
        assert running.env["GCS_BUCKET_NAME"] == BUCKET
        yield running


def startup_line(proxy, start: str = "litellm-vertex-batch ", timeout: float = 20) -> str:
    """The plugin's one start-up line (written once the proxy has loaded its config)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in proxy.log_text().splitlines()
                 if start + "active" in line or start + "is NOT ready" in line]
        if found or time.monotonic() > deadline:
            assert found, proxy.log_text()[-3000:]
            return found[-1]
        time.sleep(0.2)


def test_proxy_log_says_what_the_plugin_serves(proxy, stand_ins):
    line = startup_line(proxy)
    assert f"active on LiteLLM {version('litellm')}" in line
    assert "custom-llm-provider vertex_ai, vertex_batch and calls naming no provider" in line, line
    assert f"gs://{BUCKET}/litellm-vertex-batch/" in line and "project emulator-project in us-central1" in line
    assert "gemini-2.5-flash-lite -> gemini-2.5-flash-lite" in line and "But:" not in line
    assert "cannot read gs://" not in proxy.log_text()


def test_proxy_log_says_exactly_what_is_missing(proxy_without_bucket):
    line = startup_line(proxy_without_bucket)
    assert "is NOT ready" in line and "GCS_BUCKET_NAME" in line and "gcs_bucket_name" in line, line


def test_plugin_answers_both_provider_names(client):
    file = upload(client, [chat_line("both")], headers={"custom-llm-provider": "vertex_batch"})
    assert file.id.startswith("file-vb")
    assert client.files.retrieve(file.id, extra_headers=PROVIDER).id == file.id
    assert client.files.retrieve(file.id, extra_headers={"custom-llm-provider": "vertex_batch"}).filename == \
        "batch.jsonl"
    batch = create_batch(client, file.id, headers=PROVIDER)
    done = wait_done(client, batch.id, headers={"custom-llm-provider": "vertex_batch"})
    assert done.status == "completed"
    listed = client.batches.list(extra_headers={"custom-llm-provider": "vertex_batch"}, limit=20)
    assert batch.id in [b.id for b in listed]


def test_missing_bucket_is_a_clear_error_naming_setting_and_env_var(proxy_without_bucket):
    assert "GCS_BUCKET_NAME" not in proxy_without_bucket.env
    client = make_client(proxy_without_bucket)
    for call in (lambda: upload(client, [chat_line("nb")]), lambda: client.files.list(extra_headers=PROVIDER),
                 lambda: client.batches.retrieve("batch_vb" + "0" * 26, extra_headers=PROVIDER)):
        with pytest.raises(openai.APIStatusError) as caught:
            call()
        message = str(caught.value.message)
        assert "GCS_BUCKET_NAME" in message and "gcs_bucket_name" in message, message
        assert "missing" in message and "bucket" in message, message
        assert "Traceback" not in message
    # not a crash: the proxy is still up and serving
    assert proxy_without_bucket.process.poll() is None
    assert httpx.get(f"{proxy_without_bucket.url}/health/liveliness", timeout=10).status_code == 200


def test_files_settings_take_precedence_over_the_environment(stand_ins, proxy_with_settings):
    client = make_client(proxy_with_settings)
    filename = f"settings-{uuid.uuid4().hex[:8]}.jsonl"
    lines = [chat_line("s1"), chat_line("s2")]
    file = client.files.create(file=(filename, io.BytesIO(jsonl(lines))), purpose="batch", extra_headers=PROVIDER)
    token = file.id.removeprefix("file-vb")

    other = gcs_bucket(stand_ins, OTHER_BUCKET)
    assert other.blob(f"{ALT_PREFIX}files/{token}").exists()
    assert other.blob(f"{ALT_PREFIX}vertex-input/{token}.jsonl").exists()
    default = gcs_bucket(stand_ins, BUCKET)
    assert not [b.name for b in default.list_blobs() if token in b.name]
    assert client.files.content(file.id, extra_headers=PROVIDER).content == jsonl(lines)

    batch = create_batch(client, file.id)
    batch_token = batch.id.removeprefix("batch_vb")
    jobs = [entry["job"] for entry in stand_ins.control("GET", "jobs")["jobs"]
            if (entry["job"].get("labels") or {}).get("litellm_vertex_batch") == batch_token]
    assert len(jobs) == 1
    assert jobs[0]["name"].startswith(f"projects/{ALT_PROJECT}/locations/{LOCATION}/")
    assert jobs[0]["inputConfig"]["gcsSource"]["uris"] == [
        f"gs://{OTHER_BUCKET}/{ALT_PREFIX}batch-input/{batch_token}.jsonl"]
    assert other.blob(f"{ALT_PREFIX}batches/{batch_token}.json").exists()

    done = wait_done(client, batch.id)
    assert done.status == "completed", done
    assert sorted(r["custom_id"] for r in read_jsonl(client, done.output_file_id)) == ["s1", "s2"]
    assert other.blob(f"{ALT_PREFIX}files/{done.output_file_id.removeprefix('file-vb')}").exists()


def test_settings_proxy_does_not_see_the_default_bucket(client, proxy_with_settings):
    """The same id means a different object per bucket: a file in the env's bucket is not visible here."""
    elsewhere = upload(client, [chat_line("default-bucket")])
    with pytest.raises(openai.NotFoundError):
        make_client(proxy_with_settings).files.retrieve(elsewhere.id, extra_headers=PROVIDER)


@pytest.fixture(scope="module")
def proxy_without_google_token(stand_ins, tmp_path_factory) -> Iterator[Proxy]:
    """Vertex credentials whose token endpoint does not answer: the gateway cannot get a Google token."""
    from tests.stand_ins.credentials import write_service_account
    from tests.stand_ins.gcs import free_port

    dead = write_service_account(f"http://127.0.0.1:{free_port()}/token", "emulator-project",
                                 str(tmp_path_factory.mktemp("dead-token")))
    config = derived_config(tmp_path_factory.mktemp("dead-token-config"),
                            native_storage=["gs://batch-bucket/native/shared/"])
    with Proxy(stand_ins.env, config=config, extra_env={"GOOGLE_APPLICATION_CREDENTIALS": dead,
                                                         "LITELLM_VERTEX_BATCH_RETRY_SECONDS": "2"}) as running:
        yield running


def test_the_gateways_own_token_failure_is_a_502_naming_its_setting_never_a_401(stand_ins, proxy_without_google_token):
    client = make_client(proxy_without_google_token)
    file = upload(client, [chat_line("tok")])  # Cloud Storage works: only the Vertex token is missing
    with pytest.raises(openai.APIStatusError) as caught:
        create_batch(client, file.id)
    assert caught.value.status_code == 502, (caught.value.status_code, caught.value.message)
    assert not isinstance(caught.value, (openai.AuthenticationError, openai.PermissionDeniedError))
    message = str(caught.value.message)
    assert "vertex_credentials" in message and "Google access token" in message, message
    assert "/tmp" not in message and "dead-token" not in message, "no server paths in client errors"
    from tests.stand_ins.proxy import MASTER_KEY

    gcs_bucket(stand_ins, BUCKET).blob("native/shared/tok.jsonl").upload_from_string(
        b'{"request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}\n')
    native = httpx.post(f"{proxy_without_google_token.url}/v1/projects/emulator-project/locations/us-central1/"
                        "batchPredictionJobs", headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=60,
                        json={"model": "gemini-2.5-flash-lite", "inputConfig": {"gcsSource": {"uris": [
                            "gs://batch-bucket/native/shared/tok.jsonl"]}}, "outputConfig": {"gcsDestination": {
                                "outputUriPrefix": "gs://batch-bucket/native/shared/out/"}}})
    assert native.status_code == 502, native.text
    assert native.json()["error"]["status"] == "UNAVAILABLE" and "vertex_credentials" in native.text

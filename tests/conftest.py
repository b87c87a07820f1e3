"""Session fixtures: the stand-ins (fake-gcs-server + Vertex emulator) and stock LiteLLM proxies,
started once per test session, not once per test."""

from __future__ import annotations

import contextlib
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network here: use LiteLLM's bundled price map

import io
import json
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stand_ins.openai_files import FakeOpenAI
from tests.stand_ins.proxy import MASTER_KEY, REPO_ROOT, Proxy
from tests.stand_ins.stack import BUCKET, OTHER_BUCKET, StandIns

PROVIDER = {"custom-llm-provider": "vertex_ai"}
UNIT_TESTS = Path(__file__).resolve().parent / "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test outside tests/unit runs through stock proxies and the stand-ins: marked ``integration``."""
    for item in items:
        if UNIT_TESTS not in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
TERMINAL = ("completed", "failed", "cancelled", "expired")


@pytest.fixture(scope="session")
def stand_ins() -> Iterator[StandIns]:
    with StandIns(pending_seconds=0.2, running_seconds=0.5) as stack:
        yield stack


@pytest.fixture(scope="session")
def proxy(stand_ins: StandIns) -> Iterator[Proxy]:
    """A stock proxy started from the repo's proxy_config.yaml, unchanged. It shares the bucket and prefix with
    replicas B and C, but has no spy callback: its environment turns its background worker off, else it would
    finalize and charge B's batches where no test can see the cost event (the worker has its own tests)."""
    with Proxy(stand_ins.env, extra_env={"LITELLM_VERTEX_BATCH_BACKGROUND_WORKER": "false"}) as running:
        yield running


#: A model the price map does not know, priced only by the operator's override in the replica config.
OVERRIDE_MODEL = "gemini-2.0-flash-lite-001"
OVERRIDE_PRICES = {"input_cost_per_token_batches": 3e-07, "output_cost_per_token_batches": 7e-07}
#: A deployment whose operator prices are refused (negative, infinite): its model is priced from LiteLLM's map.
NEGATIVE_PRICE_MODEL, NEGATIVE_PRICE_MODEL_NAME = "gemini-2.0-flash-lite", "refused-price-lite"
REFUSED_PRICES = {"input_cost_per_token_batches": -1.0, "output_cost_per_token_batches": math.inf}


#: An alias as gateways use them: OpenAI-shaped client code, Gemini behind it.
ALIAS_MODEL_NAME, ALIAS_TARGET = "gpt-4o-mini-2024-07-18", "gemini-2.5-flash-lite"
OTHER_PROVIDER_MODEL_NAME = "gpt-4o"
#: native_storage of the replica config: each team its own prefix, and one shared place
NATIVE_STORAGE = ("gs://batch-bucket/native/{team_id}/", "gs://batch-bucket/native/shared/")
PROJECT_NUMBER = "424242424242"


@pytest.fixture(scope="session")
def replica_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repo's proxy_config.yaml plus: a deployment with its own project, location and bucket, a
    deployment with operator price overrides, a spy callback recording every logging event, and test
    tenants (custom_auth) so spend attribution and tenancy can be checked without a database."""
    config = yaml.safe_load((REPO_ROOT / "proxy_config.yaml").read_text())
    config["model_list"].append({"model_name": "team-b-flash", "litellm_params": {
        "model": "vertex_batch/gemini-2.5-flash", "vertex_project": "team-b-project",
        "vertex_location": "europe-west4", "gcs_bucket_name": OTHER_BUCKET}})
    config["model_list"].append({"model_name": OVERRIDE_MODEL, "litellm_params": {
        "model": f"vertex_batch/{OVERRIDE_MODEL}"}, "model_info": dict(OVERRIDE_PRICES)})
    config["model_list"].append({"model_name": NEGATIVE_PRICE_MODEL_NAME, "litellm_params": {
        "model": f"vertex_batch/{NEGATIVE_PRICE_MODEL}"}, "model_info": dict(REFUSED_PRICES)})
    # operator aliases: an OpenAI model name run on Gemini, and a name another provider serves
    config["model_list"].append({"model_name": ALIAS_MODEL_NAME, "litellm_params": {"model": f"vertex_batch/{ALIAS_TARGET}"}})
    config["model_list"].append({"model_name": OTHER_PROVIDER_MODEL_NAME, "litellm_params": {
        "model": "openai/gpt-4o", "api_key": "sk-never-called"}})
    config["litellm_settings"]["callbacks"].append("tests.stand_ins.spy_callback.spy")
    # LiteLLM's Prometheus callback: its metrics must take the plugin's cost events as they take any other
    config["litellm_settings"]["callbacks"].append("prometheus")
    for embedding_model in ("text-embedding-005", "gemini-embedding-001"):
        config["model_list"].append({"model_name": embedding_model,
                                     "litellm_params": {"model": f"vertex_ai/{embedding_model}"}})
    # Vertex-native jobs: where keys may have the gateway read and write, and the project's number
    config["files_settings"][0].update(native_storage=list(NATIVE_STORAGE), vertex_project_number=PROJECT_NUMBER)
    config["general_settings"]["custom_auth"] = "tests.stand_ins.custom_auth.user_api_key_auth"
    path = tmp_path_factory.mktemp("config") / "proxy_config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="session")
def spy_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the spy callback of replicas B and C appends every logging event (one JSON per line)."""
    return tmp_path_factory.mktemp("spy") / "events.jsonl"


def _replica(stand_ins: StandIns, replica_config: Path, spy_log: Path) -> Proxy:
    return Proxy(stand_ins.env, config=replica_config,
                 extra_env={"SPY_LOG_PATH": str(spy_log), "PYTHONPATH": str(REPO_ROOT)})


@contextlib.contextmanager
def started(*proxies: Proxy) -> Iterator[tuple[Proxy, ...]]:
    """The proxies started side by side (a proxy's start-up is mostly imports: one per core), stopped after."""
    try:
        with ThreadPoolExecutor(len(proxies)) as pool:
            list(pool.map(Proxy.start, proxies))
        yield proxies
    finally:
        for running in proxies:
            running.stop()


@pytest.fixture(scope="session")
def replicas(stand_ins: StandIns, replica_config: Path, spy_log: Path) -> Iterator[tuple[Proxy, Proxy]]:
    """Replicas B and C, started side by side."""
    pair = (_replica(stand_ins, replica_config, spy_log), _replica(stand_ins, replica_config, spy_log))
    with started(*pair):
        yield pair


@pytest.fixture(scope="session")
def proxy_b(replicas: tuple[Proxy, Proxy]) -> Proxy:
    """A second replica sharing the bucket (and serving the deployments of ``replica_config``)."""
    return replicas[0]


@pytest.fixture(scope="session")
def proxy_c(replicas: tuple[Proxy, Proxy]) -> Proxy:
    """A third replica, configured as B: the pair B/C shows exactly-once accounting across replicas."""
    return replicas[1]


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    """A stand-in for OpenAI's own Files/Batches API, for the proxy's built-in openai provider."""
    with FakeOpenAI() as running:
        yield running


@pytest.fixture(scope="session")
def proxies(stand_ins, fake_openai, tmp_path_factory) -> Iterator[dict[str, Proxy]]:
    """``on``: the repo's proxy_config.yaml unchanged (the default is on there); ``off``: the same with
    ``serve_calls_without_provider: false``, ``serve_online_calls: false`` and ``native_preflight: false``. Both
    give LiteLLM's openai provider the OpenAI stand-in."""
    config = yaml.safe_load((REPO_ROOT / "proxy_config.yaml").read_text())
    assert config["files_settings"][0]["serve_calls_without_provider"] is True
    config["files_settings"][0].update(serve_calls_without_provider=False, serve_online_calls=False,
                                       native_preflight=False, native_storage=["gs://batch-bucket/native/shared/"])
    off_config = Path(tmp_path_factory.mktemp("routing")) / "proxy_config.yaml"
    off_config.write_text(yaml.safe_dump(config))
    # worker off, as on the main proxy: these share the replicas' prefix without their spy callback
    openai_env = {"OPENAI_BASE_URL": fake_openai.url, "OPENAI_API_KEY": "sk-openai-stand-in",
                  "LITELLM_VERTEX_BATCH_BACKGROUND_WORKER": "false"}
    running = {"on": Proxy(stand_ins.env, extra_env=openai_env),
               "off": Proxy(stand_ins.env, config=off_config, extra_env=openai_env)}
    with started(*running.values()):
        yield running


def spy_events(spy_log: Path) -> list[dict[str, Any]]:
    if not spy_log.exists():
        return []
    return [json.loads(line) for line in spy_log.read_text().splitlines() if line.strip()]


FINAL_STATUSES = ("completed", "failed", "cancelled", "expired")


def batch_charges(spy_log: Path, batch_id: str, wait_seconds: float = 15) -> list[dict[str, Any]]:
    """The batch's cost events, once there is one (a retrieve can answer ``completed`` while another replica's
    background worker, which finalized the batch, is still logging its cost)."""
    def found() -> list[dict[str, Any]]:
        return [e for e in spy_events(spy_log) if e["call_type"] == "aretrieve_batch" and e["batch_id"] == batch_id
                and e["batch_status"] in FINAL_STATUSES]

    deadline = time.monotonic() + wait_seconds
    while not found() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # a second event (a double charge) would land about now: read again so a test can see it
    return found()


def make_client(proxy: Proxy, api_key: str = MASTER_KEY) -> Any:
    from openai import OpenAI

    return OpenAI(api_key=api_key, base_url=proxy.url, max_retries=0, timeout=60)


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


def create_batch(client: Any, file_id: str, headers: dict | None = None, endpoint: str = "/v1/chat/completions",
                 **kwargs: Any) -> Any:
    return client.batches.create(completion_window="24h", endpoint=endpoint, input_file_id=file_id,
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


#: What the background worker (any replica's) and Vertex jobs of earlier tests write while a test runs: never what
#: a refused request left behind.
BACKGROUND_KINDS = ("vertex-output/", "batch-results/", "charges/", "locks/", "open/", "open-native/", "webhooks/",
                    "expiry/", "passthrough/")


def request_objects(stand_ins: StandIns, bucket: str = BUCKET, prefix: str = "") -> set[str]:
    """The objects a request may have written (listed on fake-gcs-server directly), leaving out what background work
    writes meanwhile: the kinds above, and batch output files (``purpose`` batch_output, made by finalizations)."""
    names = set()
    for blob in gcs_bucket(stand_ins, bucket).list_blobs(prefix=prefix):
        kind = blob.name.split("/", 1)[1] if "/" in blob.name else blob.name
        if kind.startswith(BACKGROUND_KINDS) or (blob.metadata or {}).get("purpose") == "batch_output":
            continue
        names.add(blob.name)
    return names


def batch_record(stand_ins: StandIns, batch_id: str, bucket: str = BUCKET) -> dict[str, Any]:
    token = batch_id.removeprefix("batch_vb")
    blob = gcs_bucket(stand_ins, bucket).blob(f"litellm-vertex-batch/batches/{token}.json")
    return json.loads(blob.download_as_bytes())


def job_id(stand_ins: StandIns, batch_id: str) -> str:
    return batch_record(stand_ins, batch_id)["job_name"].rsplit("/", 1)[-1]


@pytest.fixture
def slow_start(stand_ins) -> Iterator[None]:
    """New jobs stay PENDING for 30 s, so no job finishes before the test holds or forces it."""
    before = stand_ins.control("GET", "config")
    stand_ins.configure(pending_seconds=30)
    try:
        yield
    finally:
        stand_ins.configure(**before)


def emulator_job(stand_ins, jid: str) -> dict[str, Any]:
    for job in stand_ins.control("GET", "jobs")["jobs"]:
        if job["job"]["name"].rsplit("/", 1)[-1] == jid:
            return job
    raise AssertionError(f"emulator has no job {jid}")


def run_held(stand_ins, jid: str, timeout: float = 20) -> dict[str, Any]:
    """Hold the job, let it start, and wait until it is RUNNING with ``partial_fraction`` of its rows done."""
    stand_ins.hold(jid)
    stand_ins.control("POST", f"/jobs/{jid}/config", {"pending_seconds": 0})
    deadline = time.monotonic() + timeout
    while True:
        job = emulator_job(stand_ins, jid)
        total = job["total_rows"]
        if job["job"]["state"] == "JOB_STATE_RUNNING" and total is not None \
                and job["processed_rows"] == math.floor(total * job["settings"]["partial_fraction"]):
            return job
        assert time.monotonic() < deadline, f"job never held RUNNING: {job}"
        time.sleep(0.05)

"""Through a stock proxy (the repo's ``proxy_config.yaml`` plus one ``mock_response`` chat model), against the
project's stand-ins: ``files.create`` of the generated input, the rewrite from the Vertex job's end to
``completed``, the proxy's peak memory, and how the gateway answers meanwhile (``/health/liveliness`` and a
``mock_response`` chat completion, sampled all along).
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.conftest import emulator_job, gcs_bucket, job_id
from tests.stand_ins.proxy import MASTER_KEY, Proxy
from tests.stand_ins.stack import BUCKET, LOCATION, PROJECT, StandIns
from tests.stand_ins.vertex_jobs import TERMINAL
from tests.test_worker_processes import workers_of

REPO = Path(__file__).resolve().parent.parent
MOCK_MODEL = "bench-mock-chat"
FINAL = ("completed", "failed", "cancelled", "expired")



def _config() -> Path:
    config = yaml.safe_load((REPO / "proxy_config.yaml").read_text())
    config["model_list"].append({"model_name": MOCK_MODEL, "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_key": "unused", "mock_response": "ok"}})
    path = Path(tempfile.mkdtemp(prefix="bench-config-")) / "proxy_config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """Times a request every ``every`` seconds on its own connection, labelled by the phase it fell in."""

    def __init__(self, url: str, every: float, request: dict[str, Any]) -> None:
        self.url, self.every, self.request = url, every, request
        self.phase = "idle"
        self.samples: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=60) as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                http.request(**self.request).raise_for_status()
                self.samples.setdefault(self.phase, []).append((time.perf_counter() - started) * 1000)
                self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def figures(self, phase: str) -> tuple[float, float, float] | None:
        """(p50, p99, max) in ms."""
        found = sorted(self.samples.get(phase) or [])
        if not found:
            return None
        return (statistics.median(found), found[min(len(found) - 1, int(len(found) * 0.99))], found[-1])


def _list_figure(client: Any, stand_ins: StandIns, file_id: str, count: int = 100) -> tuple[float, int]:
    """``batches.list(limit=count)`` over ``count`` unfinished batches while Vertex answers each job read 0.5 s
    late: (seconds, batches listed)."""
    stand_ins.configure(pending_seconds=3600)
    small = client.files.create(file=("one.jsonl", (Path(__file__).parent / "one-line.jsonl").read_bytes()),
                                purpose="batch")
    for _ in range(count):
        client.batches.create(input_file_id=small.id, endpoint="/v1/chat/completions", completion_window="24h")
    stand_ins.inject_fault(r"batchPredictionJobs/[0-9]+$", None, method="GET", count=100_000, delay_seconds=0.5)
    try:
        started = time.perf_counter()
        listed = len(client.batches.list(limit=count).data)
        return time.perf_counter() - started, listed
    finally:
        stand_ins.clear_faults()


def _head(path: Path, size: int) -> bytes:
    """Whole lines from the start of ``path``, at least ``size`` bytes of them."""
    head = bytearray()
    with path.open("rb") as handle:
        while len(head) < size and (line := handle.readline()):
            head += line
    return bytes(head)


def _job_state(stand_ins: StandIns, jid: str) -> str | None:
    """The emulator's state for the job; None while the emulator is too busy to answer (making 1 GB of rows)."""
    try:
        return str(emulator_job(stand_ins, jid)["job"]["state"])
    except httpx.TimeoutException:
        return None


def builtin_upload(directory: Path) -> float:
    """Seconds of ``files.create`` of the same input through a stock proxy *without* the plugin: LiteLLM's
    built-in Vertex files code (a ``vertex_ai/`` deployment whose ``api_base`` is the same fake-gcs-server; the
    upload routed to it by ``x-litellm-model``), which transforms the file in the proxy and stores it in one
    request."""
    from openai import OpenAI

    with StandIns(timeout=600) as stand_ins:
        config = {"model_list": [{"model_name": "builtin-gemini", "litellm_params": {
            "model": "vertex_ai/gemini-2.5-flash-lite", "api_base": stand_ins.gcs_url, "gcs_bucket_name": BUCKET,
            "vertex_project": PROJECT, "vertex_location": LOCATION, "vertex_credentials": stand_ins.sa_path}}],
            "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"}}
        path = Path(tempfile.mkdtemp(prefix="bench-builtin-")) / "proxy_config.yaml"
        path.write_text(yaml.safe_dump(config))
        with Proxy(stand_ins.env, config=path, timeout=120) as proxy:
            client = OpenAI(base_url=proxy.url + "/v1", api_key=MASTER_KEY, timeout=3600, max_retries=0)
            started = time.perf_counter()
            with (directory / "input.jsonl").open("rb") as handle:
                client.files.create(file=("input.jsonl", handle), purpose="batch",
                                    extra_headers={"x-litellm-model": "builtin-gemini"})
            return time.perf_counter() - started


def run(directory: Path, by_worker: bool = False) -> dict[str, Any]:
    """``by_worker``: nobody retrieves; the background worker (a pass every second) rewrites the output, and the
    figure ends when its result record is stored. Otherwise the worker is off and retrieves do it."""
    from openai import OpenAI

    source = directory / "input.jsonl"
    worker = {"LITELLM_VERTEX_BATCH_SWEEP_SECONDS": "1"} if by_worker else \
        {"LITELLM_VERTEX_BATCH_BACKGROUND_WORKER": "false"}
    with StandIns(pending_seconds=0.2, running_seconds=0.5, rows_per_file=50_000, timeout=600) as stand_ins, \
            Proxy(stand_ins.env, config=_config(), timeout=120, extra_env=worker) as proxy:
        client = OpenAI(base_url=proxy.url + "/v1", api_key=MASTER_KEY, timeout=3600, max_retries=0)
        live = Sampler(proxy.url, 0.01, {"method": "GET", "url": "/health/liveliness"})
        chat = Sampler(proxy.url, 0.05, {"method": "POST", "url": "/v1/chat/completions", "json": {
            "model": MOCK_MODEL, "messages": [{"role": "user", "content": "hi"}]}})
        # the worker processes start (and load LiteLLM) with the first upload too large for the proxy's own
        # interpreter: make that upload first, so the figures below are a running gateway's, not its start-up
        client.files.create(file=("warm.jsonl", _head(source, 512 * 1024)), purpose="batch")
        baseline = _peak_mib(proxy.process.pid)
        with live, chat:
            time.sleep(3)
            live.phase = chat.phase = "upload"
            started = time.perf_counter()
            with source.open("rb") as handle:
                file = client.files.create(file=("input.jsonl", handle), purpose="batch")
            upload_seconds = time.perf_counter() - started
            live.phase = chat.phase = "job"
            batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions",
                                          completion_window="24h")
            # the job's end as the emulator reports it, then retrieves until completed (the first one starts it)
            jid = job_id(stand_ins, batch.id)
            while _job_state(stand_ins, jid) not in TERMINAL:
                time.sleep(0.1)
            job_end = time.perf_counter()
            live.phase = chat.phase = "finalize"
            result = gcs_bucket(stand_ins).blob(f"litellm-vertex-batch/batch-results/{batch.id[len('batch_vb'):]}.json")
            while (not result.exists()) if by_worker else batch.status not in FINAL:
                if not by_worker:
                    batch = client.batches.retrieve(batch.id)
                time.sleep(0.1)
            done = time.perf_counter()
            batch = client.batches.retrieve(batch.id)
        finalize_seconds = done - job_end
        list_seconds, listed = _list_figure(client, stand_ins, file.id)
        return {"status": batch.status, "counts": batch.request_counts.model_dump() if batch.request_counts else None,
                "upload_seconds": upload_seconds, "finalize_seconds": finalize_seconds,
                "proxy_peak_growth_mib": _peak_mib(proxy.process.pid) - baseline,
                "worker_peaks_mib": [_peak_mib(worker) for worker in workers_of(proxy)],
                "list_seconds": list_seconds, "listed": listed,
                "liveliness": {phase: live.figures(phase) for phase in ("idle", "upload", "finalize")},
                "chat": {phase: chat.figures(phase) for phase in ("idle", "upload", "finalize")}}

"""Job state and the per-job background state machine of the Vertex emulator, plus GCS I/O."""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from tests.stand_ins import vertex_rows

TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED",
            "JOB_STATE_PARTIALLY_SUCCEEDED"}
ACTIVE = {"JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_UPDATING", "JOB_STATE_PAUSED"}
TICK = 0.02


@dataclass
class Settings:
    """Timings and sizes; the emulator-wide copy is the default for new jobs."""

    pending_seconds: float = 0.5
    running_seconds: float = 1.0
    cancel_seconds: float = 0.2
    rows_per_file: int = 1000
    partial_fraction: float = 0.5
    stats_on_cancel: bool = False

    def update(self, values: dict[str, Any]) -> None:
        """Set known fields from a JSON dict; raise ValueError on unknown keys."""
        for key, value in values.items():
            if key not in self.__dataclass_fields__:
                raise ValueError(f"unknown setting {key!r}")
            setattr(self, key, type(getattr(self, key))(value))


@dataclass
class Job:
    """One batch prediction job: the public resource plus internal progress."""

    resource: dict[str, Any]
    settings: Settings
    seq: int
    hold: bool = False
    rows: list[dict] | None = None
    results: list[dict] = field(default_factory=list)
    output_written: bool = False
    output_files: list[str] = field(default_factory=list)
    task: asyncio.Task | None = None
    cancel_requested_at: str | None = None
    #: held while rows are made: the job's task makes them in a thread, which a forced state does not stop
    making_rows: threading.Lock = field(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        return self.resource["name"]

    @property
    def state(self) -> str:
        return self.resource["state"]

    def set_state(self, state: str) -> None:
        """Change state and updateTime; set startTime/endTime on first RUNNING / terminal."""
        now = vertex_rows.rfc3339()
        self.resource["state"] = state
        self.resource["updateTime"] = now
        if state == "JOB_STATE_RUNNING" and "startTime" not in self.resource:
            self.resource["startTime"] = now
        if state in TERMINAL:
            self.resource["endTime"] = now

    def internal(self) -> dict[str, Any]:
        """Job plus internal progress, for ``GET /_emulator/jobs``."""
        return {"job": self.resource, "hold": self.hold, "settings": self.settings.__dict__,
                "total_rows": None if self.rows is None else len(self.rows),
                "processed_rows": len(self.results), "output_files": self.output_files,
                "cancel_requested_at": self.cancel_requested_at}


def split_gs(uri: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri}")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


class Gcs:
    """Minimal async client for the GCS JSON API of the emulator."""

    def __init__(self, endpoint: str) -> None:
        self.client = httpx.AsyncClient(base_url=endpoint.rstrip("/"), timeout=30)

    async def bucket_exists(self, bucket: str) -> bool:
        resp = await self.client.get(f"/storage/v1/b/{quote(bucket, safe='')}")
        return resp.status_code == 200

    async def list_names(self, bucket: str, prefix: str) -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            params = {"prefix": prefix, **({"pageToken": token} if token else {})}
            resp = await self.client.get(f"/storage/v1/b/{quote(bucket, safe='')}/o", params=params)
            if resp.status_code != 200:
                return names
            body = resp.json()
            names += [item["name"] for item in body.get("items", [])]
            token = body.get("nextPageToken")
            if not token:
                return names

    async def read(self, bucket: str, name: str) -> bytes | None:
        resp = await self.client.get(f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}",
                                     params={"alt": "media"})
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        return resp.content

    async def write(self, bucket: str, name: str, data: bytes) -> None:
        resp = await self.client.post(f"/upload/storage/v1/b/{quote(bucket, safe='')}/o",
                                      params={"uploadType": "media", "name": name}, content=data,
                                      headers={"Content-Type": "application/jsonl"})
        resp.raise_for_status()


class JobFailed(Exception):
    """The job fails with ``error{code, message}``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


async def import_rows(gcs: Gcs, job: Job) -> list[dict]:
    """Read every input object (Cloud Storage wildcards: ``**`` any characters, ``*`` any but ``/``, ``?`` one)
    and validate it like the importer."""
    chunks: list[tuple[str, bytes]] = []
    for uri in job.resource["inputConfig"]["gcsSource"]["uris"]:
        bucket, name = split_gs(uri)
        if "*" in name or "?" in name:
            literal = name[:min(i for i in (name.find(c) for c in "*?") if i >= 0)]
            regex = re.compile("".join({"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
                                       for part in re.split(r"(\*\*|\*|\?)", name)))
            names = [n for n in await gcs.list_names(bucket, literal) if regex.fullmatch(n)]
            if not names:
                raise JobFailed(5, f"Failed to import data. Not found: no objects match {uri}.")
        else:
            names = [name]
        for obj in names:
            data = await gcs.read(bucket, obj)
            if data is None:
                raise JobFailed(5, f"Failed to import data. Not found: gs://{bucket}/{obj} does not exist.")
            chunks.append((f"gs://{bucket}/{obj}", data))
    try:
        # in a thread: a large input must not stall the emulator's API (job reads, control calls) meanwhile
        return await asyncio.to_thread(vertex_rows.parse_and_validate, chunks,
                                       vertex_rows.is_legacy_embedding(job.resource["model"]))
    except vertex_rows.ImportError_ as exc:
        raise JobFailed(3, f"Failed to import data. {exc}") from None


async def write_output(gcs: Gcs, job: Job) -> None:
    """Write the processed rows, shuffled, split by ``rows_per_file``; only once per job."""
    if job.output_written or "outputInfo" not in job.resource:
        return
    job.output_written = True
    bucket, prefix = split_gs(job.resource["outputInfo"]["gcsOutputDirectory"])
    rows = list(job.results)
    random.shuffle(rows)
    size = max(1, job.settings.rows_per_file)
    chunks = [rows[i:i + size] for i in range(0, len(rows), size)] or [[]]
    for index, chunk in enumerate(chunks, start=1):
        fname = "predictions.jsonl" if len(chunks) == 1 else f"predictions_{index:05d}.jsonl"
        data = await asyncio.to_thread(_jsonl, chunk)
        await gcs.write(bucket, f"{prefix}/{fname}", data)
        job.output_files.append(f"gs://{bucket}/{prefix}/{fname}")


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def set_stats(job: Job) -> None:
    """completionStats as int64 strings from the processed rows."""
    total = len(job.rows or [])
    ok = sum(1 for r in job.results if vertex_rows.row_succeeded(r))
    failed = len(job.results) - ok
    job.resource["completionStats"] = {"successfulCount": str(ok), "failedCount": str(failed),
                                       "incompleteCount": str(max(0, total - len(job.results)))}


def process_until(job: Job, target: int) -> None:
    """Generate output rows for input rows up to index ``target``."""
    rows = job.rows or []
    with job.making_rows:
        while len(job.results) < min(target, len(rows)):
            job.results.append(vertex_rows.output_row(rows[len(job.results)], job.resource["model"],
                                                      parameters=job.resource.get("modelParameters")))


async def _finish_cancel(gcs: Gcs, job: Job) -> None:
    await asyncio.sleep(job.settings.cancel_seconds)
    await write_output(gcs, job)
    job.resource["error"] = {"code": 1, "message": "CANCELED"}
    if job.settings.stats_on_cancel and job.rows is not None:
        set_stats(job)
    job.set_state("JOB_STATE_CANCELLED")


async def run_job(gcs: Gcs, job: Job) -> None:
    """Background task: PENDING -> RUNNING -> SUCCEEDED (or FAILED / CANCELLED)."""
    try:
        started = time.monotonic()
        while time.monotonic() - started < job.settings.pending_seconds:
            if job.state == "JOB_STATE_CANCELLING":
                return await _finish_cancel(gcs, job)
            await asyncio.sleep(TICK)
        if job.state == "JOB_STATE_CANCELLING":
            return await _finish_cancel(gcs, job)
        job.set_state("JOB_STATE_RUNNING")
        prefix = job.resource["outputConfig"]["gcsDestination"]["outputUriPrefix"].rstrip("/")
        stamp = vertex_rows.rfc3339()
        job.resource["outputInfo"] = {"gcsOutputDirectory": f"{prefix}/prediction-model-{stamp}"}
        try:
            job.rows = await import_rows(gcs, job)
            out_bucket, _ = split_gs(prefix)
            if not await gcs.bucket_exists(out_bucket):
                raise JobFailed(9, f"Failed to write output: bucket {out_bucket} does not exist "
                                   "or is not accessible.")
        except JobFailed as exc:
            job.resource["error"] = {"code": exc.code, "message": exc.message}
            job.set_state("JOB_STATE_FAILED")
            return
        total = len(job.rows)
        started = time.monotonic()
        while True:
            if job.state == "JOB_STATE_CANCELLING":
                return await _finish_cancel(gcs, job)
            running = job.settings.running_seconds
            frac = 1.0 if running <= 0 else min(1.0, (time.monotonic() - started) / running)
            target = math.floor(total * frac)
            if job.hold:
                target = min(target, math.floor(total * job.settings.partial_fraction))
            await asyncio.to_thread(process_until, job, target)
            if not job.hold and len(job.results) >= total and frac >= 1.0:
                break
            await asyncio.sleep(TICK)
        await write_output(gcs, job)
        set_stats(job)
        job.set_state("JOB_STATE_SUCCEEDED")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # emulator bug or GCS trouble: surface it as an internal failure
        job.resource["error"] = {"code": 13, "message": f"Internal error: {exc!r}"}
        job.set_state("JOB_STATE_FAILED")


async def force_state(gcs: Gcs, job: Job, state: str, error: dict | None, write: bool) -> None:
    """Stop the job's task and put it in ``state`` (frozen there); optionally write partial output."""
    if job.task and not job.task.done():
        job.task.cancel()
        try:
            await job.task
        except (asyncio.CancelledError, Exception):
            pass
    if write:
        if "outputInfo" not in job.resource:
            prefix = job.resource["outputConfig"]["gcsDestination"]["outputUriPrefix"].rstrip("/")
            job.resource["outputInfo"] = {
                "gcsOutputDirectory": f"{prefix}/prediction-model-{vertex_rows.rfc3339()}"}
        if job.rows is None:
            try:
                job.rows = await import_rows(gcs, job)
            except JobFailed:
                job.rows = []
        if state != "JOB_STATE_SUCCEEDED":
            process_until(job, math.floor(len(job.rows) * job.settings.partial_fraction))
        else:
            process_until(job, len(job.rows))
        try:
            await write_output(gcs, job)
        except httpx.HTTPError:  # e.g. the output bucket does not exist: nothing is written
            pass
    if error is not None:
        job.resource["error"] = error
    elif state == "JOB_STATE_FAILED":
        job.resource["error"] = {"code": 13, "message": "Internal error occurred. (forced by emulator)"}
    if state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_PARTIALLY_SUCCEEDED") \
            and job.rows is not None:
        set_stats(job)
    job.set_state(state)

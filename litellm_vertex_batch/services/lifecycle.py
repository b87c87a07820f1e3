"""One background pass over one bucket prefix: what makes batches finish, and get charged, with nobody polling.

The pass reads two small indexes, never every record:

* ``open/`` lists the batches not yet finalized and charged (written before a batch's record, removed once its
  charge record exists). Each is settled exactly as a retrieve would settle it (``BatchService.settle``): the same
  claims, so a worker and a client retrieve, or two replicas, never finalize or charge twice.
* ``open-native/`` lists the Vertex-native jobs made through the gateway whose cost is not logged yet; each is read
  from Vertex and, once finished, charged once (``passthrough.observe``).

Then what interrupted work left (``sweep.py``) and late twins: Vertex jobs labelled for a batch of this prefix that
the batch does not own (an ambiguous create landed after the batch gave up or adopted another job). After a grace
period longer than any create's retries, a twin is cancelled, and once it has ended its predictions and the job
are deleted. Ownership is checked by the job's output location, so another gateway's jobs are never touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cloud.store import Store
from ..cloud.vertex import BATCH_LABEL, VertexClient
from ..core import ids, layout, records, states
from ..core.errors import UpstreamError, VertexBatchError
from ..core.settings import Settings
from .batches import BatchService, LoggerFor
from .expiring import expire
from .sweep import sweep

log = logging.getLogger(__name__)
#: An index entry whose batch record does not exist this long after the batch's token was made: the create died.
ORPHAN_ENTRY_SECONDS = 600
#: Vertex-native jobs read per pass at the same time.
NATIVE_CONCURRENCY = 4
#: Labelled jobs read per page when looking for late twins, and pages per pass at most.
TWIN_PAGE_SIZE, TWIN_PAGES = 100, 10

#: Runs once for a batch the worker found final: (batch record, batch object).
OnFinal = Callable[[Mapping[str, Any], Mapping[str, Any]], Awaitable[None]]
#: Settles one Vertex-native job (its resource name); True once it is charged (or gone).
NativeSettler = Callable[[str], Awaitable[bool]]


@dataclass
class PassReport:
    """What a pass's sweeps did (the batches it settles run in tasks of their own and log for themselves)."""

    twins_cancelled: list[str] = field(default_factory=list)
    twins_deleted: list[str] = field(default_factory=list)


async def settle_batch(store: Store, s: Settings, batches_for: Callable[[str, str], BatchService | None],
                       entry_name: str, token: str, logger_for: LoggerFor, wait_seconds: float,
                       on_final: OnFinal | None = None) -> bool:
    """Settle one open batch (``batches_for(project, location)`` serves its record's place) and drop its index
    entry when nothing is left to do; True then. ``on_final(record, batch)`` runs first (its webhooks are queued
    before the entry goes, so a crash in between queues them again, never loses them)."""
    batch_id = ids.batch_id(token)
    found = await store.read_json(layout.batch_record(s, token))
    if found is None:
        if time.time() - ids.token_created_at(token) < ORPHAN_ENTRY_SECONDS:
            return False  # its create may still be writing the record
        await store.delete(entry_name)
        return True
    record = records.load_batch(found[0])
    batches = batches_for(str(record.get("project")), str(record.get("location")))
    if batches is None:
        log.warning("open batch %s belongs to %s/%s, which this worker's settings do not serve", batch_id,
                    record.get("project"), record.get("location"))
        return False
    settled = await batches.settle(batch_id, logger_for, wait_seconds)
    if settled is None and never_submitted(s, record):
        settled = await batches.retrieve(batch_id, finalize_now=False)  # failed: no job came, none can come now
    if settled is None:
        return False
    if settled and on_final is not None:
        await on_final(record, settled)
    await store.delete(entry_name)
    return True


def never_submitted(s: Settings, record: Mapping[str, Any], now: float | None = None) -> bool:
    """A batch whose create failed (or was never sent) and whose job cannot land any more: final, nothing to
    charge. Until then the batch adopts a job that shows up late."""
    if record.get("job_name") or not record.get("create_error"):
        return False
    now = time.time() if now is None else now
    return now - float(record.get("created_at") or 0) > twin_grace_seconds(s)


async def backfill_index(store: Store, s: Settings) -> int:
    """Once per prefix: index every batch not yet charged (batches made before the index existed); how many.

    Two listings (batch records, charge records), no read per batch; marked done by ``open/_backfilled``."""
    marker = f"{layout.open_batches_prefix(s)}_backfilled"
    if await store.info(marker) is not None:
        return 0
    batches_prefix, charges_prefix = layout.batches_prefix(s), f"{s.prefix}charges/"

    def unindexed() -> list[str]:
        charged = {layout.token_from_name(i.name, charges_prefix, ".json") for i in store.objects.list(charges_prefix)}
        indexed = {layout.token_from_name(i.name, layout.open_batches_prefix(s), ".json")
                   for i in store.objects.list(layout.open_batches_prefix(s))}
        tokens = (layout.token_from_name(i.name, batches_prefix, ".json") for i in store.objects.list(batches_prefix))
        return [t for t in tokens if t not in charged and t not in indexed]

    tokens = await store.run_blocking(unindexed)
    for token in tokens:
        await store.write_json(layout.open_batch(s, token), {"id": ids.batch_id(token), "backfilled": True})
    await store.write_json(marker, {"indexed": len(tokens)})
    if tokens:
        log.info("indexed %d batches made before the background worker", len(tokens))
    return len(tokens)


async def open_batch_tokens(store: Store, s: Settings) -> list[tuple[str, str]]:
    """(index entry name, batch token) of every open batch of this prefix."""
    prefix = layout.open_batches_prefix(s)
    infos = await store.list_objects(prefix)
    return [(info.name, layout.token_from_name(info.name, prefix, ".json")) for info in infos
            if info.name.endswith(".json")]


async def settle_native_jobs(store: Store, s: Settings, settle_one: NativeSettler) -> int:
    """Charge the finished Vertex-native jobs of the index; the count still open."""
    prefix = layout.open_native_prefix(s)
    infos = await store.list_objects(prefix)
    gate = asyncio.Semaphore(NATIVE_CONCURRENCY)

    async def one(entry: str) -> int:
        async with gate:
            found = await store.read_json(entry)
            name = str((found[0] if found else {}).get("name") or "")
            try:
                done = found is None or not name or await settle_one(name)
            except VertexBatchError as exc:
                log.warning("could not settle Vertex-native job %s yet: %s", name, exc.message)
                return 1
            if done:
                await store.delete(entry)
                return 0
            return 1

    return sum(await asyncio.gather(*(one(info.name) for info in infos)))


def twin_grace_seconds(s: Settings) -> float:
    """How long after its creation a labelled job may still be adopted by its batch's create (retries, then the
    landing window of an unanswered attempt, at most twice the call timeout): only after this is a job nobody owns
    a twin."""
    return s.retry_seconds + 4 * s.timeout_seconds


async def sweep_twins(store: Store, s: Settings, vertex: VertexClient, report: PassReport,
                      now: float | None = None) -> None:
    """Cancel, then delete, the labelled jobs of this prefix that their batch does not own (module docstring)."""
    now = time.time() if now is None else now
    before = states.unix_to_rfc3339(int(now - twin_grace_seconds(s)))
    params: dict[str, Any] = {"filter": f'labels.{BATCH_LABEL}:* AND create_time<"{before}"',
                              "pageSize": TWIN_PAGE_SIZE}
    for _ in range(TWIN_PAGES):
        page = await vertex.list_jobs(params)
        for job in page.get("batchPredictionJobs") or []:
            if isinstance(job, Mapping) and await _is_twin(store, s, job):
                await _retire_twin(store, s, vertex, job, report)
        if not page.get("nextPageToken"):
            return
        params["pageToken"] = page["nextPageToken"]


async def _is_twin(store: Store, s: Settings, job: Mapping[str, Any]) -> bool:
    token = str((job.get("labels") or {}).get(BATCH_LABEL) or "")
    destination = ((job.get("outputConfig") or {}).get("gcsDestination") or {}).get("outputUriPrefix") or ""
    if not token or not str(destination).startswith(store.uri(layout.vertex_output_prefix(s, token)).rstrip("/")):
        return False  # not a job of this prefix's batches
    found = await store.read_json(layout.batch_record(s, token))
    if found is None:
        return True  # its batch was discarded (Google refused the create, or it never got a record)
    owned = records.load_batch(found[0]).get("job_name")
    return bool(owned) and owned != job.get("name")  # no job_name yet: the batch adopts this job itself


async def _retire_twin(store: Store, s: Settings, vertex: VertexClient, job: Mapping[str, Any],
                       report: PassReport) -> None:
    name = str(job.get("name"))
    try:
        if job.get("state") not in states.TERMINAL_STATES:
            log.warning("cancelling Vertex job %s: a late twin of a batch that does not own it", name)
            await vertex.cancel_job(name)
            report.twins_cancelled.append(name)
            return  # deleted by a later pass, once it has ended
        directory = str((job.get("outputInfo") or {}).get("gcsOutputDirectory") or "")
        base = store.uri("")
        if directory.startswith(base + s.prefix):
            prefix = directory[len(base):].rstrip("/") + "/"
            for info in await store.list_objects(prefix):
                await store.delete(info.name)
        log.warning("deleting Vertex job %s: a late twin of a batch that does not own it", name)
        await vertex.delete_job(name)
        report.twins_deleted.append(name)
    except UpstreamError as exc:
        if exc.status_code != 404:
            log.warning("could not retire the late twin %s yet: %s", name, exc.message)


async def sweep_leftovers(store: Store, s: Settings, vertex: VertexClient, report: PassReport) -> None:
    """What interrupted uploads and deletions left, then late twins; failures are logged and retried next pass."""
    try:
        await sweep(store, s)
        await expire(store, s)
        await sweep_twins(store, s, vertex, report)
    except VertexBatchError as exc:
        log.warning("the background sweep of gs://%s/%s stopped early: %s", s.bucket, s.prefix, exc.message)

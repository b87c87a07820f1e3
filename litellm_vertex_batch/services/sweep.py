"""What interrupted work leaves in the bucket, found from small indexes and removed (never anything a file or batch
still needs).

* An upload in flight holds a lease (``uploads/<token>.json``) until its file object exists. A lapsed lease whose
  file object does not exist marks converted rows nobody owns (the uploading process died, SIGKILL included):
  they are removed, then the lease. A lapsed lease whose file exists is only removed. Either way the upload's
  staged bytes (``uploads/<token>.jsonl``, copied to the file object once it is made) go too, as does a staged
  upload older than a lease with no lease beside it.
* A deletion writes a tombstone (``deleted/<token>.json``) before it deletes. Once the tombstone is older than the
  window in which the deleter's own retries are answered, whatever the deletion left (its converted rows, its file
  object) is removed, then the tombstone.

Runs at start-up (in the background) and from the background worker; every step is idempotent, so replicas may
sweep at the same time.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from ..cloud.store import Store
from ..core import layout
from ..core.errors import VertexBatchError
from ..core.settings import Settings
from .files import DELETE_RETRY_SECONDS

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    removed: list[str] = field(default_factory=list)
    kept_in_flight: int = 0


async def sweep(store: Store, s: Settings, now: float | None = None) -> SweepReport:
    """One pass over the upload leases and the tombstones (see the module docstring)."""
    now = time.time() if now is None else now
    report = SweepReport()
    in_uploads = await store.list_objects(layout.uploads_prefix(s))
    leased = {info.name for info in in_uploads if info.name.endswith(".json")}
    for info in in_uploads:
        if info.name.endswith(".jsonl"):  # a staged upload without its lease: its upload ended without removing it
            if info.name[:-1] not in leased and now - info.created >= s.upload_lease_seconds:
                await _remove(store, info.name, report)
            continue
        token = layout.token_from_name(info.name, layout.uploads_prefix(s), ".json")
        found = await store.read_json(info.name)
        if found is None:
            continue
        if now - float(found[0].get("claimed_at", 0)) < s.upload_lease_seconds:
            report.kept_in_flight += 1
            continue
        if await store.info(layout.file_object(s, token)) is None:
            await _remove(store, layout.vertex_input(s, token), report)
        await _remove(store, layout.staged_upload(s, token), report)
        await _remove(store, info.name, report)
    for info in await store.list_objects(layout.deleted_prefix(s)):
        token = layout.token_from_name(info.name, layout.deleted_prefix(s), ".json")
        found = await store.read_json(info.name)
        if found is None or now - float(found[0].get("deleted_at", 0)) < DELETE_RETRY_SECONDS:
            continue
        await _remove(store, layout.vertex_input(s, token), report)
        await _remove(store, layout.file_object(s, token), report)
        await _remove(store, info.name, report)
    if report.removed:
        log.info("swept %d objects interrupted work left behind", len(report.removed))
    return report


async def _remove(store: Store, name: str, report: SweepReport) -> None:
    try:
        if await store.delete(name):
            report.removed.append(name)
    except VertexBatchError as exc:
        log.warning("could not remove %s (%s); the next sweep tries again", name, exc.message)

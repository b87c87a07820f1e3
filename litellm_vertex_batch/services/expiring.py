"""Deleting what expired, from the time-ordered expiry index (``core/expiry.py``), never from a scan of files.

An expired file answers 404 from the moment it expires (``FileService.info``); the background worker then deletes
its object and converted rows. A file is deleted only when its own metadata says it expired, so an index entry
can never remove a file that was not meant to go. Raw entries (the operator's ``raw_retention_seconds``) remove a
finalized batch's Vertex predictions and its copy of the converted input, which its stored result no longer needs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from ..cloud.store import Store
from ..core import expiry, ids, layout
from ..core.settings import Settings

log = logging.getLogger(__name__)


async def index_expiry(store: Store, s: Settings, token: str, result: Mapping[str, Any]) -> None:
    """Index a finalized batch's expiring output and error files, and its raw data when the operator keeps it only
    for a while; written before the result record, so whatever is stored is also indexed."""
    at = result.get("files_expire_at")
    if at:
        for file_id in (result.get("output_file_id"), result.get("error_file_id")):
            file_token = ids.parse_file_id(file_id) if file_id else None
            if file_token:
                await store.write_json(expiry.entry_name(s, int(at), expiry.FILE, file_token), {})
    if s.raw_retention_seconds is not None:
        await store.write_json(expiry.entry_name(s, int(time.time() + s.raw_retention_seconds), expiry.RAW, token), {})


async def expire(store: Store, s: Settings, now: float | None = None) -> list[str]:
    """Delete what the index says has expired by ``now``; the object names removed."""
    now = time.time() if now is None else now
    prefix = expiry.expiry_prefix(s)

    def due() -> list[str]:
        names = []
        for info in store.objects.list(prefix):
            parsed = expiry.parse_entry(s, info.name)
            if parsed is not None and parsed[0] > now:
                break  # the index is in time order: the rest is in the future
            names.append(info.name)
        return names

    removed: list[str] = []
    for entry in await store.run_blocking(due):
        parsed = expiry.parse_entry(s, entry)
        if parsed is not None:
            _, kind, token = parsed
            if kind == expiry.FILE:
                removed += await _expire_file(store, s, token, now)
            elif await store.info(layout.batch_result(s, token)) is None:
                continue  # its finalization is still writing the result: kept for the next pass
            else:
                removed += await _remove_raw(store, s, token)
        await store.delete(entry)
    if removed:
        log.info("removed %d expired objects", len(removed))
    return removed


async def _expire_file(store: Store, s: Settings, token: str, now: float) -> list[str]:
    info = await store.info(layout.file_object(s, token))
    if info is None or not expiry.expired(info.metadata, now):
        return []  # deleted already, or its own metadata says otherwise
    removed = []
    for name in (layout.vertex_input(s, token), layout.file_object(s, token)):
        if await store.delete(name):
            removed.append(name)
    return removed


async def _remove_raw(store: Store, s: Settings, token: str) -> list[str]:
    names = [info.name for info in await store.list_objects(layout.vertex_output_prefix(s, token))]
    removed = []
    for name in [*names, layout.batch_input(s, token)]:
        if await store.delete(name):
            removed.append(name)
    return removed

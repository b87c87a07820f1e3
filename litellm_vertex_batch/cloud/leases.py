"""Leases in the bucket: who finalizes or charges a batch, across replicas, by precondition-guarded writes.

A claim object holds ``claimed_at`` and a random ``holder``. The holder is what makes an ambiguous write safe: when
the answer to the claim's write is lost (or a retry of it meets the precondition its own first attempt made
false), the claimer reads the object back and holds the lease exactly when the holder written there is its own.
A claim that cannot be released (storage failing) is retried in the background until storage recovers, so the
next caller does not wait out the whole lease; a long job renews its lease while it runs (``holding``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from ..core.errors import TransientError, VertexBatchError

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)
#: how often a failed release is tried again, and for how long at most
RELEASE_RETRY_SECONDS = 2.0
RELEASE_RETRY_FOR_SECONDS = 3600.0
_background: set[asyncio.Task[Any]] = set()


async def claim(store: Store, name: str, lease_seconds: float, note: Mapping[str, Any] | None = None) -> str | None:
    """Take the lease ``name`` if it is free or lapsed (held longer than ``lease_seconds``); the holder id if taken."""
    holder = secrets.token_hex(12)
    body = {**(note or {}), "claimed_at": time.time(), "holder": holder}
    if await _write(store, name, body, None):
        return holder
    found = await store.read_json(name)
    if found is None:  # released meanwhile
        return holder if await _write(store, name, body, None) else None
    held, generation = found
    if held.get("holder") == holder:  # our own write; its answer was lost
        return holder
    if time.time() - float(held.get("claimed_at", 0)) < lease_seconds:
        return None
    log.warning("taking over %s, held since %s (its holder stopped)", name, held.get("claimed_at"))
    body["claimed_at"] = time.time()
    return holder if await _write(store, name, body, generation) else None


async def _write(store: Store, name: str, body: dict[str, Any], generation: int | None) -> bool:
    """A guarded write (absent, or at ``generation``) whose ambiguous outcome is settled by reading it back."""
    try:
        if await store.write_json(name, body, only_if_absent=generation is None, if_generation=generation):
            return True
    except TransientError as exc:
        if not exc.ambiguous:
            raise
    found = await store.read_json(name)  # a lost answer, or a retry refused by our own first write's success
    return found is not None and found[0].get("holder") == body["holder"]


async def renew(store: Store, name: str, holder: str) -> bool:
    """Move the lease's ``claimed_at`` to now; False if ``holder`` no longer holds it (it was taken over)."""
    found = await store.read_json(name)
    if found is None or found[0].get("holder") != holder:
        return False
    body = {**found[0], "claimed_at": time.time()}
    return await _write(store, name, body, found[1])


@contextlib.asynccontextmanager
async def holding(store: Store, name: str, holder: str, lease_seconds: float) -> AsyncIterator[None]:
    """Renew the lease every third of ``lease_seconds`` while the body runs, so a long job is never taken over."""
    async def keep() -> None:
        while True:
            await asyncio.sleep(max(lease_seconds / 3, 0.05))
            try:
                if not await renew(store, name, holder):
                    log.error("lost the lease %s while holding it", name)
                    return
            except VertexBatchError as exc:
                log.warning("could not renew the lease %s (%s); trying again", name, exc.message)

    task = asyncio.create_task(keep())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def release(store: Store, name: str, holder: str) -> None:
    """Delete the lease ``holder`` holds; when storage fails, keep trying in the background until it recovers (and
    stop if meanwhile the lease lapsed and another holder took it)."""
    try:
        await store.delete(name)
        return
    except VertexBatchError as exc:
        log.warning("could not release %s (%s); retrying in the background", name, exc.message)

    async def retry() -> None:
        deadline = time.monotonic() + RELEASE_RETRY_FOR_SECONDS
        while time.monotonic() < deadline:
            await asyncio.sleep(RELEASE_RETRY_SECONDS)
            try:
                found = await store.read_json(name)
                if found is None or found[0].get("holder") != holder:
                    return  # gone, or taken over by another holder: not ours to delete
                await store.delete(name)
                log.info("released %s", name)
                return
            except VertexBatchError:
                continue

    task = asyncio.get_running_loop().create_task(retry())
    _background.add(task)
    task.add_done_callback(_background.discard)

"""Batch spend into LiteLLM's books: once per batch, whatever replica or retrieve sees it finished.

The price is computed at finalization (``finalize.py`` with ``core/pricing.py``) from each row's own tokens.
Logging it is the edge's job (``edge/cost_events.py``, handed in as ``log``); here a claim object in the bucket
makes that happen once across retrieves, replicas and restarts, and a claim whose holder died before logging
is retried after ``CHARGE_LEASE_SECONDS``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from ..cloud.store import Store
from ..core import records

CHARGE_LEASE_SECONDS = 300
#: Logs a cost through LiteLLM and returns what it logged.
CostLogger = Callable[[], Awaitable[float]]


async def once(store: Store, done_name: str, lock_name: str, log: CostLogger) -> bool:
    """Run ``log`` unless ``done_name`` says it already ran; True if this call ran it.

    The lease ``lock_name`` keeps two replicas from logging at once; released on failure so a later call
    retries, and taken over after ``CHARGE_LEASE_SECONDS`` if its holder died before writing ``done_name``.
    """
    if await store.read_json(done_name) is not None:
        return False
    if not await store.claim(lock_name, CHARGE_LEASE_SECONDS):
        return False
    try:
        cost = await log()
    except BaseException:
        await store.delete(lock_name)
        raise
    await store.write_json(done_name, records.dump({"charged_at": time.time(), "cost": cost}))
    return True

"""Batch spend into LiteLLM's books: once per batch, whatever replica or retrieve sees it finished.

The price is computed at finalization (``finalize.py`` with ``core/pricing.py``) from each row's own tokens.
Logging it is the edge's job (``edge/cost_events.py``, handed in as ``log_cost``); here a claim object in the bucket
makes that happen once across retrieves, replicas and restarts, and a claim whose holder died before logging
is retried after the ``charge_lease_seconds`` setting (default 300).

Every delivery of one charge carries the same call id (``ids.charge_id``, derived from the batch or job and written
into the claim before the cost is logged). So in the worst case - the holder dies between logging and writing the
charge record, or the record cannot be written - a second delivery after the lease is the *same* event: LiteLLM's
spend log gets the same request id again, and callbacks see a repeated id they can recognise, never a second
charge with an id of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from ..cloud import leases
from ..cloud.store import Store
from ..core import records
from ..core.errors import VertexBatchError

log = logging.getLogger(__name__)

#: Logs a cost through LiteLLM under the given call id (the charge's) and returns what it logged.
CostLogger = Callable[[str], Awaitable[float]]


async def once(store: Store, done_name: str, lock_name: str, charge_id: str, log_cost: CostLogger,
               lease_seconds: float) -> bool:
    """Run ``log_cost(charge_id)`` unless ``done_name`` says it already ran; True if this call ran it.

    The lease ``lock_name`` keeps two replicas from logging at once; released on failure so a later call
    retries, taken over after ``lease_seconds`` if its holder died before writing ``done_name``, and released once
    ``done_name`` is written (a claimer reads ``done_name`` again after claiming, so nothing logs twice).
    A charge record that cannot be written leaves the lease in place (no other replica logs again within it)
    and is not the caller's failure: the cost was logged.
    """
    if await store.read_json(done_name) is not None:
        return False
    holder = await leases.claim(store, lock_name, lease_seconds, {"charge_id": charge_id})
    if holder is None:
        return False
    if await store.read_json(done_name) is not None:  # a replica finished (and released) between our read and claim
        await leases.release(store, lock_name, holder)
        return False
    try:
        cost = await log_cost(charge_id)
    except BaseException:
        await leases.release(store, lock_name, holder)
        raise
    try:
        await store.write_json(done_name, records.dump({"charged_at": time.time(), "cost": cost,
                                                        "charge_id": charge_id}))
    except VertexBatchError as exc:
        log.error("charge %s was logged but its record %s could not be written (%s); after %ss another replica "
                  "may deliver it again, with the same id", charge_id, done_name, exc.message, lease_seconds)
        return True
    await leases.release(store, lock_name, holder)  # the record stops every later attempt: the claim is done with
    return True

"""Webhook delivery, at least once: an outbox in the bucket, sent and retried by the background worker.

When the worker settles a batch in a final status it writes one outbox entry per endpoint that wants it
(``webhooks/<webhook id>.json``, written only if absent, so replicas and repeated passes never queue it twice).
Each pass posts the entries that are due, signed at sending (``core/webhooks.py``); a 2xx removes the entry, any
other answer or no answer schedules the next attempt with backoff, up to three days after the first. Secrets stay
in the operator's configuration: the outbox names an endpoint by a hash of its URL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ..cloud.store import Store
from ..core import webhooks
from ..core.settings import Settings
from ..core.webhooks import Endpoint

log = logging.getLogger(__name__)
#: deliveries in flight at once, and how long one may take
DELIVERY_CONCURRENCY, DELIVERY_TIMEOUT_SECONDS = 8, 10.0


def outbox_prefix(s: Settings) -> str:
    return f"{s.prefix}webhooks/"


async def enqueue(store: Store, s: Settings, endpoints: list[Endpoint], owner: Mapping[str, Any],
                  batch: Mapping[str, Any], now: float | None = None) -> int:
    """Queue the batch's event for every endpoint that wants it; how many entries were new."""
    now = time.time() if now is None else now
    event = webhooks.batch_event(batch, int(now))
    if event is None:
        return 0
    queued = 0
    for endpoint in endpoints:
        if endpoint.wants(owner):
            entry = {"event": event, "endpoint": endpoint.key, "attempts": 0, "next_at": now, "first_at": now}
            name = f"{outbox_prefix(s)}{webhooks.webhook_id(event['id'], endpoint)}.json"
            queued += bool(await store.write_json(name, entry, only_if_absent=True))
    return queued


async def deliver_due(store: Store, s: Settings, endpoints: list[Endpoint], http: httpx.AsyncClient,
                      now: float | None = None) -> int:
    """Post every outbox entry that is due; how many were delivered."""
    now = time.time() if now is None else now
    by_key = {endpoint.key: endpoint for endpoint in endpoints}
    infos = await store.list_objects(outbox_prefix(s))
    gate = asyncio.Semaphore(DELIVERY_CONCURRENCY)

    async def one(name: str) -> bool:
        async with gate:
            found = await store.read_json(name)
            if found is None:
                return False
            entry, generation = found
            if float(entry.get("next_at", 0)) > now:
                return False
            endpoint = by_key.get(str(entry.get("endpoint")))
            if endpoint is None:
                log.warning("dropping webhook %s: its endpoint is no longer configured", name)
                await store.delete(name)
                return False
            if await _post(http, endpoint, name, entry["event"]):
                await store.delete(name)
                return True
            attempts = int(entry.get("attempts", 0)) + 1
            if now - float(entry.get("first_at", now)) > webhooks.GIVE_UP_SECONDS:
                log.error("giving up webhook %s to %s after %d attempts", entry["event"]["id"], endpoint.url,
                          attempts)
                await store.delete(name)
                return False
            entry.update(attempts=attempts, next_at=now + webhooks.next_attempt_in(attempts))
            await store.write_json(name, entry, if_generation=generation)
            return False

    return sum(await asyncio.gather(*(one(info.name) for info in infos)))


async def _post(http: httpx.AsyncClient, endpoint: Endpoint, name: str, event: Mapping[str, Any]) -> bool:
    message_id = name.rsplit("/", 1)[-1].removesuffix(".json")
    payload = webhooks.body(event)
    headers = webhooks.signed_headers(message_id, payload, endpoint.secret, int(time.time()))
    try:
        response = await http.post(endpoint.url, content=payload, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        log.warning("webhook %s to %s not delivered: %s", event.get("id"), endpoint.url, type(exc).__name__)
        return False
    if response.is_success:
        return True
    log.warning("webhook %s to %s answered %d", event.get("id"), endpoint.url, response.status_code)
    return False

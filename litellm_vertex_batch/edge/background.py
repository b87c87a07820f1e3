"""The background worker: batches finish, and are charged, although nobody polls them.

Started by the start-up report once the proxy's configuration is loaded (``background_worker: false`` in
``files_settings``, or ``LITELLM_VERTEX_BATCH_BACKGROUND_WORKER=false``, turns it off). Every ``sweep_seconds``
(default 60) it passes over each bucket prefix the operator configured (``files_settings`` and every served
deployment): at most one replica per prefix at a time, by a lease in the bucket renewed while it holds it and
taken over by another replica when it lapses (the holder died). A pass only starts work and returns: each open
batch is settled in a task of its own (``services/lifecycle.py``), so a 100-minute rewrite never delays the others,
and heavy work runs in the worker processes as for a retrieve. Nothing here runs on a request's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..cloud import leases
from ..cloud.gcs import GcsObjects
from ..cloud.store import Store
from ..cloud.vertex import VertexClient
from ..core import layout
from ..core import settings as settings_mod
from ..core import webhooks as webhook_rules
from ..core.errors import ConfigurationError, UpstreamError, VertexBatchError
from ..services import lifecycle, passthrough
from ..services import webhooks as outbox
from ..services.batches import BatchService
from .call_context import files_settings_entry
from .cost_events import background_batch_logger, log_job_cost
from .deployments import price_overrides, served_deployments

log = logging.getLogger(__name__)
DEFAULT_SWEEP_SECONDS = 60.0
#: Open batches one replica settles at the same time (each mostly waits on storage, Vertex or a worker process).
SETTLE_CONCURRENCY = 8


def worker_on() -> bool:
    return settings_mod.switch(files_settings_entry(), settings_mod.BACKGROUND_WORKER_SETTING,
                               "LITELLM_VERTEX_BATCH_BACKGROUND_WORKER", True)


def sweep_seconds() -> float:
    value = settings_mod.option(files_settings_entry(), settings_mod.SWEEP_SECONDS_SETTING,
                                "LITELLM_VERTEX_BATCH_SWEEP_SECONDS")
    try:
        seconds = DEFAULT_SWEEP_SECONDS if value in (None, "") else float(value)
        if not seconds > 0:
            raise ValueError(value)
    except (TypeError, ValueError):
        log.error("litellm-vertex-batch setting %s must be a number of seconds > 0, got %r; using %s",
                  settings_mod.SWEEP_SECONDS_SETTING, value, DEFAULT_SWEEP_SECONDS)
        return DEFAULT_SWEEP_SECONDS
    return seconds


def webhook_endpoints() -> list[webhook_rules.Endpoint]:
    """The operator's webhook endpoints (``files_settings`` ``webhooks``, or ``LITELLM_VERTEX_BATCH_WEBHOOKS`` as
    JSON); ``os.environ/NAME`` is allowed for a URL or a secret. Refused entries are logged."""
    config = settings_mod.option(files_settings_entry(), settings_mod.WEBHOOKS_SETTING,
                                 "LITELLM_VERTEX_BATCH_WEBHOOKS")
    if isinstance(config, list):
        config = [{k: settings_mod.resolve_env_reference(v, os.environ) for k, v in entry.items()}
                  if isinstance(entry, dict) else entry for entry in config]
    found, refused = webhook_rules.endpoints_from(config)
    for problem in refused:
        log.error("litellm-vertex-batch refuses a webhook endpoint: %s", problem)
    return found


def lease_seconds(interval: float) -> float:
    """How long a sweeping replica's lease lasts unrenewed: two passes and a margin."""
    return 2 * interval + 10


def worker_settings() -> dict[tuple[str, str], list[settings_mod.Settings]]:
    """Every configured place batches live, grouped by bucket prefix (one lease and one index each)."""
    fs = files_settings_entry()
    found: list[settings_mod.Settings] = []
    for params in [{}, *(d.params for d in served_deployments())]:
        try:
            found.append(settings_mod.resolve(params, fs, os.environ))
        except ConfigurationError:
            continue
    groups: dict[tuple[str, str], list[settings_mod.Settings]] = {}
    for s in found:
        group = groups.setdefault((s.bucket, s.prefix), [])
        if all((o.project, o.location, o.vertex_api_base) != (s.project, s.location, s.vertex_api_base)
               for o in group):
            group.append(s)
    return groups


@dataclass
class BackgroundWorker:
    interval: float
    endpoints: list[webhook_rules.Endpoint] = field(default_factory=list)
    holders: dict[tuple[str, str], str] = field(default_factory=dict)
    settling: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    gate: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(SETTLE_CONCURRENCY))
    _http: httpx.AsyncClient | None = None

    def http(self) -> httpx.AsyncClient:
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient()
        return self._http

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the worker reports and goes on; it never stops the proxy
                log.exception("litellm-vertex-batch background pass failed; the next one tries again")
            await asyncio.sleep(self.interval)

    async def tick(self) -> None:
        for key, group in worker_settings().items():
            store = Store(GcsObjects(group[0]))
            holder = await self._hold(store, key, group[0])
            if holder is None:
                continue
            try:
                async with leases.holding(store, layout.sweeper_lease(group[0]), holder, lease_seconds(self.interval)):
                    await self._pass(store, group)
            except VertexBatchError as exc:
                log.warning("background pass over gs://%s/%s stopped early: %s", key[0], key[1], exc.message)

    async def _hold(self, store: Store, key: tuple[str, str], s: settings_mod.Settings) -> str | None:
        """This replica's hold on the prefix's sweeper lease: renewed if held, else claimed if free or lapsed."""
        name = layout.sweeper_lease(s)
        holder = self.holders.pop(key, None)
        try:
            if holder is None or not await leases.renew(store, name, holder):
                holder = await leases.claim(store, name, lease_seconds(self.interval),
                                            {"host": socket.gethostname(), "pid": os.getpid()})
        except VertexBatchError as exc:
            log.warning("could not take the sweeper lease of gs://%s/%s: %s", key[0], key[1], exc.message)
            return None
        if holder is not None:
            self.holders[key] = holder
        return holder

    async def _pass(self, store: Store, group: list[settings_mod.Settings]) -> None:
        first = group[0]
        await lifecycle.backfill_index(store, first)
        for entry, token in await lifecycle.open_batch_tokens(store, first):
            if token not in self.settling:
                self._start(self._settle(store, group, entry, token), token)
        native_open = await lifecycle.settle_native_jobs(store, first, lambda name: self._settle_native(store, group,
                                                                                                         name))
        if self.endpoints:
            await outbox.deliver_due(store, first, self.endpoints, self.http())
        report = lifecycle.PassReport()
        await lifecycle.sweep_leftovers(store, first, self._vertex(first), report)
        log.debug("pass over %s: %d Vertex-native jobs still running, duplicate jobs cancelled %s, deleted %s",
                  first.prefix, native_open, report.twins_cancelled, report.twins_deleted)

    def _start(self, work: Any, token: str) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.settling[token] = task
        task.add_done_callback(lambda _t: self.settling.pop(token, None))

    def _vertex(self, s: settings_mod.Settings) -> VertexClient:
        return VertexClient(s, self.http())

    async def _settle(self, store: Store, group: list[settings_mod.Settings], entry: str, token: str) -> None:
        def batches_for(project: str, location: str) -> BatchService | None:
            s = next((s for s in group if (s.project, s.location) == (project, location)), None)
            return None if s is None else BatchService(store, s, self._vertex(s))

        async with self.gate:
            try:
                # waits for the whole rewrite; its lease is renewed meanwhile (leases.holding)
                await lifecycle.settle_batch(store, group[0], batches_for, entry, token, background_batch_logger,
                                             wait_seconds=group[0].finalize_lease_seconds * 4,
                                             on_final=lambda record, batch: self._announce(store, group[0], record,
                                                                                           batch))
            except VertexBatchError as exc:
                log.warning("could not settle batch %s yet (%s): %s", token, exc.status_code, exc.message)

    async def _announce(self, store: Store, s: settings_mod.Settings, record: Any, batch: Any) -> None:
        """Queue the batch's webhooks, then send what is due at once (not only at the next pass)."""
        if self.endpoints and await outbox.enqueue(store, s, self.endpoints, record.get("owner") or {}, batch):
            await outbox.deliver_due(store, s, self.endpoints, self.http())

    async def _settle_native(self, store: Store, group: list[settings_mod.Settings], name: str) -> bool:
        match = passthrough.JOB_NAME.match(name)
        if match is None:
            return True
        project, location = match.group(1), match.group(2)
        s = next((s for s in group if location == s.location and project in (s.project, s.project_number)), None)
        if s is None:
            return False
        try:
            job = await self._vertex(s).get_job(name)
        except UpstreamError as exc:
            if exc.status_code == 404:
                return True  # deleted at Google: a gateway delete charged it first
            raise
        await passthrough.observe(store, s, job, {}, lambda bucket: GcsObjects(s, bucket), log_job_cost,
                                  price_overrides)
        charged = passthrough.charge_record_name(s, name)
        return charged is None or await store.info(charged) is not None


_worker: list[asyncio.Task[Any]] = []


def start() -> str:
    """Start the worker on the running loop (once); what the start-up line says about it."""
    if not worker_on():
        return "background worker off (batches are finalized and charged when retrieved)"
    interval = sweep_seconds()
    endpoints = webhook_endpoints()
    if not _worker:
        _worker.append(asyncio.get_running_loop().create_task(BackgroundWorker(interval, endpoints).run()))
    hooks = f"webhooks to {len(endpoints)} endpoint(s)" if endpoints else "no webhooks"
    return f"background worker every {interval:g} s (one replica per bucket prefix at a time; {hooks})"


async def stop() -> None:
    for task in _worker:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    _worker.clear()

"""Vertex-native ``batchPredictionJobs`` through the gateway: Google's bodies, the operator's rules.

The edge has authenticated the key and chosen the deployment (project, location, credentials). Here: the job's
storage must be somewhere this caller may name, its input must pass Vertex's importer rules, it is labelled
with its owner (``core/native.py``) and created once (a retry adopts the job a lost answer made), and every
read of a finished job has it priced and logged once, to its creator (``services/passthrough.py``'s claim).
Bodies and statuses are Google's; what a caller may not see answers Google's own 404.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cloud.objects import Objects
from ..cloud.store import Store
from ..cloud.vertex import VertexClient
from ..core import ids, native, states
from ..core.access import Caller
from ..core.errors import Forbidden, InvalidRequest, NotFound, VertexBatchError
from ..core.settings import Settings
from . import passthrough
from .native_preflight import input_problems

log = logging.getLogger(__name__)
#: Label that makes a create idempotent across its own retries (a lost answer never makes two jobs).
CREATE_LABEL = "litellm_native_job"
#: Finished jobs of one list page priced at the same time.
CHARGE_CONCURRENCY = 4


def job_not_found(name: str) -> NotFound:
    """Google's answer for a job that does not exist, also for one this caller may not see."""
    error = NotFound(f'The BatchPredictionJob does not exist: "{name}"')
    error.reason = "NOT_FOUND"
    return error


@dataclass
class NativeRules:
    """What the operator allows this caller (from configuration only)."""

    storage: list[str] = field(default_factory=list)
    team_access: bool = True
    preflight: bool = True


class NativeJobService:
    def __init__(self, store: Store, settings: Settings, vertex: VertexClient, caller: Caller,
                 creator: Mapping[str, Any], rules: NativeRules, objects_for: Callable[[str], Objects],
                 log_cost: passthrough.JobCostLogger,
                 overrides_for: Callable[[str], Mapping[str, Any]] | None = None) -> None:
        self.store, self.s, self.vertex, self.caller = store, settings, vertex, caller
        self.creator, self.rules, self.objects_for, self.log_cost = creator, rules, objects_for, log_cost
        self.overrides_for = overrides_for

    async def create(self, body: Mapping[str, Any], model: str) -> dict[str, Any]:
        problem = native.labels_problem(body.get("labels"))
        uris, output_prefix, storage_shape = native.job_storage(body)
        if problem or storage_shape:
            raise _invalid(problem or storage_shape or "")
        forbidden = [f"gs://{self.s.bucket}/{self.s.prefix}"]
        for uri in [*uris, output_prefix]:
            refused = native.storage_problem(uri, self.rules.storage, forbidden)
            if refused:
                error = Forbidden(f"Permission denied: {refused} (the gateway's operator sets which Cloud Storage "
                                  "locations each key may use)")
                error.reason = "PERMISSION_DENIED"
                raise error
        if self.rules.preflight:
            found = await self.store.run_blocking(input_problems, self.objects_for, [str(u) for u in uris])
            if found:
                raise _invalid("The batch input would fail Vertex's import:\n" + "\n".join(found))
        token = ids.new_token()
        labels = {**dict(body.get("labels") or {}), **native.owner_labels(self.caller), CREATE_LABEL: token}
        named = str(body.get("model") or "")
        parts = native.model_parts(named)
        as_written = named.startswith(("projects/", "publishers/")) and parts is not None and parts[2] == model
        job = {**body, "labels": labels,  # the caller's model as written when it is Google's resource form for it
               "model": named if as_written else f"publishers/google/models/{model}"}
        created = await self.vertex.create_job(job, token, label=CREATE_LABEL)
        await self._observe(created)
        return created

    async def get(self, name: str) -> dict[str, Any]:
        job = await self._visible_job(name)
        await self._observe(job)
        return job

    async def list(self, params: Mapping[str, Any]) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if k in ("pageSize", "pageToken", "filter", "readMask") and v}
        own = native.visibility_filter(self.caller, self.rules.team_access)
        combined = native.combined_filter(query.get("filter"), own)
        if combined:
            query["filter"] = combined
        page = await self.vertex.list_jobs(query)
        finished = [job for job in page.get("batchPredictionJobs") or []
                    if isinstance(job, dict) and job.get("state") in states.TERMINAL_STATES]
        gate = asyncio.Semaphore(CHARGE_CONCURRENCY)

        async def charge(job: dict[str, Any]) -> None:
            async with gate:
                await self._observe(job)

        await asyncio.gather(*(charge(job) for job in finished))
        return page

    async def cancel(self, name: str) -> dict[str, Any]:
        await self._visible_job(name)
        await self.vertex.cancel_job(name)
        return {}

    async def delete(self, name: str) -> dict[str, Any]:
        job = await self._visible_job(name)
        await self._observe(job)  # a finished job is charged before its record at Google goes
        return await self.vertex.delete_job(name)

    async def _visible_job(self, name: str) -> dict[str, Any]:
        try:
            job = await self.vertex.get_job(name)
        except VertexBatchError as exc:
            if exc.status_code == 404:
                raise job_not_found(name) from None
            raise
        if not native.may_see(job, self.caller, self.rules.team_access):
            raise job_not_found(name)
        return job

    async def _observe(self, job: Mapping[str, Any]) -> None:
        """Remember the creator of a new job, or charge a finished one once; a failure to price is logged, and
        retried by the next read, never the caller's error."""
        if not isinstance(job.get("name"), str) or not passthrough.JOB_NAME.match(job["name"]):
            return
        try:
            await passthrough.observe(self.store, self.s, job, self.creator, self.objects_for, self.log_cost,
                                      self.overrides_for)
        except VertexBatchError as exc:
            log.error("could not price Vertex-native job %s yet: %s", job.get("name"), exc.message)


def _invalid(message: str) -> InvalidRequest:
    error = InvalidRequest(message)
    error.reason = "INVALID_ARGUMENT"
    return error

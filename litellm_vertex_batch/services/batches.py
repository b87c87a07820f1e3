"""The OpenAI Batches API on Vertex batch prediction jobs.

State lives in the bucket (batch record, result record, claims) and in Vertex (the job), so
any replica can serve any batch. A finished job's output is rewritten once: the replica that creates
the claim object (a precondition-guarded write) does it; others report ``finalizing`` meanwhile. A
claim older than ``FINALIZE_LEASE_SECONDS`` is taken over (the claimant died).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..cloud import leases
from ..cloud.store import Store
from ..cloud.vertex import BATCH_LABEL, VertexClient
from ..core import ids, layout, records, states
from ..core.access import Caller, may_access
from ..core.errors import (
    InvalidRequest,
    NotFound,
    TransientError,
    UpstreamError,
    VertexBatchError,
    no_such_batch,
    no_such_file,
)
from ..core.settings import Settings
from . import charges
from .charges import CostLogger
from .expiring import index_expiry
from .finalize import finalize

log = logging.getLogger(__name__)
#: Batches of up to this many requests are rewritten in a thread of the proxy (milliseconds), larger ones in a
#: worker process.
IN_PROXY_MAX_ROWS = 200
#: A batch whose Vertex job still cannot be found this long after creation was never submitted.
UNSUBMITTED_AFTER_SECONDS = 600
#: How long a retrieve waits for a finalization it started before answering ``finalizing``.
INLINE_FINALIZE_SECONDS = 20.0
_running: dict[str, asyncio.Task[Any]] = {}
#: Makes the edge's cost logger for a finished batch: (batch record, result record, batch object) -> logger.
LoggerFor = Callable[[Mapping[str, Any], Mapping[str, Any], dict[str, Any]], CostLogger]


class BatchService:
    """Batches as ``caller`` sees them: another tenant's batch does not exist (404)."""

    def __init__(self, store: Store, settings: Settings, vertex: VertexClient, caller: Caller | None = None) -> None:
        self.store = store
        self.vertex = vertex
        self.s = settings
        self.caller = caller or Caller(is_admin=True)

    def visible(self, owner: Mapping[str, Any]) -> bool:
        return may_access(owner, self.caller, self.s.team_access)

    async def create(self, input_file_id: str, endpoint: str, completion_window: str,
                     metadata: Mapping[str, str] | None, model: str | None,
                     creator: Mapping[str, Any] | None = None,
                     price_overrides: Callable[[str], Mapping[str, Any]] | None = None,
                     output_expires_after: int | None = None) -> dict[str, Any]:
        input_token = ids.parse_file_id(input_file_id)
        info = None if input_token is None else await self.store.info(layout.file_object(self.s, input_token))
        if input_token is None or info is None or not self.visible(info.metadata):
            raise no_such_file(input_file_id)
        if info.metadata.get("purpose") != "batch":
            raise InvalidRequest(f"input_file_id {input_file_id!r} has purpose {info.metadata.get('purpose')!r}; a "
                                 "batch runs a file uploaded with purpose 'batch'")
        file_endpoint = info.metadata.get("endpoint")
        if endpoint != file_endpoint:
            raise InvalidRequest(f"endpoint {endpoint!r} does not match the input file's requests, which use "
                                 f"{file_endpoint!r}")
        model = info.metadata.get("model") or model
        if not model:
            raise InvalidRequest("the input file names no model")
        token = ids.new_token()
        record: dict[str, Any] = {
            "token": token, "id": ids.batch_id(token), "input_file_id": input_file_id, "input_token": input_token,
            "endpoint": endpoint, "completion_window": completion_window, "metadata": dict(metadata or {}) or None,
            "model": model, "deployment": info.metadata.get("deployment") or None,
            "created_at": int(time.time()), "total": int(info.metadata.get("lines") or 0),
            "project": self.s.project, "location": self.s.location, "job_name": None,
            "creator": dict(creator or {}), "owner": self.caller.owner_fields(), "cancelling_at": None,
            "price_overrides": dict(price_overrides(model)) if price_overrides else {},
            "output_expires_after": output_expires_after,
        }
        # indexed before the record exists: the worker drops an entry whose record never came
        await self.store.write_json(layout.open_batch(self.s, token), {"id": record["id"],
                                                                       "created_at": record["created_at"]})
        await self._save(record, only_if_absent=True)
        job_input = layout.batch_input(self.s, token)
        try:
            await self.store.copy(layout.vertex_input(self.s, input_token), job_input)
        except BaseException:
            await self._discard_batch(token)
            raise
        job_spec = {
            "displayName": f"litellm-{record['id']}",
            "model": f"publishers/google/models/{model}",
            "inputConfig": {"instancesFormat": "jsonl",
                            "gcsSource": {"uris": [self.store.uri(job_input)]}},
            "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {
                "outputUriPrefix": self.store.uri(layout.vertex_output_prefix(self.s, token).rstrip("/"))}},
            "labels": {BATCH_LABEL: token},
        }
        if info.metadata.get("model_parameters"):  # a text-embedding batch's output size, set at upload
            job_spec["modelParameters"] = json.loads(info.metadata["model_parameters"])
        try:
            job = await self.vertex.create_job(job_spec, token)
        except TransientError as exc:
            if not exc.ambiguous:
                await self._discard_batch(token)
                raise
            # Vertex may yet carry out the create: keep the batch (listed as failed unless its job shows up)
            record["create_error"] = {"code": exc.status_code, "message": exc.message}
            record["failed_at"] = int(time.time())
            await self._save(record)
            raise
        except UpstreamError:
            await self._discard_batch(token)  # refused by Google: no batch is left behind
            raise
        record["job_name"] = job["name"]
        await self._save(record)
        return states.batch_object(record, job, None)

    async def _save(self, record: Mapping[str, Any], only_if_absent: bool = False) -> bool:
        """Write the batch record (its owner also as object metadata, so lists filter without reading it)."""
        return await self.store.write_json(layout.batch_record(self.s, record["token"]), records.dump(record),
                                           dict(record.get("owner") or {}), only_if_absent=only_if_absent)

    async def _discard_batch(self, token: str) -> None:
        """A batch whose job was never made leaves nothing: its record, its copy of the rows, its index entry."""
        for name in (layout.batch_record(self.s, token), layout.batch_input(self.s, token),
                     layout.open_batch(self.s, token)):
            await self.store.delete(name)

    async def _record(self, batch_id: str) -> dict[str, Any]:
        token = ids.parse_batch_id(batch_id)
        found = None if token is None else await self.store.read_json(layout.batch_record(self.s, token))
        if found is None:
            raise no_such_batch(batch_id)
        record: dict[str, Any] = dict(records.load_batch(found[0]))
        if (record.get("project") != self.s.project or record.get("location") != self.s.location
                or not self.visible(record.get("owner") or {})):
            raise no_such_batch(batch_id)
        return record

    async def _job(self, record: dict[str, Any]) -> dict[str, Any] | None:
        if record.get("job_lost"):
            return states.lost_job(record)
        if record.get("job_name"):
            try:
                return await self.vertex.get_job(record["job_name"])
            except UpstreamError as exc:
                if exc.status_code != 404:
                    raise
                gone = exc.message
            # deleted at Google (allowed once a job ended): the batch fails with what ran, never answers 404
            log.warning("batch %s: its Vertex job %s no longer exists (%s)", record["id"], record["job_name"], gone)
            record["job_lost"] = {"at": int(time.time()), "message": gone}
            await self._save(record)
            return states.lost_job(record)
        job = await self.vertex.find_job_by_label(record["token"])  # the creating replica died mid-create
        if job is not None:
            record["job_name"] = job["name"]
            await self._save(record)
        return job

    async def retrieve_and_charge(self, batch_id: str, logger_for: LoggerFor,
                                  wait_seconds: float = INLINE_FINALIZE_SECONDS) -> tuple[dict[str, Any], bool | None]:
        """The batch object, and once it is finished its cost logged once (``logger_for(record, result, batch)``
        makes the edge's logger): True when this call logged it, False when it was logged before (or is being
        logged elsewhere), None while the batch is not finished."""
        batch, record, result = await self.retrieve_with_result(batch_id, wait_seconds=wait_seconds)
        if result is None:
            return batch, None
        token = record["token"]
        charged = await charges.once(self.store, layout.charge_record(self.s, token), layout.charge_lock(self.s, token),
                                     ids.charge_id("batch", batch_id), logger_for(record, result, batch),
                                     self.s.charge_lease_seconds)
        return batch, charged

    async def settle(self, batch_id: str, logger_for: LoggerFor, wait_seconds: float) -> dict[str, Any] | None:
        """What the background worker does for an open batch: finalize it if its job ended and log its cost once.
        The final batch object once nothing is left to do for it (finished, rewritten and charged; ``{}`` when it
        is gone), else None."""
        try:
            batch, _ = await self.retrieve_and_charge(batch_id, logger_for, wait_seconds)
        except NotFound:
            return {}  # its record is gone: nothing to finalize
        token = ids.parse_batch_id(batch_id)
        assert token is not None
        return batch if await self.store.info(layout.charge_record(self.s, token)) is not None else None

    async def retrieve(self, batch_id: str, finalize_now: bool = True) -> dict[str, Any]:
        return (await self.retrieve_with_result(batch_id, finalize_now))[0]

    async def retrieve_with_result(self, batch_id: str, finalize_now: bool = True,
                                   wait_seconds: float = INLINE_FINALIZE_SECONDS
                                   ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
        """(batch object, batch record, result record or None while the job runs or is finalizing); a
        finalization this call starts is waited for up to ``wait_seconds`` (it goes on after that)."""
        record = await self._record(batch_id)
        stored = await self._result(record["token"]) if record.get("job_name") else None
        if stored is not None:  # finished and rewritten: nothing to ask Vertex (whose job may be deleted by now)
            job = stored.get("job") or {"name": record["job_name"], "state": stored.get("vertex_state")}
            return states.batch_object(record, job, stored), record, stored
        job = await self._job(record)
        if job is None and not record.get("create_error") and \
                time.time() - int(record["created_at"]) > UNSUBMITTED_AFTER_SECONDS:
            record["create_error"] = {"code": "not_submitted", "message": (
                "The batch was never submitted to Vertex AI (the proxy creating it stopped before the job existed).")}
        if job is None or job.get("state") not in states.TERMINAL_STATES:
            return states.batch_object(record, job, None), record, None
        result = await self._result(record["token"])
        if result is None and finalize_now:
            result = await self._finalize(record, job, wait_seconds)
        finalizing_since = None if result else int(time.time())
        return states.batch_object(record, job, result, finalizing_since), record, result

    async def _result(self, token: str) -> dict[str, Any] | None:
        found = await self.store.read_json(layout.batch_result(self.s, token))
        return None if found is None else dict(records.load_result(found[0]))

    async def _finalize(self, record: dict[str, Any], job: dict[str, Any],
                        wait_seconds: float = INLINE_FINALIZE_SECONDS) -> dict[str, Any] | None:
        token = record["token"]
        task = _running.get(token)
        if task is None:
            lock = layout.finalize_lock(self.s, token)
            holder = await leases.claim(self.store, lock, self.s.finalize_lease_seconds)
            if holder is None:
                return None
            task = asyncio.create_task(self._finalize_claimed(record, job, holder))
            _running[token] = task
            task.add_done_callback(lambda _t: _running.pop(token, None))
        try:
            return await asyncio.wait_for(asyncio.shield(task), wait_seconds)
        except TimeoutError:
            return None

    async def _finalize_claimed(self, record: dict[str, Any], job: dict[str, Any], holder: str) -> dict[str, Any]:
        token = record["token"]
        lock = layout.finalize_lock(self.s, token)
        try:
            async with leases.holding(self.store, lock, holder, self.s.finalize_lease_seconds):
                result = await self.store.run_heavy(finalize, self.s, record, job, int(time.time()),
                                                    small=int(record.get("total") or 0) <= IN_PROXY_MAX_ROWS)
                await index_expiry(self.store, self.s, token, result)  # before the result: nothing outlives it
        except BaseException:
            await leases.release(self.store, lock, holder)  # the next retrieve retries, as soon as storage allows
            raise
        stored = await self.store.write_json(layout.batch_result(self.s, token), records.dump(result),
                                             only_if_absent=True)
        await leases.release(self.store, lock, holder)  # the result answers every later retrieve: claim done with
        if not stored:  # another replica finished first (or our own write's answer was lost): keep the stored one
            winner = await self._result(token)
            assert winner is not None
            kept = {winner.get("output_file_id"), winner.get("error_file_id")}
            for file_id in (result["output_file_id"], result["error_file_id"]):
                file_token = ids.parse_file_id(file_id)
                if file_token and file_id not in kept:
                    await self.store.delete(layout.file_object(self.s, file_token))
            return winner
        return result

    async def list(self, after: str | None, limit: int) -> list[dict[str, Any]]:
        from .batch_list import list_batches

        return await list_batches(self, after, limit)

    async def record_only(self, batch_id: str) -> dict[str, Any] | None:
        """The batch as its record alone tells it (not final, so clients poll again), or None if it is gone."""
        try:
            record = await self._record(batch_id)
        except VertexBatchError:
            return None
        obj = states.batch_object(record, None, None)
        if record.get("job_name"):
            obj["status"] = "in_progress"
        return obj

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        record = await self._record(batch_id)
        job = await self._job(record)
        if job is not None and job.get("state") in states.TERMINAL_STATES:
            status = states.openai_status(job.get("state"))
            raise InvalidRequest(f"Cannot cancel a batch with status '{status}'.", 409)
        if job is not None:
            await self.vertex.cancel_job(job["name"])
        if record.get("cancelling_at") is None:
            record["cancelling_at"] = int(time.time())
            await self._save(record)
        obj = await self.retrieve(batch_id, finalize_now=False)
        if obj["status"] in ("validating", "in_progress", "finalizing"):
            obj["status"] = "cancelling"  # until the rows that never ran are written to the error file
        return obj

"""Pricing Vertex batch jobs made through the proxy's own Vertex pass-through route.

LiteLLM logs pass-through ``batchPredictionJobs`` calls at $0 and prices them later only with the enterprise
managed-files hook and a database. The plugin's callback sees every pass-through event: this service
remembers who created a job (from the create response), and when a job read through the pass-through is
finished it prices the job's predictions with ``core/pricing.py`` and has the edge log the cost once,
attributed to the creator. Claims live in the plugin's bucket, as for batches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .. import adapters
from ..cloud.objects import Objects, read_lines
from ..cloud.store import Store
from ..cloud.vertex import BATCH_LABEL
from ..core import ids, layout, states
from ..core.input_lines import bare_model
from ..core.pricing import CostTally, price_info
from ..core.settings import Settings
from .charges import once

JOB_NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/batchPredictionJobs/(\d+)$")
#: Logs a priced job (job, priced result, creator, charge id) through LiteLLM; returns the cost logged.
JobCostLogger = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any], str], Awaitable[float]]


def _key(job: Mapping[str, Any]) -> str:
    project, location, job_id = JOB_NAME.match(job["name"]).groups()  # type: ignore[union-attr]
    return f"{project}--{location}--{job_id}"


def _names(s: Settings, key: str) -> tuple[str, str, str]:
    return (f"{s.prefix}passthrough/{key}.creator.json", f"{s.prefix}passthrough/{key}.charged.json",
            f"{s.prefix}locks/passthrough-{key}.charge")


async def observe(store: Store, settings: Settings, job: Mapping[str, Any], caller: Mapping[str, Any],
                  objects_for: Callable[[str], Objects], log_cost: JobCostLogger,
                  overrides_for: Callable[[str], Mapping[str, Any]] | None = None) -> bool:
    """Record the creator of a new job, or charge a finished one once; True when this call charged it.

    ``objects_for(bucket)`` opens the bucket the job wrote its predictions to; ``overrides_for(model)`` gives the
    operator's prices for the job's model (as for OpenAI-style batches)."""
    if BATCH_LABEL in (job.get("labels") or {}):
        return False  # a job of an OpenAI-style batch: charged once as that batch, never also as a native job
    key = _key(job)
    creator_name, charged_name, lock_name = _names(settings, key)
    if job.get("state") not in states.TERMINAL_STATES:
        if await store.write_json(creator_name, dict(caller), only_if_absent=True):
            # the background worker charges it when it ends, whether or not anyone reads it again
            await store.write_json(layout.open_native(settings, key), {"name": job["name"]})
        return False

    async def log(charge_id: str) -> float:
        found = await store.read_json(creator_name)
        creator = found[0] if found else caller
        model = bare_model(str(job.get("model") or ""))
        overrides = overrides_for(model) if overrides_for else None
        tally = await store.run_blocking(price_output, objects_for, job, overrides)
        return await log_cost(job, tally.as_result(), creator, charge_id)

    return await once(store, charged_name, lock_name, ids.charge_id("job", str(job["name"])), log,
                      settings.charge_lease_seconds)


def charge_record_name(settings: Settings, job_name: str) -> str | None:
    """The charge record's object name of a native job (None when the name is not a job's)."""
    if not JOB_NAME.match(job_name):
        return None
    return _names(settings, _key({"name": job_name}))[1]


def price_output(objects_for: Callable[[str], Objects], job: Mapping[str, Any],
                 overrides: Mapping[str, Any] | None = None) -> CostTally:
    """Price every prediction row the job wrote (streamed; no row is kept). Blocking: run it in a worker."""
    model = bare_model(str(job.get("model") or ""))
    row_tokens = adapters.native_row_tokens(model)
    tally = CostTally(price_info(model, overrides))
    directory = str((job.get("outputInfo") or {}).get("gcsOutputDirectory") or "")
    if not directory.startswith("gs://"):
        return tally
    bucket_name, _, prefix = directory[len("gs://"):].partition("/")
    output = objects_for(bucket_name)
    for info in output.list(prefix.rstrip("/") + "/"):
        if info.name.endswith(".jsonl"):
            with output.open_read(info.name) as handle:
                for raw in read_lines(handle):
                    if raw.strip():
                        row = json.loads(raw)
                        if isinstance(row, dict):
                            tally.add(row_tokens(row))
    return tally

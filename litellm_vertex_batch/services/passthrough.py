"""Pricing Vertex batch jobs made through the proxy's own Vertex pass-through route.

LiteLLM logs pass-through ``batchPredictionJobs`` calls at $0 and prices them later only with the
enterprise managed-files hook and a database. This plugin's callback sees every pass-through event: it
remembers who created a job (from the create response), and when a job read through the pass-through
is finished it prices the job's predictions with ``pricing.py`` and logs the cost once, through a LiteLLM
logging object of its own, attributed to the creator. Claims live in the plugin's bucket, as for batches.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from .. import adapters
from ..cloud.gcs import Bucket
from ..core import states
from ..core.input_lines import bare_model
from ..core.pricing import CostTally, price_info
from ..core.settings import Settings
from .charges import CREATOR_KEYS, creator_metadata, log_batch_cost, once

_JOB_NAME = re.compile(r"^projects/([^/]+)/locations/([^/]+)/batchPredictionJobs/(\d+)$")


def job_from_event(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Vertex job resource a pass-through logging event carries, if it is one."""
    payload = kwargs.get("passthrough_logging_payload") or {}
    body = payload.get("response_body") if isinstance(payload, Mapping) else None
    url = str(payload.get("url") or "") if isinstance(payload, Mapping) else ""
    if "batchPredictionJobs" not in url or not isinstance(body, dict):
        return None
    return body if isinstance(body.get("name"), str) and _JOB_NAME.match(body["name"]) else None


def _key(job: Mapping[str, Any]) -> str:
    project, location, job_id = _JOB_NAME.match(job["name"]).groups()  # type: ignore[union-attr]
    return f"{project}--{location}--{job_id}"


def _names(s: Settings, key: str) -> tuple[str, str, str]:
    return (f"{s.prefix}passthrough/{key}.creator.json", f"{s.prefix}passthrough/{key}.charged.json",
            f"{s.prefix}locks/passthrough-{key}.charge")


def _caller(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    params = kwargs.get("litellm_params") or {}
    return creator_metadata({"litellm_metadata": params.get("metadata"), "metadata": params.get("litellm_metadata")})


async def observe(settings: Settings, job: Mapping[str, Any], kwargs: Mapping[str, Any]) -> bool:
    """Record the creator of a new job, or charge a finished one once; True when this call charged it."""
    bucket = Bucket(settings)
    creator_name, charged_name, lock_name = _names(settings, _key(job))
    if job.get("state") not in states.TERMINAL_STATES:
        caller = _caller(kwargs)
        await asyncio.to_thread(lambda: bucket.write_json(creator_name, caller, only_if_absent=True))
        return False

    async def log() -> float:
        found = await asyncio.to_thread(bucket.read_json, creator_name)
        creator = found[0] if found else _caller(kwargs)
        tally = await asyncio.to_thread(price_output, settings, job)
        return await _log(job, tally.as_result(), creator)

    return await once(bucket, charged_name, lock_name, log)


def price_output(settings: Settings, job: Mapping[str, Any]) -> CostTally:
    """Price every prediction row the job wrote (streamed; no row is kept)."""
    import json

    model = bare_model(str(job.get("model") or ""))
    endpoint = adapters.for_vertex_model(model)
    tally = CostTally(price_info(model))
    directory = str((job.get("outputInfo") or {}).get("gcsOutputDirectory") or "")
    if not directory.startswith("gs://"):
        return tally
    bucket_name, _, prefix = directory[len("gs://"):].partition("/")
    output = Bucket(dataclasses.replace(settings, bucket=bucket_name))
    for info in output.list(prefix.rstrip("/") + "/"):
        if info.name.endswith(".jsonl"):
            with output.open_read(info.name) as handle:
                for raw in handle:
                    if raw.strip():
                        row = json.loads(raw)
                        if isinstance(row, dict):
                            response = row.get("response")
                            ok = not row.get("status") and isinstance(response, dict)
                            tally.add(endpoint.row_tokens(response) if ok else None)
    return tally


def _batch(job: Mapping[str, Any], priced: Mapping[str, Any], endpoint: str) -> Any:
    from litellm.types.utils import LiteLLMBatch

    created = states.rfc3339_to_unix(job.get("createTime")) or int(time.time())
    status = states.openai_status(job.get("state"))
    return LiteLLMBatch(
        id=str(job["name"]).rsplit("/", 1)[-1], object="batch", endpoint=endpoint,
        input_file_id=",".join((job.get("inputConfig") or {}).get("gcsSource", {}).get("uris", [])) or "unknown",
        completion_window="24h", status=status, created_at=created,
        output_file_id=(job.get("outputInfo") or {}).get("gcsOutputDirectory") or "none",
        request_counts=priced["request_counts"], usage=priced["usage"],
        metadata={states.COST_METADATA_KEY: states.format_cost(priced["cost"])})


async def _log(job: Mapping[str, Any], priced: Mapping[str, Any], creator: Mapping[str, Any]) -> float:
    """Log through a LiteLLM logging object of the plugin's own, attributed to the job's creator."""
    from litellm.litellm_core_utils.litellm_logging import Logging

    model = bare_model(str(job.get("model") or ""))
    call_id = str(uuid.uuid4())
    logging_obj = Logging(model=model, messages=[], stream=False, call_type="aretrieve_batch",
                          start_time=time.time(), litellm_call_id=call_id, function_id="vertex-batch-passthrough")
    metadata = {k: v for k, v in creator.items() if k in CREATOR_KEYS}
    logging_obj.update_environment_variables(
        litellm_params={"metadata": dict(metadata), "litellm_metadata": dict(metadata), "litellm_call_id": call_id,
                        "proxy_server_request": {}, "model_info": {}, "preset_cache_key": None,
                        "stream_response": {}},
        optional_params={}, model=model, custom_llm_provider="vertex_ai")
    return await log_batch_cost(logging_obj, _batch(job, priced, adapters.for_vertex_model(model).url), model, priced)

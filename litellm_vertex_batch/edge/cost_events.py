"""Batch costs handed to LiteLLM's logging pipeline, the way LiteLLM's own batch-cost job does it.

A retrieve's logging object, re-pointed at the batch's creator (key/team/user/tags), gets
``async_success_handler(result=batch, batch_cost=..., batch_usage=..., batch_models=...)``, so every callback
and the proxy's spend writer (its ``<batch id>_batch_cost`` row deduplicates in the database) see one event.
Pass-through jobs, which have no retrieve of their own, get a logging object of the plugin's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from .. import adapters
from ..core import states
from ..core.input_lines import bare_model
from ..services.charges import CostLogger
from .call_context import CREATOR_KEYS


async def log_batch_cost(logging_obj: Any, batch: Any, model: str, priced: Mapping[str, Any]) -> float:
    """Hand a batch's cost to LiteLLM's logging as its own batch-cost job does; ``priced`` is a result record
    (cost, prompt_cost, completion_cost, batch usage, request_counts)."""
    counts = priced["request_counts"]
    await logging_obj.async_success_handler(
        result=batch.model_copy(deep=True),  # LiteLLM swaps in chat-style usage; the caller keeps the batch's
        batch_cost=float(priced.get("cost", 0.0)), batch_usage=_usage(priced), batch_models=[model],
        batch_prompt_cost=float(priced.get("prompt_cost", 0.0)),
        batch_completion_cost=float(priced.get("completion_cost", 0.0)),
        batch_successful_requests=counts.get("completed"), batch_failed_requests=counts.get("failed"))
    return float(priced.get("cost", 0.0))


def batch_cost_logger(logging_obj: Any, record: Mapping[str, Any], result: Mapping[str, Any],
                      batch: Any) -> CostLogger:
    """Logs the batch's cost through the retrieve's ``logging_obj``, attributed to its creator, under the charge's
    own call id."""
    async def log(charge_id: str) -> float:
        _use_call_id(logging_obj, charge_id)
        _attribute_to_creator(logging_obj, record)
        return await log_batch_cost(logging_obj, batch, record.get("model") or "", result)

    return log


def _use_call_id(logging_obj: Any, call_id: str) -> None:
    """Make ``call_id`` the logging call's id everywhere LiteLLM reads it (the standard logging payload, callbacks)."""
    logging_obj.litellm_call_id = call_id
    if isinstance(getattr(logging_obj, "litellm_params", None), dict):
        logging_obj.litellm_params["litellm_call_id"] = call_id
    details = getattr(logging_obj, "model_call_details", None)
    if isinstance(details, dict):
        details["litellm_call_id"] = call_id


def _attribute_to_creator(logging_obj: Any, record: Mapping[str, Any]) -> None:
    """Point the logging object's metadata at the batch's creator instead of whoever retrieved it."""
    creator = dict(record.get("creator") or {})
    if record.get("metadata"):
        creator.setdefault("requester_metadata", record["metadata"])
    for bag_name in ("metadata", "litellm_metadata"):
        bag = logging_obj.litellm_params.get(bag_name)
        if isinstance(bag, dict):
            for key in CREATOR_KEYS:
                bag.pop(key, None)
            bag.update(creator)
    details = getattr(logging_obj, "model_call_details", None)
    if isinstance(details, dict):
        details["litellm_params"] = logging_obj.litellm_params
        details["model"] = record.get("model")
    logging_obj.model = record.get("model") or logging_obj.model


def _batch(job: Mapping[str, Any], priced: Mapping[str, Any], endpoint: str) -> Any:
    from litellm.types.utils import LiteLLMBatch

    created = states.rfc3339_to_unix(job.get("createTime")) or int(time.time())
    status = states.openai_status(job.get("state"))
    extension: dict[str, Any] = {states.COST_FIELD: states.format_cost(priced["cost"])}
    return LiteLLMBatch(
        id=str(job["name"]).rsplit("/", 1)[-1], object="batch", endpoint=endpoint,
        input_file_id=",".join((job.get("inputConfig") or {}).get("gcsSource", {}).get("uris", [])) or "unknown",
        completion_window="24h", status=cast(Any, status), created_at=created,
        output_file_id=(job.get("outputInfo") or {}).get("gcsOutputDirectory") or "none",
        request_counts=priced["request_counts"], usage=priced["usage"],
        **extension)


def own_logging(model: str, call_id: str, creator: Mapping[str, Any], provider: str, function_id: str) -> Any:
    """A LiteLLM logging object of the plugin's own (no client call to ride on), attributed to ``creator``."""
    from litellm.litellm_core_utils.litellm_logging import Logging

    # a datetime, as LiteLLM's other callbacks (Prometheus, the service logger) subtract it from end times
    logging_obj = Logging(model=model, messages=[], stream=False, call_type="aretrieve_batch",
                          start_time=datetime.now(), litellm_call_id=call_id, function_id=function_id)
    metadata = {k: v for k, v in creator.items() if k in CREATOR_KEYS}
    logging_obj.update_environment_variables(
        litellm_params={"metadata": dict(metadata), "litellm_metadata": dict(metadata), "litellm_call_id": call_id,
                        "proxy_server_request": {}, "model_info": {}, "preset_cache_key": None,
                        "stream_response": {}},
        optional_params={}, model=model, custom_llm_provider=provider)
    return logging_obj


async def log_job_cost(job: Mapping[str, Any], priced: Mapping[str, Any], creator: Mapping[str, Any],
                       call_id: str) -> float:
    """Log through a logging object of the plugin's own, attributed to the job's creator, under the charge's id."""
    model = bare_model(str(job.get("model") or ""))
    logging_obj = own_logging(model, call_id, creator, "vertex_ai", "vertex-batch-passthrough")
    return await log_batch_cost(logging_obj, _batch(job, priced, adapters.native_endpoint_url(model)), model, priced)


def background_batch_logger(record: Mapping[str, Any], result: Mapping[str, Any], found: dict[str, Any]
                            ) -> CostLogger:
    """The background worker's logger for a finished batch: the same event a retrieve logs, on a logging object
    of the plugin's own, attributed to the batch's creator."""
    from litellm.types.utils import LiteLLMBatch

    batch = LiteLLMBatch(**found)
    model = record.get("model") or ""

    async def log(charge_id: str) -> float:
        logging_obj = own_logging(model, charge_id, record.get("creator") or {}, "vertex_batch",
                                  "vertex-batch-worker")
        return await batch_cost_logger(logging_obj, record, result, batch)(charge_id)

    return log


def _usage(result: Mapping[str, Any]) -> Any:
    from litellm.types.utils import Usage

    usage = result.get("usage") or {}
    return Usage(prompt_tokens=int(usage.get("input_tokens", 0)),
                 completion_tokens=int(usage.get("output_tokens", 0)),
                 total_tokens=int(usage.get("total_tokens", 0)),
                 prompt_tokens_details={"cached_tokens": (usage.get("input_tokens_details") or {}).get(
                     "cached_tokens", 0)},
                 completion_tokens_details={"reasoning_tokens": (usage.get("output_tokens_details") or {}).get(
                     "reasoning_tokens", 0)})

"""Batch spend into LiteLLM's books: once per batch, attributed to whoever created it.

The price is computed at finalization (``finalize.py`` with ``pricing.py``) from each row's own usage.
Here it is handed to LiteLLM's logging pipeline the way LiteLLM's own batch-cost job does: the retrieve's
logging object, re-pointed at the creator's key/team/user/tags, gets ``async_success_handler(result=batch,
batch_cost=..., batch_usage=..., batch_models=...)``, so every callback and the proxy's spend writer (its
``<batch id>_batch_cost`` row deduplicates in the database) see one event. A claim object in the bucket
makes the plugin's own logging idempotent across retrieves, replicas and restarts; a claim whose
holder died before logging is retried after ``CHARGE_LEASE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Mapping

from . import layout
from .gcs import Bucket

log = logging.getLogger("litellm_vertex_batch")
CHARGE_LEASE_SECONDS = 300
#: Creator fields kept at create time (JSON-safe) and restored on the charging event.
CREATOR_KEYS = ("user_api_key_hash", "user_api_key", "user_api_key_alias", "user_api_key_team_id",
                "user_api_key_team_alias", "user_api_key_user_id", "user_api_key_user_email",
                "user_api_key_org_id", "user_api_key_org_alias", "user_api_key_end_user_id",
                "user_api_key_project_id", "tags", "requester_metadata", "spend_logs_metadata")


def creator_metadata(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's identity and tags from the metadata the proxy attaches to a call."""
    found: dict[str, Any] = {}
    for bag in (kwargs.get("litellm_metadata"), kwargs.get("metadata")):
        if isinstance(bag, dict):
            for key in CREATOR_KEYS:
                value = bag.get(key)
                if key not in found and value is not None and _json_safe(value):
                    found[key] = value
    return found


def _json_safe(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    return False


async def charge_once(bucket: Bucket, record: Mapping[str, Any], result: Mapping[str, Any], batch: Any,
                      logging_obj: Any, kwargs: Mapping[str, Any]) -> bool:
    """Log the batch's cost through ``logging_obj`` unless it was already logged; True if this call logged it."""
    s = bucket.settings
    token = record["token"]
    done_name = layout.charge_record(s, token)
    if await asyncio.to_thread(bucket.read_json, done_name) is not None:
        return False
    if not await asyncio.to_thread(bucket.claim, layout.charge_lock(s, token), CHARGE_LEASE_SECONDS):
        return False
    try:
        _attribute_to_creator(logging_obj, record, kwargs)
        await logging_obj.async_success_handler(
            result=batch.model_copy(deep=True),  # LiteLLM swaps in chat-style usage; the client keeps the batch's
            batch_cost=float(result.get("cost", 0.0)), batch_usage=_usage(result),
            batch_models=[record.get("model")], batch_prompt_cost=float(result.get("prompt_cost", 0.0)),
            batch_completion_cost=float(result.get("completion_cost", 0.0)),
            batch_successful_requests=result["request_counts"].get("completed"),
            batch_failed_requests=result["request_counts"].get("failed"))
    except BaseException:
        await asyncio.to_thread(bucket.delete, layout.charge_lock(s, token))  # let a later retrieve charge it
        raise
    await asyncio.to_thread(lambda: bucket.write_json(done_name, {"charged_at": time.time(),
                                                                   "cost": result.get("cost")}))
    return True


def _attribute_to_creator(logging_obj: Any, record: Mapping[str, Any], kwargs: Mapping[str, Any]) -> None:
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

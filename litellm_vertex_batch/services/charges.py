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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..cloud.gcs import Bucket
from ..core import layout

log = logging.getLogger(__name__)
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


async def once(bucket: Bucket, done_name: str, lock_name: str, log: Callable[[], Awaitable[float]]) -> bool:
    """Run ``log`` (which returns the cost it logged) unless ``done_name`` says it already ran; True if it ran.

    The lease ``lock_name`` keeps two replicas from logging at once; released on failure so a later call
    retries, and taken over after ``CHARGE_LEASE_SECONDS`` if its holder died before writing ``done_name``.
    """
    if await asyncio.to_thread(bucket.read_json, done_name) is not None:
        return False
    if not await asyncio.to_thread(bucket.claim, lock_name, CHARGE_LEASE_SECONDS):
        return False
    try:
        cost = await log()
    except BaseException:
        await asyncio.to_thread(bucket.delete, lock_name)
        raise
    await asyncio.to_thread(lambda: bucket.write_json(done_name, {"charged_at": time.time(), "cost": cost}))
    return True


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


async def charge_once(bucket: Bucket, record: Mapping[str, Any], result: Mapping[str, Any], batch: Any,
                      logging_obj: Any) -> bool:
    """Log the batch's cost through the retrieve's ``logging_obj``, attributed to its creator, once."""
    s = bucket.settings

    async def log() -> float:
        _attribute_to_creator(logging_obj, record)
        return await log_batch_cost(logging_obj, batch, record.get("model") or "", result)

    return await once(bucket, layout.charge_record(s, record["token"]), layout.charge_lock(s, record["token"]), log)


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

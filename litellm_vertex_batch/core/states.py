"""Vertex job state -> OpenAI batch status, and the OpenAI batch object built from stored records.

Pure: takes the batch record (what the plugin stored at create time), the Vertex job resource and the
finalization result (both may be absent), returns plain dicts.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

VERTEX_TO_OPENAI: Mapping[str, str] = {
    "JOB_STATE_QUEUED": "validating",
    "JOB_STATE_PENDING": "validating",
    "JOB_STATE_RUNNING": "in_progress",
    "JOB_STATE_UPDATING": "in_progress",
    "JOB_STATE_PAUSED": "in_progress",
    "JOB_STATE_SUCCEEDED": "completed",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "completed",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_EXPIRED": "expired",
}
#: Vertex states after which no row will run: the output is rewritten once the job is in one of these.
TERMINAL_STATES = frozenset(
    {"JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED",
     "JOB_STATE_EXPIRED"}
)
#: What an unknown or unspecified state shows: not final, so clients keep polling and nothing is charged.
UNKNOWN_STATE_STATUS = "in_progress"
#: Vertex keeps a job queued up to 72 h before it expires it.
EXPIRY_SECONDS = 72 * 3600
#: Error-file code for requests that never ran, by the job's terminal state.
NOT_RUN_CODES: Mapping[str, str] = {
    "JOB_STATE_CANCELLED": "batch_cancelled",
    "JOB_STATE_EXPIRED": "batch_expired",
    "JOB_STATE_FAILED": "batch_failed",
}


#: Batch metadata key that shows clients what the batch cost, in USD.
#: Top-level extension field of a finished batch: what it cost, in USD (a decimal string).
COST_FIELD = "litellm_batch_cost_usd"


def format_cost(cost: float) -> str:
    return repr(round(cost, 12))


def openai_status(vertex_state: str | None) -> str:
    """The OpenAI status for a Vertex state; unknown states log once per call and stay non-final."""
    status = VERTEX_TO_OPENAI.get(vertex_state or "")
    if status is None:
        log.warning("unknown Vertex job state %r, reported as %r", vertex_state,
                    UNKNOWN_STATE_STATUS)
        return UNKNOWN_STATE_STATUS
    return status


def not_run_code(vertex_state: str) -> str:
    return NOT_RUN_CODES.get(vertex_state, "batch_incomplete")


#: Google's usual form of a time: whole seconds, then (ignored by ``int``) any fraction, in UTC.
_UTC_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?Z\Z", re.ASCII)


@functools.lru_cache(maxsize=4096)
def _utc_seconds(whole_seconds: str) -> int:
    return int(datetime.fromisoformat(whole_seconds + "+00:00").timestamp())


def rfc3339_to_unix(value: object) -> int | None:
    """Seconds since the epoch of an RFC 3339 time (Vertex's ``createTime`` on every row, so the usual UTC form is
    read once per distinct second), or None."""
    if not isinstance(value, str) or not value:
        return None
    usual = _UTC_TIME.match(value)
    if usual is not None:
        try:
            seconds = _utc_seconds(usual.group(1))
        except ValueError:  # a month 13, say
            return None
        if seconds >= 0:  # before 1970 a fraction would round the other way
            return seconds
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))  # Python < 3.11: 6 digits at most
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return None


def unix_to_rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _count(stats: Mapping[str, Any], key: str) -> int:
    try:
        return int(stats.get(key) or 0)
    except (TypeError, ValueError):
        return 0


def batch_object(record: Mapping[str, Any], job: Mapping[str, Any] | None,
                 result: Mapping[str, Any] | None, finalizing_since: int | None = None) -> dict[str, Any]:
    """The OpenAI batch object for a stored batch.

    ``finalizing_since`` is set while some replica is rewriting the output of a finished job.
    """
    job = job or {}
    state = job.get("state") or "JOB_STATE_PENDING"
    created_at = int(record["created_at"])
    end_time = rfc3339_to_unix(job.get("endTime"))
    obj: dict[str, Any] = {
        "id": record["id"],
        "object": "batch",
        "endpoint": record["endpoint"],
        "model": record.get("model"),
        "input_file_id": record["input_file_id"],
        "completion_window": record.get("completion_window", "24h"),
        "status": openai_status(state),
        "output_file_id": None,
        "error_file_id": None,
        "errors": None,
        "created_at": created_at,
        "in_progress_at": rfc3339_to_unix(job.get("startTime")),
        "expires_at": created_at + EXPIRY_SECONDS,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": record.get("cancelling_at"),
        "cancelled_at": None,
        "request_counts": _running_counts(record, job),
        "metadata": record.get("metadata"),
        "usage": None,
    }
    if record.get("create_error") and not job:  # the create failed and no job ever showed up
        obj.update(status="failed", failed_at=record.get("failed_at", created_at),
                   errors=_errors_list(record["create_error"]))
        return obj
    if state in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED") and obj["cancelling_at"] is None:
        obj["cancelling_at"] = rfc3339_to_unix(job.get("updateTime"))
    if job.get("error") and state == "JOB_STATE_FAILED":  # OpenAI sets errors on failed batches only
        obj["errors"] = _errors_list(job["error"])
    if state not in TERMINAL_STATES:
        return obj
    if result is None:
        obj["status"] = "finalizing"
        obj["finalizing_at"] = finalizing_since or end_time
        return obj
    obj["finalizing_at"] = result.get("finalizing_at") or end_time
    obj["output_file_id"] = result.get("output_file_id")
    obj["error_file_id"] = result.get("error_file_id")
    obj["request_counts"] = dict(result["request_counts"])
    obj["usage"] = result.get("usage")
    if result.get("cost") is not None:  # what the batch cost, readable without database access (an extension
        obj[COST_FIELD] = format_cost(float(result["cost"]))  # field: the caller's metadata stays the caller's)
    # done once the output is written: never before finalizing began (in_progress_at <= finalizing_at <= done)
    done_at = max(filter(None, (end_time, obj["finalizing_at"], result.get("finalized_at"))), default=None)
    stamp_field = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at",
                   "expired": "expired_at"}[obj["status"]]
    obj[stamp_field] = done_at
    return obj


def _running_counts(record: Mapping[str, Any], job: Mapping[str, Any]) -> dict[str, int]:
    stats = job.get("completionStats") or {}
    return {"total": int(record.get("total", 0)), "completed": _count(stats, "successfulCount"),
            "failed": _count(stats, "failedCount")}


def _errors_list(error: Mapping[str, Any]) -> dict[str, Any]:
    code = error.get("status") or error.get("code")
    return {"object": "list",
            "data": [{"code": str(code) if code is not None else "vertex_error",
                      "message": str(error.get("message", "")), "param": None, "line": None}]}


def lost_job(record: Mapping[str, Any]) -> dict[str, Any]:
    """The job a batch whose Vertex job was deleted reports: failed, saying so (its rows are finalized as far as
    Vertex wrote them; the rest are in the error file as never run)."""
    lost = record.get("job_lost") or {}
    at = unix_to_rfc3339(int(lost.get("at") or 0))
    return {"name": record.get("job_name"), "state": "JOB_STATE_FAILED", "endTime": at, "updateTime": at,
            "error": {"code": "job_not_found", "message": "The Vertex AI job of this batch no longer exists "
                      "(it was deleted at Google); what it wrote is in the output, the rest did not run."}}

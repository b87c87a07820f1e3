"""states: Vertex job state -> OpenAI batch status, and the batch object built from stored records."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litellm.types.utils import LiteLLMBatch

from litellm_vertex_batch.core.output_lines import usage_totals
from litellm_vertex_batch.core.states import (
    EXPIRY_SECONDS,
    TERMINAL_STATES,
    UNKNOWN_STATE_STATUS,
    VERTEX_TO_OPENAI,
    batch_object,
    not_run_code,
    openai_status,
    rfc3339_to_unix,
)

CREATED = 1767322800  # 2026-01-02T03:00:00Z
STARTED = "2026-01-02T03:05:00.250Z"
STARTED_UNIX = CREATED + 300
ENDED = "2026-01-02T04:00:00.999999Z"
ENDED_UNIX = CREATED + 3600
UPDATED = "2026-01-02T03:30:00Z"
UPDATED_UNIX = CREATED + 1800
TIMESTAMP_FIELDS = ("completed_at", "failed_at", "cancelled_at", "expired_at")

# vertex-batch.md's table. Terminal success states show "completed" once the output is rewritten.
TABLE = {
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


def record(**extra: Any) -> dict[str, Any]:
    return {"id": "batch_vb0000000000aaaaaaaaaaaaaaaa", "endpoint": "/v1/chat/completions",
            "model": "gemini-2.5-flash", "input_file_id": "file-vb0000000000bbbbbbbbbbbbbbbb",
            "created_at": CREATED, "total": 3, "metadata": {"team": "a"}, **extra}


def job(state: str, **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "projects/p/locations/us-central1/batchPredictionJobs/123", "state": state,
                            "createTime": "2026-01-02T03:00:00.5Z", "updateTime": UPDATED}
    if state not in ("JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_EXPIRED"):
        base["startTime"] = STARTED
    if state in TERMINAL_STATES:
        base["endTime"] = ENDED
    base.update(extra)
    return base


USAGE = usage_totals({"input_tokens": 300, "output_tokens": 90, "cached_tokens": 10, "reasoning_tokens": 40})


def result(**extra: Any) -> dict[str, Any]:
    return {"output_file_id": "file-vb0000000000cccccccccccccccc", "error_file_id": "file-vb0000000000dddddddddddddddd",
            "request_counts": {"total": 3, "completed": 2, "failed": 1}, "usage": USAGE,
            "finalizing_at": ENDED_UNIX + 5, "finalized_at": ENDED_UNIX + 9, **extra}


def validated(obj: dict[str, Any]) -> dict[str, Any]:
    """The object is a valid OpenAI Batch and a valid LiteLLMBatch (what the proxy returns)."""
    batch = openai.types.Batch.model_validate(obj)
    assert batch.status == obj["status"]
    assert batch.request_counts is not None
    assert obj["request_counts"] is not None
    litellm_batch = LiteLLMBatch(**obj)
    assert litellm_batch.id == obj["id"]
    if obj["usage"] is not None:
        dumped = litellm_batch.model_dump()["usage"]
        assert dumped["input_tokens"] == obj["usage"]["input_tokens"]
        assert dumped["output_tokens_details"]["reasoning_tokens"] == obj["usage"]["output_tokens_details"][
            "reasoning_tokens"]
    return obj


# --- openai_status --------------------------------------------------------------------------------------

def test_table_covers_every_vertex_state() -> None:
    assert dict(VERTEX_TO_OPENAI) == TABLE


@pytest.mark.parametrize("state, status", sorted(TABLE.items()))
def test_each_state(state: str, status: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="litellm_vertex_batch"):
        assert openai_status(state) == status
    assert caplog.records == []


@pytest.mark.parametrize("state", ["JOB_STATE_UNSPECIFIED", "JOB_STATE_SOMETHING_NEW", "", None, "running"])
def test_unknown_state_is_in_progress_and_logged(state: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="litellm_vertex_batch"):
        assert openai_status(state) == UNKNOWN_STATE_STATUS == "in_progress"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert repr(state) in warnings[0].getMessage()


def test_terminal_states() -> None:
    assert TERMINAL_STATES == {"JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED", "JOB_STATE_FAILED",
                               "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}


@pytest.mark.parametrize("state, code", [("JOB_STATE_CANCELLED", "batch_cancelled"),
                                         ("JOB_STATE_EXPIRED", "batch_expired"), ("JOB_STATE_FAILED", "batch_failed"),
                                         ("JOB_STATE_SUCCEEDED", "batch_incomplete"),
                                         ("JOB_STATE_PARTIALLY_SUCCEEDED", "batch_incomplete")])
def test_not_run_code(state: str, code: str) -> None:
    assert not_run_code(state) == code


@pytest.mark.parametrize("value, expected", [
    ("2026-01-02T03:00:00Z", CREATED), ("2026-01-02T03:00:00.999999Z", CREATED),
    ("2026-01-02T03:00:00.123456789Z", CREATED), ("2026-01-02T04:00:00+01:00", CREATED),
    (None, None), ("", None), ("yesterday", None), (1767322800, None)])
def test_rfc3339_to_unix(value: Any, expected: int | None) -> None:
    assert rfc3339_to_unix(value) == expected


@settings(max_examples=500, deadline=None)
@given(when=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
       fraction=st.sampled_from(["", ".0", ".5", ".999999", ".123456789", ".000000001"]))
def test_rfc3339_to_unix_reads_googles_utc_form_as_the_general_reader_does(when: datetime, fraction: str) -> None:
    """The usual ``...Z`` form is read once per second; it must equal ``datetime``'s own reading, fraction
    dropped toward zero as ``int`` drops it (before 1970 too)."""
    value = when.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    exact = datetime.fromisoformat(when.strftime("%Y-%m-%dT%H:%M:%S") + fraction[:7] + "+00:00")
    assert rfc3339_to_unix(value) == int(exact.timestamp())


# --- batch_object: before the job ends ------------------------------------------------------------------

def test_pending_batch() -> None:
    obj = validated(batch_object(record(), job("JOB_STATE_PENDING"), None))
    assert obj["object"] == "batch"
    assert obj["id"] == record()["id"]
    assert obj["endpoint"] == "/v1/chat/completions"
    assert obj["input_file_id"] == record()["input_file_id"]
    assert obj["completion_window"] == "24h"
    assert obj["model"] == "gemini-2.5-flash"
    assert obj["metadata"] == {"team": "a"}
    assert obj["status"] == "validating"
    assert obj["created_at"] == CREATED
    assert obj["expires_at"] == CREATED + EXPIRY_SECONDS == CREATED + 72 * 3600
    assert obj["in_progress_at"] is None
    assert obj["request_counts"] == {"total": 3, "completed": 0, "failed": 0}
    assert obj["usage"] is None and obj["errors"] is None
    assert obj["output_file_id"] is None and obj["error_file_id"] is None
    assert obj["finalizing_at"] is None
    assert all(obj[field] is None for field in TIMESTAMP_FIELDS)


def test_no_job_yet_is_validating() -> None:
    obj = validated(batch_object(record(), None, None))
    assert obj["status"] == "validating"
    assert obj["request_counts"] == {"total": 3, "completed": 0, "failed": 0}


def test_running_counts_come_from_completion_stats_strings() -> None:
    stats = {"successfulCount": "2", "failedCount": "1", "incompleteCount": "0"}
    obj = validated(batch_object(record(), job("JOB_STATE_RUNNING", completionStats=stats), None))
    assert obj["status"] == "in_progress"
    assert obj["in_progress_at"] == STARTED_UNIX
    assert obj["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    assert obj["usage"] is None


@pytest.mark.parametrize("stats", [None, {}, {"successfulCount": None}, {"successfulCount": "abc", "failedCount": []}])
def test_running_counts_never_none(stats: Any) -> None:
    obj = validated(batch_object(record(), job("JOB_STATE_RUNNING", completionStats=stats), None))
    assert obj["request_counts"] == {"total": 3, "completed": 0, "failed": 0}


def test_record_without_total_counts_zero() -> None:
    rec = record()
    del rec["total"]
    obj = validated(batch_object(rec, job("JOB_STATE_RUNNING"), None))
    assert obj["request_counts"] == {"total": 0, "completed": 0, "failed": 0}


def test_usage_and_files_only_once_done() -> None:
    obj = validated(batch_object(record(), job("JOB_STATE_RUNNING"), result()))
    assert obj["status"] == "in_progress"
    assert obj["usage"] is None
    assert obj["output_file_id"] is None and obj["error_file_id"] is None


def test_cancelling_uses_the_recorded_request_time() -> None:
    obj = validated(batch_object(record(cancelling_at=CREATED + 60), job("JOB_STATE_CANCELLING"), None))
    assert obj["status"] == "cancelling"
    assert obj["cancelling_at"] == CREATED + 60
    assert obj["cancelled_at"] is None


def test_cancelling_without_a_record_uses_update_time() -> None:
    obj = validated(batch_object(record(), job("JOB_STATE_CANCELLING"), None))
    assert obj["cancelling_at"] == UPDATED_UNIX


def test_unknown_state_job(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="litellm_vertex_batch"):
        obj = validated(batch_object(record(), job("JOB_STATE_BRAND_NEW"), result()))
    assert obj["status"] == "in_progress"
    assert obj["usage"] is None
    assert all(obj[field] is None for field in TIMESTAMP_FIELDS)
    assert any("JOB_STATE_BRAND_NEW" in r.getMessage() for r in caplog.records)


# --- batch_object: finished job, output not yet rewritten -----------------------------------------------

@pytest.mark.parametrize("state", sorted(TERMINAL_STATES))
def test_finalizing_while_no_result(state: str) -> None:
    obj = validated(batch_object(record(), job(state), None))
    assert obj["status"] == "finalizing"
    assert obj["finalizing_at"] == ENDED_UNIX
    assert obj["usage"] is None
    assert obj["output_file_id"] is None
    assert all(obj[field] is None for field in TIMESTAMP_FIELDS)
    assert obj["request_counts"] is not None


def test_finalizing_since_is_reported() -> None:
    obj = validated(batch_object(record(), job("JOB_STATE_SUCCEEDED"), None, finalizing_since=ENDED_UNIX + 42))
    assert obj["finalizing_at"] == ENDED_UNIX + 42


# --- batch_object: done ---------------------------------------------------------------------------------

@pytest.mark.parametrize("state, status, stamp", [
    ("JOB_STATE_SUCCEEDED", "completed", "completed_at"),
    ("JOB_STATE_PARTIALLY_SUCCEEDED", "completed", "completed_at"),
    ("JOB_STATE_FAILED", "failed", "failed_at"),
    ("JOB_STATE_CANCELLED", "cancelled", "cancelled_at"),
    ("JOB_STATE_EXPIRED", "expired", "expired_at"),
])
def test_done(state: str, status: str, stamp: str) -> None:
    obj = validated(batch_object(record(cancelling_at=CREATED + 60), job(state), result()))
    assert obj["status"] == status
    assert obj[stamp] == ENDED_UNIX + 9, "done when its output was written, after finalizing began"
    assert [field for field in TIMESTAMP_FIELDS if obj[field] is not None] == [stamp]
    assert obj["finalizing_at"] == ENDED_UNIX + 5
    assert obj["output_file_id"] == result()["output_file_id"]
    assert obj["error_file_id"] == result()["error_file_id"]
    assert obj["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    assert obj["usage"] == USAGE
    assert obj["created_at"] == CREATED and obj["expires_at"] == CREATED + EXPIRY_SECONDS


def test_completed_timestamps_are_in_order() -> None:
    obj = validated(batch_object(record(), job("JOB_STATE_SUCCEEDED"), result(finalizing_at=None)))
    assert obj["created_at"] <= obj["in_progress_at"] <= obj["finalizing_at"] <= obj["completed_at"]


def test_done_without_end_time_uses_finalized_at() -> None:
    done_job = job("JOB_STATE_SUCCEEDED")
    del done_job["endTime"]
    obj = validated(batch_object(record(), done_job, result()))
    assert obj["completed_at"] == ENDED_UNIX + 9


def test_done_with_empty_files() -> None:
    obj = validated(batch_object(record(), job("JOB_STATE_SUCCEEDED"),
                                 result(error_file_id=None, request_counts={"total": 3, "completed": 3, "failed": 0})))
    assert obj["error_file_id"] is None
    assert obj["request_counts"] == {"total": 3, "completed": 3, "failed": 0}


def test_request_counts_are_a_copy() -> None:
    done = result()
    obj = batch_object(record(), job("JOB_STATE_SUCCEEDED"), done)
    obj["request_counts"]["completed"] = 99
    assert done["request_counts"]["completed"] == 2


# --- errors ---------------------------------------------------------------------------------------------

GOOGLE_ERROR = {"code": 3, "message": "Failed to import data. Not found: Dataset was not found in location US"}


def test_failed_job_carries_googles_message() -> None:
    obj = validated(batch_object(record(), job("JOB_STATE_FAILED", error=GOOGLE_ERROR), result()))
    assert obj["status"] == "failed"
    assert obj["errors"] == {"object": "list", "data": [
        {"code": "3", "message": GOOGLE_ERROR["message"], "param": None, "line": None}]}
    assert obj["failed_at"] == ENDED_UNIX + 9


def test_failed_job_errors_shown_while_finalizing() -> None:
    obj = validated(batch_object(record(), job("JOB_STATE_FAILED", error=GOOGLE_ERROR), None))
    assert obj["status"] == "finalizing"
    assert obj["errors"]["data"][0]["message"] == GOOGLE_ERROR["message"]


def test_error_status_name_preferred_as_code() -> None:
    error = {"code": 7, "status": "PERMISSION_DENIED", "message": "no write access to gs://out"}
    obj = validated(batch_object(record(), job("JOB_STATE_FAILED", error=error), result()))
    assert obj["errors"]["data"][0]["code"] == "PERMISSION_DENIED"
    assert obj["errors"]["data"][0]["message"] == "no write access to gs://out"


@pytest.mark.parametrize("state", ["JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"])
def test_errors_only_on_failed_batches_as_openai_sets_them(state: str) -> None:
    error = {"code": 1, "message": "CANCELED"}  # what Vertex puts on a cancelled job
    obj = validated(batch_object(record(), job(state, error=error), result()))
    assert obj["errors"] is None


def test_succeeded_job_error_field_is_ignored() -> None:
    obj = validated(batch_object(record(), job("JOB_STATE_SUCCEEDED", error={"code": 0, "message": ""}), result()))
    assert obj["errors"] is None


def test_running_job_error_field_is_not_shown() -> None:
    obj = validated(batch_object(record(), job("JOB_STATE_RUNNING", error=GOOGLE_ERROR), None))
    assert obj["errors"] is None


def test_create_error_fails_the_batch() -> None:
    rec = record(create_error={"code": 404, "status": "NOT_FOUND",
                               "message": "Publisher Model `gemini-9` was not found"}, failed_at=CREATED + 1)
    obj = validated(batch_object(rec, None, None))
    assert obj["status"] == "failed"
    assert obj["failed_at"] == CREATED + 1
    assert obj["errors"]["data"][0] == {"code": "NOT_FOUND", "message": "Publisher Model `gemini-9` was not found",
                                        "param": None, "line": None}
    assert obj["usage"] is None


def test_create_error_without_failed_at_uses_created_at() -> None:
    obj = validated(batch_object(record(create_error={"message": "boom"}), None, None))
    assert obj["failed_at"] == CREATED
    assert obj["errors"]["data"][0]["code"] == "vertex_error"

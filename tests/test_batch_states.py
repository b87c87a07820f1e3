"""Vertex job states -> OpenAI batch status, timestamps and request_counts, and cancel / expiry / failure
outcomes, through the stock proxy with the openai SDK.

Jobs are driven by the emulator's control API: new jobs are created with a long pending time (so none
finishes on its own), then either held RUNNING with half their rows processed, or frozen in a state with
``force_state``.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import openai
import pytest

from tests.conftest import (
    PROVIDER,
    chat_line,
    create_batch,
    job_id,
    read_jsonl,
    run_held,
    upload,
    wait_done,
)

GOOGLE_FAILURE = {"code": 8, "message": "Quota exceeded for aiplatform.googleapis.com/gemini_batch_tokens "
                                        "(emulated)."}
CANCELLED_ERROR = {"code": 1, "message": "CANCELED"}


# ---------------------------------------------------------------- helpers

def lines_for(tag: str, n: int) -> tuple[list[dict], dict[str, str]]:
    texts = {f"{tag}-{i}": f"{tag} prompt number {i}" for i in range(n)}
    return [chat_line(cid, text) for cid, text in texts.items()], texts


def start_batch(client, stand_ins, lines: list[dict]) -> tuple[Any, str]:
    """Create a batch (its job stays PENDING under ``slow_start``); return the batch and its Vertex job id."""
    batch = create_batch(client, upload(client, lines).id)
    return batch, job_id(stand_ins, batch.id)


def retrieve(client, batch_id: str) -> Any:
    return client.batches.retrieve(batch_id, extra_headers=PROVIDER)


def assert_counts_total(batch: Any, total: int) -> None:
    counts = batch.request_counts
    assert counts is not None, batch
    assert counts.total == total, batch
    assert counts.completed is not None and counts.failed is not None, batch


def assert_each_once(rows: list[dict], expected: set[str]) -> None:
    seen = Counter(r["custom_id"] for r in rows)
    assert set(seen) == expected, (sorted(set(seen) - expected), sorted(expected - set(seen)))
    assert all(n == 1 for n in seen.values()), {k: n for k, n in seen.items() if n > 1}


STAMPS = ("completed_at", "failed_at", "cancelled_at", "expired_at")


# ---------------------------------------------------------------- non-terminal states

ACTIVE_STATES = {
    "JOB_STATE_QUEUED": "validating",
    "JOB_STATE_PENDING": "validating",
    "JOB_STATE_RUNNING": "in_progress",
    "JOB_STATE_UPDATING": "in_progress",
    "JOB_STATE_PAUSED": "in_progress",
    "JOB_STATE_CANCELLING": "cancelling",
    "JOB_STATE_UNSPECIFIED": "in_progress",
    "JOB_STATE_SOMETHING_NEW": "in_progress",
}


def test_non_terminal_states_map_to_openai_status(client, stand_ins, proxy, slow_start):
    lines, _ = lines_for("active", 4)
    batch, jid = start_batch(client, stand_ins, lines)

    pending = retrieve(client, batch.id)
    assert pending.status == "validating", pending
    assert pending.created_at and pending.expires_at and pending.expires_at > pending.created_at
    assert pending.in_progress_at is None and pending.output_file_id is None and pending.usage is None
    assert pending.request_counts is not None and pending.request_counts.model_dump() == \
        {"total": 4, "completed": 0, "failed": 0}

    run_held(stand_ins, jid)
    running = retrieve(client, batch.id)
    assert running.status == "in_progress", running
    assert running.in_progress_at is not None and running.in_progress_at >= running.created_at - 1
    assert_counts_total(running, 4)

    got: dict[str, str] = {}
    log_mark = 0
    for state, _status in ACTIVE_STATES.items():
        if state == "JOB_STATE_SOMETHING_NEW":
            log_mark = len(proxy.log_text())
        stand_ins.force_state(jid, state)
        seen = retrieve(client, batch.id)
        got[state] = seen.status
        assert_counts_total(seen, 4)
        assert seen.created_at == batch.created_at and seen.expires_at == pending.expires_at
        assert all(getattr(seen, stamp) is None for stamp in STAMPS), (state, seen)
        assert seen.output_file_id is None and seen.error_file_id is None, (state, seen)
        if state == "JOB_STATE_CANCELLING":
            assert seen.cancelling_at is not None, seen
    assert got == ACTIVE_STATES

    log = proxy.log_text()[log_mark:]  # what the proxy logged once the unknown state was forced
    assert "unknown Vertex job state 'JOB_STATE_SOMETHING_NEW'" in log, log[-3000:]
    assert not re.search(r'File ".*litellm_vertex_batch', log), log[-3000:]  # logged, no crash
    # the batch is still served normally: the unknown state stays non-final, nothing was finalized
    listed = {b.id: b for b in client.batches.list(extra_headers=PROVIDER, limit=5)}
    assert listed[batch.id].status == "in_progress"


# ---------------------------------------------------------------- terminal states

TERMINAL_CASES = {
    # state: (status, stamp field, error given to force_state, error-file code of rows that never ran)
    "JOB_STATE_SUCCEEDED": ("completed", "completed_at", None, None),
    "JOB_STATE_PARTIALLY_SUCCEEDED": ("completed", "completed_at", None, "any"),
    "JOB_STATE_FAILED": ("failed", "failed_at", GOOGLE_FAILURE, "batch_failed"),
    "JOB_STATE_CANCELLED": ("cancelled", "cancelled_at", CANCELLED_ERROR, "batch_cancelled"),
    "JOB_STATE_EXPIRED": ("expired", "expired_at", None, "batch_expired"),
}


@pytest.mark.parametrize("state", list(TERMINAL_CASES))
def test_terminal_state_status_timestamps_and_files(client, stand_ins, state, slow_start):
    status, stamp, error, not_run_code = TERMINAL_CASES[state]
    lines, texts = lines_for(state.lower(), 6)
    batch, jid = start_batch(client, stand_ins, lines)
    ran = state != "JOB_STATE_EXPIRED"  # an expired job never started
    if ran:
        run_held(stand_ins, jid)
    stand_ins.force_state(jid, state, error=error, write_output=ran)

    done = wait_done(client, batch.id)
    assert done.status == status, done
    assert done.created_at == batch.created_at and done.expires_at > done.created_at
    assert getattr(done, stamp) is not None and getattr(done, stamp) >= done.created_at - 1, done
    assert all(getattr(done, other) is None for other in STAMPS if other != stamp), done
    assert done.finalizing_at is not None and done.finalizing_at <= getattr(done, stamp), done
    if ran:
        assert done.in_progress_at is not None and done.in_progress_at <= done.finalizing_at, done
    else:
        assert done.in_progress_at is None, done
    if state == "JOB_STATE_CANCELLED":
        assert done.cancelling_at is not None, done

    if state == "JOB_STATE_FAILED":
        assert done.errors is not None and done.errors.data, done
        assert done.errors.data[0].message == GOOGLE_FAILURE["message"]
        assert done.errors.data[0].code
    else:  # OpenAI sets errors on failed batches only (a cancelled one has none)
        assert done.errors is None, done

    output = read_jsonl(client, done.output_file_id)
    errors = read_jsonl(client, done.error_file_id)
    assert_each_once(output + errors, set(texts))
    counts = done.request_counts
    assert counts.total == 6 and counts.completed == len(output) and counts.failed == len(errors), done
    assert counts.completed + counts.failed == counts.total

    processed = {lines[i]["custom_id"] for i in range(3)}  # the emulator runs rows in input order
    if state == "JOB_STATE_SUCCEEDED":
        assert len(output) == 6 and done.error_file_id is None
    elif ran:
        assert {r["custom_id"] for r in output} == processed
    else:
        assert output == [] and done.output_file_id is None
    for row in output:
        assert row["error"] is None and row["response"]["status_code"] == 200
        assert row["response"]["body"]["choices"][0]["message"]["content"] == "echo: " + texts[row["custom_id"]]
    for row in errors:
        assert row["response"] is None, row
        assert row["error"] and row["error"]["message"], row
        if not_run_code != "any":
            assert row["error"]["code"] == not_run_code, row
        if state == "JOB_STATE_FAILED":
            assert GOOGLE_FAILURE["message"] in row["error"]["message"], row

    again = retrieve(client, batch.id)  # finalized once: the same files on every retrieve
    assert (again.status, again.output_file_id, again.error_file_id) == \
        (done.status, done.output_file_id, done.error_file_id)
    assert again.request_counts == done.request_counts and getattr(again, stamp) == getattr(done, stamp)


# ---------------------------------------------------------------- cancel

def test_cancel_running_job_keeps_processed_rows(client, stand_ins, slow_start):
    lines, texts = lines_for("cancel-run", 8)
    batch, jid = start_batch(client, stand_ins, lines)
    run_held(stand_ins, jid)
    before = time.time()

    cancelled = client.batches.cancel(batch.id, extra_headers=PROVIDER)
    assert cancelled.id == batch.id and cancelled.status in ("cancelling", "cancelled"), cancelled
    assert cancelled.cancelling_at is not None and cancelled.cancelling_at >= int(before) - 1, cancelled
    assert_counts_total(cancelled, 8)

    done = wait_done(client, batch.id)
    assert done.status == "cancelled", done
    assert done.cancelling_at == cancelled.cancelling_at
    assert done.cancelled_at is not None and done.cancelled_at >= done.cancelling_at - 1
    assert done.completed_at is None and done.failed_at is None and done.expired_at is None

    output = read_jsonl(client, done.output_file_id)
    errors = read_jsonl(client, done.error_file_id)
    assert_each_once(output + errors, set(texts))
    first_half = {line["custom_id"] for line in lines[:4]}
    assert {r["custom_id"] for r in output} == first_half
    for row in output:
        assert row["response"]["status_code"] == 200 and row["error"] is None
        assert row["response"]["body"]["choices"][0]["message"]["content"] == "echo: " + texts[row["custom_id"]]
    assert {r["custom_id"] for r in errors} == set(texts) - first_half
    for row in errors:
        assert row["response"] is None and row["error"]["code"] == "batch_cancelled", row
        assert row["error"]["message"] and row["id"].startswith("batch_req_"), row
    counts = done.request_counts
    assert (counts.total, counts.completed, counts.failed) == (8, 4, 4), done
    assert done.usage is not None and done.usage.input_tokens > 0


def test_cancel_before_start_every_row_cancelled(client, stand_ins, slow_start):
    lines, texts = lines_for("cancel-early", 3)
    batch, _ = start_batch(client, stand_ins, lines)
    cancelled = client.batches.cancel(batch.id, extra_headers=PROVIDER)
    assert cancelled.status in ("cancelling", "cancelled") and cancelled.cancelling_at is not None, cancelled

    done = wait_done(client, batch.id)
    assert done.status == "cancelled" and done.cancelled_at is not None, done
    assert done.output_file_id is None, done
    errors = read_jsonl(client, done.error_file_id)
    assert_each_once(errors, set(texts))
    assert all(r["response"] is None and r["error"]["code"] == "batch_cancelled" for r in errors), errors
    assert done.request_counts.model_dump() == {"total": 3, "completed": 0, "failed": 3}


def test_cancel_finished_batch_is_a_client_error(client):
    lines, _ = lines_for("cancel-late", 2)
    batch = create_batch(client, upload(client, lines).id)
    done = wait_done(client, batch.id)
    assert done.status == "completed", done
    with pytest.raises(openai.APIStatusError) as caught:
        client.batches.cancel(batch.id, extra_headers=PROVIDER)
    assert 400 <= caught.value.status_code < 500, (caught.value.status_code, caught.value)
    after = retrieve(client, batch.id)
    assert after.status == "completed" and after.cancelling_at is None and after.output_file_id == done.output_file_id

    with pytest.raises(openai.APIStatusError) as missing:
        client.batches.cancel("batch_vb" + "0" * 32, extra_headers=PROVIDER)
    assert missing.value.status_code == 404, missing.value


def test_failed_job_with_partial_output(client, stand_ins, slow_start):
    lines, texts = lines_for("fail-part", 6)
    lines[1] = chat_line("fail-part-1", texts["fail-part-1"] + " EMULATOR_FAIL")  # ran and failed
    texts["fail-part-1"] = lines[1]["body"]["messages"][0]["content"]
    batch, jid = start_batch(client, stand_ins, lines)
    stand_ins.force_state(jid, "JOB_STATE_FAILED", error=GOOGLE_FAILURE, write_output=True)  # straight from PENDING

    done = wait_done(client, batch.id)
    assert done.status == "failed" and done.failed_at is not None, done
    assert done.errors.data[0].message == GOOGLE_FAILURE["message"], done.errors
    output = read_jsonl(client, done.output_file_id)
    errors = read_jsonl(client, done.error_file_id)
    assert_each_once(output + errors, set(texts))
    assert {r["custom_id"] for r in output} == {"fail-part-0", "fail-part-2"}
    by_id = {r["custom_id"]: r for r in errors}
    assert by_id["fail-part-1"]["response"]["status_code"] == 400 and by_id["fail-part-1"]["error"] is None
    for cid in ("fail-part-3", "fail-part-4", "fail-part-5"):
        assert by_id[cid]["response"] is None and by_id[cid]["error"]["code"] == "batch_failed", by_id[cid]
        assert GOOGLE_FAILURE["message"] in by_id[cid]["error"]["message"]
    assert done.request_counts.model_dump() == {"total": 6, "completed": 2, "failed": 4}


def test_final_retrieve_runs_litellm_success_logging_cleanly(client, proxy):
    """The plugin's handlers run under LiteLLM's ``client`` wrapper so that LiteLLM's logging and
    callbacks (batch cost / spend) run as for a built-in provider. Retrieving a finished batch must not
    make LiteLLM's logging worker fail."""
    lines, _ = lines_for("logging", 2)
    batch = create_batch(client, upload(client, lines).id)
    done = wait_done(client, batch.id)
    assert done.status == "completed", done
    time.sleep(1.5)  # let the logging of earlier calls drain
    mark = len(proxy.log_text())
    again = retrieve(client, batch.id)
    assert again.status == "completed"
    time.sleep(2)  # success callbacks run on LiteLLM's background logging worker
    log = proxy.log_text()[mark:]
    assert "LoggingWorker error" not in log and "Traceback" not in log, log[-3000:]

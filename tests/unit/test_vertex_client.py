"""The Vertex client over httpx.MockTransport: Google's status and message kept, retries bounded, a create that
lost its answer adopted instead of sent twice, a cancel that already worked reported as done."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from litellm_vertex_batch.cloud.retry import RetryPolicy
from litellm_vertex_batch.cloud.vertex import BATCH_LABEL, VertexClient
from litellm_vertex_batch.core.errors import TransientError, UpstreamError
from litellm_vertex_batch.core.settings import resolve

SETTINGS = resolve({}, {"gcs_bucket_name": "gw-bucket", "vertex_project": "p", "vertex_location": "l",
                        "vertex_api_base": "http://vertex.test", "timeout_seconds": 1})
JOBS = "/v1/projects/p/locations/l/batchPredictionJobs"


def client(handler: Callable[[httpx.Request], httpx.Response]) -> VertexClient:
    async def token() -> str:
        return "t"

    return VertexClient(SETTINGS, httpx.AsyncClient(transport=httpx.MockTransport(handler)),
                        RetryPolicy(initial_delay=0.001, max_delay=0.002, deadline=1), token=token)


def google_error(status: int, message: str, name: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": status, "message": message, "status": name}})


def test_googles_status_and_message_are_kept_and_storage_names_removed() -> None:
    message = "Failed to read gs://gw-bucket/litellm-vertex-batch/batch-input/x.jsonl: permission denied"
    vertex = client(lambda request: google_error(403, message, "PERMISSION_DENIED"))
    with pytest.raises(UpstreamError) as caught:
        asyncio.run(vertex.get_job("projects/p/locations/l/batchPredictionJobs/1"))
    assert caught.value.status_code == 403 and not isinstance(caught.value, TransientError)
    assert "permission denied" in caught.value.message and "gw-bucket" not in caught.value.message


def test_reads_are_retried_then_answer() -> None:
    answers = [google_error(503, "busy", "UNAVAILABLE"), google_error(429, "slow down", "RESOURCE_EXHAUSTED"),
               httpx.Response(200, json={"name": "j", "state": "JOB_STATE_RUNNING"})]
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return answers.pop(0)

    assert asyncio.run(client(handler).get_job("j"))["state"] == "JOB_STATE_RUNNING"
    assert seen == ["Bearer t"] * 3


def test_persistent_unavailability_ends_in_bounded_time_with_googles_status() -> None:
    with pytest.raises(TransientError) as caught:
        asyncio.run(client(lambda request: google_error(503, "still busy", "UNAVAILABLE")).get_job("j"))
    assert caught.value.status_code == 503 and caught.value.message == "still busy"


def test_a_create_whose_answer_was_lost_is_adopted_not_sent_twice() -> None:
    created: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            created.append({"name": f"{JOBS[4:]}/1", "labels": {BATCH_LABEL: "tok"}})
            raise httpx.ReadTimeout("lost", request=request)  # carried out, but the answer never came
        assert request.url.params["filter"] == f"labels.{BATCH_LABEL}=tok"
        return httpx.Response(200, json={"batchPredictionJobs": created})

    job = asyncio.run(client(handler).create_job({"displayName": "x"}, "tok"))
    assert job["name"].endswith("/1") and len(created) == 1


def test_a_retried_cancel_that_already_worked_is_a_success() -> None:
    answers = [google_error(503, "busy", "UNAVAILABLE"), google_error(400, "already cancelling", "FAILED_PRECONDITION"),
               httpx.Response(200, json={"name": "j", "state": "JOB_STATE_CANCELLING"})]
    asyncio.run(client(lambda request: answers.pop(0)).cancel_job("j"))
    assert answers == []

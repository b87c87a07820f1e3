"""The Vertex AI batchPredictionJobs REST API, over httpx.

One function (``_raise_for_status``) turns Google's error bodies into ``UpstreamError`` with Google's
status and message; network failures become ``TransientError``. Reads and cancel are retried;
``create_job`` never leaves two jobs: before re-sending it looks the job up by its unique label.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from ..core.errors import TRANSIENT_STATUS, TransientError, UpstreamError, without_storage_names
from ..core.settings import Settings
from . import credentials
from .retry import RetryPolicy, is_retryable, retry_async

BATCH_LABEL = "litellm_vertex_batch"
LANDING_GRACE_SECONDS = 5.0


class VertexClient:
    """``token`` gives an OAuth access token (default: from the ``vertex_credentials`` setting)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient, policy: RetryPolicy | None = None,
                 token: Callable[[], Awaitable[str]] | None = None) -> None:
        self.settings = settings
        self._http = http
        self._policy = policy or RetryPolicy(deadline=settings.retry_seconds)
        self._timeout = httpx.Timeout(settings.timeout_seconds, connect=min(10.0, settings.timeout_seconds))
        self._token = token or (lambda: credentials.access_token(settings.vertex_credentials))

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        token = await self._token()
        url = f"{self.settings.vertex_base_url}/v1/{path}"
        try:
            response = await self._http.request(method, url, headers={"Authorization": f"Bearer {token}"},
                                                timeout=self._timeout, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientError(f"Vertex AI did not answer in time ({type(exc).__name__})", 504,
                                 ambiguous=not isinstance(exc, httpx.ConnectTimeout)) from exc
        except httpx.TransportError as exc:
            raise TransientError(f"could not reach Vertex AI: {exc!r}", 503,
                                 ambiguous=not isinstance(exc, httpx.ConnectError)) from exc
        _raise_for_status(response, self.settings.bucket)
        return response.json() if response.content else {}

    async def create_job(self, job: dict[str, Any], batch_token: str, label: str = BATCH_LABEL) -> dict[str, Any]:
        """Create the job once: after a transient failure, adopt a job already made for this batch.

        A create whose answer never came (timeout, dropped connection) may still be carried out: before
        sending it again, the job is looked for a while (``_landing_window``).
        Retries stop after ``retry_seconds``; the caller keeps the batch record after an ambiguous failure,
        so a job that lands even later is adopted, not lost.
        """
        path = f"{self.settings.parent}/batchPredictionJobs"
        started = attempt_started = time.monotonic()
        last: UpstreamError | None = None
        for delay in [0.0, *self._policy.delays()]:
            if last is not None:
                ambiguous = isinstance(last, TransientError) and last.ambiguous
                window = self._landing_window(time.monotonic() - attempt_started) if ambiguous else 0.0
                landed = await self._await_job(batch_token, time.monotonic() + window, label)
                if landed is not None:
                    return landed
                if time.monotonic() - started + delay > self._policy.deadline:
                    break
                await asyncio.sleep(delay)
            attempt_started = time.monotonic()
            try:
                return await self._request("POST", path, json=job)
            except UpstreamError as exc:
                if not is_retryable(exc):
                    raise
                last = exc
        assert last is not None
        raise last

    def _landing_window(self, attempt_seconds: float) -> float:
        """How long a create that got no answer may still take to show up: as long again as the attempt
        ran, plus a grace period, at most twice the call timeout."""
        return min(2 * self.settings.timeout_seconds, attempt_seconds + LANDING_GRACE_SECONDS)

    async def _await_job(self, batch_token: str, until: float, label: str = BATCH_LABEL) -> dict[str, Any] | None:
        """The job made for this batch, looked for until ``until`` (monotonic time); None if it never shows."""
        while True:
            found = await self.find_job_by_label(batch_token, label)
            if found is not None or time.monotonic() >= until:
                return found
            await asyncio.sleep(min(1.0, max(0.0, until - time.monotonic())))

    async def jobs_by_label(self, batch_token: str, label: str = BATCH_LABEL) -> list[dict[str, Any]]:
        """Every job made for this batch (normally one)."""
        listing = await self.list_jobs({"filter": f"labels.{label}={batch_token}", "pageSize": 10})
        return list(listing.get("batchPredictionJobs") or [])

    async def find_job_by_label(self, batch_token: str, label: str = BATCH_LABEL) -> dict[str, Any] | None:
        jobs = await self.jobs_by_label(batch_token, label)
        return jobs[-1] if jobs else None

    async def list_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        """One page of Google's list (``filter``, ``pageSize``, ``pageToken``), as Google answers it."""
        return await retry_async(
            lambda: self._request("GET", f"{self.settings.parent}/batchPredictionJobs", params=params),
            self._policy)

    async def delete_job(self, name: str) -> dict[str, Any]:
        """Google's delete (a long-running operation); a retry after the first attempt worked answers 404."""
        return await retry_async(lambda: self._request("DELETE", name), self._policy)

    async def get_job(self, name: str) -> dict[str, Any]:
        return await retry_async(lambda: self._request("GET", name), self._policy)

    async def cancel_job(self, name: str) -> None:
        """Ask Vertex to cancel; a retry refused because the first attempt already worked is a success."""
        try:
            await retry_async(lambda: self._request("POST", f"{name}:cancel", json={}), self._policy)
        except UpstreamError as exc:
            if exc.status_code != 400:
                raise
            state = (await self.get_job(name)).get("state")
            if state not in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED"):
                raise


def _raise_for_status(response: httpx.Response, bucket: str = "") -> None:
    """Google's status and message, with the gateway's own bucket and object names taken out."""
    if response.is_success:
        return
    message = response.text[:2000] or response.reason_phrase
    reason = None
    try:
        error = response.json().get("error", {})
        if isinstance(error, dict) and error.get("message"):
            message = str(error["message"])
            reason = str(error["status"]) if error.get("status") else None
    except ValueError:
        pass
    message = without_storage_names(message, bucket)
    status = response.status_code
    failure = TransientError(message, status) if status in TRANSIENT_STATUS else UpstreamError(message, status)
    failure.reason = reason
    raise failure

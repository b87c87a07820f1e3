"""The Vertex AI batchPredictionJobs REST API, over httpx.

One function (``_raise_for_status``) turns Google's error bodies into ``UpstreamError`` with Google's
status and message; network failures become ``TransientError``. Reads and cancel are retried;
``create_job`` never leaves two jobs: before re-sending it looks the job up by its unique label.
"""

from __future__ import annotations

from typing import Any

import httpx

from . import credentials
from .errors import TransientError, UpstreamError
from .retry import RetryPolicy, is_retryable, retry_async
from .settings import Settings

BATCH_LABEL = "litellm_vertex_batch"


class VertexClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, policy: RetryPolicy | None = None) -> None:
        self.settings = settings
        self._http = http
        self._policy = policy or RetryPolicy(deadline=settings.retry_seconds)
        self._timeout = httpx.Timeout(settings.timeout_seconds, connect=min(10.0, settings.timeout_seconds))

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        token = await credentials.access_token(self.settings.vertex_credentials)
        url = f"{self.settings.vertex_base_url}/v1/{path}"
        try:
            response = await self._http.request(method, url, headers={"Authorization": f"Bearer {token}"},
                                                timeout=self._timeout, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientError(f"Vertex AI did not answer in time ({type(exc).__name__})", 504) from exc
        except httpx.TransportError as exc:
            raise TransientError(f"could not reach Vertex AI: {exc!r}", 503) from exc
        _raise_for_status(response)
        return response.json() if response.content else {}

    async def create_job(self, job: dict[str, Any], batch_token: str) -> dict[str, Any]:
        """Create the job once: after a transient failure, adopt a job already made for this batch."""
        path = f"{self.settings.parent}/batchPredictionJobs"
        last: UpstreamError | None = None
        for delay in [0.0, *self._policy.delays()]:
            if delay:
                import asyncio

                await asyncio.sleep(delay)
            if last is not None:
                existing = await self.find_job_by_label(batch_token)
                if existing is not None:
                    return existing
            try:
                return await self._request("POST", path, json=job)
            except UpstreamError as exc:
                if not is_retryable(exc):
                    raise
                last = exc
        assert last is not None
        raise last

    async def find_job_by_label(self, batch_token: str) -> dict[str, Any] | None:
        params = {"filter": f"labels.{BATCH_LABEL}={batch_token}", "pageSize": 10}
        listing = await retry_async(
            lambda: self._request("GET", f"{self.settings.parent}/batchPredictionJobs", params=params),
            self._policy)
        jobs = listing.get("batchPredictionJobs") or []
        return jobs[0] if jobs else None

    async def get_job(self, name: str) -> dict[str, Any]:
        return await retry_async(lambda: self._request("GET", name), self._policy)

    async def cancel_job(self, name: str) -> None:
        await retry_async(lambda: self._request("POST", f"{name}:cancel", json={}), self._policy)


def _raise_for_status(response: httpx.Response) -> None:
    if response.is_success:
        return
    message = response.text[:2000] or response.reason_phrase
    try:
        error = response.json().get("error", {})
        if isinstance(error, dict) and error.get("message"):
            message = str(error["message"])
    except ValueError:
        pass
    status = response.status_code
    if status in (429, 500, 502, 503, 504):
        raise TransientError(message, status)
    raise UpstreamError(message, status)

"""The object proxy_config.yaml names under ``litellm_settings.callbacks``.

A LiteLLM ``CustomLogger`` so the proxy loads it at start-up; loading it installs the Files/Batches
routing. As a logger it watches the proxy's Vertex pass-through for batch prediction jobs and has them
priced when they finish (``services/passthrough.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from ..cloud.gcs import GcsObjects
from ..cloud.store import Store
from ..core.errors import VertexBatchError
from ..core.settings import resolve
from ..services import passthrough
from . import install
from .call_context import creator_metadata, files_settings_entry
from .cost_events import log_job_cost
from .handlers import PROVIDER, VertexBatchFiles

log = logging.getLogger(__name__)


def job_from_event(kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Vertex job resource a pass-through logging event carries, if it is one."""
    payload = kwargs.get("passthrough_logging_payload") or {}
    body = payload.get("response_body") if isinstance(payload, Mapping) else None
    url = str(payload.get("url") or "") if isinstance(payload, Mapping) else ""
    if "batchPredictionJobs" not in url or not isinstance(body, dict):
        return None
    return body if isinstance(body.get("name"), str) and passthrough.JOB_NAME.match(body["name"]) else None


def event_caller(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Who made a pass-through call, from the event's metadata."""
    params = kwargs.get("litellm_params") or {}
    return creator_metadata({"litellm_metadata": params.get("metadata"), "metadata": params.get("litellm_metadata")})


class VertexBatchCallback(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.handlers = VertexBatchFiles()
        self.active = False

    def install(self) -> bool:
        self.active = install.install(self.handlers, PROVIDER)
        return self.active

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        job = job_from_event(kwargs) if self.active else None
        if job is None:
            return
        try:
            settings = resolve({}, files_settings_entry())
            await passthrough.observe(Store(GcsObjects(settings)), settings, job, event_caller(kwargs),
                                      lambda bucket: GcsObjects(settings, bucket), log_job_cost)
        except VertexBatchError as err:
            log.error("could not price pass-through job %s: %s", job.get("name"), err.message)

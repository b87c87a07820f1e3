"""The object proxy_config.yaml names under ``litellm_settings.callbacks``.

A LiteLLM ``CustomLogger`` so the proxy loads it at start-up; loading it installs the Files/Batches
routing. As a logger it watches the proxy's Vertex pass-through for batch prediction jobs and prices
them when they finish (``passthrough.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from ..core.errors import VertexBatchError
from ..core.settings import resolve
from ..services import passthrough
from . import install as hook
from .call_context import files_settings_entry
from .deployments import check_prices_when_router_ready
from .handlers import PROVIDER, VertexBatchFiles

log = logging.getLogger(__name__)


class VertexBatchCallback(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.handlers = VertexBatchFiles()
        self.active = False

    def install(self) -> bool:
        self.active = hook.install(self.handlers, PROVIDER)
        if self.active:
            check_prices_when_router_ready()
        return self.active

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        job = passthrough.job_from_event(kwargs)
        if job is None:
            return
        try:
            await passthrough.observe(resolve({}, files_settings_entry()), job, kwargs)
        except VertexBatchError as err:
            log.error("could not price pass-through job %s: %s", job.get("name"), err.message)

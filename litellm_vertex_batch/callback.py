"""The object proxy_config.yaml names under ``litellm_settings.callbacks``.

A LiteLLM ``CustomLogger`` so the proxy loads it at start-up; loading it installs the Files/Batches
routing. It is also where batch cost logging will hang (issue: spend tracking).
"""

from __future__ import annotations

from litellm.integrations.custom_logger import CustomLogger

from . import hook
from .plugin import PROVIDER, VertexBatchFiles


class VertexBatchCallback(CustomLogger):
    def __init__(self) -> None:
        super().__init__()
        self.handlers = VertexBatchFiles()
        self.active = False

    def install(self) -> bool:
        self.active = hook.install(self.handlers, PROVIDER)
        return self.active

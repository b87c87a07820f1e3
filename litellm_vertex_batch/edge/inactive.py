"""What the proxy loads when the plugin cannot start on the installed LiteLLM (a release without the internals it
uses fails already while its modules are imported): a logger that does nothing, and one "NOT active" line, so
the proxy starts normally and every other provider keeps working."""

from __future__ import annotations

import logging
from typing import Any

from ..core import versions

log = logging.getLogger("litellm_vertex_batch")


def litellm_version() -> str:
    try:
        from importlib.metadata import version

        return version("litellm")
    except Exception:
        return "unknown"


def not_active_line(version: str, reason: str) -> str:
    return (f"litellm-vertex-batch is NOT active on LiteLLM {version}: {reason}. It supports LiteLLM "
            f"{versions.OLDEST} up to (not including) {versions.FIRST_UNSUPPORTED}; every other provider works "
            "as before, and Files/Batches calls for it get LiteLLM's own answer.")


def log_to_stderr() -> None:
    """The proxy configures no handler for third-party loggers: give the package's one, so every module's lines
    (``logging.getLogger(__name__)``) reach the proxy log, named by module."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s:%(levelname)s: %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def inactive_plugin(error: BaseException) -> Any:
    """A do-nothing callback for ``litellm_settings.callbacks``, after logging why the plugin is not active."""
    log_to_stderr()
    log.error(not_active_line(litellm_version(), f"importing it failed ({type(error).__name__}: {error})"))
    try:
        from litellm.integrations.custom_logger import CustomLogger
    except Exception:  # a LiteLLM without even this: the proxy reports the callback itself
        return None
    return CustomLogger()

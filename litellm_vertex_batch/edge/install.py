"""Installing the plugin into a stock LiteLLM proxy, without an official extension point.

The proxy's /v1/files and /v1/batches endpoints call ``litellm.<handler>`` at request time. ``install``
replaces those nine module attributes with dispatchers that send this plugin's provider names to its
handlers (wrapped in LiteLLM's ``client`` so logging and callbacks run as for a built-in provider)
and every other provider to the original function. It is idempotent, checks first that every
internal it relies on exists, and logs what is missing, naming the LiteLLM version, if not.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

from ..core import versions
from ..core.settings import PROVIDER
from . import compat
from .inactive import litellm_version, log_to_stderr, not_active_line
from .native_routes import install_native_routes
from .routing import install_routing, is_plugin_id, names_plugin_id
from .startup import report_when_ready
from .sync_calls import install_sync

log = logging.getLogger(__name__)


HANDLERS = ("acreate_file", "afile_retrieve", "afile_delete", "afile_list", "afile_content",
            "acreate_batch", "aretrieve_batch", "alist_batches", "acancel_batch")
_ORIGINAL = "__litellm_vertex_batch_original__"
_FILES_ENDPOINTS_MODULE = "litellm.proxy.openai_files_endpoints.files_endpoints"


def missing_internals() -> list[str]:
    """The LiteLLM internals this plugin needs that the installed version lacks."""
    import litellm

    missing = [f"litellm.{name}" for name in HANDLERS if not callable(getattr(litellm, name, None))]
    for module_name, attribute in ((_FILES_ENDPOINTS_MODULE, "files_config"),
                                   ("litellm.utils", "client"),
                                   ("litellm.files.types", "FileContentStreamingResult"),
                                   ("litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini",
                                    "VertexGeminiConfig")):
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            missing.append(f"{module_name} ({type(exc).__name__})")
            continue
        if not hasattr(module, attribute):
            missing.append(f"{module_name}.{attribute}")
    return missing + compat.missing()  # the internals whose name depends on the LiteLLM version


def _named(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    async def handler(*args: Any, **kwargs: Any) -> Any:
        return await fn(*args, **kwargs)

    handler.__name__ = handler.__qualname__ = name
    return handler


def install(handlers: Any, provider: str) -> bool:
    """Route ``provider`` (and whatever ``handlers.provider_names()`` adds) to ``handlers``."""
    import litellm
    from litellm.utils import client

    log_to_stderr()
    version = litellm_version()
    problem = versions.version_problem(version, os.environ)
    if problem is None:
        missing = missing_internals()
        problem = f"it lacks {', '.join(missing)}" if missing else None
    if problem:
        log.error(not_active_line(version, problem))
        return False
    ours_by_name = {}
    for name in HANDLERS:
        current = getattr(litellm, name)
        original = getattr(current, _ORIGINAL, current)
        ours_by_name[name] = ours = client(_named(getattr(handlers, name), name))
        setattr(litellm, name, _dispatcher(name, original, ours, handlers))
    install_sync(ours_by_name.__getitem__, lambda kwargs, args: _serves(handlers, kwargs, args))
    compat.stream_file_content_for(provider)
    _guard_batch_file_check()
    _register_provider(provider)
    install_native_routes()
    unrouted = install_routing(handlers.provider_names)
    if unrouted:
        log.warning("litellm-vertex-batch: calls without a custom-llm-provider header reach it only by "
                    "model-wrapped ids on LiteLLM %s (it lacks %s)", version, ", ".join(unrouted))
    report_when_ready(version, handlers.provider_names)  # once the proxy has loaded its config
    return True


def _dispatcher(name: str, original: Callable[..., Any], ours: Callable[..., Any], handlers: Any) -> Callable[..., Any]:
    async def dispatch(*args: Any, **kwargs: Any) -> Any:
        if _serves(handlers, kwargs, args):
            return await ours(*args, **kwargs)
        return await original(*args, **kwargs)

    dispatch.__name__ = dispatch.__qualname__ = name
    setattr(dispatch, _ORIGINAL, original)
    return dispatch


def _serves(handlers: Any, kwargs: dict[str, Any], args: tuple[Any, ...]) -> bool:
    """Whether a Files/Batches call is this plugin's: one of its provider names, or one of its ids whatever
    provider was named (then the call is marked as this plugin's)."""
    if kwargs.get("custom_llm_provider") in handlers.provider_names():
        return True
    if names_plugin_id(kwargs) or (args and is_plugin_id(args[0])):
        kwargs["custom_llm_provider"] = PROVIDER
        return True
    return False


def _register_provider(provider: str) -> None:
    """Make ``model: <provider>/<gemini model>`` deployments acceptable to the Router, and answer their online
    calls through LiteLLM's Vertex provider (``online.py``)."""
    import litellm
    from litellm.utils import custom_llm_setup

    from .online import online_handler

    if not any(entry.get("provider") == provider for entry in litellm.custom_provider_map):
        litellm.custom_provider_map.append({"provider": provider, "custom_handler": online_handler()})
    custom_llm_setup()


def _guard_batch_file_check() -> None:
    """The proxy's own upload check parses each line with ``json.loads`` before any provider sees the file. A line
    nested thousands of levels deep makes it raise RecursionError (a 500) on older releases, and report the line as
    "not valid JSON" on newer ones (it is valid JSON, only too deep). Turn exactly those into a 400 naming the line
    and the problem; every other outcome of the check is LiteLLM's, unchanged."""
    module = importlib.import_module(_FILES_ENDPOINTS_MODULE)
    original = getattr(module, "check_batch_file_upload", None)
    if original is None or hasattr(original, _ORIGINAL):
        return

    def too_deep(line: int | str) -> Exception:
        from litellm.proxy._types import ProxyException

        return ProxyException(
            message=f"Batch input file line {line} nests objects and arrays too deeply to be read. The file was not "
                    "forwarded to the provider.", type="invalid_request_error", param="file", code=400)

    def check_batch_file_upload(filename: Any, file_source: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            failure = original(filename, file_source, *args, **kwargs)
        except RecursionError:
            raise too_deep(_too_deep_line(file_source)) from None
        line = getattr(failure, "line_number", None)
        if type(failure).__name__ == "BatchFileInvalidJsonLine" and isinstance(line, int) \
                and _too_deep_line(file_source, only=line) == line:
            raise too_deep(line)
        return failure

    setattr(check_batch_file_upload, _ORIGINAL, original)
    setattr(module, "check_batch_file_upload", check_batch_file_upload)  # noqa: B010 (a module LiteLLM types)


def _too_deep_line(file_source: Any, only: int | None = None) -> int | str:
    """The number of the first line (or just line ``only``) whose parsing exhausts the recursion limit, as LiteLLM
    counts lines; "?" if none."""
    import json

    if isinstance(file_source, bytes):
        lines: Any = file_source.splitlines()
    else:
        file_source.seek(0)
        lines = file_source
    try:
        for number, raw in enumerate(lines, start=1):
            if only is not None and number != only:
                continue
            try:
                json.loads(raw)
            except RecursionError:
                return number
            except ValueError:
                pass
            if only is not None:
                break
        return "?"
    finally:
        if not isinstance(file_source, bytes):
            file_source.seek(0)

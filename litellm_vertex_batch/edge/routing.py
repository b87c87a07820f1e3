"""Which Files/Batches calls reach this plugin when the client names no provider (or another one).

Many OpenAI batch clients cannot send LiteLLM's ``custom-llm-provider`` header (they build a bare
``OpenAI()``, or download results with a raw HTTP client). Two rules make them work unchanged:

* **Ids decide.** A call naming an id this plugin issued (``file-vb…``, ``batch_vb…``: in the URL, or as a
  batch's ``input_file_id``) reaches the plugin whatever the header says or omits. Other providers' ids never
  look like these (a fixed prefix, a fixed length, a base32 alphabet), so their calls are untouched.
* **A default, when the operator turns it on** (``serve_calls_without_provider: true`` in this provider's
  ``files_settings`` entry): ``files.create``, ``batches.create``, ``files.list`` and ``batches.list`` that name
  no provider anywhere (path, header, query, body or form) are the plugin's. Off, they go to LiteLLM's own
  default (``openai``) as before.

Both are applied where the proxy reads the provider: its endpoint modules call
``get_custom_llm_provider_from_request_headers(request)`` in every Files/Batches route, and this module wraps
that function there (the request is all it needs). ``install.py``'s dispatchers apply the id rule again to
the ``litellm.a*`` calls themselves, for paths that name a provider before the header (``/openai/v1/...``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from ..core import ids
from ..core import settings as settings_mod
from .call_context import files_settings_entry

log = logging.getLogger(__name__)
DEFAULT_SETTING = settings_mod.DEFAULT_PROVIDER_SETTING
_ENV_DEFAULT = "LITELLM_VERTEX_BATCH_SERVE_CALLS_WITHOUT_PROVIDER"
ENDPOINT_MODULES = ("litellm.proxy.openai_files_endpoints.files_endpoints",
                    "litellm.proxy.batches_endpoints.endpoints")
_HEADER_FUNCTION = "get_custom_llm_provider_from_request_headers"
_WRAPPED = "__litellm_vertex_batch_routing__"
#: kwargs of the litellm.a* calls that carry an id (the dispatchers look at these).
ID_KWARGS = ("file_id", "batch_id", "input_file_id")


def is_plugin_id(value: object) -> bool:
    """An id this plugin issued (plain; model-wrapped ids are routed by the proxy to their deployment)."""
    return ids.parse_file_id(value) is not None or ids.parse_batch_id(value) is not None


def names_plugin_id(kwargs: Mapping[str, Any]) -> bool:
    return any(is_plugin_id(kwargs.get(key)) for key in ID_KWARGS)


def default_on(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether the operator made this plugin the default for calls that name no provider."""
    entry = files_settings_entry() if config is None else config
    return settings_mod.switch(entry, DEFAULT_SETTING, _ENV_DEFAULT, False, environ)


def _parsed_body(request: Any) -> Mapping[str, Any]:
    """The body the proxy already parsed (JSON) or the form FastAPI already read; never reads the stream."""
    parsed = getattr(request, "scope", {}).get("parsed_body")
    if isinstance(parsed, tuple) and len(parsed) == 2 and isinstance(parsed[1], Mapping):
        return parsed[1]
    form = getattr(request, "_form", None)  # starlette caches the form FastAPI parsed for the route's params
    return form if isinstance(form, Mapping) else {}


def _is_create_or_list(request: Any) -> bool:
    path = str(getattr(getattr(request, "url", None), "path", "")).rstrip("/")
    method = str(getattr(request, "method", "")).upper()
    return method in ("GET", "POST") and path.endswith(("/files", "/batches"))


def provider_for(request: Any, named: str | None, ours: frozenset[str], default: bool) -> str | None:
    """The provider a Files/Batches request goes to, given the one its header ``named`` (or None)."""
    path_params = getattr(request, "path_params", None) or {}
    in_path = [path_params.get(key) for key in ("file_id", "batch_id")]
    body = _parsed_body(request)
    if any(is_plugin_id(value) for value in in_path) or (
            not any(in_path) and is_plugin_id(body.get("input_file_id"))):
        return named if named in ours else settings_mod.PROVIDER
    if named is not None or not default or not _is_create_or_list(request):
        return named
    query = getattr(request, "query_params", None) or {}
    if "custom_llm_provider" in query or "custom_llm_provider" in body:
        return None  # the caller named one after all: LiteLLM reads it next
    return settings_mod.PROVIDER


def install_routing(provider_names: Callable[[], frozenset[str]]) -> list[str]:
    """Wrap the proxy's header lookup in its Files/Batches endpoint modules; returns what it could not wrap."""
    missing = []
    for module_name in ENDPOINT_MODULES:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            missing.append(f"{module_name} ({type(exc).__name__})")
            continue
        current = getattr(module, _HEADER_FUNCTION, None)
        if current is None:
            missing.append(f"{module_name}.{_HEADER_FUNCTION}")
            continue
        if getattr(current, _WRAPPED, False):
            continue
        original = current

        def lookup(request: Any, _original: Callable[[Any], str | None] = original) -> str | None:
            return provider_for(request, _original(request), provider_names(), default_on())

        setattr(lookup, _WRAPPED, True)
        setattr(module, _HEADER_FUNCTION, lookup)
    return missing

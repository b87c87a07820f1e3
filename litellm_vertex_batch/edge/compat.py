"""The proxy-side LiteLLM internals this plugin reaches into, looked up in one place.

The supported releases (``core/versions.py``) all have them under these names; the library functions whose name
changed between them are in ``adapters/litellm_compat.py``, and ``missing`` names both, so that a release lacking
any of them leaves the plugin inactive with a line naming what is missing instead of failing a request later.

* The proxy streams ``/v1/files/{id}/content`` for the providers in its streaming handler module's
  ``FILE_CONTENT_STREAMING_PROVIDERS`` (the module's own binding is replaced, never the set LiteLLM's
  Files/Batches functions read).
* ``common_utils.authorize_model_for_key`` is the proxy's per-key model check.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..adapters import litellm_compat

STREAMING_MODULE = "litellm.proxy.openai_files_endpoints.file_content_streaming_handler"
STREAMING_PROVIDERS = "FILE_CONTENT_STREAMING_PROVIDERS"
_COMMON_UTILS = "litellm.proxy.openai_files_endpoints.common_utils"
_PROXY_INTERNALS = ((STREAMING_MODULE, STREAMING_PROVIDERS), (_COMMON_UTILS, "authorize_model_for_key"))


def stream_file_content_for(provider: str) -> None:
    """Make the proxy stream file content for ``provider`` (idempotent)."""
    module = importlib.import_module(STREAMING_MODULE)
    setattr(module, STREAMING_PROVIDERS, frozenset(set(getattr(module, STREAMING_PROVIDERS)) | {provider}))


async def authorize_model_for_key(model_id: str, llm_router: Any, user_api_key_dict: Any) -> None:
    """The proxy's model check for a key (403 if the key, team, org... may not use ``model_id``)."""
    check = importlib.import_module(_COMMON_UTILS).authorize_model_for_key
    await check(model_id=model_id, llm_router=llm_router, user_api_key_dict=user_api_key_dict)


def missing() -> list[str]:
    """The internals the installed LiteLLM lacks, of those named here and in ``adapters/litellm_compat.py``."""
    found = litellm_compat.missing()
    for module_name, name in _PROXY_INTERNALS:
        try:
            if not hasattr(importlib.import_module(module_name), name):
                found.append(f"{module_name}.{name}")
        except Exception as exc:
            found.append(f"{module_name} ({type(exc).__name__})")
    return found

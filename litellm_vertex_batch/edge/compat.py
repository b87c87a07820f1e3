"""The LiteLLM internals whose name or home differs between the LiteLLM releases this plugin runs on.

Every version-specific lookup of the proxy side is here (the library functions the adapters call are in
``adapters/litellm_compat.py``, named by ``missing`` below too):

* The proxy streams ``/v1/files/{id}/content`` for the providers in a set its streaming handler module reads:
  ``FILE_CONTENT_STREAMING_PROVIDERS`` from 1.103, ``OPENAI_COMPATIBLE_BATCH_AND_FILES_PROVIDERS`` before
  (the module's own binding is replaced, never the set LiteLLM's Files/Batches functions read).
* ``common_utils.authorize_model_for_key`` exists from 1.103; before, the same check is
  ``auth_checks.can_key_call_resolved_model``, which is what ``authorize_model_for_key`` calls.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..adapters import litellm_compat

STREAMING_MODULE = "litellm.proxy.openai_files_endpoints.file_content_streaming_handler"
#: the streaming handler module's set of streamed providers, newest name first
STREAMING_PROVIDER_SETS = ("FILE_CONTENT_STREAMING_PROVIDERS", "OPENAI_COMPATIBLE_BATCH_AND_FILES_PROVIDERS")
_COMMON_UTILS = "litellm.proxy.openai_files_endpoints.common_utils"
_AUTH_CHECKS = "litellm.proxy.auth.auth_checks"


def streaming_providers_name(module: Any) -> str | None:
    """The name under which ``module`` (the streaming handler) holds the providers it streams, if any."""
    return next((name for name in STREAMING_PROVIDER_SETS if hasattr(module, name)), None)


def stream_file_content_for(provider: str) -> None:
    """Make the proxy stream file content for ``provider`` (idempotent)."""
    module = importlib.import_module(STREAMING_MODULE)
    name = streaming_providers_name(module)
    if name is not None:
        setattr(module, name, frozenset(set(getattr(module, name)) | {provider}))


async def authorize_model_for_key(model_id: str, llm_router: Any, user_api_key_dict: Any) -> None:
    """The proxy's model check for a key (403 if the key, team, org... may not use ``model_id``)."""
    try:
        check = importlib.import_module(_COMMON_UTILS).authorize_model_for_key
    except AttributeError:
        from litellm.proxy.auth.auth_checks import can_key_call_resolved_model

        await can_key_call_resolved_model(model=model_id, llm_model_list=None, valid_token=user_api_key_dict,
                                          llm_router=llm_router)
        return
    await check(model_id=model_id, llm_router=llm_router, user_api_key_dict=user_api_key_dict)


def missing() -> list[str]:
    """The version-dependent internals the installed LiteLLM has under none of the names known here."""
    found = litellm_compat.missing()
    for alternatives in (tuple((STREAMING_MODULE, name) for name in STREAMING_PROVIDER_SETS),
                         ((_COMMON_UTILS, "authorize_model_for_key"), (_AUTH_CHECKS, "can_key_call_resolved_model"))):
        problems = []
        for module_name, name in alternatives:
            try:
                if hasattr(importlib.import_module(module_name), name):
                    break
                problems.append(f"{module_name}.{name}")
            except Exception as exc:
                problems.append(f"{module_name} ({type(exc).__name__})")
        else:
            found.append(problems[0])
    return found

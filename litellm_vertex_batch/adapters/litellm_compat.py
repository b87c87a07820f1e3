"""LiteLLM library functions the adapters call, under the name the installed LiteLLM gives them.

Newer releases made three of them public; older ones have the same function (same signature) under a leading
underscore, and some releases have both. The public name is tried first. ``edge/compat.py`` names these in the
install check; the proxy-side lookups live there.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_GEMINI_TRANSFORMATION = "litellm.llms.vertex_ai.gemini.transformation"
_GEMINI_CONFIG = "litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini"
_UTILS = "litellm.utils"

#: (module, attribute: "Class.method" or a name, its name before 1.106)
RENAMED = ((_GEMINI_TRANSFORMATION, "transform_request_body", "_transform_request_body"),
           (_GEMINI_CONFIG, "VertexGeminiConfig.transform_google_generate_content_to_openai_model_response",
            "VertexGeminiConfig._transform_google_generate_content_to_openai_model_response"),
           (_UTILS, "count_characters", "_count_characters"))


def _lookup(module_name: str, dotted: str) -> Any:
    owner: Any = importlib.import_module(module_name)
    for part in dotted.split("."):
        owner = getattr(owner, part)
    return owner


def resolve(module_name: str, *names: str) -> Any:
    """The first of ``names`` (``"Class.attr"`` allowed) the module has; AttributeError naming the first if none."""
    for name in names:
        try:
            return _lookup(module_name, name)
        except AttributeError:
            continue
    raise AttributeError(f"{module_name}.{names[0]}")


def missing() -> list[str]:
    """The renamed functions the installed LiteLLM has under neither name."""
    found = []
    for module_name, name, old_name in RENAMED:
        try:
            resolve(module_name, name, old_name)
        except ImportError as exc:
            found.append(f"{module_name} ({type(exc).__name__})")
        except AttributeError:
            found.append(f"{module_name}.{name}")
    return found


def transform_request_body() -> Callable[..., Any]:
    return resolve(_GEMINI_TRANSFORMATION, "transform_request_body", "_transform_request_body")


def google_response_to_openai(config: Any) -> Callable[..., Any]:
    """``config.transform_google_generate_content_to_openai_model_response`` (bound)."""
    method = getattr(config, "transform_google_generate_content_to_openai_model_response", None)
    return method or config._transform_google_generate_content_to_openai_model_response


def count_characters() -> Callable[..., int]:
    return resolve(_UTILS, "count_characters", "_count_characters")

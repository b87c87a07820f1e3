"""One adapter per kind of batch line, registered by the OpenAI ``url`` it serves.

Adding an endpoint is one module here (a class with the methods of ``core.endpoint.Endpoint``), one line in
``ADAPTERS`` below, and its tests; upload, finalization and pricing find it by url.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..core.endpoint import Endpoint
from .chat import ChatCompletions

#: url -> adapter, for every kind of batch line this plugin serves.
ADAPTERS: Mapping[str, Endpoint] = {adapter.url: adapter for adapter in (ChatCompletions(),)}


def for_url(url: str | None) -> Endpoint | None:
    return ADAPTERS.get(url or "")


def for_vertex_model(model: str) -> Endpoint:
    """The adapter whose rows a native Vertex job of ``model`` holds (priced the same way)."""
    return ADAPTERS["/v1/chat/completions"]

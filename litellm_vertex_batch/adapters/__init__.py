"""One adapter per kind of batch line, registered by the OpenAI ``url`` it serves.

Adding an endpoint is one module here (a class with the methods of ``core.endpoint.Endpoint``), one line in
``ADAPTERS`` below, and its tests; upload, finalization and pricing find it by url.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..core.endpoint import Endpoint, RowTokens
from .chat import ChatCompletions
from .embedding_output import embedding_row_tokens
from .embeddings import Embeddings, is_embedding_model
from .responses import Responses

#: url -> adapter, for every kind of batch line this plugin serves.
ADAPTERS: Mapping[str, Endpoint] = {adapter.url: adapter for adapter in (ChatCompletions(), Embeddings(),
                                                                                 Responses())}


def for_url(url: str | None) -> Endpoint | None:
    return ADAPTERS.get(url or "")


def native_endpoint_url(model: str) -> str:
    """The OpenAI endpoint a Vertex-native job of ``model`` corresponds to (for its cost event)."""
    return Embeddings.url if is_embedding_model(model) else ChatCompletions.url


def native_row_tokens(model: str) -> Callable[[Mapping[str, Any]], RowTokens | None]:
    """How one output row of a Vertex-native job of ``model`` is priced (None: a failed row, not billed)."""
    if is_embedding_model(model):
        return embedding_row_tokens
    chat = ChatCompletions()

    def gemini_row(row: Mapping[str, Any]) -> RowTokens | None:
        response = chat.row_response(row)
        return None if response is None else chat.row_tokens(response)

    return gemini_row

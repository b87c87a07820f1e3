"""Vertex embedding output rows, as a Vertex-native embedding job writes them, priced like LiteLLM prices the
same model online.

Two formats (Google Cloud docs, "Get batch text embeddings predictions"):

* ``text-embedding-00x`` / ``text-multilingual-embedding-002``: ``{"instance": {"content": ...},
  "predictions": [{"embeddings": {"statistics": {"token_count", "truncated"}, "values"}}], "status"}``. LiteLLM's
  price map prices these per character (``input_cost_per_character``; characters counted as LiteLLM counts them,
  whitespace left out), so a row carries its characters and its tokens.
* ``gemini-embedding-001`` and newer: the Gemini batch schema, ``{"key", "request", "response", "status"}``. Google
  does not show this output row; assumed here: ``response`` is an ``embedContent`` answer whose token count is in
  ``usageMetadata.promptTokenCount`` (as Gemini answers carry usage), else in the text-embedding style
  ``embedding.statistics.token_count``. Priced per token (the map's ``input_cost_per_token_batches``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.endpoint import RowTokens
from . import litellm_compat

LEGACY_PREFIXES = ("text-embedding-", "text-multilingual-embedding-")


def is_embedding_model(model: str) -> bool:
    return model.startswith(LEGACY_PREFIXES) or "embedding" in model


def _int(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def billable_characters(text: str) -> int:
    """Characters as LiteLLM counts them for per-character prices (``litellm.utils.count_characters``)."""
    return int(litellm_compat.count_characters()(text=text))


def embedding_row_tokens(row: Mapping[str, Any]) -> RowTokens | None:
    """The priced counts of one embedding output row (either format), or None when the row failed."""
    if row.get("status"):
        return None
    predictions = row.get("predictions")
    if isinstance(predictions, list):  # text-embedding-00x
        if not predictions:
            return None
        tokens = sum(_int(((p.get("embeddings") or {}).get("statistics") or {}).get("token_count"))
                     for p in predictions if isinstance(p, Mapping))
        instance = row.get("instance") or {}
        content = instance.get("content") if isinstance(instance, Mapping) else None
        return RowTokens(prompt=tokens, characters=billable_characters(content) if isinstance(content, str) else 0)
    response = row.get("response")
    if not isinstance(response, Mapping):
        return None
    usage = response.get("usageMetadata") or {}
    statistics = (response.get("embedding") or {}).get("statistics") or {}
    return RowTokens(prompt=_int(usage.get("promptTokenCount")) or _int(statistics.get("token_count")))

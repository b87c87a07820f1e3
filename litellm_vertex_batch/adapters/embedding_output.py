"""Vertex embedding output rows -> OpenAI embedding responses, priced like LiteLLM prices the same model online.

Two row formats (Google Cloud docs, "Get batch embeddings inferences"):

* ``text-embedding-00x`` / ``text-multilingual-embedding-002``: ``{"instance": {"content": ...},
  "predictions": [{"embeddings": {"statistics": {"token_count", "truncated"}, "values"}}], "status"}``. LiteLLM's
  price map prices these per character (``input_cost_per_character``; characters counted as LiteLLM counts them,
  whitespace left out), so a row carries its characters and its tokens.
* ``gemini-embedding-001`` and newer: the Gemini batch schema, ``{"request", "response", "status"}``. Google
  does not show this output row; assumed here: ``response`` is an ``embedContent`` answer (``embedding.values``)
  whose token count is in ``usageMetadata.promptTokenCount`` (as Gemini answers carry usage), else in the
  text-embedding style ``embedding.statistics.token_count``. Priced per token.

The body is LiteLLM's own: the rows of one line are put back into the ``predictions`` of one Vertex predict
answer, which ``VertexAITextEmbeddingConfig.transform_vertex_response_to_openai`` turns into the response an
online call returns. ``encoding_format: "base64"`` is OpenAI's: the float32 values, little-endian, base64.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

from ..core.endpoint import RowTokens, RowUsage
from . import litellm_compat


def _int(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def billable_characters(text: str) -> int:
    """Characters as LiteLLM counts them for per-character prices (``litellm.utils.count_characters``)."""
    return int(litellm_compat.count_characters()(text=text))


def embedding_row_response(row: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The row itself when it succeeded (both formats keep their answer at the top), None when it failed."""
    if row.get("status"):
        return None
    predictions = row.get("predictions")
    if isinstance(predictions, list):
        return row if predictions and isinstance(predictions[0], Mapping) else None
    return row if isinstance(row.get("response"), Mapping) else None


def embedding_row_tokens(row: Mapping[str, Any]) -> RowTokens | None:
    """The priced counts of one embedding output row (either format), or None when the row failed."""
    if embedding_row_response(row) is None:
        return None
    predictions = row.get("predictions")
    if isinstance(predictions, list):  # text-embedding-00x
        tokens = sum(_int(((p.get("embeddings") or {}).get("statistics") or {}).get("token_count"))
                     for p in predictions if isinstance(p, Mapping))
        instance = row.get("instance") or {}
        content = instance.get("content") if isinstance(instance, Mapping) else None
        return RowTokens(prompt=tokens, characters=billable_characters(content) if isinstance(content, str) else 0)
    return RowTokens(prompt=_gemini_tokens(row))


def _gemini_embedding(row: Mapping[str, Any]) -> Mapping[str, Any]:
    response = row.get("response") or {}
    embedding = response.get("embedding")
    if not isinstance(embedding, Mapping):
        embeddings = response.get("embeddings")
        embedding = embeddings[0] if isinstance(embeddings, list) and embeddings else {}
    return embedding if isinstance(embedding, Mapping) else {}


def _gemini_tokens(row: Mapping[str, Any]) -> int:
    usage = (row.get("response") or {}).get("usageMetadata") or {}
    statistics = _gemini_embedding(row).get("statistics") or {}
    return _int(usage.get("promptTokenCount")) or _int(statistics.get("token_count"))


def _gemini_prediction(row: Mapping[str, Any]) -> dict[str, Any]:
    """A Gemini embedding row's answer in the text-embedding ``predictions`` shape LiteLLM reads."""
    embedding = _gemini_embedding(row)
    values = embedding.get("values")
    if not isinstance(values, list):
        raise ValueError("the response has no embedding values")
    truncated = bool((embedding.get("statistics") or {}).get("truncated"))
    return {"embeddings": {"values": values, "statistics": {"token_count": _gemini_tokens(row),
                                                            "truncated": truncated}}}


def _prediction(row: Mapping[str, Any]) -> Any:
    predictions = row.get("predictions")
    return predictions[0] if isinstance(predictions, list) else _gemini_prediction(row)


def as_base64(values: list[float]) -> str:
    """OpenAI's ``base64`` encoding of an embedding: float32 little-endian bytes."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


class EmbeddingReader:
    """Turns the rows of one line (in input order) into the embedding response LiteLLM gives online."""

    def __init__(self, model: str) -> None:
        from litellm.llms.vertex_ai.vertex_embeddings.transformation import VertexAITextEmbeddingConfig

        self.model = model
        self._config = VertexAITextEmbeddingConfig()

    def read(self, response: Mapping[str, Any]) -> tuple[dict[str, Any], RowUsage]:
        return self.read_group([response], "")

    def read_group(self, responses: list[Mapping[str, Any]], option: str) -> tuple[dict[str, Any], RowUsage]:
        from litellm.types.utils import EmbeddingResponse

        predict = {"predictions": [_prediction(row) for row in responses]}
        result = self._config.transform_vertex_response_to_openai(predict, self.model, EmbeddingResponse())
        body = result.model_dump(exclude_none=False)
        if option == "b64":
            for item in body["data"]:
                item["embedding"] = as_base64(item["embedding"])
        tokens = int((body.get("usage") or {}).get("prompt_tokens") or 0)
        return body, RowUsage(input_tokens=tokens)

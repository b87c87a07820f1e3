"""``/v1/embeddings`` lines on Vertex embedding models, mapped by LiteLLM's own Vertex embedding code.

In: ``get_optional_params_embeddings`` + ``VertexAITextEmbeddingConfig.transform_openai_request_to_vertex_
embedding_request``, what a live ``litellm.embedding(model="vertex_ai/...")`` runs, gives one instance per
element of ``input``; each becomes one batch row in the model's batch format (Google Cloud docs, "Get batch
embeddings inferences"):

* ``text-embedding-00x`` / ``text-multilingual-embedding-002``: the instance itself, ``{"content", "task_type"?,
  "title"?}``; Vertex echoes it as ``instance`` in the output row, which is how the row's custom_id comes back. The
  output size (``dimensions``) is a job parameter there (``modelParameters.outputDimensionality``), so a batch
  takes one.
* ``gemini-embedding-001`` and newer: ``{"request": {"content": {"parts": [{"text"}]}, "embed_content_config":
  {"output_dimensionality", "task_type", "title"}}}``, a size per row.

Out (``embedding_output.py``): the rows of one line are regrouped into one OpenAI embedding response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.carried import CUSTOM_ID_KEY, carried_part
from ..core.endpoint import LineProblem, RowTokens
from .embedding_output import EmbeddingReader, embedding_row_response, embedding_row_tokens

LEGACY_PREFIXES = ("text-embedding-", "text-multilingual-embedding-")
#: OpenAI's own limit on an ``input`` array (what OpenAI clients are written against)
MAX_INPUTS_PER_LINE = 2048
#: Google's limits per batch job: text-embedding jobs take up to 30,000 prompts, Gemini embedding jobs
#: up to 1,000,000 rows
LEGACY_MAX_TEXTS = 30_000
GEMINI_MAX_ROWS = 1_000_000
ENCODINGS = ("float", "base64")
#: what the adapter itself reads from a body (the rest goes to LiteLLM's parameter mapping)
_OWN_KEYS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})
#: what LiteLLM's mapping may produce that a Vertex batch row can carry
_INSTANCE_KEYS = ("task_type", "title")


def is_embedding_model(model: str) -> bool:
    return model.startswith(LEGACY_PREFIXES) or "embedding" in model


def is_legacy_model(model: str) -> bool:
    """A text-embedding model (``{"content"}`` rows), as opposed to a Gemini embedding model."""
    return model.startswith(LEGACY_PREFIXES)


def _output_size(model: str) -> int | None:
    """The model's full embedding size in LiteLLM's price map (the largest ``dimensions`` it takes)."""
    import litellm

    for name in (f"vertex_ai/{model}", model):
        entry = litellm.model_cost.get(name)
        if isinstance(entry, dict) and isinstance(entry.get("output_vector_size"), int):
            return int(entry["output_vector_size"])
    return None


def vertex_embedding_request(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """An embeddings body -> LiteLLM's Vertex ``{"instances", "parameters"}`` request, as mapped online."""
    from litellm.llms.vertex_ai.vertex_embeddings.transformation import VertexAITextEmbeddingConfig
    from litellm.utils import get_optional_params_embeddings

    extra = {k: v for k, v in body.items() if k not in _OWN_KEYS and v is not None}
    params = get_optional_params_embeddings(model=model, dimensions=body.get("dimensions"),
                                            custom_llm_provider="vertex_ai", **extra)
    request = VertexAITextEmbeddingConfig().transform_openai_request_to_vertex_embedding_request(
        input=body["input"], optional_params=dict(params), model=model)
    return {"instances": [dict(i) for i in request["instances"]], "parameters": dict(request.get("parameters") or {})}


class EmbeddingRowMapper:
    """One batch's embeddings lines -> Vertex rows (one per element of ``input``), with the batch's limits."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.legacy = is_legacy_model(model)
        self.output_size = _output_size(model)
        self.rows_so_far = 0
        #: a text-embedding job's one output size: (set, value); ``dimensions`` left out means the full size
        self._job_size: tuple[bool, int | None] = (False, None)

    def rows(self, carried_id: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes | None]:
        if not is_embedding_model(self.model):
            raise LineProblem(f"model {self.model!r} is not an embedding model (send /v1/chat/completions lines)")
        texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
        self._check_limits(len(texts), body.get("dimensions"))
        request = vertex_embedding_request(body, self.model)
        parameters = request["parameters"]
        unknown = sorted(set(parameters) - {"outputDimensionality", "task_type", "input_type", "title"})
        if unknown:
            raise LineProblem(f"body.{unknown[0]} is not a parameter a Vertex embedding batch takes")
        option = "b64" if body.get("encoding_format") == "base64" else ""
        rows = []
        for index, instance in enumerate(request["instances"]):
            carried = carried_part(carried_id, index, len(texts), option) if len(texts) > 1 or option else carried_id
            rows.append(self._row(instance, parameters, carried))
        self.rows_so_far += len(rows)
        return rows, b"embeddings:" + ",".join(sorted(rows[0])).encode() + b":" + str(sorted(parameters)).encode()

    def model_parameters(self) -> dict[str, Any] | None:
        known, size = self._job_size
        return {"outputDimensionality": size} if self.legacy and known and size is not None else None

    def _check_limits(self, count: int, dimensions: Any) -> None:
        if count > MAX_INPUTS_PER_LINE:
            raise LineProblem(f"body.input has {count} elements; a line takes at most {MAX_INPUTS_PER_LINE}")
        limit, what = (LEGACY_MAX_TEXTS, "texts") if self.legacy else (GEMINI_MAX_ROWS, "rows")
        if self.rows_so_far + count > limit:
            raise LineProblem(f"brings the batch to more than {limit:,} texts ({self.model} batch jobs take at most "
                              f"{limit:,} {what}); split the file")
        if dimensions is not None and self.output_size is not None and dimensions > self.output_size:
            raise LineProblem(f"body.dimensions {dimensions} is more than {self.model} gives "
                              f"(at most {self.output_size})")
        if self.legacy:
            size = None if dimensions == self.output_size else dimensions
            known, first = self._job_size
            if not known:
                self._job_size = (True, size)
            elif size != first:
                raise LineProblem(f"body.dimensions {dimensions} differs from earlier lines "
                                  f"({first or 'left out'}): a {self.model} batch job makes one embedding size")

    def _row(self, instance: Mapping[str, Any], parameters: Mapping[str, Any], carried: str) -> dict[str, Any]:
        for key in _INSTANCE_KEYS:
            if key in instance and not isinstance(instance[key], str):
                raise LineProblem(f"body.{'input_type' if key == 'task_type' else key} must be a string")
        if self.legacy:
            return {**instance, CUSTOM_ID_KEY: carried}
        config: dict[str, Any] = {}
        if parameters.get("outputDimensionality") is not None:
            config["output_dimensionality"] = parameters["outputDimensionality"]
        config.update({key: instance[key] for key in _INSTANCE_KEYS if key in instance})
        if self.model.startswith("gemini-embedding-2") and ("task_type" in config or "title" in config):
            raise LineProblem(f"{self.model} takes no task type or title (Google: write them into the text)")
        request: dict[str, Any] = {"content": {"parts": [{"text": instance["content"]}]}}
        if config:
            request["embed_content_config"] = config
        return {CUSTOM_ID_KEY: carried, "request": request}


class Embeddings:
    url = "/v1/embeddings"

    def body_problem(self, body: Mapping[str, Any]) -> str | None:
        value = body.get("input")
        if isinstance(value, str):
            texts = [value]
        elif isinstance(value, list) and value:
            if all(isinstance(item, int) and not isinstance(item, bool) for item in value) or any(
                    isinstance(item, list) for item in value):
                return "body.input is token ids; Vertex embedding models take text (send strings)"
            texts = value
        else:
            return "body.input must be a string or a non-empty array of strings"
        for index, text in enumerate(texts):
            where = "body.input" if isinstance(value, str) else f"body.input[{index}]"
            if not isinstance(text, str):
                return f"{where} must be a string, got {type(text).__name__}"
            if not text.strip():
                return f"{where} is empty (an embedding needs text)"
        dimensions = body.get("dimensions")
        if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool)
                                       or dimensions < 1):
            return "body.dimensions must be a positive integer"
        encoding = body.get("encoding_format")
        if encoding is not None and encoding not in ENCODINGS:
            return f"body.encoding_format must be one of {', '.join(ENCODINGS)}, got {encoding!r}"
        user = body.get("user")
        if user is not None and not isinstance(user, str):
            return "body.user must be a string"
        return None

    def vertex_rows(self, carried_id: str, body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        return EmbeddingRowMapper(model).rows(carried_id, body)[0]

    def row_mapper(self, model: str) -> EmbeddingRowMapper:
        return EmbeddingRowMapper(model)

    def response_reader(self, model: str) -> EmbeddingReader:
        return EmbeddingReader(model)

    def row_response(self, row: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return embedding_row_response(row)

    def row_tokens(self, response: Mapping[str, Any]) -> RowTokens:
        return embedding_row_tokens(response) or RowTokens()

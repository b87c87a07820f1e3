"""``/v1/chat/completions`` lines on Gemini, mapped by LiteLLM's own Vertex code.

In: ``get_optional_params`` + ``transform_request_body``, the code a live
``litellm.completion(model="vertex_ai/...")`` runs, so a batch line maps exactly like an online call.
Out: ``VertexGeminiConfig.transform_google_generate_content_to_openai_model_response``, so a result reads like
the online completion. Tokens for pricing follow LiteLLM's own reading of Gemini's ``usageMetadata``.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Mapping
from typing import Any

import orjson

from ..core.carried import CUSTOM_ID_KEY
from ..core.endpoint import LineProblem, RowTokens, RowUsage
from ..core.import_rules import inline_schema_refs
from ..core.output_lines import gemini_row_response
from ..core.states import rfc3339_to_unix
from . import litellm_compat
from .chat_fast import FastRequests
from .chat_fast_answers import FastAnswers
from .embeddings import is_embedding_model


@functools.cache
def _optional_param_names() -> frozenset[str]:
    """``get_optional_params``'s own parameters (computed once, not per line)."""
    from litellm.utils import get_optional_params

    return frozenset(inspect.signature(get_optional_params).parameters)


@functools.cache
def _litellm_params() -> frozenset[str]:
    from litellm.types.utils import all_litellm_params

    return frozenset(all_litellm_params)


def optional_params(model: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body's OpenAI parameters as LiteLLM maps them for Vertex Gemini online."""
    from litellm.utils import get_optional_params

    # LiteLLM's own params (metadata, ...) never reach the provider online either
    skip = {"model", "messages", *_litellm_params()}
    named = _optional_param_names()
    params = {k: v for k, v in body.items() if k not in skip and v is not None}
    explicit = {k: v for k, v in params.items() if k in named}
    extra = {k: v for k, v in params.items() if k not in named}
    return dict(get_optional_params(model=model, custom_llm_provider="vertex_ai", **explicit, **extra))


def vertex_request(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """A chat.completions request body -> a Vertex GenerateContentRequest, as LiteLLM maps online calls."""
    from litellm.llms.base_llm.base_utils import map_developer_role_to_system_role

    request = litellm_compat.transform_request_body()(
        messages=map_developer_role_to_system_role(body.get("messages") or []),
        model=model,
        optional_params=optional_params(model, body),
        custom_llm_provider="vertex_ai",
        litellm_params={},
        cached_content=None,
    )
    return inline_schema_refs(dict(request))


def gemini_row_tokens(usage: Mapping[str, Any] | None) -> RowTokens:
    """Token counts of a Gemini ``usageMetadata``, thinking counted once."""
    usage = usage or {}

    def count(key: str) -> int:
        try:
            return int(usage.get(key) or 0)
        except (TypeError, ValueError):
            return 0

    candidates, thoughts = count("candidatesTokenCount"), count("thoughtsTokenCount")
    if thoughts and _candidates_include_thoughts(usage):
        candidates = max(0, candidates - thoughts)  # else thinking would be billed twice
    return RowTokens(prompt=count("promptTokenCount"), tool_use_prompt=count("toolUsePromptTokenCount"),
                     cached=count("cachedContentTokenCount"), candidates=candidates, thoughts=thoughts)


def _candidates_include_thoughts(usage: Mapping[str, Any]) -> bool:
    """LiteLLM's own rule for reading Gemini usage (some responses count thinking inside candidates)."""
    from litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini import VertexGeminiConfig

    usage_metadata: Any = dict(usage)  # LiteLLM types it as its own TypedDict, whose name varies by release
    return bool(VertexGeminiConfig.is_candidate_token_count_inclusive(usage_metadata))


class CompletionReader:
    """Turns Gemini responses into chat.completion bodies, reusing one LiteLLM config and logging object;
    plain answers are built from templates proven against LiteLLM's own body (``chat_fast_answers``)."""

    def __init__(self, model: str) -> None:
        import httpx
        from litellm.litellm_core_utils.litellm_logging import Logging
        from litellm.llms.vertex_ai.gemini.vertex_and_google_ai_studio_gemini import VertexGeminiConfig

        self.model = model
        self._config = VertexGeminiConfig()
        self._logging = Logging(model=model, messages=[], stream=False, call_type="batch_transform",
                                start_time=time.time(), litellm_call_id="", function_id="")  # type: ignore[arg-type]
        self._logging.optional_params = {}
        self._raw = httpx.Response(200, headers={"content-type": "application/json"},
                                   request=httpx.Request("POST", "https://aiplatform.googleapis.com"))
        self.fast = FastAnswers(self.litellm_body, self.litellm_usage)

    def litellm_body(self, response: Mapping[str, Any]) -> dict[str, Any]:
        """LiteLLM's own chat.completion body for one Gemini response (the reference)."""
        from litellm.types.utils import ModelResponse

        model = str(response.get("modelVersion") or self.model).split("@")[0]
        result = litellm_compat.google_response_to_openai(self._config)(
            completion_response=dict(response), model_response=ModelResponse(), model=model,
            logging_obj=self._logging, raw_response=self._raw)
        return result.model_dump(exclude_none=False)

    def litellm_usage(self, usage_metadata: Mapping[str, Any]) -> dict[str, Any]:
        """LiteLLM's own usage object for one ``usageMetadata``, as a body carries it."""
        completion: Any = {"usageMetadata": dict(usage_metadata)}  # LiteLLM's TypedDict, named per release
        usage = self._config._calculate_usage(completion_response=completion)
        return dict(usage.model_dump(exclude_none=False))

    def read(self, response: Mapping[str, Any]) -> tuple[dict[str, Any], RowUsage]:
        body = self.fast.body(response)
        created = rfc3339_to_unix(response.get("createTime"))
        if created is not None:
            body["created"] = created
        return body, _usage(body.get("usage") or {})

    def read_group(self, responses: list[Mapping[str, Any]], option: str) -> tuple[dict[str, Any], RowUsage]:
        raise ValueError("a chat.completions line maps to one Vertex row")


def _usage(usage: Mapping[str, Any]) -> RowUsage:
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return RowUsage(input_tokens=int(usage.get("prompt_tokens") or 0),
                    output_tokens=int(usage.get("completion_tokens") or 0),
                    cached_tokens=int(prompt_details.get("cached_tokens") or 0),
                    reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0))


class ChatRowMapper:
    """One batch's chat lines -> Vertex rows; plain lines built from skeletons proven against LiteLLM."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.fast = FastRequests(lambda body: vertex_request(body, model))

    def rows(self, carried_id: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes | None]:
        if is_embedding_model(self.model):
            raise LineProblem(f"model {self.model!r} is an embedding model (send /v1/embeddings lines)")
        request, shape = self.fast.request(body)
        return [{CUSTOM_ID_KEY: carried_id, "request": request}], shape

    def model_parameters(self) -> dict[str, Any] | None:
        return None


class ChatCompletions:
    url = "/v1/chat/completions"

    def body_problem(self, body: Mapping[str, Any]) -> str | None:
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return "body.messages must be a non-empty list"
        return None

    def vertex_rows(self, carried_id: str, body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        return [{CUSTOM_ID_KEY: carried_id, "request": vertex_request(body, model)}]

    def row_mapper(self, model: str) -> ChatRowMapper:
        return ChatRowMapper(model)

    def response_reader(self, model: str) -> CompletionReader:
        return CompletionReader(model)

    def row_response(self, row: Mapping[str, Any]) -> Mapping[str, Any] | None:
        return gemini_row_response(row)

    def row_tokens(self, response: Mapping[str, Any]) -> RowTokens:
        usage = response.get("usageMetadata")
        try:
            return _tokens_of_json(orjson.dumps(usage))  # rows repeat their usage: read once per distinct one
        except TypeError:  # not JSON orjson writes (an integer beyond 64 bits): read directly
            return gemini_row_tokens(usage)


@functools.lru_cache(maxsize=4096)
def _tokens_of_json(usage: bytes) -> RowTokens:
    return gemini_row_tokens(orjson.loads(usage))

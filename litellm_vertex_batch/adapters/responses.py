"""``/v1/responses`` lines on Gemini, through LiteLLM's own Responses <-> chat bridge.

Online, ``litellm.responses(model="vertex_ai/...")`` runs Gemini through the chat path: its
``LiteLLMCompletionTransformationHandler`` filters the Responses parameters
(``ResponsesAPIRequestUtils.get_requested_response_api_optional_param``), turns them into a chat request
(``LiteLLMCompletionResponsesConfig.transform_responses_api_request_to_chat_completion_request``), runs that as
``litellm.completion`` and turns the chat answer back
(``transform_chat_completion_response_to_responses_api_response``). A batch line takes the same steps around the
chat adapter (``chat.py``): the same Gemini request, the same Response object.

The answer echoes request parameters (instructions, tools, text, reasoning, ...), which a Vertex output row does
not hold, so each row carries them as one extra string field that Vertex echoes like the custom_id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..core.endpoint import LineProblem, RowTokens, RowUsage
from ..core.output_lines import gemini_row_response
from .chat import ChatRowMapper, CompletionReader, gemini_row_tokens

#: The extra row field carrying the Responses parameters the answer echoes (a JSON string).
ECHO_KEY = "responses_request"
#: What a batch line cannot do: stream, run in the background, or continue stored responses/conversations
#: (nothing is stored between batch lines), or name a stored prompt.
REFUSED = {"stream": "a batch line is not streamed", "background": "a batch line already runs in the background",
           "previous_response_id": "a batch line cannot continue a stored response",
           "conversation": "a batch line cannot continue a stored conversation",
           "prompt": "a batch line cannot use a stored prompt"}
#: What the chat request carries that is not a body parameter of the chat line
_CALL_KEYS = ("model", "custom_llm_provider", "extra_headers", "stream", "stream_options")


def _bridge() -> Any:
    from litellm.responses.litellm_completion_transformation.transformation import LiteLLMCompletionResponsesConfig

    return LiteLLMCompletionResponsesConfig


def responses_request(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body's Responses parameters as ``litellm.responses`` keeps them (unknown names refused)."""
    from litellm.responses.utils import ResponsesAPIRequestUtils
    from litellm.types.llms.openai import ResponsesAPIOptionalRequestParams

    known = set(ResponsesAPIOptionalRequestParams.__annotations__) | {"model", "input"}
    for key, value in body.items():
        if key in REFUSED and value not in (None, False):
            raise LineProblem(f"body.{key}: {REFUSED[key]}")
        if key not in known:
            raise LineProblem(f"body.{key} is not a Responses API parameter")
    params = {k: v for k, v in body.items() if k not in ("model", "input")}
    return dict(ResponsesAPIRequestUtils.get_requested_response_api_optional_param(params))


def chat_body(body: Mapping[str, Any], model: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the chat.completions body LiteLLM's bridge makes of a Responses body, the parameters its answer echoes)."""
    request = responses_request(body)
    line_input: Any = body["input"]
    try:  # newer releases move ``additional_tools`` items of the input into the tools first
        from litellm.responses.additional_tools import hoist_additional_tools
    except ImportError:
        pass
    else:
        hoisted = hoist_additional_tools(line_input, request.get("tools"))
        if hoisted.hoisted:
            line_input, request = hoisted.input, {**request, "tools": list(hoisted.tools)}
    chat = _bridge().transform_responses_api_request_to_chat_completion_request(
        model=model, input=line_input, responses_api_request=request, custom_llm_provider="vertex_ai", stream=False)
    return {k: v for k, v in chat.items() if k not in _CALL_KEYS}, request


def _echo_text(request: Mapping[str, Any]) -> str:
    return json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class ResponsesRowMapper:
    """One batch's Responses lines -> Gemini rows (the chat adapter's), each carrying what its answer echoes."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.chat = ChatRowMapper(model)

    def rows(self, carried_id: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], bytes | None]:
        chat, request = chat_body(body, self.model)
        rows, shape = self.chat.rows(carried_id, {"model": body.get("model"), **chat})
        for row in rows:
            row[ECHO_KEY] = _echo_text(request)
        return rows, shape

    def model_parameters(self) -> dict[str, Any] | None:
        return None


def _complete_usage(usage: dict[str, Any]) -> None:
    """Fill the counts the openai SDK's ``ResponseUsage`` requires where LiteLLM leaves them out (it leaves out
    the details of an answer without them, e.g. a blocked prompt): zero, as Gemini counted none (nor does it
    write cache entries a caller pays for)."""
    if not isinstance(usage.get("input_tokens_details"), dict):
        usage["input_tokens_details"] = {"cached_tokens": 0}
    usage["input_tokens_details"].setdefault("cached_tokens", 0)
    usage["input_tokens_details"].setdefault("cache_write_tokens", 0)
    if not isinstance(usage.get("output_tokens_details"), dict):
        usage["output_tokens_details"] = {"reasoning_tokens": 0}
    usage["output_tokens_details"].setdefault("reasoning_tokens", 0)


class ResponseObjectReader:
    """Gemini rows -> Response objects: the chat adapter's chat.completion, then LiteLLM's bridge back."""

    def __init__(self, model: str) -> None:
        self.chat = CompletionReader(model)

    def read(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], RowUsage]:
        from litellm.types.utils import ModelResponse

        completion, usage = self.chat.read(row["response"])
        echo = row.get(ECHO_KEY)
        request = json.loads(echo) if isinstance(echo, str) else {}
        response = _bridge().transform_chat_completion_response_to_responses_api_response(
            request_input="", responses_api_request=request, chat_completion_response=ModelResponse(**completion))
        body = response.model_dump(exclude_none=False)
        if isinstance(body.get("usage"), dict):
            _complete_usage(body["usage"])
        return body, usage

    def read_group(self, responses: list[Mapping[str, Any]], option: str) -> tuple[dict[str, Any], RowUsage]:
        raise ValueError("a responses line maps to one Vertex row")


class Responses:
    url = "/v1/responses"

    def body_problem(self, body: Mapping[str, Any]) -> str | None:
        value = body.get("input")
        if isinstance(value, str):
            return None if value else "body.input is empty"
        if isinstance(value, list) and value:
            return None
        return "body.input must be a string or a non-empty array of input items"

    def vertex_rows(self, carried_id: str, body: dict[str, Any], model: str) -> list[dict[str, Any]]:
        return ResponsesRowMapper(model).rows(carried_id, body)[0]

    def row_mapper(self, model: str) -> ResponsesRowMapper:
        return ResponsesRowMapper(model)

    def response_reader(self, model: str) -> ResponseObjectReader:
        return ResponseObjectReader(model)

    def row_response(self, row: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The whole row: the answer needs the parameters the row carries besides its ``response``."""
        return row if gemini_row_response(row) is not None else None

    def row_tokens(self, response: Mapping[str, Any]) -> RowTokens:
        return gemini_row_tokens(response["response"].get("usageMetadata"))

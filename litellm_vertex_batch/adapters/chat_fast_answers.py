"""The fast path for Gemini answers (``chat_fast`` says why and how each is proven): a plain answer, one text
part or one function call, is built from LiteLLM's own body for the first answer of its shape."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from .chat_fast import CHECK_EVERY, MAX_SHAPES, MAX_USAGES, report_difference, same_json

#: What varies between answers of one shape: ("text", text, None) or ("call", name, args).
AnswerPart = tuple[str, str, Any]


class _Template:
    """LiteLLM's chat.completion body for one answer shape, with id, text (or call) and usage left open."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = dict(body)
        self.choice = dict(body["choices"][0])
        self.message = dict(self.choice["message"])
        calls = self.message.get("tool_calls")
        self.call = dict(calls[0]) if type(calls) is list and len(calls) == 1 and type(calls[0]) is dict else None

    def build(self, response_id: str, part: AnswerPart, usage: dict[str, Any]) -> dict[str, Any]:
        if part[0] == "text":
            message = {**self.message, "content": part[1]}
        else:
            if self.call is None:
                raise ValueError("LiteLLM's body for this call shape has no single tool call")
            function = {"arguments": json.dumps(part[2], ensure_ascii=False), "name": part[1]}
            call = {**self.call, "function": function, "id": f"call_{uuid.uuid4().hex[:28]}"}  # LiteLLM's form
            message = {**self.message, "tool_calls": [call]}
        choice = {**self.choice, "message": message}
        # ``created`` is the clock, as LiteLLM stamps it (the reader replaces it by the answer's createTime)
        return {**self.body, "id": response_id, "created": int(time.time()), "choices": [choice], "usage": usage}


def _without_call_ids(body: Mapping[str, Any]) -> dict[str, Any]:
    choices = []
    for choice in body.get("choices") or []:
        message = dict(choice.get("message") or {})
        calls = message.get("tool_calls")
        if type(calls) is list:
            message["tool_calls"] = [{**call, "id": None} if type(call) is dict else call for call in calls]
        choices.append({**choice, "message": message})
    return {**body, "choices": choices}


def _same_answer(built: Mapping[str, Any], full: Mapping[str, Any]) -> bool:
    """Equal but for ``created``, the clock at the moment each was made, and tool-call ids, which LiteLLM makes
    up at random for calls Gemini gives no id."""
    return same_json({**_without_call_ids(built), "created": None}, {**_without_call_ids(full), "created": None})


_RESPONSE_KEYS = frozenset({"candidates", "modelVersion", "responseId", "createTime", "usageMetadata"})
_CANDIDATE_KEYS = frozenset({"content", "finishReason", "avgLogprobs", "index"})


def _answer_part(parts: Any) -> AnswerPart | None:
    """The one text part or the one function call (name and args only: no id, no thought signature)."""
    if type(parts) is not list or len(parts) != 1 or type(parts[0]) is not dict:
        return None
    part = parts[0]
    if part.keys() == {"text"}:
        text = part["text"]
        return ("text", text, None) if type(text) is str and text else None
    if part.keys() == {"functionCall"}:
        call = part["functionCall"]
        if type(call) is dict and call.keys() == {"name", "args"} and type(call["name"]) is str \
                and call["name"] and type(call["args"]) is dict:
            return "call", call["name"], call["args"]
    return None


def answer_shape(response: Mapping[str, Any]) -> tuple[bytes, str, AnswerPart, Mapping[str, Any]] | None:
    """(template key, response id, text or call, usageMetadata) of a plain Gemini answer, or None."""
    if not _RESPONSE_KEYS.issuperset(response):
        return None
    candidates, usage = response.get("candidates"), response.get("usageMetadata")
    response_id = response.get("responseId")
    if type(candidates) is not list or len(candidates) != 1 or type(usage) is not dict or not usage:
        return None
    if type(response_id) is not str or not response_id or type(response.get("createTime")) is not str:
        return None
    candidate = candidates[0]
    if type(candidate) is not dict or not _CANDIDATE_KEYS.issuperset(candidate):
        return None
    content = candidate.get("content")
    if type(content) is not dict or content.keys() != {"parts", "role"} or content["role"] != "model":
        return None
    part = _answer_part(content["parts"])
    if part is None:
        return None
    finish = candidate.get("finishReason")
    # a call's name is in the key: each function's first answer is LiteLLM's own
    kind = part[0] if part[0] == "text" else f"call:{part[1]}"
    key = orjson.dumps([response.get("modelVersion"), finish, sorted(candidate), "createTime" in response, kind])
    return key, response_id, part, usage


class FastAnswers:
    """Reads one batch's Gemini answers to chat.completion bodies: plain ones from templates, the rest by
    ``slow``; ``usage_of`` is LiteLLM's usage computation for one ``usageMetadata``."""

    def __init__(self, slow: Callable[[Mapping[str, Any]], dict[str, Any]],
                 usage_of: Callable[[Mapping[str, Any]], dict[str, Any]], check_every: int = CHECK_EVERY) -> None:
        self.slow = slow
        self.usage_of = usage_of
        self.check_every = check_every
        self.enabled = True
        self.fast_rows = 0
        self._templates: dict[bytes, _Template | None] = {}
        self._usages: dict[bytes, dict[str, Any]] = {}

    def _usage(self, usage: Mapping[str, Any]) -> dict[str, Any]:
        key = orjson.dumps(usage)
        found = self._usages.get(key)
        if found is None:
            found = self.usage_of(usage)
            if len(self._usages) < MAX_USAGES:
                self._usages[key] = found
        return found

    def body(self, response: Mapping[str, Any]) -> dict[str, Any]:
        shape = answer_shape(response) if self.enabled else None
        if shape is None:
            return self.slow(response)
        key, response_id, part, usage = shape
        if key not in self._templates:
            full = self.slow(response)
            if len(self._templates) < MAX_SHAPES:
                candidate = _Template(full)
                try:
                    proven = _same_answer(candidate.build(response_id, part, self._usage(usage)), full)
                except ValueError:  # LiteLLM made no tool call of this call (a SAFETY finish, say)
                    proven = False
                self._templates[key] = candidate if proven else None
            return full
        template = self._templates[key]
        if template is None:
            return self.slow(response)
        built = template.build(response_id, part, self._usage(usage))
        self.fast_rows += 1
        if self.fast_rows % self.check_every == 0:
            full = self.slow(response)
            if not _same_answer(built, full):
                self.enabled = False
                report_difference("chat.completion")
                return full
        return built

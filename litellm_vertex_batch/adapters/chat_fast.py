"""Fast paths for the chat lines batches mostly carry, each proven against LiteLLM's own mapping.

Why: LiteLLM maps one line in ~0.6 ms (``get_optional_params`` and pydantic objects per line), while the JSON
itself takes ~0.01 ms. Batch lines repeat their parameters (the same model, temperature, schema on every line)
and differ in their text, so:

* **requests**: a line whose messages are plain text (roles system/developer/user/assistant, text content; a
  user's list may also hold images given inline as ``data:`` URLs) is built from a *skeleton*: LiteLLM's own
  request for the first line with the same parameters (and the same kinds of content), with ``contents`` and
  ``system_instruction`` made from this line's messages the way LiteLLM makes them;
* **responses**: a plain Gemini answer (one candidate with one text part, or one function call) is built from a
  *template*: LiteLLM's own body for the first answer of the same shape, with this answer's id, text (or call
  arguments) and usage (LiteLLM's own usage computation, remembered per distinct ``usageMetadata``). A call gets
  a fresh tool-call id made as LiteLLM makes it (random; the one field the proof leaves out).

Each skeleton and template is used only after the fast build of its first line equals LiteLLM's result byte for
byte, and every ``CHECK_EVERY``-th fast line is compared again; one difference switches the fast path off for the
rest of the batch (logged). Everything outside these shapes goes through LiteLLM. The requests are here, the answers
in ``chat_fast_answers``; ``tests/unit/test_fast_paths.py`` is the differential test of both over a large corpus.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

log = logging.getLogger(__name__)

#: A fast line compared with LiteLLM's mapping once in this many (besides the first of each shape).
CHECK_EVERY = 1000
#: Most distinct parameter sets (skeletons) or answer shapes (templates) remembered per batch.
MAX_SHAPES = 256
#: Most distinct ``usageMetadata`` values whose usage is remembered per batch.
MAX_USAGES = 20_000

_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "model"}
#: An inline image LiteLLM sends as ``inline_data`` unchanged: nothing in it can look like a ``gs://``, Files API
#: or ``https://`` address (LiteLLM's other branches), and its media type needs no unescaping.
_DATA_URL = re.compile(r"data:([A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+);base64,([A-Za-z0-9+/]+={0,2})\Z")


def _user_part(element: Any) -> dict[str, Any] | None:
    """The Gemini part LiteLLM makes of one element of a user's content list, for text and inline images."""
    if type(element) is not dict or len(element) != 2:
        return None
    kind = element.get("type")
    if kind == "text":
        text = element.get("text")
        return {"text": text} if type(text) is str and text else None  # LiteLLM drops empty text elements
    if kind != "image_url":
        return None
    image = element.get("image_url")
    if type(image) is dict and len(image) == 1:  # no detail, format or mime type: those change the mapping
        image = image.get("url")
    if type(image) is not str:
        return None
    found = _DATA_URL.match(image)
    if found is None:
        return None
    return {"inline_data": {"data": found.group(2), "mime_type": found.group(1)}}


def plain_messages(messages: Any) -> tuple[list[dict[str, str]], list[dict[str, Any]]] | None:
    """(system parts, contents) of plain messages as LiteLLM maps them, or None for any other messages.

    LiteLLM takes every system (and developer) message out into ``system_instruction``, then merges
    consecutive messages of one role into one content; text and inline-image elements of a user list become
    one part each.
    """
    if type(messages) is not list or not messages:
        return None
    system: list[dict[str, str]] = []
    contents: list[dict[str, Any]] = []
    for message in messages:
        if type(message) is not dict or len(message) != 2 or "content" not in message:
            return None
        role = _ROLES.get(message.get("role"))  # type: ignore[arg-type]
        content = message["content"]
        if role is None:
            return None
        if role == "system":
            if type(content) is not str:
                return None
            system.append({"text": content})
            continue
        if type(content) is str:
            parts = [{"text": content}]
        elif role == "user" and type(content) is list and content:
            parts = []
            for element in content:
                part = _user_part(element)
                if part is None:
                    return None
                parts.append(part)
        else:
            return None
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    if not contents:
        return None
    for merged in contents:  # a user turn of images only gets a blank text part from LiteLLM: its mapping does it
        if merged["role"] == "user" and not any("text" in part for part in merged["parts"]):
            return None
    return system, contents


class _Skeleton:
    """LiteLLM's request for one parameter set, with the message slots left open (read-only, shared)."""

    def __init__(self, request: Mapping[str, Any]) -> None:
        self.items = list(request.items())

    def build(self, system: list[dict[str, str]], contents: list[dict[str, Any]]) -> dict[str, Any]:
        slots = {"contents": contents, "system_instruction": {"parts": system}}
        return {key: slots[key] if key in slots else value for key, value in self.items}


def same_json(a: Any, b: Any) -> bool:
    try:
        return orjson.dumps(a) == orjson.dumps(b)
    except TypeError:
        return False


class FastRequests:
    """Maps one batch's chat bodies to Vertex requests: plain lines from skeletons, the rest by ``slow``."""

    def __init__(self, slow: Callable[[dict[str, Any]], dict[str, Any]], check_every: int = CHECK_EVERY) -> None:
        self.slow = slow
        self.check_every = check_every
        self.enabled = True
        self.fast_lines = 0
        self._skeletons: dict[bytes, _Skeleton | None] = {}

    def shape_of(self, body: Mapping[str, Any]) -> tuple[bytes, list[dict[str, str]], list[dict[str, Any]]] | None:
        """The skeleton key and message slots of a plain line, or None."""
        plain = plain_messages(body.get("messages"))
        if plain is None:
            return None
        try:
            params = orjson.dumps({k: v for k, v in body.items() if k != "messages"})
        except TypeError:  # an integer beyond 64 bits: LiteLLM maps it
            return None
        # the kinds of content are part of the key, so LiteLLM proves the first line with images of each set
        images = any("inline_data" in part for content in plain[1] for part in content["parts"])
        return params + (b"|system" if plain[0] else b"|") + (b"|image" if images else b""), plain[0], plain[1]

    def request(self, body: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
        """The Vertex request and, when it was built from a proven skeleton, that skeleton's key."""
        shape = self.shape_of(body) if self.enabled else None
        if shape is None:
            return self.slow(body), None
        key, system, contents = shape
        if key not in self._skeletons:  # first line of this parameter set: LiteLLM maps it, and proves the skeleton
            full = self.slow(body)
            if len(self._skeletons) < MAX_SHAPES:
                candidate = _Skeleton(full) if "contents" in full and (
                    ("system_instruction" in full) == bool(system)) else None
                proven = candidate is not None and same_json(candidate.build(system, contents), full)
                self._skeletons[key] = candidate if proven else None
            return full, None
        skeleton = self._skeletons[key]
        if skeleton is None:
            return self.slow(body), None
        built = skeleton.build(system, contents)
        self.fast_lines += 1
        if self.fast_lines % self.check_every == 0:
            full = self.slow(body)
            if not same_json(built, full):
                self.enabled = False
                report_difference("request")
                return full, None
        return built, key


def report_difference(what: str) -> None:
    log.warning("litellm-vertex-batch: a fast %s differed from LiteLLM's mapping; this batch continues with "
                "LiteLLM's mapping only", what)

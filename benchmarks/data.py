"""Deterministic benchmark data: OpenAI chat batch lines of the shapes batches carry, and the Vertex
prediction rows a job writes for them (the project's emulator's rows, so failures, blocks, thinking and tool
calls appear as Google documents them). Sized by N; ``line_bytes`` ~5,000 makes 200,000 lines ~1 GB.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson

from tests.stand_ins.vertex_rows import gemini_output_row

MODEL = "gemini-2.5-flash-lite"
_WORDS = ("alpha beta gamma delta epsilon zeta theta kappa lambda omicron sigma omega the of and to in is for "
          "on with as by at from data model batch index query answer summary review invoice ticket").split()
_PARAMS = ({"max_tokens": 256, "temperature": 0.2}, {"max_completion_tokens": 512, "top_p": 0.9}, {},
           {"temperature": 0.7, "seed": 11, "stop": ["\n\n"]})
_SCHEMA = {"type": "json_schema", "json_schema": {"name": "review", "strict": True, "schema": {
    "type": "object", "properties": {"sentiment": {"type": "string", "enum": ["pos", "neg"]},
                                     "score": {"type": "number"}}, "required": ["sentiment", "score"]}}}
_TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look a record up",
                                          "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                                                         "required": ["q"]}}}
_PIXEL = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")).decode()


def _text(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def chat_body(rng: random.Random, index: int, line_bytes: int) -> dict:
    """One line's body: mostly plain text (system + user, multi-turn, text parts); some schema, tools, images."""
    size = max(20, line_bytes - 250)
    kind = rng.random()
    body: dict = {"model": MODEL}
    if kind < 0.55:
        messages = [{"role": "system", "content": "You are a careful assistant."},
                    {"role": "user", "content": _text(rng, size)}]
    elif kind < 0.70:
        messages = [{"role": "user", "content": _text(rng, size // 3)},
                    {"role": "assistant", "content": _text(rng, size // 3)},
                    {"role": "user", "content": _text(rng, size // 3)}]
    elif kind < 0.80:
        messages = [{"role": "developer", "content": "Answer briefly."},
                    {"role": "user", "content": [{"type": "text", "text": _text(rng, size // 2)},
                                                 {"type": "text", "text": _text(rng, size // 2)}]}]
    elif kind < 0.90:
        messages = [{"role": "user", "content": _text(rng, size)}]
        body["response_format"] = _SCHEMA
    elif kind < 0.95:
        messages = [{"role": "user", "content": _text(rng, size) + (" CALL_TOOL" if index % 2 else "")}]
        body["tools"] = [_TOOL]
    else:
        messages = [{"role": "user", "content": [
            {"type": "text", "text": _text(rng, size)},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_PIXEL}"}}]}]
    if index % 100 == 7:  # emulator: the row fails (400 / 429) or is blocked
        messages[-1] = {"role": "user", "content": "EMULATOR_FAIL please"}
    elif index % 200 == 13:
        messages[-1] = {"role": "user", "content": "EMULATOR_BLOCK please"}
    body["messages"] = messages
    body.update(_PARAMS[index % len(_PARAMS)])
    if index % 10 == 3:
        body["reasoning_effort"] = "low"
    return body


def chat_lines(n: int, line_bytes: int = 1500, seed: int = 7) -> Iterator[bytes]:
    """N OpenAI batch input lines (with newline)."""
    rng = random.Random(seed)
    for index in range(n):
        entry = {"custom_id": f"request-{index}", "method": "POST", "url": "/v1/chat/completions",
                 "body": chat_body(rng, index, line_bytes)}
        yield orjson.dumps(entry) + b"\n"


def prediction_rows(vertex_rows: Iterator[bytes], seed: int = 7) -> Iterator[bytes]:
    """The emulator's output row (with newline) for each converted Vertex input row; ids and times seeded."""
    rng = random.Random(seed)
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    for raw in vertex_rows:
        row = gemini_output_row(orjson.loads(raw), MODEL, when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        response = row.get("response")
        if isinstance(response, dict):
            response["responseId"] = f"{rng.getrandbits(64):016x}"
            response["createTime"] = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        yield orjson.dumps(row) + b"\n"


def write(directory: Path, n: int, line_bytes: int = 1500) -> tuple[Path, Path, Path]:
    """``input.jsonl`` (OpenAI lines), ``vertex-input.jsonl`` (the plugin's rows) and ``predictions.jsonl``."""
    from litellm_vertex_batch.services.files import convert_input

    directory.mkdir(parents=True, exist_ok=True)
    source, rows, predictions = (directory / "input.jsonl", directory / "vertex-input.jsonl",
                                 directory / "predictions.jsonl")
    with source.open("wb") as out:
        for line in chat_lines(n, line_bytes):
            out.write(line)
    with source.open("rb") as src, rows.open("wb") as out:
        convert_input(src, out, None)
    with rows.open("rb") as src, predictions.open("wb") as out:
        for line in prediction_rows(iter(src)):
            out.write(line)
    return source, rows, predictions

"""The demo's embeddings and Responses batches: what a client sends, read back with the openai SDK's own types.

Run by ``python -m tests.demo`` after the guide's chat batch.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

from openai import OpenAI
from openai.types import CreateEmbeddingResponse
from openai.types.responses import Response

from tests.stand_ins.proxy import MASTER_KEY

#: 1,000 texts: 400 lines of one text and 100 lines of an array of six
EMBEDDING_TEXTS = [f"Product {i}: a {('red', 'green', 'blue')[i % 3]} item for the catalogue" for i in range(1000)]


def embedding_lines() -> list[dict[str, Any]]:
    lines = [{"custom_id": f"doc-{i}", "method": "POST", "url": "/v1/embeddings",
              "body": {"model": "gemini-embedding-001", "input": EMBEDDING_TEXTS[i], "dimensions": 64}}
             for i in range(400)]
    for n, start in enumerate(range(400, 1000, 6)):
        lines.append({"custom_id": f"chunked-{n}", "method": "POST", "url": "/v1/embeddings",
                      "body": {"model": "gemini-embedding-001", "input": EMBEDDING_TEXTS[start:start + 6],
                               "dimensions": 64}})
    return lines


RESPONSES_LINES = [
    {"custom_id": "greeting", "method": "POST", "url": "/v1/responses",
     "body": {"model": "gemini-2.5-flash-lite", "input": "Hello there!", "instructions": "Answer in one line.",
              "max_output_tokens": 64}},
    {"custom_id": "structured", "method": "POST", "url": "/v1/responses",
     "body": {"model": "gemini-2.5-flash-lite", "input": [{"role": "user", "content": "Name a colour"}],
              "text": {"format": {"type": "json_schema", "name": "colour", "strict": True, "schema": {
                  "type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"],
                  "additionalProperties": False}}}}},
]


def _run(client: OpenAI, lines: list[dict[str, Any]], endpoint: str) -> Any:
    data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    file = client.files.create(file=("lines.jsonl", io.BytesIO(data)), purpose="batch")
    batch = client.batches.create(completion_window="24h", endpoint=endpoint, input_file_id=file.id)  # type: ignore[arg-type]
    print(f"Batch {batch.id} ({endpoint}, {len(lines)} lines) created")
    while batch.status not in ("completed", "failed", "cancelled", "expired"):
        time.sleep(0.5)
        batch = client.batches.retrieve(batch.id)
    print(f"Batch status: {batch.status}  request_counts: {batch.request_counts.model_dump()}  "
          f"usage: input_tokens={batch.usage.input_tokens if batch.usage else None}")
    return batch


def _bodies(client: OpenAI, file_id: str) -> dict[str, Any]:
    text = client.files.content(file_id).text
    return {row["custom_id"]: row["response"]["body"] for row in map(json.loads, text.splitlines())}


def run_embeddings(base_url: str) -> None:
    client = OpenAI(api_key=MASTER_KEY, base_url=base_url)
    batch = _run(client, embedding_lines(), "/v1/embeddings")
    parsed = {cid: CreateEmbeddingResponse.model_validate(body)
              for cid, body in _bodies(client, batch.output_file_id).items()}
    vectors = sum(len(r.data) for r in parsed.values())
    chunked = parsed["chunked-0"]
    print(f"{len(parsed)} CreateEmbeddingResponse objects, {vectors} embeddings of {len(chunked.data[0].embedding)} "
          f"dimensions; chunked-0: indexes {[d.index for d in chunked.data]}, usage {chunked.usage.model_dump()}")


def run_responses(base_url: str) -> None:
    client = OpenAI(api_key=MASTER_KEY, base_url=base_url)
    batch = _run(client, RESPONSES_LINES, "/v1/responses")
    for cid, body in sorted(_bodies(client, batch.output_file_id).items()):
        response = Response.model_validate(body)
        usage = response.usage
        print(f"{cid}: Response {response.status}, output_text {response.output_text!r}, "
              f"usage input={usage.input_tokens if usage else None} output={usage.output_tokens if usage else None}")

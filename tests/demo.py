"""The guide's workflow, runnable anywhere: stand-ins + a stock LiteLLM proxy + the openai SDK.

    .venv/bin/python -m tests.demo

Starts fake-gcs-server and the Vertex emulator, starts `litellm --config` with the repo's proxy_config.yaml
(plus the native guide's step-1 model and a native_storage location, see ``demo_native.py``), then runs the
client code of the Vertex batch guide unchanged (custom-llm-provider: vertex_ai), the same code without the
header, and the native guide's curl commands, printing the OpenAI-format output files and Google's answers.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path

from openai import OpenAI

from tests import demo_lines, demo_native
from tests.stand_ins.proxy import MASTER_KEY, Proxy
from tests.stand_ins.stack import StandIns

REQUESTS = b"""\
{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gemini-2.5-flash-lite", "messages": [{"role": "system", "content": "You are a helpful assistant."},{"role": "user", "content": "Hello world!"}],"max_tokens": 10}}
{"custom_id": "request-2", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gemini-2.5-flash-lite", "messages": [{"role": "system", "content": "You are an unhelpful assistant."},{"role": "user", "content": "Hello world!"}],"max_tokens": 10}}
"""


def run_guide(base_url: str, headers: dict[str, str]) -> None:
    oai_client = OpenAI(api_key=MASTER_KEY, base_url=base_url)
    file_obj = oai_client.files.create(file=("batch_requests.jsonl", io.BytesIO(REQUESTS)), purpose="batch",
                                       extra_headers=headers)
    print(f"File uploaded with ID: {file_obj.id}")
    batch = oai_client.batches.create(completion_window="24h", endpoint="/v1/chat/completions",
                                      input_file_id=file_obj.id, extra_headers=headers)
    print(f"Batch created with ID: {batch.id} (status {batch.status})")
    while batch.status not in ("completed", "failed", "cancelled", "expired"):
        time.sleep(0.5)
        batch = oai_client.batches.retrieve(batch_id=batch.id, extra_headers=headers)
        print(f"Batch status: {batch.status}  request_counts: {batch.request_counts.model_dump()}")
    print(f"Usage: {batch.usage.model_dump() if batch.usage else None}")
    print(f"Output file: {batch.output_file_id}  error file: {batch.error_file_id}")
    content = oai_client.files.content(file_id=batch.output_file_id, extra_headers=headers)
    print("--- output file (OpenAI batch output format) ---")
    for line in content.text.strip().split("\n"):
        print(json.dumps(json.loads(line), indent=None))


def main() -> None:
    print("Starting fake-gcs-server and the Vertex AI emulator ...", flush=True)
    with StandIns(buckets=("batch-bucket", "other-bucket", demo_native.GUIDE_BUCKET)) as stand_ins, \
            tempfile.TemporaryDirectory() as tmp:
        print("Starting a stock LiteLLM proxy with proxy_config.yaml ...", flush=True)
        with Proxy(stand_ins.env, config=demo_native.demo_config(stand_ins, Path(tmp))) as proxy:
            print(f"Proxy ready at {proxy.url}\n", flush=True)
            print("=== the guide's client code (custom-llm-provider: vertex_ai on every call) ===")
            run_guide(proxy.url, {"custom-llm-provider": "vertex_ai"})
            print("\n=== the same client code with no header at all (base URL .../v1 only) ===")
            run_guide(proxy.url + "/v1", {})
            print("\n=== an embeddings batch: 1,000 texts (arrays included), read as CreateEmbeddingResponse ===")
            demo_lines.run_embeddings(proxy.url + "/v1")
            print("\n=== a Responses-API batch, read as the openai SDK's Response ===")
            demo_lines.run_responses(proxy.url + "/v1")
            print("\n=== the Vertex-native guide's curl commands (only host and key changed) ===")
            demo_native.run_guide(stand_ins, proxy)


if __name__ == "__main__":
    main()

"""The plugin used as a library (no proxy): the OpenAI workflow through litellm's sync calls, then the async ones.

Run by tests/test_library_use.py with the stand-ins' environment; prints one ``RESULT <json>`` line.
"""

import asyncio
import io
import json
import sys
import time

import litellm

import litellm_vertex_batch  # noqa: F401  (importing it installs the plugin)

LINES = b"".join(json.dumps({"custom_id": f"lib-{i}", "method": "POST", "url": "/v1/chat/completions",
                             "body": {"model": "gemini-2.5-flash-lite",
                                      "messages": [{"role": "user", "content": f"library {i}"}]}}).encode() + b"\n"
                 for i in range(2))
P = {"custom_llm_provider": "vertex_batch"}


def sync_workflow() -> dict:
    file = litellm.create_file(file=("lib.jsonl", io.BytesIO(LINES)), purpose="batch", **P)
    assert litellm.file_retrieve(file_id=file.id, **P).id == file.id
    batch = litellm.create_batch(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h", **P)
    while batch.status not in ("completed", "failed", "cancelled", "expired"):
        time.sleep(0.3)
        batch = litellm.retrieve_batch(batch_id=batch.id, **P)
    content = litellm.file_content(file_id=batch.output_file_id, **P)
    listed = litellm.list_batches(**P)
    return {"status": batch.status, "rows": sorted(json.loads(line)["custom_id"] for line in
                                                   content.content.decode().splitlines()),
            "listed": batch.id in [b.id for b in listed["data"]], "deleted": litellm.file_delete(file_id=file.id,
                                                                                               **P).deleted}


async def async_workflow() -> dict:
    file = await litellm.acreate_file(file=("lib.jsonl", io.BytesIO(LINES)), purpose="batch", **P)
    batch = await litellm.acreate_batch(input_file_id=file.id, endpoint="/v1/chat/completions",
                                        completion_window="24h", **P)
    while batch.status not in ("completed", "failed", "cancelled", "expired"):
        await asyncio.sleep(0.3)
        batch = await litellm.aretrieve_batch(batch_id=batch.id, **P)
    sync_inside_a_loop = litellm.retrieve_batch(batch_id=batch.id, **P).status  # a sync call from async code
    content = await litellm.afile_content(file_id=batch.output_file_id, **P)
    return {"status": batch.status, "sync_inside_a_loop": sync_inside_a_loop,
            "rows": sorted(json.loads(line)["custom_id"] for line in content.content.decode().splitlines())}


def main() -> int:
    other = None
    try:
        litellm.file_list(custom_llm_provider="openai", api_key="sk-none", api_base="http://127.0.0.1:9/v1")
    except Exception as exc:  # another provider still gets LiteLLM's own function (here: nothing listens)
        other = f"{type(exc).__name__}: {exc}"[:200]
    print("RESULT " + json.dumps({"sync": sync_workflow(), "async": asyncio.run(async_workflow()),
                                  "proxy_imported": "litellm.proxy.proxy_server" in sys.modules, "other": other}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

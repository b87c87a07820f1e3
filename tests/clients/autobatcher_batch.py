"""autobatcher's BatchOpenAI, unchanged: ordinary ``chat.completions.create`` calls that it collects into one
OpenAI batch. ``completion_window="24h"`` is its documented switch to the Batch API (its default, flex, uses
background Responses calls). It downloads results with a raw httpx client: no header can be added there.

Run by tests/test_third_party_clients.py with the clients' own venv; prints one ``RESULT <json>`` line.
"""

import asyncio
import json
import os
import sys

from autobatcher import BatchOpenAI

PROMPTS = ["Say alpha", "Say beta", "What is two plus two"]


async def main() -> int:
    client = BatchOpenAI(api_key=os.environ["OPENAI_API_KEY"], base_url=os.environ["OPENAI_BASE_URL"],
                         completion_window="24h", batch_size=len(PROMPTS), batch_window_seconds=0.5,
                         poll_interval_seconds=0.3)
    async with client:
        calls = [client.chat.completions.create(model=os.environ["BATCH_MODEL"], max_tokens=20,
                                                messages=[{"role": "user", "content": p}]) for p in PROMPTS]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True),
                                         timeout=float(os.environ.get("BATCH_TIMEOUT", "120")))
    print("RESULT " + json.dumps({
        "ok": {p: {"content": r.choices[0].message.content, "model": r.model, "finish_reason": r.choices[0].finish_reason,
                   "usage": r.usage.model_dump() if r.usage else None}
               for p, r in zip(PROMPTS, results) if not isinstance(r, BaseException)},
        "errors": {p: f"{type(r).__name__}: {r}" for p, r in zip(PROMPTS, results) if isinstance(r, BaseException)}}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

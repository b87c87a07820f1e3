"""instructor's documented BatchProcessor workflow, unchanged: it builds a bare ``openai.OpenAI()``, so only
``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` point it at the gateway (no header can be added).

Run by tests/test_third_party_clients.py with the clients' own venv; prints one ``RESULT <json>`` line.
"""

import json
import os
import sys
import tempfile
import time

from instructor.batch import BatchProcessor, filter_errors, filter_successful
from pydantic import BaseModel


class User(BaseModel):
    name: str
    age: int


TEXTS = ("Hi, I'm Alice and I'm 28 years old.", "Hello, I'm Bob, 35 years old.", "Carol here, I turned 41.")


def main() -> int:
    processor = BatchProcessor(f"openai/{os.environ['BATCH_MODEL']}", User)
    messages = [[{"role": "system", "content": "Extract user information from text."},
                 {"role": "user", "content": text}] for text in TEXTS]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "batch_requests.jsonl")
        processor.create_batch_from_messages(messages_list=messages, file_path=path, max_tokens=200, temperature=0.1)
        batch_id = processor.submit_batch(path, metadata={"description": "instructor through the gateway"})
    deadline = time.monotonic() + float(os.environ.get("BATCH_TIMEOUT", "120"))
    while (status := processor.get_batch_status(batch_id))["status"] not in ("completed", "failed", "expired",
                                                                            "cancelled"):
        if time.monotonic() > deadline:
            print("timed out", status, file=sys.stderr)
            return 2
        time.sleep(0.3)
    results = processor.retrieve_results(batch_id) if status["status"] == "completed" else []
    print("RESULT " + json.dumps({
        "batch_id": batch_id, "status": status["status"], "counts": status["request_counts"],
        "ok": {r.custom_id: r.result.model_dump() for r in filter_successful(results)},
        "errors": {e.custom_id: f"{e.error_type}: {e.error_message}" for e in filter_errors(results)}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

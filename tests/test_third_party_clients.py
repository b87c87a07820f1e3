"""Real OpenAI batch client libraries from PyPI (pinned in .ci/clients-constraints.txt, installed by .ci/setup in
their own venv) run their documented workflows unchanged, with only the base URL and key pointing at the gateway."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import ALIAS_MODEL_NAME, ALIAS_TARGET
from tests.stand_ins.proxy import MASTER_KEY, REPO_ROOT, Proxy

CLIENTS_PYTHON = REPO_ROOT / ".venv-clients" / "bin" / "python"
CLIENTS = Path(__file__).resolve().parent / "clients"


def run_client(script: str, proxy: Proxy, base: str, model: str) -> dict:
    assert CLIENTS_PYTHON.exists(), "run .ci/setup: it installs the third-party clients into .venv-clients"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OPENAI_", "PYTHON"))}
    env.update(OPENAI_BASE_URL=proxy.url + base, OPENAI_API_KEY=MASTER_KEY, BATCH_MODEL=model, BATCH_TIMEOUT="90")
    done = subprocess.run([str(CLIENTS_PYTHON), str(CLIENTS / script)], env=env, capture_output=True, text=True,
                          timeout=150, cwd=CLIENTS)
    results = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and results, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(results[-1].removeprefix("RESULT "))


def test_instructor_batch_processor_with_an_operator_alias(stand_ins, proxy_b):
    """instructor names the OpenAI model its code was written for; the gateway runs the operator's Gemini alias."""
    before = {job["job"]["name"] for job in stand_ins.control("GET", "jobs")["jobs"]}
    result = run_client("instructor_batch.py", proxy_b, "/v1", ALIAS_MODEL_NAME)
    assert result["status"] == "completed", result
    assert result["counts"] == {"total": 3, "completed": 3, "failed": 0}
    assert result["errors"] == {}
    assert sorted(result["ok"]) == ["request-0", "request-1", "request-2"]
    for user in result["ok"].values():  # the structured output parsed into instructor's pydantic model
        assert set(user) == {"name", "age"} and isinstance(user["age"], int) and user["name"]
    new = [job["job"] for job in stand_ins.control("GET", "jobs")["jobs"] if job["job"]["name"] not in before]
    assert [job["model"] for job in new] == [f"publishers/google/models/{ALIAS_TARGET}"]


def test_autobatcher_collects_chat_calls_into_one_batch(proxy):
    """On the stock proxy_config.yaml, with LiteLLM's /vertex_ai/v1 base URL (the SDK tests cover /v1)."""
    result = run_client("autobatcher_batch.py", proxy, "/vertex_ai/v1", "gemini-2.5-flash-lite")
    assert result["errors"] == {}, result
    assert sorted(result["ok"]) == ["Say alpha", "Say beta", "What is two plus two"]
    for prompt, answer in result["ok"].items():  # openai's ChatCompletion type validated each response body
        assert answer["content"] == "echo: " + prompt and answer["finish_reason"] == "stop"
        assert answer["model"] == "gemini-2.5-flash-lite" and answer["usage"]["prompt_tokens"] > 0


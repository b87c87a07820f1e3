"""Pass-through batch jobs are priced once when they finish.

Runs in-process, by necessity: the proxy's /vertex_ai pass-through always forwards to Google's host
(``get_vertex_base_url`` in LiteLLM 1.106.2 takes no base-URL override), so no stock proxy can reach the
emulator on that route. The job itself is real (made on the Vertex emulator, output in fake-gcs-server);
the plugin's callback gets the logging event the proxy builds for a pass-through call
(``passthrough_logging_payload`` with the job resource), and a spy callback records what LiteLLM logs."""

from __future__ import annotations

import asyncio
import json
import time

import google.auth.transport.requests
import httpx
import litellm
import pytest
from google.oauth2 import service_account

from tests.conftest import gcs_bucket
from tests.stand_ins.spy_callback import SpyLogger
from tests.stand_ins.stack import BUCKET, LOCATION, PROJECT

PARENT = f"projects/{PROJECT}/locations/{LOCATION}"


def vertex_token(stand_ins) -> str:
    creds = service_account.Credentials.from_service_account_file(
        stand_ins.sa_path, scopes=["https://www.googleapis.com/auth/cloud-platform"])
    creds.refresh(google.auth.transport.requests.Request())
    return creds.token


def run_job(stand_ins, rows: list[dict]) -> dict:
    name = f"native/{time.time_ns()}/input.jsonl"
    gcs_bucket(stand_ins).blob(name).upload_from_string("".join(json.dumps(r) + "\n" for r in rows))
    headers = {"Authorization": f"Bearer {vertex_token(stand_ins)}"}
    job = httpx.post(f"{stand_ins.vertex_url}/v1/{PARENT}/batchPredictionJobs", headers=headers, json={
        "displayName": "native", "model": "publishers/google/models/gemini-2.5-flash",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [f"gs://{BUCKET}/{name}"]}},
        "outputConfig": {"predictionsFormat": "jsonl",
                         "gcsDestination": {"outputUriPrefix": f"gs://{BUCKET}/native-out/{time.time_ns()}"}}},
                     timeout=30).json()
    created = dict(job)
    deadline = time.monotonic() + 30
    while job.get("state") != "JOB_STATE_SUCCEEDED":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = httpx.get(f"{stand_ins.vertex_url}/v1/{job['name']}", headers=headers, timeout=30).json()
    return {"created": created, "finished": job}


def event(job: dict, method: str, team: str) -> dict:
    return {"call_type": "pass_through_endpoint",
            "passthrough_logging_payload": {
                "url": f"https://{LOCATION}-aiplatform.googleapis.com/v1/{job['name']}", "request_method": method,
                "response_body": job},
            "litellm_params": {"metadata": {"user_api_key_hash": f"hash-{team}", "user_api_key_team_id": team}}}


def row_cost(rows: list[dict]) -> float:
    info = litellm.model_cost["gemini-2.5-flash"]
    total = 0.0
    for row in rows:
        if row.get("status"):
            continue
        usage = row["response"]["usageMetadata"]
        total += usage["promptTokenCount"] * info["input_cost_per_token_batches"]
        total += usage.get("candidatesTokenCount", 0) * info["output_cost_per_token_batches"]
        total += usage.get("thoughtsTokenCount", 0) * info["output_cost_per_reasoning_token"] * 0.5
    return total


@pytest.fixture
def spy(tmp_path, monkeypatch, stand_ins):
    for key, value in stand_ins.env.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("SPY_LOG_PATH", str(path))
    logger = SpyLogger()
    monkeypatch.setattr(litellm, "callbacks", [logger])
    monkeypatch.setattr(litellm, "_async_success_callback", [logger])  # what the proxy fills from its config
    return path


def test_passthrough_job_is_charged_once_to_its_creator(stand_ins, spy):
    from litellm_vertex_batch import plugin

    rows = [{"request": {"contents": [{"role": "user", "parts": [{"text": f"native prompt {i}"}]}]}}
            for i in range(4)]
    rows.append({"request": {"contents": [{"role": "user", "parts": [{"text": "EMULATOR_FAIL"}]}]}})
    rows.append({"request": {"contents": [{"role": "user", "parts": [{"text": "deep thought"}]}],
                             "generationConfig": {"thinkingConfig": {"thinkingBudget": 100}}}})
    job = run_job(stand_ins, rows)

    async def scenario() -> None:
        await plugin.async_log_success_event(event(job["created"], "POST", "team-a"), None, None, None)
        for team in ("team-b", "team-b", "team-a"):  # polled three times, by someone else too
            await plugin.async_log_success_event(event(job["finished"], "GET", team), None, None, None)
        for _ in range(50):
            if spy.exists() and spy.read_text().strip():
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # any second event would have been written by now

    asyncio.run(scenario())
    events = [json.loads(line) for line in spy.read_text().splitlines()]
    assert len(events) == 1, events
    [charged] = events
    directory = job["finished"]["outputInfo"]["gcsOutputDirectory"].removeprefix(f"gs://{BUCKET}/")
    output = [json.loads(line) for blob in gcs_bucket(stand_ins).list_blobs(prefix=directory)
              for line in blob.download_as_text().splitlines() if line.strip()]
    assert len(output) == 6 and sum(1 for r in output if r.get("status")) == 1
    expected = row_cost(output)
    assert expected > 0 and abs(charged["response_cost"] - expected) < 1e-9
    assert charged["call_type"] == "aretrieve_batch"
    assert charged["slo"]["metadata"]["user_api_key_team_id"] == "team-a"
    assert charged["slo"]["metadata"]["user_api_key_hash"] == "hash-team-a"

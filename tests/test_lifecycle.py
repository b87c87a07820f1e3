"""The background worker through stock proxies: batches finish and are charged with nobody polling, one replica
sweeps at a time and another takes over when it dies mid-finalization, deleted Vertex jobs and broken items break
nothing, late twins are swept, and a proxy with the worker off charges only on retrieve.

Proxies A and B sweep every second under their own prefix (and a 6 s finalize lease, so a takeover is quick);
proxy OFF has the worker turned off, under another prefix. All three record logging events with the spy callback.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from litellm.proxy.utils import hash_token

from litellm_vertex_batch.cloud import credentials
from tests.conftest import (
    PROVIDER,
    chat_line,
    create_batch,
    gcs_bucket,
    jsonl,
    make_client,
    read_jsonl,
    spy_events,
    started,
    upload,
    wait_done,
)
from tests.stand_ins.proxy import MASTER_KEY, REPO_ROOT, Proxy
from tests.test_native_jobs import create as native_create
from tests.test_spend import FINAL

SWEEPING, OFF = "lifecycle/", "lifecycle-off/"


@dataclass
class Life:
    a: Proxy
    b: Proxy
    off: Proxy
    spy: Path


SECRET = "whsec_" + base64.b64encode(b"the operator's webhook secret!!!").decode()


class Receiver:
    """A webhook receiver: records every delivery (path, headers, body); the first delivery of each message
    answers 500, so every event is delivered at least twice (a retry) before it is accepted."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, dict[str, str], bytes]] = []
        self.seen: set[str] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.deliveries.append((self.path, headers, body))
                first = headers.get("webhook-id", "") not in receiver.seen
                receiver.seen.add(headers.get("webhook-id", ""))
                self.send_response(500 if first else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def for_batch(self, path: str, batch_id: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for p, h, b in self.deliveries if p == path and json.loads(b)["data"]["id"] == batch_id]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(scope="module")
def life(stand_ins, replica_config, tmp_path_factory, receiver) -> Iterator[Life]:
    spy = tmp_path_factory.mktemp("lifecycle-spy") / "events.jsonl"
    base = {"SPY_LOG_PATH": str(spy), "PYTHONPATH": str(REPO_ROOT)}
    hooks = [{"url": f"{receiver.url}/all", "secret": SECRET},
             {"url": f"{receiver.url}/team-b", "secret": SECRET, "team_id": "team-b"}]
    sweeping = {**base, "LITELLM_VERTEX_BATCH_PREFIX": SWEEPING, "LITELLM_VERTEX_BATCH_SWEEP_SECONDS": "1",
                "LITELLM_VERTEX_BATCH_FINALIZE_LEASE_SECONDS": "3", "LITELLM_VERTEX_BATCH_RETRY_SECONDS": "2",
                "LITELLM_VERTEX_BATCH_TIMEOUT_SECONDS": "5", "LITELLM_VERTEX_BATCH_WEBHOOKS": json.dumps(hooks)}
    off = {**base, "LITELLM_VERTEX_BATCH_PREFIX": OFF, "LITELLM_VERTEX_BATCH_BACKGROUND_WORKER": "false"}
    running = Life(Proxy(stand_ins.env, config=replica_config, extra_env=sweeping),
                   Proxy(stand_ins.env, config=replica_config, extra_env=sweeping),
                   Proxy(stand_ins.env, config=replica_config, extra_env=off), spy)
    with started(running.a, running.b, running.off):
        yield running


def charges(spy: Path, batch_id: str) -> list[dict[str, Any]]:
    return [e for e in spy_events(spy)
            if e["call_type"] == "aretrieve_batch" and e["batch_id"] == batch_id and e["batch_status"] in FINAL]


def wait_for(check: Any, timeout: float, what: str, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(step)


def record(stand_ins, prefix: str, batch_id: str) -> dict[str, Any]:
    blob = gcs_bucket(stand_ins).blob(f"{prefix}batches/{batch_id.removeprefix('batch_vb')}.json")
    return json.loads(blob.download_as_bytes())


def job_state(stand_ins, job_name: str) -> str | None:
    for job in stand_ins.control("GET", "jobs")["jobs"]:
        if job["job"]["name"] == job_name:
            return str(job["job"]["state"])
    return None


def object_names(stand_ins, prefix: str) -> list[str]:
    return [blob.name for blob in gcs_bucket(stand_ins).list_blobs(prefix=prefix)]


def custom_ids(client: Any, batch: Any) -> list[str]:
    return [row["custom_id"] for file_id in (batch.output_file_id, batch.error_file_id)
            for row in read_jsonl(client, file_id)]


def test_spend_reaches_litellm_although_no_client_retrieves(stand_ins, life):
    assert "background worker every 1 s" in life.a.log_text() and "webhooks to 2 endpoint(s)" in life.a.log_text()
    alice = make_client(life.a, "sk-tenant-alice")
    batch = create_batch(alice, upload(alice, [chat_line(f"r{i}", f"row {i} words") for i in range(5)]).id)
    token = batch.id.removeprefix("batch_vb")
    assert f"{SWEEPING}open/{token}.json" in object_names(stand_ins, f"{SWEEPING}open/")

    events = wait_for(lambda: charges(life.spy, batch.id), 30, "the worker logs the batch's cost")
    assert len(events) == 1, events
    event = events[0]
    assert event["response_cost"] > 0
    metadata = event["slo"]["metadata"]
    assert metadata["user_api_key_hash"] == hash_token("sk-tenant-alice")
    assert metadata["user_api_key_team_id"] == "team-a"
    wait_for(lambda: f"{SWEEPING}open/{token}.json" not in object_names(stand_ins, f"{SWEEPING}open/"), 10,
             "the batch leaves the open index once charged (after its webhooks are queued)")

    done = alice.batches.retrieve(batch.id)  # the first client read: already final, already charged
    assert done.status == "completed" and done.request_counts.completed == 5
    assert abs(float(done.litellm_batch_cost_usd) - event["response_cost"]) < 1e-12
    assert sorted(custom_ids(alice, done)) == [f"r{i}" for i in range(5)]
    time.sleep(2.5)  # two more passes of both sweeping replicas
    assert len(charges(life.spy, batch.id)) == 1


def test_a_native_job_nobody_reads_again_is_charged_by_the_worker(stand_ins, life):
    job = native_create(stand_ins, life.a, "sk-tenant-alice", "team-a")  # created, never read again
    jid = job["name"].rsplit("/", 1)[-1]
    events = wait_for(lambda: [e for e in spy_events(life.spy) if e["batch_id"] == jid], 30,
                      "the worker logs the native job's cost")
    assert len(events) == 1 and events[0]["response_cost"] > 0
    assert events[0]["slo"]["metadata"]["user_api_key_hash"] == hash_token("sk-tenant-alice")
    wait_for(lambda: not object_names(stand_ins, f"{SWEEPING}open-native/"), 10, "its index entry is removed")
    time.sleep(2.5)
    assert len([e for e in spy_events(life.spy) if e["batch_id"] == jid]) == 1


def test_with_the_worker_off_a_batch_is_charged_when_retrieved(stand_ins, life):
    assert "background worker off" in life.off.log_text()
    client = make_client(life.off, "sk-tenant-bob")
    batch = create_batch(client, upload(client, [chat_line("only", "one row")]).id)
    job = record(stand_ins, OFF, batch.id)["job_name"]
    wait_for(lambda: job_state(stand_ins, job) == "JOB_STATE_SUCCEEDED", 30, "the job ends")
    time.sleep(3)
    assert charges(life.spy, batch.id) == []
    assert wait_done(client, batch.id).status == "completed"
    assert len(charges(life.spy, batch.id)) == 1


def delete_job(proxy: Proxy, name: str) -> httpx.Response:
    return httpx.delete(f"{proxy.url}/v1/{name}", headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=60)


def test_a_deleted_vertex_job_breaks_no_batch_and_no_list(stand_ins, life):
    client = make_client(life.off)
    finished = create_batch(client, upload(client, [chat_line("f1"), chat_line("f2")]).id)
    finished = wait_done(client, finished.id)
    assert finished.status == "completed"
    unfinalized = create_batch(client, upload(client, [chat_line("u1"), chat_line("u2"), chat_line("u3")]).id)
    job = record(stand_ins, OFF, unfinalized.id)["job_name"]
    wait_for(lambda: job_state(stand_ins, job) == "JOB_STATE_SUCCEEDED", 30, "the job ends")
    for name in (record(stand_ins, OFF, finished.id)["job_name"], job):
        response = delete_job(life.off, name)  # as an operator may, with Google's API
        assert response.status_code == 200, response.text
        assert job_state(stand_ins, name) is None

    again = client.batches.retrieve(finished.id)  # answered from its stored result
    assert again.status == "completed" and again.output_file_id == finished.output_file_id
    assert sorted(custom_ids(client, again)) == ["f1", "f2"]

    lost = client.batches.retrieve(unfinalized.id)
    assert lost.status == "failed", lost
    assert lost.errors.data[0].code == "job_not_found" and "no longer exists" in lost.errors.data[0].message
    assert lost.request_counts.total == 3
    assert sorted(custom_ids(client, lost)) == ["u1", "u2", "u3"]  # what Vertex wrote, each id once
    assert lost.request_counts.completed + lost.request_counts.failed == 3

    listed = {b.id: b for b in client.batches.list(limit=100)}
    assert listed[finished.id].status == "completed" and listed[unfinalized.id].status == "failed"
    numeric = {name.rsplit("/", 1)[-1] for name in (job, record(stand_ins, OFF, finished.id)["job_name"])}
    assert not [e for e in spy_events(life.spy) if e["batch_id"] in numeric], "a batch's job is never charged twice"


def test_a_list_shows_an_item_it_cannot_fully_read(stand_ins, life):
    client = make_client(life.off)
    good = wait_done(client, create_batch(client, upload(client, [chat_line("g")]).id).id)
    broken = wait_done(client, create_batch(client, upload(client, [chat_line("b")]).id).id)
    assert good.status == broken.status == "completed"
    token = broken.id.removeprefix("batch_vb")
    gcs_bucket(stand_ins).blob(f"{OFF}batch-results/{token}.json").upload_from_string(b"{not json")

    listed = {b.id: b for b in client.batches.list(limit=100)}
    assert listed[good.id].status == "completed"
    assert broken.id in listed and listed[broken.id].status == "in_progress"  # as far as its record tells
    assert "listing " + broken.id in life.off.log_text()


def emulator_token(stand_ins) -> str:
    return asyncio.run(credentials.access_token(stand_ins.sa_path))


def test_a_late_twin_is_cancelled_or_deleted_and_its_output_removed(stand_ins, life):
    client = make_client(life.a)
    batch = wait_done(client, create_batch(client, upload(client, [chat_line("t1"), chat_line("t2")]).id).id)
    assert batch.status == "completed"
    owned = record(stand_ins, SWEEPING, batch.id)["job_name"]
    real = httpx.get(f"{stand_ins.vertex_url}/v1/{owned}",
                     headers={"Authorization": f"Bearer {emulator_token(stand_ins)}"}).json()
    twin_body = {key: real[key] for key in ("displayName", "model", "inputConfig", "outputConfig", "labels")}
    parent = owned.rsplit("/", 2)[0]
    twin = httpx.post(f"{stand_ins.vertex_url}/v1/{parent}/batchPredictionJobs", json=twin_body,
                      headers={"Authorization": f"Bearer {emulator_token(stand_ins)}"}).json()
    wait_for(lambda: job_state(stand_ins, twin["name"]) == "JOB_STATE_SUCCEEDED", 30, "the twin ends")
    token = batch.id.removeprefix("batch_vb")
    twin_directory = [n for n in object_names(stand_ins, f"{SWEEPING}vertex-output/{token}/")
                      if n not in object_names(stand_ins, real["outputInfo"]["gcsOutputDirectory"]
                                               .removeprefix("gs://batch-bucket/"))]
    assert twin_directory, "the twin wrote predictions of its own"

    # grace: retry_seconds (2) + 4 x timeout_seconds (5) after its creation
    wait_for(lambda: job_state(stand_ins, twin["name"]) is None, 60, "the twin is deleted", step=1)
    remaining = set(object_names(stand_ins, f"{SWEEPING}vertex-output/{token}/"))
    assert not remaining & set(twin_directory), "the twin's predictions are removed"
    assert job_state(stand_ins, owned) == "JOB_STATE_SUCCEEDED", "the batch's own job stays"
    again = client.batches.retrieve(batch.id)
    assert again.status == "completed" and sorted(custom_ids(client, again)) == ["t1", "t2"]
    assert len(charges(life.spy, batch.id)) == 1


def test_webhooks_are_signed_retried_with_the_same_ids_and_sent_per_team(stand_ins, life, receiver):
    alice, bob = make_client(life.a, "sk-tenant-alice"), make_client(life.b, "sk-tenant-bob")
    done_a = create_batch(alice, upload(alice, [chat_line("w1")]).id)
    before = stand_ins.control("GET", "config")
    stand_ins.configure(pending_seconds=30)  # bob's job fails before it could run
    try:
        failed_b = create_batch(bob, upload(bob, [chat_line("w2")]).id)
        stand_ins.force_state(job_id_in(stand_ins, SWEEPING, failed_b.id), "JOB_STATE_FAILED",
                              {"code": 13, "message": "injected failure"})
    finally:
        stand_ins.configure(**before)
    for path, batch in (("/all", done_a), ("/all", failed_b), ("/team-b", failed_b)):
        wait_for(lambda p=path, b=batch: len(receiver.for_batch(p, b.id)) >= 2, 40, f"{path} gets {batch.id} twice")
    assert receiver.for_batch("/team-b", done_a.id) == [], "a team's endpoint gets only that team's batches"

    verifier = openai.OpenAI(api_key="unused", webhook_secret=SECRET)
    for path, batch, kind in (("/all", done_a, "batch.completed"), ("/all", failed_b, "batch.failed"),
                              ("/team-b", failed_b, "batch.failed")):
        deliveries = receiver.for_batch(path, batch.id)
        events = [verifier.webhooks.unwrap(body, headers) for headers, body in deliveries]
        assert {e.type for e in events} == {kind} and {e.data.id for e in events} == {batch.id}
        assert len({e.id for e in events}) == 1, "every retry carries the same event id"
        assert len({h["webhook-id"] for h, _ in deliveries}) == 1, "and the same webhook-id"
    final = alice.batches.retrieve(done_a.id)
    event = verifier.webhooks.unwrap(receiver.for_batch("/all", done_a.id)[0][1],
                                     receiver.for_batch("/all", done_a.id)[0][0])
    assert event.created_at == final.completed_at
    headers, body = receiver.for_batch("/all", done_a.id)[0]
    wrong = "whsec_" + base64.b64encode(b"not the operator's secret at all").decode()
    with pytest.raises(openai.InvalidWebhookSignatureError):
        openai.OpenAI(api_key="unused", webhook_secret=wrong).webhooks.unwrap(body, headers)
    time.sleep(2.5)
    assert len(receiver.for_batch("/all", done_a.id)) == 2, "accepted once: never sent again"
    assert not [n for n in object_names(stand_ins, f"{SWEEPING}webhooks/")], "the outbox is empty"


def job_id_in(stand_ins, prefix: str, batch_id: str) -> str:
    return str(record(stand_ins, prefix, batch_id)["job_name"]).rsplit("/", 1)[-1]


def test_files_and_batch_outputs_expire_as_openai_says(stand_ins, life):
    client = make_client(life.a)
    before = set(object_names(stand_ins, SWEEPING))
    with pytest.raises(openai.BadRequestError) as refused:
        client.files.create(file=("x.jsonl", io.BytesIO(jsonl([chat_line("x")]))), purpose="batch",
                            expires_after={"anchor": "created_at", "seconds": 60}, extra_headers=PROVIDER)
    assert "expires_after.seconds" in str(refused.value) and ">= 3600" in str(refused.value)
    assert set(object_names(stand_ins, SWEEPING)) - before == set(), "nothing written for a refused upload"

    file = client.files.create(file=("e.jsonl", io.BytesIO(jsonl([chat_line("e1"), chat_line("e2")]))),
                               purpose="batch", expires_after={"anchor": "created_at", "seconds": 3600},
                               extra_headers=PROVIDER)
    assert file.expires_at == file.created_at + 3600
    assert client.files.retrieve(file.id, extra_headers=PROVIDER).expires_at == file.expires_at
    with pytest.raises(openai.BadRequestError) as refused_batch:
        create_batch(client, file.id, output_expires_after={"anchor": "created_at", "seconds": 10**8})
    assert "output_expires_after.seconds" in str(refused_batch.value)
    batch = create_batch(client, file.id, output_expires_after={"anchor": "created_at", "seconds": 7200})
    done = wait_done(client, batch.id)
    output = client.files.retrieve(done.output_file_id, extra_headers=PROVIDER)
    assert output.expires_at == output.created_at + 7200

    # the clock moves past the input file's expiry: its metadata says so, and the index has an entry due now
    token = file.id.removeprefix("file-vb")
    blob = gcs_bucket(stand_ins).blob(f"{SWEEPING}files/{token}")
    blob.reload()
    blob.metadata = {**(blob.metadata or {}), "expires_at": str(int(time.time()) - 1)}
    blob.patch()
    gcs_bucket(stand_ins).blob(f"{SWEEPING}expiry/{int(time.time()) - 1:012d}-file-{token}.json"
                               ).upload_from_string(b"{}")
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(file.id, extra_headers=PROVIDER)  # gone at once, before the worker comes by
    assert file.id not in {f.id for f in client.files.list(extra_headers=PROVIDER)}
    wait_for(lambda: not [n for n in object_names(stand_ins, SWEEPING) if token in n and "expiry/" not in n
                          and "uploads/" not in n], 15, "the worker deletes the expired file and its rows")
    assert client.batches.retrieve(batch.id).status == "completed", "the batch that used it is unaffected"
    assert read_jsonl(client, done.output_file_id), "the output expires only when its own time comes"


def test_a_replica_killed_mid_finalization_is_taken_over_and_charged_once(stand_ins, life):
    """Last in the module: it kills one of the sweeping replicas."""
    client = make_client(life.a)
    rows = 10_000
    batch = create_batch(client, upload(client, [chat_line(f"k{i}", f"kill test row {i}") for i in range(rows)]).id)
    token = batch.id.removeprefix("batch_vb")
    lock = gcs_bucket(stand_ins).blob(f"{SWEEPING}locks/{token}.finalize")
    wait_for(lock.exists, 60, "a worker starts finalizing", step=0.05)
    sweeper = json.loads(gcs_bucket(stand_ins).blob(f"{SWEEPING}locks/worker.sweep").download_as_bytes())
    victim, survivor = (life.a, life.b) if sweeper["pid"] == life.a.process.pid else (life.b, life.a)
    assert sweeper["pid"] == victim.process.pid
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(10)
    assert not gcs_bucket(stand_ins).blob(f"{SWEEPING}batch-results/{token}.json").exists(), \
        "killed before the rewrite ended"

    # the survivor takes the sweeper lease (2 x 1 s + 10 s) and the finalize lease (6 s) over, no client asking
    events = wait_for(lambda: charges(life.spy, batch.id), 90, "the survivor finalizes and charges", step=0.5)
    assert len(events) == 1 and events[0]["pid"] == survivor.process.pid
    # its own rewrite outlasted the 3 s finalize lease: renewed all along, never taken over in turn
    assert "lost the lease" not in survivor.log_text()
    assert survivor.log_text().count(f"taking over {SWEEPING}locks/{token}.finalize") == 1
    survivor_client = make_client(survivor)
    done = survivor_client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.request_counts.completed == rows
    ids_seen = custom_ids(survivor_client, done)
    assert len(ids_seen) == rows and len(set(ids_seen)) == rows
    time.sleep(3)
    assert len(charges(life.spy, batch.id)) == 1

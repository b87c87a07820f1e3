"""Two replicas sharing one bucket, and routing by model (the proxy's own mechanism, proxy-encoded ids)."""

from __future__ import annotations

import base64
import io
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openai.types import Batch, FileObject

from tests.conftest import (
    PROVIDER,
    batch_charges,
    chat_line,
    create_batch,
    gcs_bucket,
    jsonl,
    make_client,
    read_jsonl,
    upload,
    wait_done,
)
from tests.stand_ins.stack import BUCKET, LOCATION, OTHER_BUCKET, PROJECT

PREFIX = "litellm-vertex-batch/"


def emulator_jobs(stand_ins) -> list[dict[str, Any]]:
    return [entry["job"] for entry in stand_ins.control("GET", "jobs")["jobs"]]


def jobs_labelled(stand_ins, token: str) -> list[dict[str, Any]]:
    return [job for job in emulator_jobs(stand_ins) if (job.get("labels") or {}).get("litellm_vertex_batch") == token]


def plugin_id(proxy_id: str, kind: str) -> str:
    """The plugin's own id inside one of the proxy's model-routed ids (base64 of "litellm:<id>;model,<name>")."""
    encoded = proxy_id.split("-", 1)[1] if kind == "file" else proxy_id.split("_", 1)[1]
    decoded = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    pattern = r"file-vb[0-9a-z]{26}" if kind == "file" else r"batch_vb[0-9a-z]{26}"
    found = re.search(pattern, decoded)
    assert found, decoded
    return found.group(0)


def files_named(stand_ins, bucket: str, filename: str) -> list[Any]:
    return [blob for blob in gcs_bucket(stand_ins, bucket).list_blobs(prefix=f"{PREFIX}files/")
            if (blob.metadata or {}).get("filename") == filename]


# ---- two replicas ----------------------------------------------------------------------------------------------

def test_file_uploaded_on_a_is_served_by_b(client, client_b):
    lines = [chat_line(f"x{i}") for i in range(3)]
    file = upload(client, lines, name="shared.jsonl")
    on_b = client_b.files.retrieve(file.id, extra_headers=PROVIDER)
    assert isinstance(on_b, FileObject)
    assert (on_b.id, on_b.bytes, on_b.filename, on_b.purpose) == (file.id, file.bytes, "shared.jsonl", "batch")
    assert client_b.files.content(file.id, extra_headers=PROVIDER).content == jsonl(lines)
    assert file.id in [f.id for f in client_b.files.list(extra_headers=PROVIDER, purpose="batch")]


def test_batch_created_on_a_is_retrieved_and_listed_on_b(client, client_b):
    file = upload(client, [chat_line("ab1"), chat_line("ab2")])
    batch = create_batch(client, file.id, metadata={"replica": "a"})
    on_b = client_b.batches.retrieve(batch.id, extra_headers=PROVIDER)
    assert isinstance(on_b, Batch) and on_b.id == batch.id and on_b.input_file_id == file.id
    assert on_b.metadata == {"replica": "a"} and on_b.request_counts.total == 2
    assert batch.id in [b.id for b in client_b.batches.list(extra_headers=PROVIDER, limit=20)]
    done_b = wait_done(client_b, batch.id)
    assert done_b.status == "completed"
    done_a = client.batches.retrieve(batch.id, extra_headers=PROVIDER)
    assert done_a.output_file_id == done_b.output_file_id
    assert sorted(r["custom_id"] for r in read_jsonl(client, done_a.output_file_id)) == ["ab1", "ab2"]


def test_simultaneous_retrieves_on_both_replicas_finalize_once(stand_ins, client, client_b):
    count = 40
    file = upload(client, [chat_line(f"c{i:03d}", f"question {i}") for i in range(count)])
    batch = create_batch(client, file.id)
    token = batch.id.removeprefix("batch_vb")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait on the emulator, not the proxies: nobody has finalized yet
        jobs = jobs_labelled(stand_ins, token)
        if jobs and jobs[0]["state"] == "JOB_STATE_SUCCEEDED":
            break
        time.sleep(0.2)
    assert jobs_labelled(stand_ins, token)[0]["state"] == "JOB_STATE_SUCCEEDED"

    per_replica, rounds = 3, 3
    barrier = threading.Barrier(2 * per_replica)

    def ask(which: Any) -> list[tuple[str, str | None]]:
        barrier.wait()
        seen = []
        for _ in range(rounds):
            got = which.batches.retrieve(batch.id, extra_headers=PROVIDER)
            seen.append((got.status, got.output_file_id))
        return seen

    with ThreadPoolExecutor(2 * per_replica) as pool:
        futures = [pool.submit(ask, which) for which in [client] * per_replica + [client_b] * per_replica]
        answers = [answer for future in futures for answer in future.result(timeout=120)]
    assert {status for status, _ in answers} <= {"finalizing", "completed"}, answers

    final_a = wait_done(client, batch.id)
    final_b = wait_done(client_b, batch.id)
    assert final_a.status == final_b.status == "completed"
    assert final_a.output_file_id and final_a.output_file_id == final_b.output_file_id
    assert {oid for status, oid in answers if status == "completed"} <= {final_a.output_file_id}
    assert final_a.error_file_id is None and final_b.error_file_id is None

    outputs = files_named(stand_ins, BUCKET, f"{batch.id}_output.jsonl")
    assert len(outputs) == 1, [b.name for b in outputs]
    assert outputs[0].metadata["purpose"] == "batch_output"
    assert outputs[0].name == f"{PREFIX}files/{final_a.output_file_id.removeprefix('file-vb')}"
    assert files_named(stand_ins, BUCKET, f"{batch.id}_error.jsonl") == []
    rows_a = read_jsonl(client, final_a.output_file_id)
    rows_b = read_jsonl(client_b, final_b.output_file_id)
    assert len(rows_a) == count == final_a.request_counts.total == final_a.request_counts.completed
    assert sorted(r["custom_id"] for r in rows_a) == sorted(r["custom_id"] for r in rows_b)
    assert len({r["custom_id"] for r in rows_a}) == count


def test_two_replicas_upload_finalize_and_retrieve_the_same_batches_concurrently(proxy_b, proxy_c, spy_log):
    """Scale-out as the README describes it: replicas share nothing but the bucket. Four files are uploaded at
    once, two on each replica (each over 256 KiB, so converted in the replicas' worker processes); each batch is
    created on the other replica; both replicas then retrieve every batch at once while their background workers
    sweep. Every batch completes once: one output file both replicas name, each custom_id exactly once, one cost
    event."""
    clients = [make_client(proxy_b), make_client(proxy_c)]
    count, batches = 600, 4
    padding = " and some more words to make the line longer" * 8
    sources = [[chat_line(f"s{k}-{i:04d}", f"question {i} of batch {k}{padding}") for i in range(count)]
               for k in range(batches)]
    assert all(len(jsonl(lines)) > 256 * 1024 for lines in sources)

    with ThreadPoolExecutor(batches) as pool:
        files = list(pool.map(lambda k: upload(clients[k % 2], sources[k], name=f"scale-{k}.jsonl"),
                              range(batches)))
        made = list(pool.map(lambda k: create_batch(clients[(k + 1) % 2], files[k].id), range(batches)))

    def finish(pair: tuple[int, int]) -> Any:
        k, which = pair
        return wait_done(clients[which], made[k].id, timeout=180)

    with ThreadPoolExecutor(2 * batches) as pool:
        finals = list(pool.map(finish, [(k, which) for k in range(batches) for which in (0, 1)]))
    for k in range(batches):
        on_b, on_c = finals[2 * k], finals[2 * k + 1]
        assert on_b.status == on_c.status == "completed", (on_b.status, on_c.status, on_b.errors)
        assert on_b.output_file_id and on_b.output_file_id == on_c.output_file_id
        assert on_b.request_counts.completed == on_b.request_counts.total == count
        rows = read_jsonl(clients[k % 2], on_b.output_file_id)
        assert sorted(row["custom_id"] for row in rows) == [line["custom_id"] for line in sources[k]]
        assert len(batch_charges(spy_log, made[k].id)) == 1


# ---- routing by model -------------------------------------------------------------------------------------------

def test_model_routed_file_and_batch_on_the_default_deployment(stand_ins, client):
    filename = f"routed-{uuid.uuid4().hex[:8]}.jsonl"
    file = client.files.create(file=(filename, io.BytesIO(jsonl([chat_line("r1"), chat_line("r2")]))),
                               purpose="batch", extra_body={"model": "gemini-2.5-flash-lite"})
    assert file.id.startswith("file-") and not file.id.startswith("file-vb")  # the proxy's own encoded id
    assert "model,gemini-2.5-flash-lite" in base64.urlsafe_b64decode(file.id[5:] + "=" * (-len(file.id[5:]) % 4)
                                                                     ).decode()
    assert len(files_named(stand_ins, BUCKET, filename)) == 1
    assert client.files.retrieve(file.id).filename == filename

    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.input_file_id == file.id and batch.model == "gemini-2.5-flash-lite"
    token = plugin_id(batch.id, "batch").removeprefix("batch_vb")
    job = jobs_labelled(stand_ins, token)
    assert len(job) == 1 and job[0]["name"].startswith(f"projects/{PROJECT}/locations/{LOCATION}/")
    done = wait_done(client, batch.id, headers={})
    assert done.status == "completed", done
    assert done.request_counts.completed == 2
    assert sorted(r["custom_id"] for r in read_jsonl(client, done.output_file_id, headers={})) == ["r1", "r2"]


def test_model_routed_to_team_b_deployment_uses_its_bucket_project_and_location(stand_ins, client_b):
    filename = f"team-b-{uuid.uuid4().hex[:8]}.jsonl"
    lines = [chat_line("b1"), chat_line("b2"), chat_line("b3")]
    file = client_b.files.create(file=(filename, io.BytesIO(jsonl(lines))), purpose="batch",
                                 extra_body={"model": "team-b-flash"})
    stored = files_named(stand_ins, OTHER_BUCKET, filename)
    assert len(stored) == 1 and stored[0].metadata["model"] == "gemini-2.5-flash"
    assert files_named(stand_ins, BUCKET, filename) == []
    file_token = plugin_id(file.id, "file").removeprefix("file-vb")
    assert stored[0].name == f"{PREFIX}files/{file_token}"

    batch = client_b.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.model == "gemini-2.5-flash"
    token = plugin_id(batch.id, "batch").removeprefix("batch_vb")
    jobs = jobs_labelled(stand_ins, token)
    assert len(jobs) == 1
    job = jobs[0]
    assert job["name"].startswith("projects/team-b-project/locations/europe-west4/batchPredictionJobs/")
    assert job["model"] == "publishers/google/models/gemini-2.5-flash"
    assert job["inputConfig"]["gcsSource"]["uris"][0].startswith(f"gs://{OTHER_BUCKET}/")
    assert job["outputConfig"]["gcsDestination"]["outputUriPrefix"].startswith(f"gs://{OTHER_BUCKET}/")
    assert gcs_bucket(stand_ins, OTHER_BUCKET).blob(f"{PREFIX}batches/{token}.json").exists()
    assert not gcs_bucket(stand_ins, BUCKET).blob(f"{PREFIX}batches/{token}.json").exists()

    done = wait_done(client_b, batch.id, headers={})
    assert done.status == "completed", (done, jobs_labelled(stand_ins, token)[0].get("error"))
    assert done.request_counts.completed == 3 and done.request_counts.failed == 0
    rows = read_jsonl(client_b, done.output_file_id, headers={})
    assert sorted(r["custom_id"] for r in rows) == ["b1", "b2", "b3"]
    output_token = plugin_id(done.output_file_id, "file").removeprefix("file-vb")
    assert gcs_bucket(stand_ins, OTHER_BUCKET).blob(f"{PREFIX}files/{output_token}").exists()

"""Tests for the local stand-ins: Vertex batch emulator against the real fake-gcs-server."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from google.api_core.client_options import ClientOptions  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402
from google.auth.transport.requests import Request as AuthRequest  # noqa: E402
from google.cloud import storage  # noqa: E402
from google.oauth2 import service_account  # noqa: E402

from tests.stand_ins import vertex_rows  # noqa: E402
from tests.stand_ins.stack import StandIns  # noqa: E402

TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}
J = "batchPredictionJobs"
MODEL = "publishers/google/models/gemini-2.5-flash"


@pytest.fixture(scope="session")
def stack():
    with StandIns(pending_seconds=0.2, running_seconds=0.4) as s:
        yield s


@pytest.fixture(scope="session")
def gcs(stack):
    return storage.Client(project="emulator-project", credentials=AnonymousCredentials(),
                          client_options=ClientOptions(api_endpoint=stack.gcs_url), use_auth_w_custom_endpoint=False)


@pytest.fixture(scope="session")
def token(stack) -> str:
    creds = service_account.Credentials.from_service_account_file(
        stack.sa_path, scopes=["https://www.googleapis.com/auth/cloud-platform"])
    creds.refresh(AuthRequest())
    assert creds.token.startswith("emu-")
    return creds.token


@pytest.fixture()
def api(stack, token):
    base = f"{stack.vertex_url}/v1/projects/emulator-project/locations/us-central1"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        yield client
    stack.clear_faults()


def line(text: str, custom_id: str | None = None, **request: Any) -> dict:
    row: dict[str, Any] = {"request": {"contents": [{"role": "user", "parts": [{"text": text}]}], **request}}
    if custom_id is not None:
        row["custom_id"] = custom_id
    return row


def upload(gcs, rows: list[dict] | str, bucket: str = "batch-bucket") -> str:
    name = f"in/{uuid.uuid4().hex}.jsonl"
    data = rows if isinstance(rows, str) else "".join(json.dumps(r) + "\n" for r in rows)
    gcs.bucket(bucket).blob(name).upload_from_string(data)
    return f"gs://{bucket}/{name}"


def job_body(uri: str, display_name: str = "t", out_bucket: str = "batch-bucket", **extra: Any) -> dict:
    return {"displayName": display_name, "model": MODEL,
            "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [uri]}},
            "outputConfig": {"predictionsFormat": "jsonl",
                             "gcsDestination": {"outputUriPrefix": f"gs://{out_bucket}/out/{uuid.uuid4().hex}/"}},
            **extra}


def create(api, body: dict) -> dict:
    resp = api.post(J, json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def wait(api, job: dict, states: set[str] = TERMINAL, timeout: float = 10) -> dict:
    jid = job["name"].rsplit("/", 1)[-1]
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        cur = api.get(f"{J}/{jid}").json()
        if not seen or seen[-1] != cur["state"]:
            seen.append(cur["state"])
        if cur["state"] in states:
            cur["_seen"] = seen
            return cur
        time.sleep(0.05)
    raise AssertionError(f"job stuck; states seen {seen}")


def read_output(gcs, job: dict) -> tuple[list[str], list[dict]]:
    bucket, prefix = job["outputInfo"]["gcsOutputDirectory"][5:].split("/", 1)
    blobs = sorted(gcs.list_blobs(bucket, prefix=prefix + "/"), key=lambda b: b.name)
    rows = [json.loads(x) for b in blobs for x in b.download_as_text().splitlines() if x.strip()]
    return [b.name.rsplit("/", 1)[-1] for b in blobs], rows


def test_auth_required(stack, api):
    bare = httpx.get(f"{api.base_url}{J}")
    assert bare.status_code == 401
    assert bare.json()["error"]["status"] == "UNAUTHENTICATED"
    bad = httpx.get(f"{api.base_url}{J}", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_lifecycle_and_output(stack, api, gcs):
    rows = [line(f"hello number {i}", custom_id=f"req-{i}") for i in range(20)]
    job = create(api, job_body(upload(gcs, rows), labels={"team": "a"}))
    assert job["state"] == "JOB_STATE_PENDING"
    assert job["name"].startswith("projects/emulator-project/locations/us-central1/batchPredictionJobs/")
    assert job["name"].rsplit("/", 1)[-1].isdigit() and job["createTime"].endswith("Z")
    assert job["labels"] == {"team": "a"} and job["model"] == MODEL and "completionStats" not in job
    done = wait(api, job)
    assert done["_seen"][-2:] == ["JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"], done["_seen"]
    assert done["startTime"] <= done["endTime"]
    assert done["completionStats"] == {"successfulCount": "20", "failedCount": "0", "incompleteCount": "0"}
    out_dir = done["outputInfo"]["gcsOutputDirectory"]
    prefix = job["outputConfig"]["gcsDestination"]["outputUriPrefix"].rstrip("/")
    assert out_dir.startswith(prefix + "/prediction-model-") and out_dir.endswith("Z")
    files, out = read_output(gcs, done)
    assert files == ["predictions.jsonl"]
    assert sorted(r["custom_id"] for r in out) == sorted(f"req-{i}" for i in range(20))
    assert [r["custom_id"] for r in out] != [f"req-{i}" for i in range(20)]  # shuffled (1/20! to fail)
    row = next(r for r in out if r["custom_id"] == "req-3")
    assert row["status"] == "" and row["request"] == rows[3]["request"]
    cand = row["response"]["candidates"][0]
    assert cand["content"] == {"parts": [{"text": "echo: hello number 3"}], "role": "model"}
    assert cand["finishReason"] == "STOP"
    usage = row["response"]["usageMetadata"]
    assert (usage["promptTokenCount"], usage["candidatesTokenCount"], usage["totalTokenCount"]) == (3, 4, 7)
    assert row["response"]["modelVersion"] == "gemini-2.5-flash"


def test_split_files(stack, api, gcs):
    job = create(api, job_body(upload(gcs, [line(f"x {i}", custom_id=f"c{i}") for i in range(7)])))
    stack.control("POST", f"jobs/{job['name'].rsplit('/', 1)[-1]}/config", {"rows_per_file": 3})
    done = wait(api, job)
    files, out = read_output(gcs, done)
    assert files == ["predictions_00001.jsonl", "predictions_00002.jsonl", "predictions_00003.jsonl"]
    assert sorted(r["custom_id"] for r in out) == sorted(f"c{i}" for i in range(7))


def test_row_variants(stack, api, gcs):
    tools = [{"functionDeclarations": [{"name": "lookup", "description": "d",
                                        "parameters": {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}}}]}]
    rows = [
        line("please EMULATOR_FAIL now", custom_id="fail"),
        line("EMULATOR_FAIL_429", custom_id="f429"),
        line("EMULATOR_BLOCK this", custom_id="block"),
        line("one two three four five", custom_id="max", generationConfig={"maxOutputTokens": 2}),
        line("think", custom_id="think", generationConfig={"thinkingConfig": {"thinkingBudget": 100}}),
        line("js", custom_id="json", generationConfig={"responseMimeType": "application/json"}),
        line("CALL_TOOL please", custom_id="tool", tools=tools),
        line("EMULATOR_CACHED a b c d e", custom_id="cached"),
    ]
    done = wait(api, create(api, job_body(upload(gcs, rows))))
    assert done["completionStats"] == {"successfulCount": "6", "failedCount": "2", "incompleteCount": "0"}
    by_id = {r["custom_id"]: r for r in read_output(gcs, done)[1]}
    assert by_id["fail"]["status"].startswith("Bad Request: ") and "response" not in by_id["fail"]
    assert json.loads(by_id["fail"]["status"][len("Bad Request: "):])["error"]["status"] == "INVALID_ARGUMENT"
    assert by_id["fail"]["request"] == rows[0]["request"]
    assert by_id["f429"]["status"].startswith("Too Many Requests: ") and "RESOURCE_EXHAUSTED" in by_id["f429"]["status"]
    blocked = by_id["block"]["response"]
    assert blocked["promptFeedback"]["blockReason"] == "PROHIBITED_CONTENT" and "candidates" not in blocked
    assert blocked["usageMetadata"] == {"promptTokenCount": 2, "totalTokenCount": 2}
    maxed = by_id["max"]["response"]["candidates"][0]
    assert maxed["finishReason"] == "MAX_TOKENS" and maxed["content"]["parts"][0]["text"] == "echo: one"
    usage = by_id["think"]["response"]["usageMetadata"]
    assert usage["thoughtsTokenCount"] == 7 and usage["totalTokenCount"] == 1 + 2 + 7
    assert json.loads(by_id["json"]["response"]["candidates"][0]["content"]["parts"][0]["text"]) == {"echo": "js"}
    part = by_id["tool"]["response"]["candidates"][0]["content"]["parts"][0]
    assert part == {"functionCall": {"name": "lookup", "args": {"q": "x"}}}
    assert by_id["cached"]["response"]["usageMetadata"]["cachedContentTokenCount"] == 4


@pytest.mark.parametrize("bad", [
    {"custom_id": "a", "request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}],
                                   "generationConfig": {"responseSchema": {"$defs": {"A": {"type": "STRING"}}}}}},
    {"request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "tools": [{"googleSearch": {}}]}},
    {"custom_id": 5, "request": {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}},
    {"custom_id": "x"},
], ids=["dollar-key", "empty-object", "type-conflict", "no-request"])
def test_importer_rejects_whole_job(stack, api, gcs, bad):
    rows = [line("fine", custom_id="ok1"), bad, line("fine", custom_id="ok2")]
    done = wait(api, create(api, job_body(upload(gcs, rows))))
    assert done["state"] == "JOB_STATE_FAILED"
    assert done["error"]["code"] == 3 and done["error"]["message"].startswith("Failed to import data.")
    assert "gcsOutputDirectory" in done["outputInfo"]
    assert read_output(gcs, done)[1] == []


def test_importer_rules_unit():
    ok = [("gs://b/o", b'{"request": {"contents": [{"parts": [{"text": "a"}]}]}, "n": 1}\n\n{"request": {"a": 1}, "n": 2.5}\n')]
    assert len(vertex_rows.parse_and_validate(ok)) == 2
    deep: Any = {"x": 1}
    for _ in range(14):  # the innermost object sits at level 15 under "d": allowed
        deep = {"d": deep}
    assert vertex_rows.parse_and_validate([("u", json.dumps({"request": {"a": 1}, "d": deep}).encode())])
    row = {"request": {"contents": []}, "d": {"one_more": deep}}
    with pytest.raises(vertex_rows.ImportError_, match="nested"):
        vertex_rows.parse_and_validate([("u", json.dumps(row).encode())])
    for bad in ['{"request": {"a b": 1}}', '{"request": {"x-y": 1}}', '{"request": ', '[1]']:
        with pytest.raises(vertex_rows.ImportError_):
            vertex_rows.parse_and_validate([("u", bad.encode())])


def test_missing_input_and_output_bucket(stack, api, gcs):
    done = wait(api, create(api, job_body("gs://batch-bucket/in/does-not-exist.jsonl")))
    assert done["state"] == "JOB_STATE_FAILED" and done["error"]["code"] == 5
    done = wait(api, create(api, job_body(upload(gcs, [line("a")]), out_bucket="no-such-bucket")))
    assert done["state"] == "JOB_STATE_FAILED" and done["error"]["code"] == 9
    assert done["outputInfo"]["gcsOutputDirectory"].startswith("gs://no-such-bucket/")


def test_create_errors(stack, api, gcs):
    uri = upload(gcs, [line("a")])
    resp = api.post(J, json={**job_body(uri), "model": "publishers/google/models/llama-9"})
    assert resp.status_code == 404 and resp.json()["error"]["status"] == "NOT_FOUND"
    body = job_body(uri)
    del body["displayName"]
    resp = api.post(J, json=body)
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert api.get(f"{J}/123").status_code == 404
    other = httpx.get(f"{stack.vertex_url}/v1/projects/other/locations/us-central1/batchPredictionJobs/"
                      + create(api, job_body(uri))["name"].rsplit("/", 1)[-1], headers=api.headers)
    assert other.status_code == 404 and other.json()["error"]["code"] == 404


def test_list_paging_and_filter(stack, api, gcs):
    tag = uuid.uuid4().hex[:8]
    uri = upload(gcs, [line("a")])
    names = [create(api, job_body(uri, display_name=f"list-{tag}", labels={"run": tag}))["name"] for _ in range(3)]
    seen, token = [], None
    for _ in range(5):
        params = {"pageSize": 1, "filter": f'labels.run={tag} AND display_name="list-{tag}"'}
        if token:
            params["pageToken"] = token
        body = api.get(J, params=params).json()
        seen += [j["name"] for j in body["batchPredictionJobs"]]
        token = body.get("nextPageToken")
        if not token:
            break
    assert seen == names[::-1]  # newest first, 3 pages, no token on the last
    running = api.get(J, params={"filter": "state=JOB_STATE_SUCCEEDED AND labels.run=" + tag}).json()
    assert all(j["state"] == "JOB_STATE_SUCCEEDED" for j in running.get("batchPredictionJobs", []))
    assert api.get(J, params={"filter": "labels.run=nothing-matches"}).json() == {}  # empty list omitted


def test_cancel_held_job_keeps_processed_rows(stack, api, gcs):
    rows = [line(f"r {i}", custom_id=f"k{i}") for i in range(10)]
    job = create(api, job_body(upload(gcs, rows)))
    jid = job["name"].rsplit("/", 1)[-1]
    stack.hold(jid)
    wait(api, job, {"JOB_STATE_RUNNING"})
    deadline = time.monotonic() + 5
    while stack.control("GET", "jobs")["jobs"] and time.monotonic() < deadline:
        info = next(j for j in stack.control("GET", "jobs")["jobs"] if j["job"]["name"] == job["name"])
        if info["processed_rows"] == 5:
            break
        time.sleep(0.05)
    time.sleep(0.2)
    assert api.get(f"{J}/{jid}").json()["state"] == "JOB_STATE_RUNNING"  # held
    assert api.post(f"{J}/{jid}:cancel", json={}).json() == {}
    assert api.get(f"{J}/{jid}").json()["state"] in ("JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED")
    done = wait(api, job)
    assert done["state"] == "JOB_STATE_CANCELLED"
    out = read_output(gcs, done)[1]
    assert sorted(r["custom_id"] for r in out) == sorted(f"k{i}" for i in range(5))
    again = api.post(f"{J}/{jid}:cancel", json={})
    assert again.status_code == 400 and again.json()["error"]["status"] == "FAILED_PRECONDITION"
    op = api.delete(f"{J}/{jid}").json()
    assert op["done"] is True and "/operations/" in op["name"]
    assert api.get(f"{J}/{jid}").status_code == 404


def test_delete_running_refused(stack, api, gcs):
    job = create(api, job_body(upload(gcs, [line("a")])))
    jid = job["name"].rsplit("/", 1)[-1]
    stack.hold(jid)
    resp = api.delete(f"{J}/{jid}")
    assert resp.status_code == 400 and resp.json()["error"]["status"] == "FAILED_PRECONDITION"
    stack.release(jid)
    assert wait(api, job)["state"] == "JOB_STATE_SUCCEEDED"


def test_force_state(stack, api, gcs):
    rows = [line(f"r {i}", custom_id=f"k{i}") for i in range(6)]
    job = create(api, job_body(upload(gcs, rows)))
    jid = job["name"].rsplit("/", 1)[-1]
    stack.force_state(jid, "JOB_STATE_FAILED", write_output=True)
    done = api.get(f"{J}/{jid}").json()
    assert done["state"] == "JOB_STATE_FAILED" and done["error"]["code"] == 13
    assert len(read_output(gcs, done)[1]) == 3
    job2 = create(api, job_body(upload(gcs, rows)))
    stack.force_state(job2["name"], "JOB_STATE_SOMETHING_NEW")
    time.sleep(0.5)
    assert api.get(f"{J}/{job2['name'].rsplit('/', 1)[-1]}").json()["state"] == "JOB_STATE_SOMETHING_NEW"


def test_fault_injection(stack, api, gcs):
    stack.inject_fault(r"batchPredictionJobs$", 503, method="POST", count=1)
    body = job_body(upload(gcs, [line("a")]))
    first = api.post(J, json=body)
    assert first.status_code == 503 and first.json()["error"]["status"] == "UNAVAILABLE"
    assert api.post(J, json=body).status_code == 200
    stack.inject_fault(r"batchPredictionJobs$", 0, method="GET", count=1)
    with pytest.raises(httpx.TransportError):
        api.get(J)
    assert api.get(J).status_code == 200


def test_json_replies_follow_the_response_schema():
    from tests.stand_ins.vertex_rows import value_for_schema

    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                               "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
                                               "kind": {"enum": ["a", "b"]}, "note": {"type": ["null", "number"]}},
              "required": ["name", "age"]}
    assert value_for_schema(schema, "I am Alice.") == {"name": "Alice", "age": 3, "tags": ["Alice"], "kind": "a",
                                                       "note": 1.5}

"""Input refusals, upstream (Google) errors and id handling, through the stock proxy with the openai SDK.

Faults are injected into the Vertex emulator; every test that injects one clears them afterwards.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import uuid
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import (
    PROVIDER,
    batch_record,
    chat_line,
    create_batch,
    gcs_bucket,
    jsonl,
    read_jsonl,
    request_objects,
    upload,
    wait_done,
)
from tests.stand_ins.proxy import MASTER_KEY
from tests.stand_ins.stack import BUCKET, OTHER_BUCKET

PREFIX = "litellm-vertex-batch/"
ID_RE = re.compile(r"[A-Za-z0-9_-]+")


def object_names(stand_ins, bucket: str = BUCKET) -> set[str]:
    return request_objects(stand_ins, bucket, PREFIX)


def all_object_names(stand_ins) -> dict[str, set[str]]:
    return {name: object_names(stand_ins, name) for name in (BUCKET, OTHER_BUCKET)}


def emulator_jobs(stand_ins) -> list[dict[str, Any]]:
    return [entry["job"] for entry in stand_ins.control("GET", "jobs")["jobs"]]


def jobs_labelled(stand_ins, batch_id: str) -> list[dict[str, Any]]:
    token = batch_id.removeprefix("batch_vb")
    return [job for job in emulator_jobs(stand_ins) if (job.get("labels") or {}).get("litellm_vertex_batch") == token]


def emulator_job_state(stand_ins, batch_id: str) -> str | None:
    found = jobs_labelled(stand_ins, batch_id)
    return found[0]["state"] if found else None


@pytest.fixture
def faults(stand_ins):
    """The stand-ins, with every injected fault cleared after the test, pass or fail."""
    stand_ins.clear_faults()
    yield stand_ins
    stand_ins.clear_faults()


def error_text(exc: openai.APIStatusError) -> str:
    return str(exc.message)


# ---- 1. bad input: 400 naming the line and the problem, nothing written ---------------------------------------

TOOL_WITH_SPACE = [{"type": "function", "function": {"name": "lookup", "description": "Look a person up",
                                                      "parameters": {"type": "object", "properties": {
                                                          "first name": {"type": "string"}}}}}]
RECURSIVE_SCHEMA = {"type": "json_schema", "json_schema": {"name": "chain", "schema": {
    "type": "object", "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
    "properties": {"root": {"$ref": "#/$defs/node"}}}}}

BAD_INPUTS = {
    "invalid_json_line_3": (jsonl([chat_line("a"), chat_line("b")]) + b'{"custom_id": "c", "method": \n',
                            ["line 3", "JSON"]),
    "duplicate_custom_id": (jsonl([chat_line("a"), chat_line("b"), chat_line("a")]),
                            ["line 3", "'a'", "duplicate"]),
    "mixed_models": (jsonl([chat_line("a"), chat_line("b", model="gemini-2.5-flash")]),
                     ["line 2", "gemini-2.5-flash", "one model"]),
    "unsupported_url": (jsonl([chat_line("a"), {**chat_line("b"), "url": "/v1/completions"}]),
                        ["line 2", "/v1/completions", "not supported"]),
    "key_that_cannot_be_rewritten": (jsonl([chat_line("a"), chat_line("b", tools=TOOL_WITH_SPACE)]),
                                     ["line 2", "'first name'", "not a valid field name"]),
    "recursive_schema_ref": (jsonl([chat_line("a", response_format=RECURSIVE_SCHEMA)]),
                             ["line 1", "$ref"]),
    "empty_file": (b"", ["no request"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_with_line_and_problem_before_anything_is_written(stand_ins, client, case):
    data, expected = BAD_INPUTS[case]
    before = all_object_names(stand_ins)
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, data, name=f"{case}.jsonl")
    assert caught.value.status_code == 400
    message = error_text(caught.value)
    for fragment in expected:
        assert fragment in message, (fragment, message)
    after = all_object_names(stand_ins)
    for bucket in after:
        assert after[bucket] - before[bucket] == set(), f"{case}: objects written to {bucket} despite the refusal"


def test_json_schema_with_defs_is_rewritten_and_the_batch_completes(stand_ins, client):
    response_format = {"type": "json_schema", "json_schema": {"name": "person", "schema": {
        "type": "object",
        "$defs": {"address": {"type": "object", "properties": {"city": {"type": "string"}},
                              "required": ["city"]}},
        "properties": {"name": {"type": "string"}, "home": {"$ref": "#/$defs/address"},
                       "work": {"$ref": "#/$defs/address"}},
        "required": ["name"]}}}
    file = upload(client, [chat_line("schema-1", response_format=response_format),
                           chat_line("schema-2", response_format=response_format)])
    token = file.id.removeprefix("file-vb")
    rows = gcs_bucket(stand_ins).blob(f"{PREFIX}vertex-input/{token}.jsonl").download_as_bytes().decode()
    assert "$defs" not in rows and "$ref" not in rows and '"city"' in rows
    batch = create_batch(client, file.id)
    done = wait_done(client, batch.id)
    assert done.status == "completed", done
    assert done.request_counts.completed == 2 and done.request_counts.failed == 0
    assert sorted(r["custom_id"] for r in read_jsonl(client, done.output_file_id)) == ["schema-1", "schema-2"]


# ---- 2. upstream errors keep Google's status and message --------------------------------------------------------

#: In LiteLLM's model map as a Vertex model, so the plugin accepts it, but not served by Vertex batch (the emulator).
MAP_ONLY_MODEL = "medlm-medium"


def test_model_unknown_to_litellm_is_refused_at_upload_naming_the_line(stand_ins, client):
    before = object_names(stand_ins)
    with pytest.raises(openai.BadRequestError) as caught:
        upload(client, [chat_line("ok-line"), chat_line("nm", model="not-a-model-xyz")])
    message = error_text(caught.value)
    assert "line 2" in message and "'nm'" in message and "not-a-model-xyz" in message
    assert object_names(stand_ins) == before


def test_unknown_model_is_404_with_googles_message(client):
    file = upload(client, [chat_line("nm", model=MAP_ONLY_MODEL)])
    with pytest.raises(openai.NotFoundError) as caught:
        create_batch(client, file.id)
    assert caught.value.status_code == 404
    message = error_text(caught.value)
    assert "Publisher Model" in message and MAP_ONLY_MODEL in message and "not found" in message


def test_unknown_model_refusal_leaves_no_batch_behind(stand_ins, client):
    """Google refused the job (404), so no batch may be left behind, as for any other refusal."""
    file = upload(client, [chat_line("nm", model=MAP_ONLY_MODEL)])
    before = object_names(stand_ins)
    with pytest.raises(openai.NotFoundError):
        create_batch(client, file.id)
    left = sorted(n for n in object_names(stand_ins) - before if n.startswith(f"{PREFIX}batches/"))
    assert left == [], f"batch records left behind after Google's 404: {left}"
    phantom = [b.id for b in client.batches.list(extra_headers=PROVIDER, limit=20) if b.model == MAP_ONLY_MODEL
               and b.input_file_id == file.id]
    assert phantom == [], f"batches.list shows batches Google never created: {phantom}"


@pytest.mark.parametrize("status", [503, 0], ids=["one_503", "dropped_connection"])
def test_transient_failure_on_create_makes_exactly_one_job(faults, client, status):
    file = upload(client, [chat_line("t1"), chat_line("t2")])
    faults.inject_fault(r"batchPredictionJobs$", status, method="POST", count=1)
    batch = create_batch(client, file.id)
    assert all(f["count"] == 0 for f in faults.control("GET", "faults")["faults"]), "the fault was not hit"
    assert batch.status == "validating"
    assert len(jobs_labelled(faults, batch.id)) == 1
    done = wait_done(client, batch.id)
    assert done.status == "completed" and done.request_counts.completed == 2
    assert len(jobs_labelled(faults, batch.id)) == 1


def test_persistent_503_on_create_is_503_with_googles_message_and_no_batch(faults, client):
    file = upload(client, [chat_line("p503")])
    jobs_before = len(emulator_jobs(faults))
    records_before = object_names(faults)
    faults.inject_fault(r"batchPredictionJobs$", 503, method="POST", count=100,
                        message="The service is currently unavailable (test 503).")
    with pytest.raises(openai.APIStatusError) as caught:
        create_batch(client, file.id)
    assert caught.value.status_code == 503
    assert "The service is currently unavailable (test 503)." in error_text(caught.value)
    assert len(emulator_jobs(faults)) == jobs_before
    assert not [n for n in object_names(faults) - records_before if n.startswith(f"{PREFIX}batches/")]


def test_persistent_429_on_get_job_is_a_rate_limit_error_with_googles_message(faults, client):
    file = upload(client, [chat_line("rl")])
    batch = create_batch(client, file.id)
    faults.inject_fault(r"batchPredictionJobs/\d+$", 429, method="GET", count=1000,
                        message="Quota exceeded for aiplatform.googleapis.com/batch_prediction (test 429).")
    try:
        with pytest.raises(openai.RateLimitError) as caught:
            client.batches.retrieve(batch.id, extra_headers=PROVIDER)
        assert caught.value.status_code == 429
        assert "Quota exceeded for aiplatform.googleapis.com/batch_prediction (test 429)." in error_text(caught.value)
    finally:
        faults.clear_faults()
    assert wait_done(client, batch.id).status == "completed"  # recovers once Google answers again


def test_429_is_reported_as_a_rate_limit_not_as_a_bad_request(faults, client):
    """The LiteLLM exception raised for Google's 429 must be a RateLimitError (its name is in the message, and
    LiteLLM's callbacks/router act on the type), not a BadRequestError carrying status 429."""
    file = upload(client, [chat_line("rl2")])
    batch = create_batch(client, file.id)
    faults.inject_fault(r"batchPredictionJobs/\d+$", 429, method="GET", count=1000, message="Slow down (test 429).")
    try:
        with pytest.raises(openai.RateLimitError) as caught:
            client.batches.retrieve(batch.id, extra_headers=PROVIDER)
    finally:
        faults.clear_faults()
    assert "BadRequestError" not in error_text(caught.value), error_text(caught.value)
    wait_done(client, batch.id)


def test_persistent_400_on_create_keeps_googles_message_and_leaves_no_batch(faults, client):
    file = upload(client, [chat_line("bad")])
    before = object_names(faults)
    jobs_before = len(emulator_jobs(faults))
    google_message = "Invalid BatchPredictionJob: the quota policy refuses this job (test 400)."
    faults.inject_fault(r"batchPredictionJobs$", 400, method="POST", count=100, message=google_message)
    with pytest.raises(openai.BadRequestError) as caught:
        create_batch(client, file.id)
    assert caught.value.status_code == 400
    assert google_message in error_text(caught.value)
    assert len(emulator_jobs(faults)) == jobs_before
    assert not [n for n in object_names(faults) - before if n.startswith(f"{PREFIX}batches/")]
    assert file.id not in [b.input_file_id for b in client.batches.list(extra_headers=PROVIDER, limit=20)]


def test_deleting_the_input_file_of_a_finished_job_does_not_make_retrieve_a_500(stand_ins, proxy, client):
    """Once Vertex has run the job, deleting the input file (allowed) must not turn batches.retrieve into a
    bare 500: the batch still reports a terminal status."""
    file = upload(client, [chat_line("d1"), chat_line("d2")])
    batch = create_batch(client, file.id)
    deadline = time.monotonic() + 30
    while emulator_job_state(stand_ins, batch.id) != "JOB_STATE_SUCCEEDED" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert emulator_job_state(stand_ins, batch.id) == "JOB_STATE_SUCCEEDED"
    assert client.files.delete(file.id, extra_headers=PROVIDER).deleted is True
    response = httpx.get(f"{proxy.url}/v1/batches/{batch.id}", timeout=60,
                         headers={"Authorization": f"Bearer {MASTER_KEY}", **PROVIDER})
    assert response.status_code != 500, response.text
    assert response.status_code == 200 and response.json()["status"] in ("completed", "failed"), response.text


# ---- 3. ids ------------------------------------------------------------------------------------------------------

def assert_opaque(value: str | None, prefix: str) -> None:
    assert value is not None and value.startswith(prefix), value
    assert len(value) <= 64 and ID_RE.fullmatch(value), value
    assert "gs://" not in value and "%" not in value and "/" not in value
    for leak in (BUCKET, OTHER_BUCKET, "litellm-vertex-batch", "emulator-project", "us-central1"):
        assert leak not in value


def test_ids_are_opaque_url_safe_and_short(stand_ins, client):
    file = upload(client, [chat_line("i1"), chat_line("i2")])
    assert_opaque(file.id, "file-")
    batch = create_batch(client, file.id)
    assert_opaque(batch.id, "batch_")
    done = wait_done(client, batch.id)
    assert_opaque(done.output_file_id, "file-")
    assert done.input_file_id == file.id
    for row in read_jsonl(client, done.output_file_id):
        assert row["id"].startswith("batch_req_") and "gs://" not in json.dumps(row)
    # the record names the job, the id does not
    assert batch_record(stand_ins, batch.id)["job_name"].rsplit("/", 1)[-1] not in batch.id


@pytest.fixture(scope="module")
def real_ids(stand_ins, client, client_b):
    """A real file, a real batch, and the plugin id of a real file stored in other-bucket (via team-b-flash)."""
    file = upload(client, [chat_line("real")], name="real.jsonl")
    batch = create_batch(client, file.id)
    wait_done(client, batch.id)
    routed = client_b.files.create(file=("b.jsonl", io.BytesIO(jsonl([chat_line("elsewhere")]))), purpose="batch",
                                   extra_body={"model": "team-b-flash"})
    decoded = base64.urlsafe_b64decode(routed.id.removeprefix("file-") + "=" * (-len(routed.id) % 4)).decode()
    other_bucket_id = re.search(r"file-vb[0-9a-z]{26}", decoded).group(0)
    token = other_bucket_id.removeprefix("file-vb")
    assert gcs_bucket(stand_ins, OTHER_BUCKET).blob(f"{PREFIX}files/{token}").exists()
    assert not gcs_bucket(stand_ins, BUCKET).blob(f"{PREFIX}files/{token}").exists()
    return {"file": file.id, "batch": batch.id, "other_bucket_file": other_bucket_id}


def forged_ids(real: dict[str, str]) -> dict[str, str]:
    fid, bid = real["file"], real["batch"]
    token = fid.removeprefix("file-vb")
    return {
        "random": "file-vb" + uuid.uuid4().hex[:26],
        "random_alphabet": "file-vb" + "0123456789abcdefghjkmnpqrs",
        "truncated": fid[:-1],
        "over_long": fid + "0",
        "much_longer": fid + "0" * 100,
        "uppercase": fid.upper(),
        "uppercase_token": "file-vb" + token.upper(),
        "traversal": "file-vb../../x",
        "traversal_to_real": f"file-vb../files/{token}",
        "percent_traversal": "file-vb..%2F..%2Fx",
        "percent_in_token": "file-vb%2E" + token[1:],
        "double_percent": "file-vb%252e%252e%252f" + token[:17],
        "gs_uri": f"gs://{BUCKET}/{PREFIX}files/{token}",
        "batch_id_as_file_id": bid,
        "batch_prefix_file_token": "batch_vb" + token,
        "file_prefix_batch_token": "file-vb" + bid.removeprefix("batch_vb"),
        "other_bucket_object": real["other_bucket_file"],
    }


def raw_calls(proxy_url: str, value: str) -> dict[str, httpx.Response]:
    headers = {"Authorization": f"Bearer {MASTER_KEY}", **PROVIDER}
    with httpx.Client(base_url=proxy_url, headers=headers, timeout=60) as http:
        return {"retrieve": http.get(f"/v1/files/{value}"), "content": http.get(f"/v1/files/{value}/content"),
                "batch": http.get(f"/v1/batches/{value}"), "delete": http.delete(f"/v1/files/{value}")}


#: Answers other than 404: the proxy itself refuses a raw gs:// id for files.content before the plugin sees it
#: (400 "Raw cloud storage file ids cannot be retrieved directly"); a real batch id is a valid *batch* id.
EXPECTED = {("gs_uri", "content"): 400, ("batch_id_as_file_id", "batch"): 200}


@pytest.mark.parametrize("case", list(forged_ids({"file": "file-vb" + "0" * 26, "batch": "batch_vb" + "0" * 26,
                                                  "other_bucket_file": ""})))
def test_forged_ids_answer_404_and_touch_nothing(stand_ins, proxy, client, real_ids, case):
    forged = forged_ids(real_ids)[case]
    before = all_object_names(stand_ins)
    for call, response in raw_calls(proxy.url, forged).items():
        expected = EXPECTED.get((case, call), 404)
        assert response.status_code == expected, (call, forged, response.status_code, response.text[:300])
        assert b'"custom_id"' not in response.content  # no file content was read out
    sdk_calls = {
        "retrieve": lambda: client.files.retrieve(forged, extra_headers=PROVIDER),
        "content": lambda: client.files.content(forged, extra_headers=PROVIDER),
        "batch": lambda: client.batches.retrieve(forged, extra_headers=PROVIDER),
        "delete": lambda: client.files.delete(forged, extra_headers=PROVIDER),
    }
    for call, fn in sdk_calls.items():
        if EXPECTED.get((case, call)) == 200:
            continue
        with pytest.raises(openai.APIStatusError) as caught:
            fn()
        assert caught.value.status_code in (404, EXPECTED.get((case, call), 404)), (call, forged, caught.value)
    after = all_object_names(stand_ins)
    for bucket in before:
        assert before[bucket] - after[bucket] == set(), f"{case}: objects deleted from {bucket}"
    # the real objects are all still there and readable; a file id is not a batch id
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve(real_ids["file"], extra_headers=PROVIDER)
    assert client.files.retrieve(real_ids["file"], extra_headers=PROVIDER).id == real_ids["file"]
    assert client.batches.retrieve(real_ids["batch"], extra_headers=PROVIDER).status == "completed"


def test_percent_encoding_of_a_real_id_names_the_same_file(proxy, client, real_ids):
    """Percent-encoding every character of a real id is the same URL path, so the same file (HTTP semantics);
    the decoded id is matched exactly, nothing more."""
    encoded = "".join(f"%{ord(c):02X}" for c in real_ids["file"])
    headers = {"Authorization": f"Bearer {MASTER_KEY}", **PROVIDER}
    response = httpx.get(f"{proxy.url}/v1/files/{encoded}", headers=headers, timeout=60)
    assert response.status_code == 200 and response.json()["id"] == real_ids["file"]


def test_batch_whose_creator_died_before_the_job_existed_is_reported_failed(stand_ins, client):
    """A batch record with no Vertex job (the creating proxy stopped between the two) is not 'validating' forever."""
    from litellm_vertex_batch.core import ids as plugin_ids

    token = plugin_ids.new_token(now=1_700_000_000)
    record = {"token": token, "id": plugin_ids.batch_id(token), "input_file_id": "file-vb" + "0" * 26,
              "input_token": "0" * 26, "endpoint": "/v1/chat/completions", "completion_window": "24h",
              "metadata": None, "model": "gemini-2.5-flash-lite", "created_at": 1_700_000_000, "total": 3,
              "project": "emulator-project", "location": "us-central1", "job_name": None, "creator": {},
              "owner": {}, "cancelling_at": None, "price_overrides": {}}
    gcs_bucket(stand_ins).blob(f"{PREFIX}batches/{token}.json").upload_from_string(json.dumps(record))
    batch = client.batches.retrieve(record["id"], extra_headers=PROVIDER)
    assert batch.status == "failed" and batch.failed_at == 1_700_000_000
    assert "never submitted" in batch.errors.data[0].message
    assert batch.request_counts.total == 3

"""Vertex-native batchPredictionJobs through the stock proxy, with plain HTTP as the guide's curl commands send
them: LiteLLM keys, the operator's deployments and storage rules, per-key isolation, cost once."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import PROJECT_NUMBER, gcs_bucket, spy_events
from tests.stand_ins.proxy import MASTER_KEY
from tests.stand_ins.stack import BUCKET, LOCATION, PROJECT

ALICE, AMY, BOB, CAROL = "sk-tenant-alice", "sk-tenant-amy", "sk-tenant-bob", "sk-tenant-carol"
MODEL = "gemini-2.5-flash-lite"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"


def call(proxy, method: str, path: str, key: str | None = MASTER_KEY, prefix: str = "/v1", **kwargs: Any):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.request(method, f"{proxy.url}{prefix}/{path.lstrip('/')}", headers=headers, timeout=60, **kwargs)


def put_input(stand_ins, where: str, rows: list[Any] | None = None, raw: bytes | None = None) -> str:
    """Write an input file at gs://batch-bucket/<where>; returns its URI."""
    if raw is None:
        rows = rows if rows is not None else [{"request": {"contents": [{"role": "user", "parts": [{"text": t}]}]}}
                                              for t in ("one two", "three four five")]
        raw = b"\n".join(json.dumps(r).encode() for r in rows) + b"\n"
    gcs_bucket(stand_ins, BUCKET).blob(where).upload_from_string(raw)
    return f"gs://{BUCKET}/{where}"


def job_body(input_uri: str, output_prefix: str, model: str = f"{PARENT}/publishers/google/models/{MODEL}",
             **extra: Any) -> dict[str, Any]:
    return {"displayName": "my-batch-job", "model": model,
            "inputConfig": {"gcsSource": {"uris": [input_uri]}, "instancesFormat": "jsonl"},
            "outputConfig": {"gcsDestination": {"outputUriPrefix": output_prefix}, "predictionsFormat": "jsonl"},
            **extra}


def emulator_job_names(stand_ins) -> set[str]:
    return {job["job"]["name"] for job in stand_ins.control("GET", "jobs")["jobs"]}


def create(stand_ins, proxy, key: str, team_dir: str, prefix: str = "/v1", **extra: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    uri = put_input(stand_ins, f"native/{team_dir}/{tag}/input.jsonl")
    answer = call(proxy, "POST", f"{PARENT}/batchPredictionJobs", key, prefix,
                  json=job_body(uri, f"gs://{BUCKET}/native/{team_dir}/{tag}/out/", **extra))
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_state(proxy, name: str, key: str = MASTER_KEY, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = call(proxy, "GET", name, key).json()
        if job.get("state") in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED") or \
                time.monotonic() > deadline:
            return job
        time.sleep(0.3)


def google_error(answer: httpx.Response, code: int, status: str) -> str:
    assert answer.status_code == code, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["status"] == status and error["message"], error
    return error["message"]


# ---- 1, 4: the guide's calls on both prefixes, Google's JSON -----------------------------------------------------

@pytest.mark.parametrize("prefix", ["/v1", "/vertex_ai/v1"])
def test_create_get_list_cancel_delete_on_both_prefixes(stand_ins, proxy_b, prefix):
    job = create(stand_ins, proxy_b, MASTER_KEY, "shared", prefix, labels={"environment": "production"})
    assert job["name"].startswith(f"{PARENT}/batchPredictionJobs/") and job["displayName"] == "my-batch-job"
    assert job["labels"]["environment"] == "production", "the caller's labels are kept"
    done = wait_state(proxy_b, job["name"])
    assert done["state"] == "JOB_STATE_SUCCEEDED" and done["outputInfo"]["gcsOutputDirectory"].startswith("gs://")

    listed = call(proxy_b, "GET", f"{PARENT}/batchPredictionJobs", prefix=prefix,
                  params={"filter": "labels.environment=production"}).json()
    assert job["name"] in [j["name"] for j in listed["batchPredictionJobs"]]
    assert all(j["labels"].get("environment") == "production" for j in listed["batchPredictionJobs"])

    running = create(stand_ins, proxy_b, MASTER_KEY, "shared", prefix)
    stand_ins.hold(running["name"])
    assert call(proxy_b, "POST", f"{running['name']}:cancel", prefix=prefix).json() == {}
    assert wait_state(proxy_b, running["name"])["state"] == "JOB_STATE_CANCELLED"
    deleted = call(proxy_b, "DELETE", done["name"], prefix=prefix)
    assert deleted.status_code == 200 and "name" in deleted.json(), deleted.text  # Google's long-running operation
    gone = call(proxy_b, "GET", done["name"], prefix=prefix)
    google_error(gone, 404, "NOT_FOUND")


def test_list_pages_with_page_size_and_token(stand_ins, proxy_b):
    label = uuid.uuid4().hex[:10]
    names = {create(stand_ins, proxy_b, MASTER_KEY, "shared", labels={"run": label})["name"] for _ in range(3)}
    seen, token, pages = [], None, 0
    while True:
        params = {"pageSize": 2, "filter": f"labels.run={label}", **({"pageToken": token} if token else {})}
        page = call(proxy_b, "GET", f"{PARENT}/batchPredictionJobs", params=params).json()
        pages += 1
        seen += [j["name"] for j in page.get("batchPredictionJobs", [])]
        token = page.get("nextPageToken")
        if not token:
            break
    assert sorted(seen) == sorted(names) and pages == 2


def test_googles_errors_reach_the_caller_unchanged(stand_ins, proxy_b):
    uri = put_input(stand_ins, f"native/shared/{uuid.uuid4().hex[:8]}/input.jsonl")
    bad = job_body(uri, f"gs://{BUCKET}/native/shared/x/")
    bad["inputConfig"]["instancesFormat"] = "parquet"
    message = google_error(call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs", json=bad), 400, "INVALID_ARGUMENT")
    assert "parquet" in message or "format" in message.lower()
    google_error(call(proxy_b, "GET", f"{PARENT}/batchPredictionJobs/123456"), 404, "NOT_FOUND")
    stand_ins.inject_fault(r"batchPredictionJobs$", 403, method="POST", message="Permission denied on bucket.")
    try:
        answer = call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs", json=bad)
    finally:
        stand_ins.clear_faults()
    assert google_error(answer, 403, "PERMISSION_DENIED") == "Permission denied on bucket."


# ---- 2: LiteLLM auth ----------------------------------------------------------------------------------------------

def test_missing_or_invalid_keys_are_401_and_nothing_reaches_google(stand_ins, proxy_b):
    uri = put_input(stand_ins, f"native/shared/{uuid.uuid4().hex[:8]}/input.jsonl")
    before = emulator_job_names(stand_ins)
    for key in (None, "sk-not-a-key"):
        google_error(call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs", key,
                          json=job_body(uri, f"gs://{BUCKET}/native/shared/o/")), 401, "UNAUTHENTICATED")
        google_error(call(proxy_b, "GET", f"{PARENT}/batchPredictionJobs", key), 401, "UNAUTHENTICATED")
    assert emulator_job_names(stand_ins) == before


def test_a_key_not_allowed_the_model_is_403(stand_ins, proxy_b):
    """carol may use gemini-2.5-flash-lite only; team-b-flash (gemini-2.5-flash) is refused before any call."""
    uri = put_input(stand_ins, "native/team-c/in/input.jsonl")
    before = emulator_job_names(stand_ins)
    answer = call(proxy_b, "POST", "projects/team-b-project/locations/europe-west4/batchPredictionJobs", CAROL,
                  json=job_body(uri, f"gs://{BUCKET}/native/team-c/out/", model="gemini-2.5-flash"))
    assert "team-b-flash" in google_error(answer, 403, "PERMISSION_DENIED")
    assert emulator_job_names(stand_ins) == before
    allowed = create(stand_ins, proxy_b, CAROL, "team-c", model=MODEL)
    assert allowed["name"].startswith(PARENT)


# ---- 3: model configuration ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["projects/team-b-project/locations/europe-west4/publishers/google/models/"
                                   "gemini-2.5-flash", "publishers/google/models/gemini-2.5-flash", "team-b-flash"])
def test_the_model_selects_its_deployments_project_and_location(stand_ins, proxy_b, model):
    tag = uuid.uuid4().hex[:8]
    uri = put_input(stand_ins, f"native/shared/{tag}/input.jsonl")
    answer = call(proxy_b, "POST", "projects/team-b-project/locations/europe-west4/batchPredictionJobs",
                  json=job_body(uri, f"gs://{BUCKET}/native/shared/{tag}/out/", model=model))
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"].startswith("projects/team-b-project/locations/europe-west4/")
    assert answer.json()["model"].endswith("/models/gemini-2.5-flash")


def test_projects_and_locations_the_operator_did_not_configure_are_refused_without_a_call(stand_ins, proxy_b):
    uri = put_input(stand_ins, "native/shared/p/input.jsonl")
    body = job_body(uri, f"gs://{BUCKET}/native/shared/p/out/", model=MODEL)
    before = emulator_job_names(stand_ins)
    for parent in ("projects/someone-elses-project/locations/us-central1", f"projects/{PROJECT}/locations/asia-east1",
                   "projects/team-b-project/locations/europe-west4"):  # the last: not gemini-2.5-flash-lite's
        google_error(call(proxy_b, "POST", f"{parent}/batchPredictionJobs", json=body), 403, "PERMISSION_DENIED")
    google_error(call(proxy_b, "GET", "projects/someone-elses-project/locations/us-central1/batchPredictionJobs"),
                 403, "PERMISSION_DENIED")
    unknown = call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs", json={**body, "model": "gemini-9-unknown"})
    google_error(unknown, 404, "NOT_FOUND")
    assert emulator_job_names(stand_ins) == before


def test_the_project_number_is_the_project(stand_ins, proxy_b):
    tag = uuid.uuid4().hex[:8]
    uri = put_input(stand_ins, f"native/shared/{tag}/input.jsonl")
    parent = f"projects/{PROJECT_NUMBER}/locations/{LOCATION}"
    answer = call(proxy_b, "POST", f"{parent}/batchPredictionJobs",
                  json=job_body(uri, f"gs://{BUCKET}/native/shared/{tag}/out/", model=MODEL))
    assert answer.status_code == 200, answer.text
    assert call(proxy_b, "GET", answer.json()["name"]).status_code == 200


# ---- 5: storage a key may name --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("input_where", "output_prefix"), [
    ("native/team-a/in/x.jsonl", "gs://batch-bucket/litellm-vertex-batch/out/"),   # the plugin's own prefix
    ("litellm-vertex-batch/files/anything", "gs://batch-bucket/native/team-a/out/"),
    ("native/team-b/in/x.jsonl", "gs://batch-bucket/native/team-a/out/"),          # another team's place
    ("native/team-a/in/x.jsonl", "gs://other-bucket/anywhere/"),                   # not allowed at all
    ("native/team-a/../team-b/x.jsonl", "gs://batch-bucket/native/team-a/out/"),   # relative segments
    ("native/team-a/in/x.jsonl", "gs://batch-bucket/"),                           # a parent of the plugin's prefix
])
def test_storage_outside_what_the_key_may_name_is_403_before_a_job_exists(stand_ins, proxy_b, input_where,
                                                                          output_prefix):
    before = emulator_job_names(stand_ins)
    body = job_body(f"gs://{BUCKET}/{input_where}", output_prefix, model=MODEL)
    answer = call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs", ALICE, json=body)
    google_error(answer, 403, "PERMISSION_DENIED")
    assert emulator_job_names(stand_ins) == before


def test_a_team_uses_its_own_prefix(stand_ins, proxy_b):
    job = create(stand_ins, proxy_b, ALICE, "team-a", model=MODEL)
    assert wait_state(proxy_b, job["name"], ALICE)["state"] == "JOB_STATE_SUCCEEDED"


# ---- 6: checked before it runs --------------------------------------------------------------------------------------

def test_input_vertex_would_fail_is_400_naming_file_line_and_reason(stand_ins, proxy_b):
    tag = uuid.uuid4().hex[:8]
    good = {"request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}
    put_input(stand_ins, f"native/shared/{tag}/part-1.jsonl", [good, good])
    raw = (json.dumps(good) + "\n{not json\n" + json.dumps({"request": {"$bad": 1}}) + "\n{}\n"
           + json.dumps({"request": {"contents": "a string now"}}) + "\n").encode()
    put_input(stand_ins, f"native/shared/{tag}/part-2.jsonl", raw=raw)
    before = emulator_job_names(stand_ins)
    body = job_body(f"gs://{BUCKET}/native/shared/{tag}/*.jsonl", f"gs://{BUCKET}/native/shared/{tag}/out/",
                    model=MODEL)
    message = google_error(call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs", json=body), 400,
                           "INVALID_ARGUMENT")
    where = f"gs://{BUCKET}/native/shared/{tag}/part-2.jsonl"
    assert f"{where} line 2: not valid JSON" in message
    assert f"{where} line 3:" in message and "'$bad'" in message
    assert f"{where} line 4: is an empty object" in message
    assert f"{where} line 5: request.contents is a string" in message
    assert "part-1.jsonl" not in message
    assert emulator_job_names(stand_ins) == before
    missing = job_body(f"gs://{BUCKET}/native/shared/{tag}/nope.jsonl", f"gs://{BUCKET}/native/shared/{tag}/o/",
                       model=MODEL)
    assert "no such object" in google_error(call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs", json=missing),
                                            400, "INVALID_ARGUMENT")


def test_a_wildcard_input_that_passes_runs(stand_ins, proxy_b):
    tag = uuid.uuid4().hex[:8]
    for part in (1, 2):
        put_input(stand_ins, f"native/shared/{tag}/part-{part}.jsonl")
    body = job_body(f"gs://{BUCKET}/native/shared/{tag}/part-*.jsonl", f"gs://{BUCKET}/native/shared/{tag}/out/",
                    model=MODEL)
    answer = call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs", json=body)
    assert answer.status_code == 200, answer.text
    assert wait_state(proxy_b, answer.json()["name"])["state"] == "JOB_STATE_SUCCEEDED"


# ---- 7: per-key isolation --------------------------------------------------------------------------------------------

def test_jobs_are_isolated_per_key_and_team(stand_ins, proxy_b, proxy_c):
    mine = create(stand_ins, proxy_b, ALICE, "team-a", model=MODEL)
    name = mine["name"]
    for key in (ALICE, AMY):  # the creator, and a key of the same team (team_access is on)
        assert call(proxy_c, "GET", name, key).status_code == 200
    assert call(proxy_c, "GET", name, MASTER_KEY).status_code == 200  # admins see all
    for method, path in (("GET", name), ("POST", f"{name}:cancel"), ("DELETE", name)):
        google_error(call(proxy_c, method, path, BOB), 404, "NOT_FOUND")
    bobs = call(proxy_c, "GET", f"{PARENT}/batchPredictionJobs", BOB, params={"pageSize": 100}).json()
    assert name not in [j["name"] for j in bobs.get("batchPredictionJobs", [])]
    # bob's own filter cannot widen what he sees
    widened = call(proxy_c, "GET", f"{PARENT}/batchPredictionJobs", BOB,
                   params={"filter": 'labels.litellm_owner:* OR state="JOB_STATE_SUCCEEDED"'}).json()
    assert name not in [j["name"] for j in widened.get("batchPredictionJobs", [])]
    alices = call(proxy_c, "GET", f"{PARENT}/batchPredictionJobs", ALICE, params={"pageSize": 100}).json()
    assert name in [j["name"] for j in alices["batchPredictionJobs"]]
    assert all(j["labels"].get("litellm_team") == mine["labels"]["litellm_team"] for j in alices["batchPredictionJobs"])


def test_owner_labels_cannot_be_forged(stand_ins, proxy_b):
    uri = put_input(stand_ins, "native/team-b/in/x.jsonl")
    body = job_body(uri, f"gs://{BUCKET}/native/team-b/out/", model=MODEL, labels={"litellm_owner": "someone"})
    assert "reserved" in google_error(call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs", BOB, json=body), 400,
                                      "INVALID_ARGUMENT")


# ---- 8: cost once, to the creator ----------------------------------------------------------------------------------

def test_a_finished_job_is_charged_once_to_its_creator_across_replicas(stand_ins, proxy_b, proxy_c, spy_log):
    job = create(stand_ins, proxy_b, ALICE, "team-a", model=MODEL)
    job_id = job["name"].rsplit("/", 1)[-1]
    wait_state(proxy_b, job["name"], ALICE)  # finished: the read that saw it charged it
    with ThreadPoolExecutor(6) as pool:  # reads and lists on both replicas at once
        list(pool.map(lambda i: call((proxy_b, proxy_c)[i % 2], "GET", job["name"] if i % 3 else
                                     f"{PARENT}/batchPredictionJobs", ALICE), range(12)))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = [e for e in spy_events(spy_log) if e["event"] == "success" and e["batch_id"] == job_id]
        if events:
            break
        time.sleep(0.2)
    time.sleep(1.0)
    events = [e for e in spy_events(spy_log) if e["event"] == "success" and e["batch_id"] == job_id]
    assert len(events) == 1, events
    event = events[0]
    from litellm import cost_per_token

    # two rows: "one two" (2 prompt tokens) and "three four five" (3): the emulator echoes each
    prompt = event["slo"]["prompt_tokens"]
    completion = event["slo"]["completion_tokens"]
    assert prompt == 5 and completion > 0
    full = sum(cost_per_token(model=f"vertex_ai/{MODEL}", prompt_tokens=prompt, completion_tokens=completion))
    assert 0 < event["response_cost"] <= full
    assert event["slo"]["metadata"]["user_api_key_team_id"] == "team-a"
    assert event["slo"]["metadata"]["user_api_key_user_id"] == "alice"
    from litellm_vertex_batch.core import ids
    assert event["call_id"] == ids.charge_id("job", job["name"])


def charge_events(spy_log, job_name: str, timeout: float = 10) -> list[dict[str, Any]]:
    job_id = job_name.rsplit("/", 1)[-1]
    deadline = time.monotonic() + timeout
    while not [e for e in spy_events(spy_log) if e["event"] == "success" and e["batch_id"] == job_id] \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    return [e for e in spy_events(spy_log) if e["event"] == "success" and e["batch_id"] == job_id]


def four_rows(stand_ins, tag: str) -> str:
    rows = [{"request": {"contents": [{"role": "user", "parts": [{"text": " ".join(["w"] * n)}]}]}}
            for n in (1, 2, 3, 4)]
    return put_input(stand_ins, f"native/team-a/{tag}/input.jsonl", rows)


def test_the_operators_prices_apply_and_a_cancelled_job_pays_for_its_finished_rows(stand_ins, proxy_b, spy_log):
    """gemini-2.0-flash-lite-001 is priced only by the replica config's model_info: the cost is exact."""
    from tests.conftest import OVERRIDE_MODEL, OVERRIDE_PRICES, run_held

    def expected(events: list[dict[str, Any]]) -> float:
        slo = events[0]["slo"]
        return (slo["prompt_tokens"] * OVERRIDE_PRICES["input_cost_per_token_batches"]
                + slo["completion_tokens"] * OVERRIDE_PRICES["output_cost_per_token_batches"])

    finished = call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs", ALICE, json=job_body(
        four_rows(stand_ins, "priced"), f"gs://{BUCKET}/native/team-a/priced/out/", model=OVERRIDE_MODEL)).json()
    assert wait_state(proxy_b, finished["name"], ALICE)["state"] == "JOB_STATE_SUCCEEDED"
    events = charge_events(spy_log, finished["name"])
    assert len(events) == 1 and events[0]["slo"]["prompt_tokens"] == 1 + 2 + 3 + 4
    assert events[0]["response_cost"] == pytest.approx(expected(events)) and expected(events) > 0

    cancelled = call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs", ALICE, json=job_body(
        four_rows(stand_ins, "cancelled"), f"gs://{BUCKET}/native/team-a/cancelled/out/", model=OVERRIDE_MODEL)).json()
    run_held(stand_ins, cancelled["name"].rsplit("/", 1)[-1])  # two of the four rows are done
    assert call(proxy_b, "POST", f"{cancelled['name']}:cancel", ALICE).status_code == 200
    assert wait_state(proxy_b, cancelled["name"], ALICE)["state"] == "JOB_STATE_CANCELLED"
    events = charge_events(spy_log, cancelled["name"])
    assert len(events) == 1 and events[0]["slo"]["prompt_tokens"] == 1 + 2, "charged for the finished rows only"
    assert events[0]["response_cost"] == pytest.approx(expected(events))


def test_with_the_check_turned_off_vertex_itself_fails_the_job(stand_ins, proxies):
    """native_preflight: false (the "off" proxy): no extra read; the same bad input is Vertex's to refuse, later."""
    off = proxies["off"]
    tag = uuid.uuid4().hex[:8]
    uri = put_input(stand_ins, f"native/shared/{tag}/input.jsonl", raw=b'{"request": {"$bad": 1}}\n')
    answer = call(off, "POST", f"{PARENT}/batchPredictionJobs",
                  json=job_body(uri, f"gs://{BUCKET}/native/shared/{tag}/out/", model=MODEL))
    assert answer.status_code == 200, answer.text
    failed = wait_state(off, answer.json()["name"])
    assert failed["state"] == "JOB_STATE_FAILED" and "$bad" in failed["error"]["message"]


def test_embedding_jobs_are_priced_as_litellm_prices_the_model_online(stand_ins, proxy_b, spy_log):
    """text-embedding-005: per character (LiteLLM's input_cost_per_character; no batch key, so 50%);
    gemini-embedding-001: per token at the map's input_cost_per_token_batches."""
    import litellm

    texts = ("the quick brown fox", "jumps over the lazy dog today")
    legacy = put_input(stand_ins, f"native/shared/{uuid.uuid4().hex[:8]}/emb.jsonl", [{"content": t} for t in texts])
    gemini = put_input(stand_ins, f"native/shared/{uuid.uuid4().hex[:8]}/emb.jsonl",
                       [{"key": f"k{i}", "request": {"content": {"parts": [{"text": t}]}}} for i, t in enumerate(texts)])
    characters = sum(len(t.replace(" ", "")) for t in texts)
    words = sum(len(t.split()) for t in texts)
    expected = {"text-embedding-005": characters * litellm.model_cost["text-embedding-005"]["input_cost_per_character"]
                * 0.5,
                "gemini-embedding-001": words * litellm.model_cost["gemini-embedding-001"]["input_cost_per_token_batches"]}
    for model, uri in (("text-embedding-005", legacy), ("gemini-embedding-001", gemini)):
        answer = call(proxy_b, "POST", f"{PARENT}/batchPredictionJobs",
                      json=job_body(uri, uri.rsplit("/", 1)[0] + f"/out-{model}/", model=model))
        assert answer.status_code == 200, answer.text
        assert wait_state(proxy_b, answer.json()["name"])["state"] == "JOB_STATE_SUCCEEDED"
        events = charge_events(spy_log, answer.json()["name"])
        assert len(events) == 1, (model, events)
        assert events[0]["response_cost"] == pytest.approx(expected[model]) and expected[model] > 0, model
        assert events[0]["slo"]["prompt_tokens"] == words, model


def spend_metric(proxy, team: str, model: str) -> float:
    """The proxy's Prometheus ``litellm_spend_metric_total`` for one team and model (0 before any spend)."""
    total = 0.0
    answer = httpx.get(f"{proxy.url}/metrics/", headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    for line in answer.text.splitlines():
        if line.startswith("litellm_spend_metric_total{") and f'team="{team}"' in line and f'model="{model}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_cost_event_counts_in_litellms_prometheus_metrics(stand_ins, proxy_b, spy_log):
    """The replicas run LiteLLM's Prometheus callback: a job's cost event adds its cost to the spend metric and
    breaks nothing in the callback (the event's start and end times are datetimes, as LiteLLM's own are)."""
    before = spend_metric(proxy_b, "team-a", MODEL)
    log_before = len(proxy_b.log_text())
    job = create(stand_ins, proxy_b, ALICE, "team-a", model=MODEL)
    assert wait_state(proxy_b, job["name"], ALICE)["state"] == "JOB_STATE_SUCCEEDED"
    [event] = charge_events(spy_log, job["name"])
    deadline = time.monotonic() + 10
    while spend_metric(proxy_b, "team-a", MODEL) <= before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert spend_metric(proxy_b, "team-a", MODEL) - before == pytest.approx(event["response_cost"], rel=1e-9)
    new_log = proxy_b.log_text()[log_before:]
    assert "unsupported operand" not in new_log and "Traceback" not in new_log, new_log[-3000:]

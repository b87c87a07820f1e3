"""The background worker's rules against the in-memory bucket and the fake Vertex: the open index, settling once,
orphaned entries, deleted jobs, late twins (and foreign jobs left alone), the sweeper lease and its takeover."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from litellm_vertex_batch.cloud.vertex import BATCH_LABEL
from litellm_vertex_batch.core import ids, layout, states
from litellm_vertex_batch.core.access import Caller
from litellm_vertex_batch.edge.background import BackgroundWorker, lease_seconds
from litellm_vertex_batch.services import lifecycle, passthrough
from litellm_vertex_batch.services.batches import BatchService
from tests.unit.fakes import gemini_response
from tests.unit.test_services import SETTINGS, World, _uploaded, line, recording_logger, run


@pytest.fixture
def world() -> World:
    return World()


def _batches_for(service: BatchService) -> Any:
    return lambda project, location: service if (project, location) == ("p", "l") else None


def _settle(world: World, service: BatchService, token: str, deliveries: list[str]) -> bool:
    return run(lifecycle.settle_batch(world.store, SETTINGS, _batches_for(service), layout.open_batch(SETTINGS, token),
                                      token, recording_logger(deliveries), wait_seconds=10))


def test_a_batch_is_indexed_open_until_it_is_finalized_and_charged_once(world: World) -> None:
    service = world.batches(Caller(is_admin=True))
    batch = run(service.create(_uploaded(world, [line("a"), line("b")]), "/v1/chat/completions", "24h", None, None))
    token = ids.parse_batch_id(batch["id"])
    assert token is not None
    assert run(lifecycle.open_batch_tokens(world.store, SETTINGS)) == [(layout.open_batch(SETTINGS, token), token)]
    deliveries: list[str] = []
    assert _settle(world, service, token, deliveries) is False  # still running: nothing to do yet
    assert deliveries == [] and world.objects.info(layout.open_batch(SETTINGS, token)) is not None

    world.vertex.finish(next(iter(world.vertex.jobs)), lambda row: gemini_response("ok", 5, 2))
    assert _settle(world, service, token, deliveries) is True
    assert deliveries == [ids.charge_id("batch", batch["id"])]
    assert run(lifecycle.open_batch_tokens(world.store, SETTINGS)) == []
    _, charged = run(service.retrieve_and_charge(batch["id"], recording_logger(deliveries)))
    assert charged is False and len(deliveries) == 1  # a client retrieve afterwards charges nothing


def test_an_entry_whose_record_never_came_is_kept_while_young_and_dropped_when_old(world: World) -> None:
    service = world.batches(Caller(is_admin=True))
    young, old = ids.new_token(), ids.new_token(time.time() - lifecycle.ORPHAN_ENTRY_SECONDS - 5)
    for token in (young, old):
        world.objects.write_bytes(layout.open_batch(SETTINGS, token), b"{}", None, "application/json", None)
    assert _settle(world, service, young, []) is False
    assert _settle(world, service, old, []) is True
    assert [t for _, t in run(lifecycle.open_batch_tokens(world.store, SETTINGS))] == [young]


def test_a_batch_of_another_place_is_left_to_the_settings_that_serve_it(world: World) -> None:
    service = world.batches(Caller(is_admin=True))
    batch = run(service.create(_uploaded(world, [line("a")]), "/v1/chat/completions", "24h", None, None))
    token = ids.parse_batch_id(batch["id"])
    assert token is not None
    world.vertex.finish(next(iter(world.vertex.jobs)))
    found = run(lifecycle.settle_batch(world.store, SETTINGS, lambda project, location: None,
                                       layout.open_batch(SETTINGS, token), token, recording_logger([]), 10))
    assert found is False and world.objects.info(layout.open_batch(SETTINGS, token)) is not None


def test_a_job_deleted_before_finalization_fails_the_batch_with_what_it_wrote(world: World) -> None:
    service = world.batches(Caller(is_admin=True))
    batch = run(service.create(_uploaded(world, [line("a", "good"), line("b", "bad")]), "/v1/chat/completions", "24h",
                               None, None))
    name = next(iter(world.vertex.jobs))
    world.vertex.finish(name, lambda row: gemini_response("ok") if "good" in json.dumps(row) else "Internal error")
    del world.vertex.jobs[name]  # deleted at Google, as Vertex allows for an ended job
    lost = run(service.retrieve(batch["id"]))
    assert lost["status"] == "failed"
    assert lost["errors"]["data"][0]["code"] == "job_not_found"
    assert lost["request_counts"]["total"] == 2
    assert lost["request_counts"]["completed"] + lost["request_counts"]["failed"] == 2
    asked = len(world.vertex.requests)
    assert run(service.retrieve(batch["id"]))["status"] == "failed"
    assert len(world.vertex.requests) == asked, "the loss is remembered: Vertex is not asked again"


def test_a_finished_batch_answers_from_its_result_after_its_job_is_deleted(world: World) -> None:
    service = world.batches(Caller(is_admin=True))
    batch = run(service.create(_uploaded(world, [line("a")]), "/v1/chat/completions", "24h", None, None))
    name = next(iter(world.vertex.jobs))
    world.vertex.finish(name)
    done = run(service.retrieve(batch["id"]))
    del world.vertex.jobs[name]
    again = run(service.retrieve(batch["id"]))
    assert again["status"] == done["status"] == "completed" and again["output_file_id"] == done["output_file_id"]


def test_a_list_shows_an_item_whose_stored_result_cannot_be_read(world: World) -> None:
    service = world.batches(Caller(is_admin=True))
    batch = run(service.create(_uploaded(world, [line("a")]), "/v1/chat/completions", "24h", None, None))
    world.vertex.finish(next(iter(world.vertex.jobs)))
    run(service.retrieve(batch["id"]))
    token = ids.parse_batch_id(batch["id"])
    assert token is not None
    world.objects.write_bytes(layout.batch_result(SETTINGS, token), b"{broken", None, "application/json", None)
    listed = run(service.list(None, 10))
    assert [b["id"] for b in listed] == [batch["id"]] and listed[0]["status"] == "in_progress"


def test_late_twins_are_cancelled_then_deleted_and_nothing_else_is_touched(world: World) -> None:
    service = world.batches(Caller(is_admin=True))
    batch = run(service.create(_uploaded(world, [line("a")]), "/v1/chat/completions", "24h", None, None))
    owned = next(iter(world.vertex.jobs))
    spec = {k: world.vertex.jobs[owned][k] for k in ("displayName", "model", "inputConfig", "outputConfig", "labels")}
    twin = world.vertex._create("projects/p/locations/l", json.loads(json.dumps(spec))).json()["name"]
    foreign_spec = json.loads(json.dumps(spec))
    foreign_spec["outputConfig"]["gcsDestination"]["outputUriPrefix"] = "gs://memory-bucket/another-gateway/x"
    foreign = world.vertex._create("projects/p/locations/l", foreign_spec).json()["name"]
    unlabelled = world.vertex._create("projects/p/locations/l", {**spec, "labels": {}}).json()["name"]
    client = service.vertex
    report = lifecycle.PassReport()

    made = states.rfc3339_to_unix(world.vertex.jobs[twin]["createTime"]) or 0
    run(lifecycle.sweep_twins(world.store, SETTINGS, client, report, now=made + 10))
    assert report.twins_cancelled == [], "within the grace period a labelled job may still be adopted"
    later = made + lifecycle.twin_grace_seconds(SETTINGS) + 1
    run(lifecycle.sweep_twins(world.store, SETTINGS, client, report, now=later))
    assert report.twins_cancelled == [twin] and world.vertex.jobs[twin]["state"] == "JOB_STATE_CANCELLED"
    world.vertex.jobs[twin]["outputInfo"] = {"gcsOutputDirectory": spec["outputConfig"]["gcsDestination"]
                                             ["outputUriPrefix"] + "/prediction-twin"}
    twin_row = layout.vertex_output_prefix(SETTINGS, ids.parse_batch_id(batch["id"]) or "") + \
        "prediction-twin/predictions.jsonl"
    world.objects.write_bytes(twin_row, b"{}\n", None, "application/json", None)
    run(lifecycle.sweep_twins(world.store, SETTINGS, client, report, now=later))
    assert report.twins_deleted == [twin] and twin not in world.vertex.jobs
    assert world.objects.info(twin_row) is None
    assert {owned, foreign, unlabelled} <= set(world.vertex.jobs), "the batch's job and others' stay"
    assert world.vertex.jobs[owned]["labels"][BATCH_LABEL]


def test_one_worker_holds_the_sweeper_lease_and_another_takes_it_over_when_it_lapses(world: World) -> None:
    first, second = BackgroundWorker(interval=1), BackgroundWorker(interval=1)
    key = (SETTINGS.bucket, SETTINGS.prefix)
    held = run(first._hold(world.store, key, SETTINGS))
    assert held is not None
    assert run(second._hold(world.store, key, SETTINGS)) is None
    assert run(first._hold(world.store, key, SETTINGS)) == held  # renewed, not claimed again
    name = layout.sweeper_lease(SETTINGS)
    body, generation = run(world.store.read_json(name))
    assert body["pid"] > 0 and body["host"]
    body["claimed_at"] = time.time() - lease_seconds(1) - 1  # the holder stopped renewing (it died)
    assert run(world.store.write_json(name, body, if_generation=generation))
    taken = run(second._hold(world.store, key, SETTINGS))
    assert taken is not None and taken != held
    assert run(first._hold(world.store, key, SETTINGS)) is None, "the old holder knows it lost the lease"


def test_native_jobs_are_indexed_when_created_and_a_batchs_own_job_is_never_priced_as_native(world: World) -> None:
    job = {"name": "projects/p/locations/l/batchPredictionJobs/77", "state": "JOB_STATE_RUNNING",
           "model": "publishers/google/models/gemini-2.5-flash-lite"}
    logged: list[Any] = []

    async def log_cost(*args: Any) -> float:
        logged.append(args)
        return 0.0

    run(passthrough.observe(world.store, SETTINGS, job, {"user_api_key_hash": "k"}, lambda b: world.objects,
                            log_cost))
    entry = layout.open_native(SETTINGS, "p--l--77")
    assert run(world.store.read_json(entry))[0] == {"name": job["name"]}
    own = {**job, "name": "projects/p/locations/l/batchPredictionJobs/78", "state": "JOB_STATE_SUCCEEDED",
           "labels": {BATCH_LABEL: "sometoken"}}
    assert run(passthrough.observe(world.store, SETTINGS, own, {}, lambda b: world.objects, log_cost)) is False
    assert logged == []


def test_batches_made_before_the_index_existed_are_indexed_once(world: World) -> None:
    service = world.batches(Caller(is_admin=True))
    made = [run(service.create(_uploaded(world, [line("a")]), "/v1/chat/completions", "24h", None, None))
            for _ in range(2)]
    charged_batch, open_batch = made
    world.vertex.finish(world.vertex.jobs[next(iter(world.vertex.jobs))]["name"])
    run(service.retrieve_and_charge(charged_batch["id"], recording_logger([])))
    for batch in made:  # as an earlier version left them: no index entries
        world.objects.delete(layout.open_batch(SETTINGS, ids.parse_batch_id(batch["id"]) or ""))
    assert run(lifecycle.backfill_index(world.store, SETTINGS)) == 1
    assert [t for _, t in run(lifecycle.open_batch_tokens(world.store, SETTINGS))] == \
        [ids.parse_batch_id(open_batch["id"])]
    world.objects.delete(layout.open_batch(SETTINGS, ids.parse_batch_id(open_batch["id"]) or ""))
    assert run(lifecycle.backfill_index(world.store, SETTINGS)) == 0, "once per prefix"


def test_a_batch_whose_create_failed_leaves_the_index_once_no_job_can_land(world: World) -> None:
    record = {"job_name": None, "create_error": {"code": 503, "message": "no answer"}, "created_at": 1000}
    grace = lifecycle.twin_grace_seconds(SETTINGS)
    assert not lifecycle.never_submitted(SETTINGS, record, now=1000 + grace - 1), "a late job may still be adopted"
    assert lifecycle.never_submitted(SETTINGS, record, now=1000 + grace + 1)
    assert not lifecycle.never_submitted(SETTINGS, {**record, "job_name": "projects/p/x"}, now=10**10)
    assert not lifecycle.never_submitted(SETTINGS, {**record, "create_error": None}, now=10**10)

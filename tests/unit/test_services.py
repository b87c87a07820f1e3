"""The stateful services against the in-memory bucket and a fake Vertex behind httpx.MockTransport:
files, batches, finalization and charging, in milliseconds (the integration suite covers the same through a
stock proxy)."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import httpx
import pytest

from litellm_vertex_batch.cloud.memory import MemoryObjects
from litellm_vertex_batch.cloud.retry import RetryPolicy
from litellm_vertex_batch.cloud.store import Store
from litellm_vertex_batch.cloud.vertex import VertexClient
from litellm_vertex_batch.core import ids
from litellm_vertex_batch.core.access import Caller
from litellm_vertex_batch.core.errors import InvalidRequest, NotFound, TransientError
from litellm_vertex_batch.core.input_lines import ResolvedModel
from litellm_vertex_batch.core.settings import resolve
from litellm_vertex_batch.services.batches import BatchService
from litellm_vertex_batch.services.files import FileService
from tests.unit.fakes import FakeVertex, gemini_response

SETTINGS = resolve({}, {"gcs_bucket_name": "memory-bucket", "vertex_project": "p", "vertex_location": "l",
                        "vertex_api_base": "http://vertex.test", "retry_seconds": 2})
ALICE = Caller(key_hash="alice", team_id="team-a")
BOB = Caller(key_hash="bob", team_id="team-b")
MODEL = "gemini-2.5-flash-lite"


def line(custom_id: str, text: str = "hi") -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": [{"role": "user", "content": text}]}}


def jsonl(lines: list[dict[str, Any]]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(entry).encode() + b"\n" for entry in lines))


class World:
    def __init__(self) -> None:
        self.objects = MemoryObjects()
        self.store = Store(self.objects, offload=False)
        self.vertex = FakeVertex(self.objects)

    def files(self, caller: Caller = ALICE) -> FileService:
        def resolve(name: str) -> ResolvedModel:
            return ResolvedModel(name) if name == MODEL else ResolvedModel(None, problem=f"{name!r} unknown")

        return FileService(self.store, SETTINGS, caller, resolve_model=resolve)

    def batches(self, caller: Caller = ALICE) -> BatchService:
        client = VertexClient(SETTINGS, httpx.AsyncClient(transport=self.vertex.transport),
                              RetryPolicy(initial_delay=0.01, max_delay=0.02, deadline=2), token=_token)
        return BatchService(self.store, SETTINGS, client, caller)


async def _token() -> str:
    return "test-token"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def world() -> World:
    return World()


# --- files ------------------------------------------------------------------------------------------------

def test_upload_stores_the_file_and_its_vertex_rows(world: World) -> None:
    created = run(world.files().create(jsonl([line("a"), line("b")]), "in.jsonl", "batch"))
    token = ids.parse_file_id(created["id"])
    assert created["bytes"] > 0 and created["purpose"] == "batch" and created["filename"] == "in.jsonl"
    names = world.objects.names()
    assert names == [f"litellm-vertex-batch/files/{token}", f"litellm-vertex-batch/vertex-input/{token}.jsonl"]
    info = world.objects.info(names[0])
    assert info is not None and info.metadata["owner_key_hash"] == "alice" and info.metadata["lines"] == "2"
    rows = world.objects.read_bytes(names[1])[0].splitlines()  # type: ignore[index]
    assert [json.loads(r)["custom_id"] for r in rows] == ["cid:a", "cid:b"]


def test_a_refused_upload_writes_nothing(world: World) -> None:
    with pytest.raises(InvalidRequest) as caught:
        run(world.files().create(jsonl([line("a"), {**line("b"), "url": "/v1/nope"}]), "in.jsonl", "batch"))
    assert "line 2 (custom_id 'b')" in caught.value.message
    assert world.objects.names() == []


def test_another_tenant_sees_no_file_and_lists_skip_it(world: World) -> None:
    created = run(world.files().create(jsonl([line("a")]), "in.jsonl", "batch"))
    token = ids.parse_file_id(created["id"])
    assert token is not None
    with pytest.raises(NotFound):
        run(world.files(BOB).retrieve(token))
    with pytest.raises(NotFound):
        run(world.files(BOB).delete(token))
    assert run(world.files(BOB).list())["data"] == []
    assert [f["id"] for f in run(world.files(Caller(key_hash="amy", team_id="team-a")).list())["data"]] == \
        [created["id"]]


def test_list_pages_newest_first_and_delete_removes_both_objects(world: World) -> None:
    made = [run(world.files().create(jsonl([line(str(n))]), f"{n}.jsonl", "batch"))["id"] for n in range(3)]
    first = run(world.files().list(limit=2))
    assert [f["id"] for f in first["data"]] == made[::-1][:2] and first["has_more"] is True
    assert first["first_id"] == made[2] and first["last_id"] == made[1]
    rest = run(world.files().list(after=ids.parse_file_id(first["last_id"]), limit=2))
    assert [f["id"] for f in rest["data"]] == [made[0]] and rest["has_more"] is False
    oldest = run(world.files().list(limit=2, order="asc"))
    assert [f["id"] for f in oldest["data"]] == made[:2] and oldest["has_more"] is True
    newer = run(world.files().list(after=ids.parse_file_id(oldest["last_id"]), limit=2, order="asc"))
    assert [f["id"] for f in newer["data"]] == [made[2]] and newer["has_more"] is False
    for bad in ({"limit": 0}, {"limit": 10_001}, {"order": "random"}):
        with pytest.raises(InvalidRequest):
            run(world.files().list(**bad))
    assert run(world.files().delete(ids.parse_file_id(made[0])))["deleted"] is True  # type: ignore[arg-type]
    token = ids.parse_file_id(made[0])
    assert [name for name in world.objects.names() if str(token) in name] == [f"litellm-vertex-batch/deleted/{token}.json"]


# --- batches ----------------------------------------------------------------------------------------------

def _uploaded(world: World, lines: list[dict[str, Any]]) -> str:
    return run(world.files().create(jsonl(lines), "in.jsonl", "batch"))["id"]


def test_create_submits_one_job_on_the_batchs_own_copy(world: World) -> None:
    file_id = _uploaded(world, [line("a"), line("b")])
    batch = run(world.batches().create(file_id, "/v1/chat/completions", "24h", {"k": "v"}, None))
    token = ids.parse_batch_id(batch["id"])
    (job,) = world.vertex.jobs.values()
    assert job["model"] == f"publishers/google/models/{MODEL}" and job["labels"] == {"litellm_vertex_batch": token}
    assert job["inputConfig"]["gcsSource"]["uris"] == [f"gs://memory-bucket/litellm-vertex-batch/batch-input/"
                                                       f"{token}.jsonl"]
    assert batch["status"] == "validating" and batch["request_counts"]["total"] == 2
    assert batch["metadata"] == {"k": "v"}


def test_finished_job_is_finalized_and_charged_once(world: World) -> None:
    file_id = _uploaded(world, [line("a"), line("b"), line("c", "EMULATOR_FAIL")])
    service = world.batches()
    batch = run(service.create(file_id, "/v1/chat/completions", "24h", None, None))
    name = next(iter(world.vertex.jobs))

    def answer(row: dict[str, Any]) -> Any:
        text = row["request"]["contents"][0]["parts"][0]["text"]
        return "Bad Request: {\"error\": {\"code\": 400, \"message\": \"no\"}}" if "FAIL" in text \
            else gemini_response(f"echo {text}", 7, 3)

    world.vertex.finish(name, answer)
    logged: list[float] = []

    def logger_for(record: Any, result: Any, found: Any) -> Any:
        async def log(charge_id: str) -> float:
            logged.append(result["cost"])
            return float(result["cost"])
        return log

    done, charged = run(service.retrieve_and_charge(batch["id"], logger_for))
    assert done["status"] == "completed" and charged is True
    assert done["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    assert done["usage"]["input_tokens"] == 14 and done["usage"]["output_tokens"] == 6
    out = world.objects.read_bytes(f"litellm-vertex-batch/files/{ids.parse_file_id(done['output_file_id'])}")
    err = world.objects.read_bytes(f"litellm-vertex-batch/files/{ids.parse_file_id(done['error_file_id'])}")
    assert out is not None and err is not None
    assert sorted(json.loads(r)["custom_id"] for r in out[0].splitlines()) == ["a", "b"]
    assert [json.loads(r)["response"]["status_code"] for r in err[0].splitlines()] == [400]
    again, charged_again = run(world.batches(Caller(is_admin=True)).retrieve_and_charge(batch["id"], logger_for))
    assert charged_again is False and again["output_file_id"] == done["output_file_id"]
    assert len(logged) == 1 and logged[0] > 0


def _finished_batch(world: World) -> dict[str, Any]:
    file_id = _uploaded(world, [line("a"), line("b")])
    batch = run(world.batches().create(file_id, "/v1/chat/completions", "24h", None, None))
    world.vertex.finish(next(iter(world.vertex.jobs)), lambda row: gemini_response("ok", 5, 2))
    return batch


def recording_logger(deliveries: list[str]) -> Any:
    def logger_for(record: Any, result: Any, found: Any) -> Any:
        async def log(charge_id: str) -> float:
            deliveries.append(charge_id)
            return float(result["cost"])
        return log
    return logger_for


def test_the_charge_carries_an_id_derived_from_the_batch_and_written_before_logging(world: World) -> None:
    batch = _finished_batch(world)
    seen_in_claim: list[Any] = []

    def logger_for(record: Any, result: Any, found: Any) -> Any:
        async def log(charge_id: str) -> float:
            lock = run_in_loop_read(world, f"litellm-vertex-batch/locks/{record['token']}.charge")
            seen_in_claim.append(lock.get("charge_id"))
            return float(result["cost"])
        return log

    deliveries: list[str] = []
    _, charged = run(world.batches().retrieve_and_charge(batch["id"], logger_for))
    assert charged is True
    assert seen_in_claim == [ids.charge_id("batch", batch["id"])]
    _, again = run(world.batches(Caller(is_admin=True)).retrieve_and_charge(batch["id"], recording_logger(deliveries)))
    assert again is False and deliveries == []
    assert ids.charge_id("batch", batch["id"]) != ids.charge_id("batch", batch["id"] + "x")
    assert ids.charge_id("batch", batch["id"]) != ids.charge_id("job", batch["id"])


def run_in_loop_read(world: World, name: str) -> dict[str, Any]:
    found = world.objects.read_bytes(name)
    assert found is not None, name
    return json.loads(found[0])


def test_a_charge_record_that_cannot_be_written_does_not_fail_the_retrieve_and_a_redelivery_keeps_the_id(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = _finished_batch(world)
    write = world.objects.write_bytes

    def failing_charge_records(name: str, *args: Any, **kwargs: Any) -> Any:
        if "/charges/" in name:
            raise TransientError("Cloud Storage answered 503: backend unavailable", 503)
        return write(name, *args, **kwargs)

    monkeypatch.setattr(world.objects, "write_bytes", failing_charge_records)
    deliveries: list[str] = []
    found, charged = run(world.batches().retrieve_and_charge(batch["id"], recording_logger(deliveries)))
    assert found["status"] == "completed" and charged is True
    # within the lease nobody delivers it again, although no record says it was charged
    _, again = run(world.batches().retrieve_and_charge(batch["id"], recording_logger(deliveries)))
    assert again is False and len(deliveries) == 1
    # the holder's record never came; after the lease the charge is delivered again, as the same event
    monkeypatch.setattr(world.objects, "write_bytes", write)
    import dataclasses

    service = world.batches()
    service.s = dataclasses.replace(service.s, charge_lease_seconds=0)
    _, redelivered = run(service.retrieve_and_charge(batch["id"], recording_logger(deliveries)))
    assert redelivered is True and deliveries == [ids.charge_id("batch", batch["id"])] * 2
    _, after = run(world.batches().retrieve_and_charge(batch["id"], recording_logger(deliveries)))
    assert after is False and len(deliveries) == 2


def test_a_retrieve_while_running_charges_nothing(world: World) -> None:
    file_id = _uploaded(world, [line("a")])
    batch = run(world.batches().create(file_id, "/v1/chat/completions", "24h", None, None))
    found, charged = run(world.batches().retrieve_and_charge(batch["id"], lambda *_: pytest.fail("charged")))
    assert found["status"] == "validating" and charged is None


def test_another_tenant_gets_404_for_a_batch(world: World) -> None:
    file_id = _uploaded(world, [line("a")])
    batch = run(world.batches().create(file_id, "/v1/chat/completions", "24h", None, None))
    with pytest.raises(NotFound):
        run(world.batches(BOB).retrieve(batch["id"]))
    with pytest.raises(NotFound):
        run(world.batches(BOB).cancel(batch["id"]))
    with pytest.raises(NotFound):
        run(world.batches(BOB).create(file_id, "/v1/chat/completions", "24h", None, None))
    assert run(world.batches(BOB).list(None, 10)) == []


def test_cancel_answers_cancelling_then_writes_never_run_rows(world: World) -> None:
    file_id = _uploaded(world, [line("a"), line("b")])
    service = world.batches()
    batch = run(service.create(file_id, "/v1/chat/completions", "24h", None, None))
    cancelled = run(service.cancel(batch["id"]))
    assert cancelled["status"] in ("cancelling", "cancelled")
    name = next(iter(world.vertex.jobs))
    world.vertex.finish(name, lambda row: "never", state="JOB_STATE_CANCELLED")
    final = run(service.retrieve(batch["id"]))
    assert final["status"] == "cancelled" and final["request_counts"]["failed"] == 2


def test_a_transient_create_failure_is_retried_into_exactly_one_job(world: World) -> None:
    file_id = _uploaded(world, [line("a")])
    world.vertex.failures.append(("POST", r"batchPredictionJobs$", 503))
    batch = run(world.batches().create(file_id, "/v1/chat/completions", "24h", None, None))
    assert len(world.vertex.jobs) == 1 and batch["status"] == "validating"


def test_a_persistent_create_failure_keeps_googles_status_and_leaves_no_batch(world: World) -> None:
    file_id = _uploaded(world, [line("a")])
    world.vertex.failures.extend([("POST", r"batchPredictionJobs$", 503)] * 20)
    with pytest.raises(TransientError) as caught:
        run(world.batches().create(file_id, "/v1/chat/completions", "24h", None, None))
    assert caught.value.status_code == 503 and "injected 503" in caught.value.message
    assert not any("/batches/" in n or "/batch-input/" in n for n in world.objects.names())


def test_memory_store_preconditions_and_claims() -> None:
    store = Store(MemoryObjects(), offload=False)
    assert run(store.write_json("r", {"a": 1}, only_if_absent=True)) is True
    assert run(store.write_json("r", {"a": 2}, only_if_absent=True)) is False
    value, generation = run(store.read_json("r"))
    assert value == {"a": 1}
    assert run(store.write_json("r", {"a": 3}, if_generation=generation + 1)) is False
    assert run(store.write_json("r", {"a": 3}, if_generation=generation)) is True
    assert run(store.claim("lock", 60)) is True and run(store.claim("lock", 60)) is False
    assert run(store.claim("lock", 0)) is True  # a lease older than its term is taken over


def test_a_finished_batch_is_served_from_its_result_without_asking_vertex(world: World) -> None:
    file_id = _uploaded(world, [line("a")])
    service = world.batches()
    batch = run(service.create(file_id, "/v1/chat/completions", "24h", None, None))
    world.vertex.finish(next(iter(world.vertex.jobs)))
    first = run(service.retrieve(batch["id"]))
    asked = len(world.vertex.requests)
    again = run(service.retrieve(batch["id"]))
    listed = run(service.list(None, 10))
    assert len(world.vertex.requests) == asked  # neither the retrieve nor the list called Vertex
    assert again == first and listed == [first]
    assert first["status"] == "completed" and first["completed_at"]


def test_a_list_survives_a_job_vertex_cannot_read(world: World) -> None:
    service = world.batches()
    made = [run(service.create(_uploaded(world, [line(str(n))]), "/v1/chat/completions", "24h", None, None))
            for n in range(3)]
    names = list(world.vertex.jobs)
    world.vertex.finish(names[0])
    run(service.retrieve(made[0]["id"]))  # finalized: its result is stored
    broken = names[1].split("/")[-1]
    world.vertex.failures.extend([("GET", rf"/batchPredictionJobs/{broken}$", 503)] * 50)
    listed = {b["id"]: b["status"] for b in run(service.list(None, 10))}
    assert listed == {made[0]["id"]: "completed", made[1]["id"]: "in_progress", made[2]["id"]: "validating"}


def test_a_download_fails_before_its_first_byte_not_inside_the_response(world: World) -> None:
    with pytest.raises(NotFound):
        run(world.store.stream("litellm-vertex-batch/files/missing"))  # raised by the call, not by iterating
    world.objects.write_bytes("x", b"a" * 10)

    async def read_all() -> bytes:
        return b"".join([chunk async for chunk in await world.store.stream("x", chunk_size=3)])

    assert run(read_all()) == b"a" * 10


def test_a_retried_delete_that_already_worked_succeeds_and_nothing_of_the_file_remains(world: World) -> None:
    created = run(world.files().create(jsonl([line("a")]), "in.jsonl", "batch"))
    token = ids.parse_file_id(created["id"])
    assert token is not None
    # the first attempt's deletes went through, but its answer was lost: only the Vertex rows are left behind
    run(world.files().delete(token))
    world.objects.write_bytes(f"litellm-vertex-batch/vertex-input/{token}.jsonl", b"left over")
    assert run(world.files().delete(token))["deleted"] is True  # the deleter's retry: not a 404
    assert run(world.files(Caller(key_hash="amy", team_id="team-a")).delete(token))["deleted"] is True
    with pytest.raises(NotFound):
        run(world.files(BOB).delete(token))  # someone who could not see it still gets 404
    assert world.objects.names() == [f"litellm-vertex-batch/deleted/{token}.json"]
    with pytest.raises(NotFound):
        run(world.files().retrieve(token))

"""The sweep against the in-memory bucket: what an interrupted upload or deletion left is removed, what is in
flight or still owned is kept, and a normal upload leaves no lease behind."""

from __future__ import annotations

import asyncio
import io
import json
import time

from litellm_vertex_batch.cloud.memory import MemoryObjects
from litellm_vertex_batch.cloud.store import Store
from litellm_vertex_batch.core import layout
from litellm_vertex_batch.core.errors import InvalidRequest
from litellm_vertex_batch.core.input_lines import ResolvedModel
from litellm_vertex_batch.core.settings import resolve
from litellm_vertex_batch.services.files import DELETE_RETRY_SECONDS, FileService
from litellm_vertex_batch.services.sweep import sweep
from tests.unit.test_services import ALICE, MODEL, jsonl, line

S = resolve({}, {"gcs_bucket_name": "memory-bucket", "vertex_project": "p", "vertex_location": "l"})
UPLOAD_LEASE_SECONDS = S.upload_lease_seconds


def put(objects: MemoryObjects, name: str, value: object) -> None:
    objects.write_bytes(name, json.dumps(value).encode(), None, "application/json", None)


def files(store: Store) -> FileService:
    return FileService(store, S, ALICE, resolve_model=lambda name: ResolvedModel(name if name == MODEL else None))


def test_rows_of_an_upload_whose_process_died_are_removed_once_its_lease_lapses() -> None:
    objects = MemoryObjects()
    now = time.time()
    put(objects, layout.upload_lease(S, "dead"), {"claimed_at": now - UPLOAD_LEASE_SECONDS - 1, "holder": "h"})
    put(objects, layout.vertex_input(S, "dead"), {"rows": 1})
    put(objects, layout.upload_lease(S, "running"), {"claimed_at": now - 5, "holder": "h"})
    put(objects, layout.vertex_input(S, "running"), {"rows": 1})
    put(objects, layout.upload_lease(S, "done"), {"claimed_at": now - UPLOAD_LEASE_SECONDS - 1, "holder": "h"})
    put(objects, layout.vertex_input(S, "done"), {"rows": 1})
    put(objects, layout.file_object(S, "done"), {"file": 1})
    report = asyncio.run(sweep(Store(objects, offload=False), S, now))
    assert sorted(report.removed) == sorted([layout.vertex_input(S, "dead"), layout.upload_lease(S, "dead"),
                                             layout.upload_lease(S, "done")])
    assert report.kept_in_flight == 1
    assert objects.names() == sorted([layout.upload_lease(S, "running"), layout.vertex_input(S, "running"),
                                      layout.vertex_input(S, "done"), layout.file_object(S, "done")])


def test_what_an_interrupted_deletion_left_is_removed_after_its_retry_window() -> None:
    objects = MemoryObjects()
    now = time.time()
    put(objects, layout.deleted_file(S, "old"), {"deleted_at": now - DELETE_RETRY_SECONDS - 1, "owner": {}})
    put(objects, layout.vertex_input(S, "old"), {"rows": 1})
    put(objects, layout.deleted_file(S, "recent"), {"deleted_at": now - 1, "owner": {}})
    put(objects, layout.vertex_input(S, "recent"), {"rows": 1})
    asyncio.run(sweep(Store(objects, offload=False), S, now))
    assert objects.names() == sorted([layout.deleted_file(S, "recent"), layout.vertex_input(S, "recent")])


def test_uploads_leave_no_lease_whether_they_succeed_or_are_refused() -> None:
    objects = MemoryObjects()
    store = Store(objects, offload=False)
    created = asyncio.run(files(store).create(jsonl([line("a")]), "b.jsonl", "batch"))
    try:
        asyncio.run(files(store).create(io.BytesIO(b'{"custom_id": "x"}\n'), "bad.jsonl", "batch"))
        raise AssertionError("a bad line was accepted")
    except InvalidRequest:
        pass
    token = created["id"].removeprefix("file-vb")
    assert objects.names() == sorted([layout.file_object(S, token), layout.vertex_input(S, token)])
    assert asyncio.run(sweep(store, S)).removed == []


def test_staged_bytes_of_an_interrupted_upload_are_removed_and_an_upload_in_flight_keeps_them() -> None:
    """An upload's own bytes staged beside its conversion go with its lapsed lease (file made or not); a staged
    object its upload failed to remove goes once it is older than a lease; one in flight stays."""
    objects = MemoryObjects()
    now = time.time()
    for token, age in (("dead", UPLOAD_LEASE_SECONDS + 1), ("running", 5)):
        put(objects, layout.upload_lease(S, token), {"claimed_at": now - age, "holder": "h"})
        put(objects, layout.staged_upload(S, token), {"bytes": 1})
    put(objects, layout.staged_upload(S, "leftover"), {"bytes": 1})
    put(objects, layout.staged_upload(S, "just-copied"), {"bytes": 1})
    objects._objects[layout.staged_upload(S, "leftover")].created = now - UPLOAD_LEASE_SECONDS - 1
    report = asyncio.run(sweep(Store(objects, offload=False), S, now))
    assert sorted(report.removed) == sorted([layout.staged_upload(S, "dead"), layout.upload_lease(S, "dead"),
                                             layout.staged_upload(S, "leftover")])
    assert objects.names() == sorted([layout.upload_lease(S, "running"), layout.staged_upload(S, "running"),
                                      layout.staged_upload(S, "just-copied")])

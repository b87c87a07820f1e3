"""Stored records: what today's code writes, and what code before schema versions wrote, still loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from litellm_vertex_batch.core import records, states
from litellm_vertex_batch.core.errors import VertexBatchError

#: Written by the plugin before records carried a schema version (captured from a real run of that code).
V0 = Path(__file__).resolve().parents[1] / "fixtures" / "records_v0"


def fixture(name: str) -> dict:
    return json.loads((V0 / f"{name}.json").read_text())


def test_records_without_a_version_load_as_the_current_schema() -> None:
    batch = records.load_batch(fixture("batches"))
    result = records.load_result(fixture("batch_results"))
    assert batch["v"] == result["v"] == records.SCHEMA_VERSION
    assert batch["id"] == "batch_vb" + batch["token"] and batch["job_name"]
    obj = states.batch_object(batch, {"state": "JOB_STATE_SUCCEEDED", "endTime": "2026-12-01T20:30:00Z"}, result)
    assert obj["status"] == "completed" and obj["request_counts"] == {"completed": 1, "failed": 1, "total": 2}
    assert obj["output_file_id"] == fixture("batch_results")["output_file_id"]
    assert obj["metadata"]["team"] == "x" and obj["usage"]["total_tokens"] == 5
    assert records.load_charge(fixture("charges"))["cost"] == pytest.approx(7e-07)
    assert records.load_claim(fixture("locks"))["claimed_at"] > 0


def test_file_metadata_from_before_is_what_files_still_read() -> None:
    from litellm_vertex_batch.cloud.objects import ObjectInfo
    from litellm_vertex_batch.services.files import file_object

    meta = fixture("file_metadata_batch")
    assert set(meta) <= set(records.FileMetadata.__annotations__)
    obj = file_object("zybq69463ypkfa110z2evkvk4t", ObjectInfo("n", 10, 0.0, meta))
    assert obj["filename"] == "guide.jsonl" and obj["purpose"] == "batch" and obj["created_at"] == 1796159170


def test_a_record_stamped_with_the_current_version_round_trips() -> None:
    stored = json.loads(json.dumps(records.dump(fixture("batches"))))
    assert stored["v"] == records.SCHEMA_VERSION and records.load_batch(stored) == records.load_batch(stored)


def test_records_from_a_newer_writer_or_broken_ones_are_refused() -> None:
    with pytest.raises(VertexBatchError, match="schema version 2"):
        records.load_batch({**fixture("batches"), "v": 2})
    with pytest.raises(VertexBatchError, match="lacks token"):
        records.load_result({"request_counts": {}})
    with pytest.raises(VertexBatchError, match="not a JSON object"):
        records.load_batch([1, 2])

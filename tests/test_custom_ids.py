"""custom_id round trip: every input custom_id comes back exactly once, byte for byte, attached to its own
response, whatever order Vertex writes its rows in, however many predictions files it splits them into,
and also when Vertex drops the custom_id key or repeats a row."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import batch_record, chat_line, create_batch, gcs_bucket, job_id, read_jsonl, upload, wait_done

ROWS_PER_FILE = 3

ODD_IDS = [
    "café ☕ 日本語 ✓ 🙂",
    "a/b/c",
    "/leading/and/trailing/",
    "#hash#tag",
    "with spaces  inside ",
    " ",
    "x" * 200,
    "000123",
    "1e5",
    "12",
    "-0",
    "true",
    "null",
    '{"a":1}',
    '["list", 1]',
    "cid:already-tagged",
    "back\\slash \"quoted\"",
    "tab\tand\nnewline",
    "e\u0301",  # NFD "é": must not be normalised into ...
    "\u00e9",   # ... the NFC one
]


@pytest.fixture
def split_output(stand_ins) -> Iterator[None]:
    """New jobs write at most ROWS_PER_FILE rows per predictions file."""
    before = stand_ins.control("GET", "config")
    stand_ins.configure(rows_per_file=ROWS_PER_FILE)
    try:
        yield
    finally:
        stand_ins.configure(**before)


@pytest.fixture
def frozen_jobs(stand_ins) -> Iterator[None]:
    """New jobs stay PENDING until forced, so the test decides when and what they write."""
    before = stand_ins.control("GET", "config")
    stand_ins.configure(pending_seconds=30, rows_per_file=ROWS_PER_FILE)
    try:
        yield
    finally:
        stand_ins.configure(**before)


def output_prefix(stand_ins, batch_id: str) -> str:
    return f"litellm-vertex-batch/vertex-output/{batch_record(stand_ins, batch_id)['token']}/"


def prediction_blobs(stand_ins, batch_id: str) -> list[Any]:
    blobs = gcs_bucket(stand_ins).list_blobs(prefix=output_prefix(stand_ins, batch_id))
    return sorted((b for b in blobs if b.name.endswith(".jsonl")), key=lambda b: b.name)


def reply_text(row: dict[str, Any]) -> str:
    return row["response"]["body"]["choices"][0]["message"]["content"]


def assert_each_once(rows: list[dict], expected: set[str]) -> None:
    seen = Counter(r["custom_id"] for r in rows)
    assert set(seen) == expected, (sorted(set(seen) - expected), sorted(expected - set(seen)))
    assert all(n == 1 for n in seen.values()), {k: n for k, n in seen.items() if n > 1}


def test_odd_custom_ids_preserved_across_split_output(client, stand_ins, split_output):
    fails = {"12", '{"a":1}', "x" * 200}
    texts = {cid: f"prompt {i} for id number {i}" + (" EMULATOR_FAIL" if cid in fails else "")
             for i, cid in enumerate(ODD_IDS)}
    assert len(set(ODD_IDS)) == len(ODD_IDS)
    lines = [chat_line(cid, text) for cid, text in texts.items()]
    batch = create_batch(client, upload(client, lines).id)
    assert batch.request_counts.total == len(ODD_IDS)

    done = wait_done(client, batch.id)
    assert done.status == "completed", done
    files = prediction_blobs(stand_ins, batch.id)
    assert len(files) >= 2 and len(files) == -(-len(ODD_IDS) // ROWS_PER_FILE), [b.name for b in files]
    assert all("/predictions_" in b.name for b in files), [b.name for b in files]
    vertex_rows = [json.loads(line) for b in files for line in b.download_as_text().splitlines() if line]
    assert len(vertex_rows) == len(ODD_IDS)

    output = read_jsonl(client, done.output_file_id)
    errors = read_jsonl(client, done.error_file_id)
    assert_each_once(output + errors, set(ODD_IDS))
    assert {r["custom_id"] for r in errors} == fails
    for row in output:
        assert row["response"]["status_code"] == 200, row
        assert reply_text(row) == "echo: " + texts[row["custom_id"]], row
    for row in errors:
        assert row["response"]["status_code"] == 400 and "EMULATOR_FAIL" in texts[row["custom_id"]], row
    assert done.request_counts.model_dump() == {"total": len(ODD_IDS), "completed": len(ODD_IDS) - len(fails),
                                                "failed": len(fails)}

    # the raw bytes carry the ids as JSON strings, never coerced (000123 stays a string, 1e5 is not 100000.0)
    raw = client.files.content(done.output_file_id, extra_headers={"custom-llm-provider": "vertex_ai"}).text
    for line in raw.splitlines():
        assert isinstance(json.loads(line)["custom_id"], str)
    assert '"custom_id":"000123"' in raw.replace(" ", "") or '"custom_id": "000123"' in raw


def test_odd_custom_ids_through_vertex_batch_provider_name(client, split_output):
    """The same round trip with the plugin's own provider name and a non-ASCII filename."""
    headers = {"custom-llm-provider": "vertex_batch"}
    ids = ODD_IDS[:7]
    texts = {cid: f"second run {i}" for i, cid in enumerate(ids)}
    file = upload(client, [chat_line(cid, texts[cid]) for cid in ids], name="lötter ✓.jsonl", headers=headers)
    done = wait_done(client, create_batch(client, file.id, headers=headers).id, headers=headers)
    assert done.status == "completed" and done.error_file_id is None, done
    output = read_jsonl(client, done.output_file_id, headers=headers)
    assert_each_once(output, set(ids))
    assert all(reply_text(r) == "echo: " + texts[r["custom_id"]] for r in output)


def _rewrite(blob: Any, rows: list[dict]) -> None:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    blob.upload_from_string(data.encode("utf-8"), content_type="application/jsonl")


def test_rows_without_custom_id_are_matched_by_request(client, stand_ins, frozen_jobs):
    """Vertex may not echo the custom_id key: those rows are matched by the request they echo."""
    texts = {f"k{i}": f"keyed request {i}" for i in range(6)}
    texts.update({"same-a": "byte identical request", "same-b": "byte identical request",
                  "same-c": "byte identical request", "fail-nokey": "EMULATOR_FAIL unkeyed failure",
                  "solo/ünï": "unicode id, unkeyed row", "000123": "numeric looking id, unkeyed row"})
    lines = [chat_line(cid, text) for cid, text in texts.items()]
    unkeyed = {"k1", "k3", "same-a", "same-b", "same-c", "fail-nokey", "solo/ünï", "000123"}

    batch = create_batch(client, upload(client, lines).id)
    jid = job_id(stand_ins, batch.id)
    stand_ins.force_state(jid, "JOB_STATE_SUCCEEDED", write_output=True)  # before any retrieve sees it
    blobs = prediction_blobs(stand_ins, batch.id)
    assert len(blobs) >= 3, [b.name for b in blobs]

    contents = {b.name: [json.loads(line) for line in b.download_as_text().splitlines() if line] for b in blobs}
    stripped = 0
    for rows in contents.values():
        for row in rows:
            assert row["custom_id"].startswith("cid:"), row
            if row["custom_id"][4:] in unkeyed:
                del row["custom_id"]
                stripped += 1
    assert stripped == len(unkeyed)
    # duplicates as incremental files may produce: a keyed row repeated in another file, and an
    # unkeyed copy of a row whose keyed original is also there
    def located(cid: str) -> tuple[str, dict]:
        return next((name, r) for name, rows in contents.items() for r in rows if r.get("custom_id") == cid)

    k0_file, k0 = located("cid:k0")
    k2_file, k2 = located("cid:k2")
    contents[next(n for n in sorted(contents) if n != k0_file)].append(dict(k0))
    contents[next(n for n in sorted(contents) if n != k2_file)].append(
        {key: value for key, value in k2.items() if key != "custom_id"})
    for blob in blobs:
        _rewrite(blob, contents[blob.name])

    done = wait_done(client, batch.id)
    assert done.status == "completed", done
    output = read_jsonl(client, done.output_file_id)
    errors = read_jsonl(client, done.error_file_id)
    assert_each_once(output + errors, set(texts))
    assert [r["custom_id"] for r in errors] == ["fail-nokey"], errors
    assert errors[0]["response"]["status_code"] == 400
    for row in output:
        assert row["response"]["status_code"] == 200, row
        assert reply_text(row) == "echo: " + texts[row["custom_id"]], row
    assert {r["custom_id"] for r in output if reply_text(r) == "echo: byte identical request"} == \
        {"same-a", "same-b", "same-c"}
    assert done.request_counts.model_dump() == {"total": len(texts), "completed": len(texts) - 1, "failed": 1}

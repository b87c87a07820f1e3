"""An abandoned upload on a real Cloud Storage server (fake-gcs-server) never appears, even once garbage
collection closes the file object google-cloud-storage gave us (closing a BlobWriter publishes it)."""

from __future__ import annotations

import gc

import pytest

from litellm_vertex_batch.cloud.gcs import GcsObjects
from litellm_vertex_batch.core.errors import UpstreamError
from litellm_vertex_batch.core.settings import Settings
from tests.conftest import BUCKET, gcs_bucket
from tests.stand_ins.fault_proxy import FaultProxy


def objects_on(stand_ins, chunk_mib: int = 8) -> GcsObjects:
    return GcsObjects(Settings(bucket=BUCKET, project="p", location="us-central1", gcs_endpoint=stand_ins.gcs_url,
                               upload_chunk_mib=chunk_mib))


def test_a_discarded_upload_never_appears_even_after_garbage_collection(stand_ins):
    objects = objects_on(stand_ins)
    for size in (10, 9 * 1024 * 1024):  # all in the buffer; one chunk already sent (the session exists)
        name = f"writer-test/discarded-{size}.jsonl"
        writer = objects.open_write(name, {"k": "v"})
        writer.write(b"x" * (size - 1) + b"\n")
        writer.discard()
        del writer
        gc.collect()
        assert gcs_bucket(stand_ins).get_blob(name) is None, size


def test_a_closed_upload_appears_whole(stand_ins):
    objects = objects_on(stand_ins)
    name = "writer-test/closed.jsonl"
    writer = objects.open_write(name, {"k": "v"})
    writer.write(b"a\n" * 1000)
    writer.close()
    blob = gcs_bucket(stand_ins).get_blob(name)
    assert blob is not None and blob.download_as_bytes() == b"a\n" * 1000 and blob.metadata == {"k": "v"}


@pytest.fixture
def fault_proxy(stand_ins):
    with FaultProxy(stand_ins.gcs_url) as running:
        yield running


def test_an_upload_whose_completion_fails_never_appears_later(stand_ins, fault_proxy):
    """Cloud Storage refuses the upload's start (503, until the retries give up): the close fails, and the
    object must not appear once storage recovers and garbage collection closes the writer again."""
    objects = GcsObjects(Settings(bucket=BUCKET, project="p", location="us-central1", gcs_endpoint=fault_proxy.url,
                                  retry_seconds=1.0, timeout_seconds=2.0))
    name = "writer-test/refused.jsonl"
    fault_proxy.clear()
    fault_proxy.inject(r"^/upload/storage/v1/b/batch-bucket/o\?uploadType=resumable", 503, method="POST", count=1000)
    writer = objects.open_write(name)
    writer.write(b"x\n" * 100)
    with pytest.raises(UpstreamError):
        writer.close()
    fault_proxy.clear()
    del writer
    gc.collect()
    assert gcs_bucket(stand_ins).get_blob(name) is None


def test_an_upload_of_many_chunks_sent_behind_the_writer_appears_whole_and_in_order(stand_ins):
    """Chunks are sent by a thread while the next one fills: every byte arrives, in the order written."""
    objects = objects_on(stand_ins)
    name = "writer-test/many-chunks.jsonl"
    lines = [f"{index:08d}".encode() * 1000 + b"\n" for index in range(3000)]  # ~24 MB, three chunks and a rest
    writer = objects.open_write(name, {"k": "v"})
    for line in lines:
        writer.write(line)
    writer.close()
    blob = gcs_bucket(stand_ins).get_blob(name)
    assert blob is not None and blob.download_as_bytes() == b"".join(lines)


def test_a_chunk_that_fails_on_its_way_fails_the_writer_and_nothing_appears(stand_ins, fault_proxy):
    """Cloud Storage refuses a chunk sent behind the writer (503 until the retries give up): the caller's next
    write raises Google's error, and the abandoned upload never appears."""
    objects = GcsObjects(Settings(bucket=BUCKET, project="p", location="us-central1", gcs_endpoint=fault_proxy.url,
                                  retry_seconds=1.0, timeout_seconds=2.0, upload_chunk_mib=8))
    name = "writer-test/chunk-refused.jsonl"
    fault_proxy.clear()
    fault_proxy.inject(r"^/upload/storage/v1/b/batch-bucket/o\?uploadType=resumable&.*upload_id=", 503, method="PUT",
                       count=1000)
    writer = objects.open_write(name)
    chunk = b"y" * (8 * 1024 * 1024 - 1) + b"\n"
    with pytest.raises(UpstreamError) as raised:
        for _ in range(4):
            writer.write(chunk)
    assert raised.value.status_code == 503
    writer.discard()
    fault_proxy.clear()
    del writer
    gc.collect()
    assert gcs_bucket(stand_ins).get_blob(name) is None

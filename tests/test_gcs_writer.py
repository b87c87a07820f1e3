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


def objects_on(stand_ins) -> GcsObjects:
    return GcsObjects(Settings(bucket=BUCKET, project="p", location="us-central1", gcs_endpoint=stand_ins.gcs_url))


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

"""Uploads are converted, and outputs rewritten, in worker processes beside the proxy (``cloud/processes.py``):
the proxy says so at start-up, the work really happens there (killing the worker fails the upload it was doing,
with a 503 the client may retry, and the next upload works), a worker never outlives its proxy, and
``worker_processes: 0`` keeps everything in the proxy's threads."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import openai
import pytest

from litellm_vertex_batch.cloud import processes
from tests.conftest import (
    PROVIDER,
    chat_line,
    create_batch,
    gcs_bucket,
    jsonl,
    make_client,
    read_jsonl,
    upload,
    wait_done,
)
from tests.stand_ins.proxy import Proxy
from tests.test_config_startup import startup_line


def workers_of(proxy: Proxy) -> list[int]:
    """The proxy's spawned worker processes (multiprocessing's spawn entry point in their command line)."""
    found = []
    for task in Path(f"/proc/{proxy.process.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"multiprocessing" in cmdline and b"spawn_main" in cmdline:
                found.append(int(child))
    return found


def wait_for(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def own_proxy(stand_ins):
    with Proxy(stand_ins.env) as running:
        yield running


def large_upload(client, count: int = 2_000):
    """More than 256 KiB (converted in a worker) of more than 200 requests (rewritten in a worker)."""
    return upload(client, [chat_line(f"r{i}", "words " * 30) for i in range(count)])


def test_the_proxy_starts_its_workers_with_the_first_large_upload_and_says_so(own_proxy, stand_ins):
    line = startup_line(own_proxy)
    assert (f"uploads and output rewrites in {processes.default_size()} worker process(es) (started with the "
            "first large one)") in line, line
    client = make_client(own_proxy)
    small = upload(client, [chat_line("small")])  # milliseconds of work: done in the proxy
    assert small.bytes < 1000 and workers_of(own_proxy) == []
    lines = [chat_line(f"r{i}", "words " * 30) for i in range(2_000)]
    file = upload(client, lines, name="large.jsonl")
    wait_for(lambda: len(workers_of(own_proxy)) == processes.default_size(), what="the workers")
    # the worker stored the upload's own bytes beside the conversion; the file is that copy, byte for byte, with
    # what the conversion found, and the staged copy is gone
    content = client.files.content(file.id, extra_headers=PROVIDER).content
    assert content == jsonl(lines) and file.bytes == len(content)
    assert client.files.retrieve(file.id, extra_headers=PROVIDER).filename == "large.jsonl"
    assert not [blob.name for blob in gcs_bucket(stand_ins).list_blobs()
                if "/uploads/" in blob.name]
    batch = wait_done(client, create_batch(client, file.id).id, timeout=120)
    assert batch.status == "completed" and batch.request_counts.completed == 2_000
    assert sorted(row["custom_id"] for row in read_jsonl(client, batch.output_file_id)) == sorted(
        f"r{i}" for i in range(2_000))


def test_killing_the_worker_mid_upload_fails_that_upload_with_a_503_and_the_next_one_works(own_proxy, stand_ins):
    startup_line(own_proxy)
    client = make_client(own_proxy)
    large_upload(client)
    wait_for(lambda: workers_of(own_proxy), what="a worker")
    client = client.with_options(max_retries=0, timeout=120)
    big = jsonl([chat_line(f"r{i}", "words " * 400) for i in range(80_000)])  # ~200 MB: seconds of work
    outcome: dict = {}

    def create() -> None:
        try:
            outcome["file"] = client.files.create(file=("big.jsonl", big), purpose="batch")
        except openai.APIStatusError as exc:
            outcome["error"] = exc

    def stored() -> tuple[int, int]:
        names = [blob.name for blob in gcs_bucket(stand_ins).list_blobs()]
        return (sum("/files/" in name for name in names), sum("/vertex-input/" in name for name in names))

    before_upload = stored()
    worker = workers_of(own_proxy)[0]
    started = time.monotonic()
    thread = threading.Thread(target=create)
    thread.start()
    # the worker is busy once its CPU time climbs: then it is converting this upload
    ticks = lambda: sum(int(x) for x in Path(f"/proc/{worker}/stat").read_text().split()[13:15])  # noqa: E731
    before = ticks()
    wait_for(lambda: ticks() - before > 50, timeout=60, what="the worker to convert")
    os.kill(worker, signal.SIGKILL)
    thread.join(120)
    assert "error" in outcome, f"the upload finished anyway after {time.monotonic() - started:.1f} s"
    assert outcome["error"].status_code == 503
    assert "worker stopped" in str(outcome["error"]), outcome["error"]
    assert not alive(worker)
    assert stored() == before_upload  # the interrupted upload left nothing behind
    # a new pool answers the next upload
    file = large_upload(client)
    assert client.files.retrieve(file.id).bytes == file.bytes > 0
    assert stored() == (before_upload[0] + 1, before_upload[1] + 1)


def test_a_worker_never_outlives_its_proxy(own_proxy):
    startup_line(own_proxy)
    large_upload(make_client(own_proxy))
    wait_for(lambda: workers_of(own_proxy), what="a worker")
    workers = workers_of(own_proxy)
    own_proxy.process.send_signal(signal.SIGKILL)
    own_proxy.process.wait(10)
    wait_for(lambda: not any(alive(pid) for pid in workers), timeout=15, what="the workers to exit")


def test_worker_processes_0_keeps_the_work_in_the_proxy(stand_ins):
    with Proxy({**stand_ins.env, "LITELLM_VERTEX_BATCH_WORKER_PROCESSES": "0"}) as running:
        line = startup_line(running)
        assert "uploads and output rewrites in threads of this proxy (worker_processes: 0)" in line, line
        client = make_client(running)
        file = large_upload(client)
        batch = wait_done(client, create_batch(client, file.id).id, timeout=120)
        assert batch.status == "completed" and batch.request_counts.completed == 2_000
        assert workers_of(running) == []


@pytest.mark.parametrize("bad", ["last", "first"])
def test_a_large_upload_refused_leaves_neither_rows_nor_its_staged_bytes(own_proxy, stand_ins, bad):
    """A large upload is converted in a worker while its own bytes are stored beside it; refused (a bad last line
    found by the worker, or a first line that names no model, so the proxy converts it itself after the worker
    gave up), the 400 names the line and nothing the upload began is left in the bucket."""
    client = make_client(own_proxy)
    large_upload(client)  # the workers are up
    names = lambda: {blob.name for blob in gcs_bucket(stand_ins).list_blobs()}  # noqa: E731
    before = names()
    lines: list = [chat_line(f"r{i}", "words " * 30) for i in range(2_000)]
    if bad == "last":
        lines[-1] = {"custom_id": "r1999", "method": "GET", "url": "/v1/chat/completions", "body": {}}
    if bad == "first":  # no body.model: the worker cannot resolve the second line's, and hands the file back
        lines.insert(0, {"custom_id": "no-model", "method": "POST", "url": "/v1/chat/completions",
                         "body": {"messages": [{"role": "user", "content": "hi"}]}})
    data = jsonl(lines)
    with pytest.raises(openai.BadRequestError) as refused:
        upload(client, data)
    where = "line 2000 (custom_id 'r1999'): method must be" if bad == "last" else \
        "line 1 (custom_id 'no-model'): body.model is missing"
    assert where in str(refused.value), refused.value
    assert names() == before

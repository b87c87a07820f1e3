"""The worker pool (``cloud/processes.py``) with real spawned processes: results and the plugin's errors come
back whole, a worker that dies is a 503 and a new pool, and a cancelled caller waits for its job to end."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from litellm_vertex_batch.cloud import processes
from litellm_vertex_batch.core.errors import TransientError, UpstreamError


def add(a: int, b: int) -> int:
    return a + b


def refuse() -> None:
    error = UpstreamError("Cloud Storage: quota", 429)
    error.reason = "RESOURCE_EXHAUSTED"
    raise error


def die() -> None:
    os._exit(3)


def slow_write(path: str, seconds: float) -> None:
    time.sleep(seconds)
    Path(path).write_text("written")


@pytest.fixture(scope="module", autouse=True)
def one_worker():
    processes.configure(1)
    yield
    processes.configure(None)


def test_results_and_errors_come_back_whole() -> None:
    assert asyncio.run(processes.run(add, 2, 3)) == 5
    with pytest.raises(UpstreamError) as raised:
        asyncio.run(processes.run(refuse))
    assert (raised.value.status_code, raised.value.reason, raised.value.message) == (
        429, "RESOURCE_EXHAUSTED", "Cloud Storage: quota")


def test_a_worker_that_dies_is_a_503_and_the_next_job_gets_a_new_pool() -> None:
    with pytest.raises(TransientError) as raised:
        asyncio.run(processes.run(die))
    assert raised.value.status_code == 503
    assert asyncio.run(processes.run(add, 1, 1)) == 2


def test_a_cancelled_caller_waits_for_its_running_job(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"

    async def cancel_while_running() -> bool:
        await processes.run(add, 0, 0)  # the worker is up
        task = asyncio.create_task(processes.run(slow_write, str(target), 1.5))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return target.exists()  # the job wrote its last byte before the cancellation went on

    assert asyncio.run(cancel_while_running())

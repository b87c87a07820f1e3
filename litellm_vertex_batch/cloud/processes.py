"""Worker processes for work proportional to a file's size (upload conversion, finalization).

Why: that work is pure Python; in a thread of the proxy it holds the proxy's GIL, and every other request on
the gateway (chat completions included) waits behind it. Here it runs in a small pool of worker processes the
plugin starts beside the proxy (spawned, so nothing of the proxy's state is copied), each opening its own
Cloud Storage client from the operator's settings. A worker whose proxy died exits (it never finishes a job
nobody waits for); a pool whose worker died is replaced, and the job fails with a 503 the caller may retry.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ..core.errors import TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

_pool: concurrent.futures.ProcessPoolExecutor | None = None
_pool_size = 0
#: how many worker processes heavy jobs use (0: threads of the proxy); ``configure`` sets it at start-up
_size: int | None = None
_lock = threading.Lock()
#: (factory, args) -> the objects a worker built from them (one Cloud Storage client per bucket per worker)
_worker_objects: dict[bytes, Any] = {}


def default_size() -> int:
    """One worker on a 2-core machine (the proxy keeps a core), up to 4 on larger ones."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def configure(size: int | None) -> None:
    """The operator's ``worker_processes`` (None: ``default_size()``; 0: no worker processes)."""
    global _size
    _size = default_size() if size is None else max(0, size)


def size() -> int:
    return default_size() if _size is None else _size


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:  # the proxy died (kill -9): nobody waits for this job
            os._exit(1)


def _start_worker(parent: int) -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # a worker never fetches the price map
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    import litellm_vertex_batch.services.heavy  # noqa: F401  (LiteLLM's mapping, loaded once per worker)


def _ready() -> int:
    return os.getpid()


def pool() -> concurrent.futures.ProcessPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != size():
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=False)
            _pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=size(), mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker, initargs=(os.getpid(),))
            _pool_size = size()
        return _pool


def warm_up() -> list[concurrent.futures.Future[int]]:
    """Start the workers now (each loads LiteLLM, a few seconds), not on the first upload."""
    executor = pool()
    return [executor.submit(_ready) for _ in range(size())]


def _discard(broken: concurrent.futures.ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is broken:
            _pool = None


def _wait_quietly(future: concurrent.futures.Future[Any]) -> None:
    try:
        future.result()
    except BaseException:  # noqa: BLE001 - the caller was cancelled; the job's own outcome no longer matters
        pass


def run_with_objects(recipe: tuple[Callable[..., Any], tuple[Any, ...]], fn: Callable[..., T], *args: Any) -> T:
    """In a worker: ``fn(objects, *args)`` with the objects ``recipe`` builds (kept for the next job)."""
    key = pickle.dumps(recipe)
    objects = _worker_objects.get(key)
    if objects is None:
        objects = _worker_objects[key] = recipe[0](*recipe[1])
    return fn(objects, *args)


async def run(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker process; a worker that died becomes a TransientError (503).

    A job cannot be stopped once a worker runs it: when the caller is cancelled (its client went away), this
    still waits for the job to end before the cancellation goes on, so the caller's clean-up (removing what
    the job wrote) runs after the job wrote its last byte, never before."""
    executor = pool()
    future = executor.submit(fn, *args)
    try:
        return await asyncio.shield(asyncio.wrap_future(future))
    except asyncio.CancelledError:
        if not future.cancel():  # not started yet: cancelled; running: let it end first
            await asyncio.get_running_loop().run_in_executor(None, _wait_quietly, future)
        raise
    except BrokenProcessPool as exc:
        _discard(executor)
        log.error("litellm-vertex-batch: a worker process died during a job (%s); starting new ones", exc)
        raise TransientError("The gateway's batch worker stopped during this request; please retry", 503) from exc

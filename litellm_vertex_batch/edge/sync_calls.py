"""The synchronous ``litellm.create_file`` / ``create_batch`` / ... calls, for library use without a proxy.

LiteLLM's sync Files/Batches functions switch on a fixed list of providers and refuse this one. Each is
replaced by a dispatcher that sends this plugin's provider names (and its ids) to the same async handler the
``litellm.a*`` calls use, run to completion on one event loop of the plugin's own (a daemon thread), so a sync
call works from plain code and from inside a running event loop alike; every other provider gets LiteLLM's
own function.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
#: sync litellm function -> the async one whose handler serves it
SYNC_TO_ASYNC = {"create_file": "acreate_file", "file_retrieve": "afile_retrieve", "file_delete": "afile_delete",
                 "file_list": "afile_list", "file_content": "afile_content", "create_batch": "acreate_batch",
                 "retrieve_batch": "aretrieve_batch", "list_batches": "alist_batches", "cancel_batch": "acancel_batch"}
_ORIGINAL = "__litellm_vertex_batch_original__"
_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _plugin_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="litellm-vertex-batch-sync", daemon=True).start()
        return _loop


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the plugin's loop and wait for it (from any thread, inside a running loop or not)."""
    return asyncio.run_coroutine_threadsafe(coroutine, _plugin_loop()).result()


def install_sync(ours_for: Callable[[str], Callable[..., Any]], serves: Callable[[dict[str, Any], tuple[Any, ...]],
                                                                             bool]) -> None:
    """Replace the nine sync functions on the ``litellm`` module; ``ours_for(async_name)`` is the plugin's handler,
    ``serves(kwargs, args)`` whether a call is the plugin's."""
    import litellm

    for sync_name, async_name in SYNC_TO_ASYNC.items():
        current = getattr(litellm, sync_name, None)
        if current is None:
            continue
        original = getattr(current, _ORIGINAL, current)
        ours = ours_for(async_name)

        def dispatch(*args: Any, _original: Callable[..., Any] = original, _ours: Callable[..., Any] = ours,
                     **kwargs: Any) -> Any:
            if serves(kwargs, args):
                return run_sync(_ours(*args, **kwargs))
            return _original(*args, **kwargs)

        dispatch.__name__ = dispatch.__qualname__ = sync_name
        setattr(dispatch, _ORIGINAL, original)
        setattr(litellm, sync_name, dispatch)

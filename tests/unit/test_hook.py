"""The install hook, in-process: idempotent, routes only the plugin's provider names, refuses loudly when
LiteLLM lacks an internal (that fault cannot be produced through a stock proxy, so it is made here)."""

from __future__ import annotations

import asyncio
import logging

import litellm
import pytest

from litellm_vertex_batch.edge import inactive
from litellm_vertex_batch.edge import install as hook


class RecordingHandlers:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def provider_names(self) -> frozenset[str]:
        return frozenset({"vertex_batch"})

    def __getattr__(self, name: str):
        if name not in hook.HANDLERS:
            raise AttributeError(name)

        async def handler(**kwargs):
            self.calls.append((name, kwargs))
            return {"handled_by": "plugin"}
        return handler


@pytest.fixture
def restore_litellm(monkeypatch):
    for name in hook.HANDLERS:
        monkeypatch.setattr(litellm, name, getattr(litellm, name))
    from litellm.proxy.openai_files_endpoints import file_content_streaming_handler as streaming

    from litellm_vertex_batch.edge import compat
    monkeypatch.setattr(streaming, compat.STREAMING_PROVIDERS, getattr(streaming, compat.STREAMING_PROVIDERS))
    monkeypatch.setattr(litellm, "custom_provider_map", list(litellm.custom_provider_map))


def test_install_twice_wraps_once_and_routes_only_our_names(restore_litellm):
    originals = {name: getattr(getattr(litellm, name), hook._ORIGINAL, getattr(litellm, name))
                 for name in hook.HANDLERS}
    handlers = RecordingHandlers()
    assert hook.install(handlers, "vertex_batch") and hook.install(handlers, "vertex_batch")
    for name in hook.HANDLERS:
        dispatcher = getattr(litellm, name)
        assert getattr(dispatcher, hook._ORIGINAL) is originals[name]
        assert not hasattr(originals[name], hook._ORIGINAL)
    result = asyncio.run(litellm.alist_batches(custom_llm_provider="vertex_batch", limit=3))
    assert handlers.calls and handlers.calls[-1][0] == "alist_batches" and result == {"handled_by": "plugin"}
    assert sum(1 for e in litellm.custom_provider_map if e["provider"] == "vertex_batch") == 1
    assert "vertex_batch" in litellm.provider_list


def test_other_providers_reach_the_original(restore_litellm, monkeypatch):
    seen = []

    async def original_cancel(*args, **kwargs):
        seen.append(kwargs)
        return "original"

    monkeypatch.setattr(litellm, "acancel_batch", original_cancel)
    handlers = RecordingHandlers()
    assert hook.install(handlers, "vertex_batch")
    assert asyncio.run(litellm.acancel_batch(batch_id="b", custom_llm_provider="openai")) == "original"
    assert seen == [{"batch_id": "b", "custom_llm_provider": "openai"}] and handlers.calls == []


def install_and_capture(handlers: object) -> tuple[bool, list[str]]:
    """``hook.install(handlers)`` and the error lines it logged."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    hook.log.addHandler(handler)
    try:
        installed = hook.install(handlers, "vertex_batch")
    finally:
        hook.log.removeHandler(handler)
    return installed, [r.getMessage() for r in records if r.levelno >= logging.ERROR]


def test_missing_internal_is_logged_with_the_litellm_version(restore_litellm, monkeypatch):
    monkeypatch.delattr(litellm, "afile_content")
    before = {name: getattr(litellm, name) for name in hook.HANDLERS if hasattr(litellm, name)}
    installed, errors = install_and_capture(RecordingHandlers())
    assert installed is False
    message = "\n".join(errors)
    assert "NOT active" in message and "litellm.afile_content" in message
    assert inactive.litellm_version() in message and inactive.litellm_version() != "unknown"
    assert not hasattr(litellm, "afile_content")
    assert {name: getattr(litellm, name) for name in before} == before  # nothing was patched

"""The online delegation of vertex_batch/ deployments, with plain data."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from litellm_vertex_batch.edge.online import delegated_kwargs, online_calls_on, usage_before_finish


def chunk(content=None, finish=None, usage=None):
    return SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content=content, tool_calls=None),
                                                    finish_reason=finish)], usage=usage)


def test_the_usage_chunk_comes_before_the_finish_chunk():
    text, finish, usage = chunk("hi"), chunk(finish="stop"), SimpleNamespace(choices=[], usage={"total": 3})
    held: list = []
    out = [*usage_before_finish(text, held), *usage_before_finish(finish, held), *usage_before_finish(usage, held)]
    assert out == [text, usage, finish] and held == []


def test_a_finish_without_usage_is_released_at_the_end():
    held: list = []
    assert usage_before_finish(chunk(finish="stop"), held) == [] and len(held) == 1


def test_delegated_call_carries_the_callers_logging_and_operator_settings(monkeypatch):
    monkeypatch.setenv("VERTEXAI_PROJECT", "env-project")
    monkeypatch.setenv("VERTEXAI_LOCATION", "us-east5")
    monkeypatch.delenv("VERTEXAI_API_BASE", raising=False)
    logging_obj = SimpleNamespace(litellm_params={"vertex_location": "europe-west1", "api_key": "x"})
    call = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}], "logging_obj": logging_obj,
            "optional_params": {"temperature": 0.2, "stream": True},
            "litellm_params": {"metadata": {"user_api_key_hash": "h"}, "litellm_call_id": "c-1", "api_base": None}}
    kwargs = delegated_kwargs(call, stream=True)
    assert kwargs["model"] == "vertex_ai/gemini-2.5-flash" and kwargs["litellm_logging_obj"] is logging_obj
    assert kwargs["temperature"] == 0.2 and kwargs["stream"] is True
    assert kwargs["stream_options"] == {"include_usage": True}
    assert kwargs["metadata"] == {"user_api_key_hash": "h"} and kwargs["litellm_call_id"] == "c-1"
    # library use: the call's own vertex_location (it is the operator there), else the environment
    assert kwargs["vertex_location"] == "europe-west1" and kwargs["vertex_project"] == "env-project"
    assert "api_key" not in kwargs and "api_base" not in kwargs


@pytest.mark.parametrize(("config", "environ", "expected"), [
    ({}, {}, True), ({"serve_online_calls": False}, {}, False), ({"serve_online_calls": "true"}, {}, True),
    ({}, {"LITELLM_VERTEX_BATCH_SERVE_ONLINE_CALLS": "off"}, False)])
def test_switch(config, environ, expected):
    assert online_calls_on(config, environ) is expected

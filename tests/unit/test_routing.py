"""Which provider a Files/Batches request goes to when its header names none (or another one)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from litellm_vertex_batch.core import ids
from litellm_vertex_batch.edge.routing import default_on, names_plugin_id, provider_for

OURS = frozenset({"vertex_batch", "vertex_ai"})
FILE = ids.file_id(ids.new_token())
BATCH = ids.batch_id(ids.new_token())


def request(method: str, path: str, path_params: dict[str, str] | None = None, query: dict[str, str] | None = None,
            body: dict[str, Any] | None = None, form: dict[str, Any] | None = None) -> Any:
    scope = {"parsed_body": (tuple(body), body)} if body is not None else {}
    return SimpleNamespace(method=method, url=SimpleNamespace(path=path), path_params=path_params or {},
                           query_params=query or {}, scope=scope, _form=form)


@pytest.mark.parametrize("named", [None, "openai", "azure"])
def test_plugin_ids_in_the_path_reach_the_plugin_whatever_the_header(named):
    for params in ({"file_id": FILE}, {"batch_id": BATCH}):
        req = request("GET", "/v1/files/x", params)
        assert provider_for(req, named, OURS, default=False) == "vertex_batch"


def test_a_header_naming_one_of_the_plugins_names_is_kept():
    assert provider_for(request("GET", "/v1/files/x", {"file_id": FILE}), "vertex_ai", OURS, False) == "vertex_ai"


def test_batch_create_naming_a_plugin_file_reaches_the_plugin():
    req = request("POST", "/v1/batches", body={"input_file_id": FILE, "endpoint": "/v1/chat/completions"})
    assert provider_for(req, None, OURS, default=False) == "vertex_batch"
    other = request("POST", "/v1/batches", body={"input_file_id": "file-abc123"})
    assert provider_for(other, None, OURS, default=False) is None


@pytest.mark.parametrize("value", ["file-abc123", "file-" + "a" * 22, "file-vb" + "0" * 25, "file-vb" + "I" * 26,
                                   "batch_" + "0" * 32, "batch_vb" + "u" * 26, None, 42])
def test_other_ids_are_not_the_plugins(value):
    assert provider_for(request("GET", "/v1/files/x", {"file_id": value}), "openai", OURS, True) == "openai"
    assert not names_plugin_id({"file_id": value, "batch_id": value})


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/files"), ("GET", "/v1/files"), ("POST", "/v1/batches"),
                                              ("GET", "/v1/batches/"), ("GET", "/files")])
def test_the_default_takes_unnamed_creates_and_lists_only_when_on(method, path):
    assert provider_for(request(method, path), None, OURS, default=True) == "vertex_batch"
    assert provider_for(request(method, path), None, OURS, default=False) is None
    assert provider_for(request(method, path), "openai", OURS, default=True) == "openai"


def test_the_default_leaves_calls_naming_a_provider_in_query_body_or_form():
    assert provider_for(request("GET", "/v1/files", query={"custom_llm_provider": "openai"}), None, OURS, True) is None
    assert provider_for(request("POST", "/v1/batches", body={"custom_llm_provider": "openai"}), None, OURS,
                        True) is None
    assert provider_for(request("POST", "/v1/files", form={"custom_llm_provider": "openai", "purpose": "batch"}),
                        None, OURS, True) is None


def test_the_default_never_takes_calls_on_other_ids():
    req = request("GET", "/v1/files/file-abc/content", {"file_id": "file-abc"})
    assert provider_for(req, None, OURS, default=True) is None


@pytest.mark.parametrize(("config", "environ", "expected"), [
    ({}, {}, False), ({"serve_calls_without_provider": True}, {}, True),
    ({"serve_calls_without_provider": "false"}, {"LITELLM_VERTEX_BATCH_SERVE_CALLS_WITHOUT_PROVIDER": "1"}, False),
    ({}, {"LITELLM_VERTEX_BATCH_SERVE_CALLS_WITHOUT_PROVIDER": "true"}, True),
    ({"serve_calls_without_provider": "os.environ/SWITCH"}, {"SWITCH": "on"}, True)])
def test_default_switch_sources(config, environ, expected):
    assert default_on(config, environ) is expected

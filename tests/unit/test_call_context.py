"""The call context: settings come from operator sources only, whatever the request's kwargs carry."""

from __future__ import annotations

import base64
import math

import pytest

from litellm_vertex_batch.core.errors import InvalidRequest
from litellm_vertex_batch.core.settings import SETTING_KEYS
from litellm_vertex_batch.edge import call_context, deployments
from litellm_vertex_batch.edge.call_context import CallContext, gateway_fields_in
from litellm_vertex_batch.edge.deployments import (
    Deployment,
    invalid_prices,
    model_from_wrapped_id,
    price_overrides,
    routed_deployment,
    served_deployments,
)

ENV = {"GCS_BUCKET_NAME": "operator-bucket", "VERTEXAI_PROJECT": "operator-project",
       "VERTEXAI_LOCATION": "us-central1"}
#: What a hostile request would like each setting to be (the proxy merges body fields into kwargs).
HOSTILE = {"vertex_api_base": "http://attacker.example", "api_base": "http://attacker.example",
           "gcs_endpoint": "http://attacker.example", "vertex_project": "victim-project",
           "vertex_location": "victim-location", "gcs_bucket_name": "victim-bucket", "bucket_name": "victim-bucket",
           "vertex_credentials": '{"type": "service_account"}', "gcs_path_service_account": "/etc/passwd",
           "gcs_credentials": "/etc/passwd", "gcs_prefix": "hijack/", "team_access": "true",
           "retry_seconds": "0", "timeout_seconds": "0.001", "finalize_lease_seconds": "0", "charge_lease_seconds": "0",
           "upload_lease_seconds": "0", "worker_processes": "0",
           "model_info": {"input_cost_per_token_batches": -1}, "input_cost_per_token_batches": -1}
MODEL_LIST = [
    {"model_name": "flash-lite", "litellm_params": {"model": "vertex_batch/gemini-2.5-flash-lite"},
     "model_info": {"id": "dep-1"}},
    {"model_name": "team-b-flash", "litellm_params": {"model": "vertex_batch/gemini-2.5-flash",
                                                      "vertex_project": "team-b-project",
                                                      "gcs_bucket_name": "team-b-bucket"},
     "model_info": {"id": "dep-2", "input_cost_per_token_batches": 1e-07}},
    {"model_name": "team-c-flash", "litellm_params": {"model": "vertex_batch/gemini-2.5-flash",
                                                      "vertex_project": "team-c-project"},
     "model_info": {"id": "dep-3", "output_cost_per_token_batches": -2.0, "input_cost_per_token": math.inf}},
    {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-x"}},
]
#: Any proxy_server_request marks the call as coming through the proxy.
PROXY_REQUEST = {"url": "http://gw/v1/batches", "headers": {}, "body": {}}


@pytest.fixture
def router(monkeypatch):
    monkeypatch.setattr(deployments, "_router_model_list", lambda: MODEL_LIST)
    monkeypatch.setattr(call_context, "files_settings_entry", lambda: {})


def test_request_kwargs_never_become_settings(router):
    ctx = CallContext.from_kwargs({**HOSTILE, "proxy_server_request": PROXY_REQUEST}, environ=ENV)
    s = ctx.settings
    assert (s.bucket, s.project, s.location, s.prefix) == ("operator-bucket", "operator-project", "us-central1",
                                                            "litellm-vertex-batch/")
    assert s.vertex_api_base is None and s.gcs_endpoint is None and s.vertex_credentials is None
    assert s.gcs_credentials is None and s.team_access is True and s.retry_seconds == 30.0
    assert s.timeout_seconds == 60.0 and s.finalize_lease_seconds == 900.0 and s.charge_lease_seconds == 300.0
    assert ctx.deployment is None


def test_routed_deployment_settings_come_from_the_router(router):
    """The proxy merged team-b-flash's params *and* the body's into kwargs; only the router's copy counts."""
    kwargs = {**HOSTILE, "model": "vertex_batch/gemini-2.5-flash", "vertex_project": "team-b-project",
              "proxy_server_request": {**PROXY_REQUEST, "headers": {"x-litellm-model": "team-b-flash"}}}
    ctx = CallContext.from_kwargs(kwargs, environ=ENV)
    assert ctx.deployment is not None and ctx.deployment.model_name == "team-b-flash"
    assert (ctx.settings.project, ctx.settings.bucket) == ("team-b-project", "team-b-bucket")
    assert ctx.settings.vertex_api_base is None and ctx.settings.gcs_endpoint is None
    assert ctx.settings.prefix == "litellm-vertex-batch/" and ctx.model == "gemini-2.5-flash"


@pytest.mark.parametrize("model_ref, proxy_request, expected", [
    ("team-b-flash", {}, "team-b-flash"),                   # retrieve: the proxy leaves the model name
    ("dep-3", {}, "team-c-flash"),                          # a deployment id
    ("vertex_batch/gemini-2.5-flash-lite", {}, "flash-lite"),  # one deployment has that litellm model
    ("vertex_batch/gemini-2.5-flash", {"headers": {"x-litellm-model": "team-c-flash"}}, "team-c-flash"),
    ("vertex_batch/gemini-2.5-flash", {"url": "http://gw/v1/batches?model=team-b-flash"}, "team-b-flash"),
    ("vertex_batch/gemini-2.5-flash", {"body": {"model": "team-c-flash"}}, "team-c-flash"),
    ("openai/gpt-4o", {}, None),                            # not served by this plugin
    ("no-such-model", {}, None),
    (None, {}, None),
])
def test_routed_deployment(router, model_ref, proxy_request, expected):
    found = routed_deployment(model_ref, proxy_request)
    assert (found.model_name if found else None) == expected


def test_routing_by_a_model_wrapped_id(router):
    wrapped = "batch_" + base64.urlsafe_b64encode(b"litellm:batch_vbabc;model,team-c-flash").decode().rstrip("=")
    assert model_from_wrapped_id(wrapped) == "team-c-flash"
    found = routed_deployment("vertex_batch/gemini-2.5-flash", {"url": f"http://gw/v1/batches/{wrapped}"})
    assert found is not None and found.model_name == "team-c-flash"
    assert model_from_wrapped_id("batch_vb0123") is None and model_from_wrapped_id("file-!!") is None


def test_request_fields_naming_gateway_settings_are_refused(router):
    body = {"input_file_id": "file-x", "vertex_api_base": "http://a", "model_info": {}, "litellm_call_id": "c",
            "input_cost_per_token_batches": 0}
    assert gateway_fields_in({"body": body}) == ["input_cost_per_token_batches", "model_info", "vertex_api_base"]
    assert gateway_fields_in({"url": "http://gw/v1/files?limit=2&gcs_endpoint=http://a"}) == ["gcs_endpoint"]
    assert gateway_fields_in({"url": "http://gw/v1/files?limit=2&after=x", "body": {"model": "m"}}) == []
    with pytest.raises(InvalidRequest) as caught:
        CallContext.from_kwargs({"proxy_server_request": {"body": body}}, environ=ENV)
    assert caught.value.status_code == 400
    assert all(name in caught.value.message for name in ("vertex_api_base", "model_info"))


def test_every_setting_key_is_refused_as_a_request_field():
    for key in sorted(SETTING_KEYS) + ["serve_vertex_ai", "output_cost_per_token", "cache_read_input_token_cost"]:
        assert gateway_fields_in({"body": {key: "x"}}) == [key]
        assert gateway_fields_in({"url": f"http://gw/v1/batches?{key}=x"}) == [key]


def test_library_calls_without_a_proxy_use_their_own_kwargs(monkeypatch, router):
    monkeypatch.setattr(call_context, "library_call", lambda kwargs: True)
    ctx = CallContext.from_kwargs({"vertex_project": "my-project", "gcs_bucket_name": "my-bucket"}, environ=ENV)
    assert (ctx.settings.project, ctx.settings.bucket) == ("my-project", "my-bucket")


def test_prices_only_from_the_router_and_never_negative_or_infinite(router):
    assert price_overrides("gemini-2.5-flash") == {"input_cost_per_token_batches": 1e-07}
    assert price_overrides("gemini-2.5-flash-lite") == {}
    problems = invalid_prices()
    assert len(problems) == 2 and all("team-c-flash" in p for p in problems)
    assert any("output_cost_per_token_batches = -2.0 is negative" in p for p in problems)
    assert any("input_cost_per_token = inf is not finite" in p for p in problems)


def test_served_deployments_skip_other_providers():
    found = served_deployments(MODEL_LIST)
    assert [d.model_name for d in found] == ["flash-lite", "team-b-flash", "team-c-flash"]
    assert found[0] == Deployment("flash-lite", "vertex_batch/gemini-2.5-flash-lite",
                                  {"model": "vertex_batch/gemini-2.5-flash-lite"}, {"id": "dep-1"})


def test_streamed_content_is_routed_by_the_proxys_read_only_snapshot(router):
    """The proxy removes ``model`` before a streamed files.content and keeps a MappingProxyType snapshot instead;
    a JSON body can only ever produce a plain dict, which is not trusted."""
    from types import MappingProxyType

    snapshot = MappingProxyType({"model": "vertex_batch/gemini-2.5-flash", "vertex_project": "team-b-project"})
    request = {**PROXY_REQUEST, "headers": {"x-litellm-model": "team-b-flash"}}
    ctx = CallContext.from_kwargs({"_litellm_internal_model_credentials": snapshot, "proxy_server_request": request},
                                  environ=ENV)
    assert ctx.deployment is not None and ctx.settings.bucket == "team-b-bucket"
    forged = CallContext.from_kwargs({"_litellm_internal_model_credentials": dict(snapshot),
                                      "proxy_server_request": request}, environ=ENV)
    assert forged.deployment is None and forged.settings.bucket == "operator-bucket"

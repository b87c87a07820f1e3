"""A batch line's body.model resolved through model_list (plain data), as an online call would be."""

from __future__ import annotations

import pytest

from litellm_vertex_batch.adapters import ADAPTERS
from litellm_vertex_batch.core.input_lines import InputConverter, ResolvedModel
from litellm_vertex_batch.edge.deployments import resolve_batch_model

MODEL_LIST = [
    {"model_name": "gpt-4o-mini-2024-07-18", "litellm_params": {"model": "vertex_batch/gemini-2.5-flash-lite"}},
    {"model_name": "team-b-flash", "litellm_params": {"model": "vertex_ai/gemini-2.5-flash", "vertex_project": "b"}},
    {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-secret"}},
    {"model_name": "private-gemini", "litellm_params": {"model": "vertex_batch/gemini-9-private"}},
]


@pytest.mark.parametrize(("name", "model", "deployment"), [
    ("gpt-4o-mini-2024-07-18", "gemini-2.5-flash-lite", "gpt-4o-mini-2024-07-18"),
    ("team-b-flash", "gemini-2.5-flash", "team-b-flash"),
    ("gemini-2.5-flash", "gemini-2.5-flash", None),  # a Vertex model LiteLLM's price map knows
    ("vertex_ai/gemini-2.5-flash", "gemini-2.5-flash", None),
    ("publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro", None),
    ("gemini-9-private", "gemini-9-private", None),  # unknown to the price map, served by a deployment
])
def test_names_resolve_to_the_vertex_model_they_run(name, model, deployment):
    assert resolve_batch_model(name, MODEL_LIST) == ResolvedModel(model, deployment)


def test_a_name_another_provider_serves_cannot_run_and_its_config_is_not_shown():
    resolved = resolve_batch_model("gpt-4o", MODEL_LIST)
    assert resolved.model is None and "not served by Vertex AI" in (resolved.problem or "")
    assert "openai/gpt-4o" not in (resolved.problem or "") and "sk-secret" not in (resolved.problem or "")


def test_unknown_names_get_advice_that_maps_the_name_to_a_gemini_model():
    problem = resolve_batch_model("gpt-5-ultra", MODEL_LIST).problem or ""
    assert "model_name: gpt-5-ultra" in problem and "vertex_batch/<Gemini model>" in problem


def test_the_converter_runs_the_resolved_model_and_records_the_alias():
    converter = InputConverter(ADAPTERS, resolve_model=lambda name: resolve_batch_model(name, MODEL_LIST))
    line = (b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": '
            b'{"model": "gpt-4o-mini-2024-07-18", "messages": [{"role": "user", "content": "hi"}]}}')
    assert converter.convert(1, line)
    other = line.replace(b'"a"', b'"b"').replace(b"gpt-4o-mini-2024-07-18", b"gemini-2.5-flash-lite")
    assert converter.convert(2, other) is None  # one name per batch, as written
    summary = converter.finish()
    assert (summary.model, summary.deployment) == ("gemini-2.5-flash-lite", "gpt-4o-mini-2024-07-18")
    assert "differs from 'gpt-4o-mini-2024-07-18'" in summary.problems[0]

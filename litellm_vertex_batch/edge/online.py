"""Online calls to a ``vertex_batch/<gemini model>`` deployment, so one deployment serves batch and online.

The proxy lists every deployment in ``/v1/models`` as a chat model, and clients (autobatcher's flex mode, a
developer trying the model first) call it online. LiteLLM hands a custom provider's chat calls to its
``CustomLLM``; this one re-enters LiteLLM as ``vertex_ai/<gemini model>`` with the deployment's project,
location and credentials (the same operator sources as batches: deployment, ``files_settings``, env), so
LiteLLM's own Vertex provider does the mapping, streaming and errors. ``/v1/responses`` needs nothing more:
LiteLLM bridges a provider without a Responses config to its chat call, which lands here.

Exactly one log per call: the nested call is given the caller's logging object (``litellm_logging_obj``), which
LiteLLM's ``client`` wrapper reuses instead of making a second one; the nested call relabels it ``vertex_ai``, so
cost is looked up as the Vertex model. The caller's ``litellm_params`` that the logging object keeps (metadata,
model_info, the proxy request) are passed on, because the nested call rebuilds them from its own kwargs.

``serve_online_calls: false`` in this provider's ``files_settings`` entry answers a 400 instead (never a 500).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from ..core import settings as settings_mod
from .call_context import files_settings_entry
from .deployments import served_deployments

#: litellm_params of the outer call the nested call must repeat (the logging object is rebuilt from them).
CARRIED_LITELLM_PARAMS = (
    "metadata", "litellm_metadata", "model_info", "proxy_server_request", "litellm_call_id", "litellm_trace_id",
    "litellm_session_id", "preset_cache_key", "no-log", "base_model", "drop_params", "ssl_verify",
    "input_cost_per_token", "output_cost_per_token", "input_cost_per_second", "output_cost_per_second",
    "cost_per_second", "merge_reasoning_content_in_choices", "prompt_id", "prompt_variables",
)
_ENV_SWITCH = "LITELLM_VERTEX_BATCH_SERVE_ONLINE_CALLS"


def online_calls_on(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``vertex_batch/`` deployments answer online calls (default: yes)."""
    entry = files_settings_entry() if config is None else config
    return settings_mod.switch(entry, settings_mod.ONLINE_CALLS_SETTING, _ENV_SWITCH, True, environ)


def _deployment_params(litellm_params: Mapping[str, Any], logging_obj: Any) -> Mapping[str, Any]:
    """The routed deployment's litellm_params, found in the router by its model_info id (never the request's).
    Library use (no router): the call's own kwargs, as the logging object kept them (whoever calls is the
    operator there)."""
    model_info = litellm_params.get("model_info") or {}
    model_id = model_info.get("id") if isinstance(model_info, Mapping) else None
    for deployment in served_deployments():
        if model_id is not None and deployment.deployment_id == str(model_id):
            return deployment.params
    kept = getattr(logging_obj, "litellm_params", None) or {}
    return {k: v for k, v in kept.items() if k in settings_mod.SETTING_KEYS} if isinstance(kept, Mapping) else {}


def refusal(model: str) -> Exception:
    import litellm

    return litellm.BadRequestError(
        message=f"the deployment vertex_batch/{model} serves the Files and Batches APIs only: this gateway's "
                "operator turned its online calls off (serve_online_calls: false). Send the requests as a batch, "
                "or use a vertex_ai/ deployment for online calls.",
        model=f"vertex_batch/{model}", llm_provider=settings_mod.PROVIDER)


def delegated_kwargs(call: Mapping[str, Any], stream: bool) -> dict[str, Any]:
    """The kwargs of the nested ``litellm.(a)completion`` for one CustomLLM call."""
    litellm_params: Mapping[str, Any] = call.get("litellm_params") or {}
    logging_obj = call.get("logging_obj")
    kwargs: dict[str, Any] = {k: v for k, v in (call.get("optional_params") or {}).items() if k != "stream"}
    kwargs.update({k: litellm_params[k] for k in CARRIED_LITELLM_PARAMS if litellm_params.get(k) is not None})
    kwargs.update(settings_mod.vertex_call_params(_deployment_params(litellm_params, logging_obj),
                                                  files_settings_entry(), os.environ))
    kwargs.update(model=f"vertex_ai/{call['model']}", messages=call.get("messages"), stream=stream,
                  timeout=call.get("timeout"), litellm_logging_obj=logging_obj)
    if call.get("headers"):
        kwargs["extra_headers"] = dict(call["headers"])
    if stream:  # usage on the last chunk, so a stream is priced from Vertex's usageMetadata
        kwargs["stream_options"] = {**(kwargs.get("stream_options") or {}), "include_usage": True}
    return kwargs


def usage_before_finish(chunk: Any, held: list[Any]) -> list[Any]:
    """Reorder the nested stream so the outer stream wrapper keeps Vertex's usage: it drops a content-less chunk
    after it has seen a finish_reason, and vertex_ai sends its usage-only chunk after the finish chunk."""
    choices = getattr(chunk, "choices", None) or []
    delta = choices[0].delta if choices else None
    has_content = bool(delta is not None and (getattr(delta, "content", None) or getattr(delta, "tool_calls", None)))
    if getattr(chunk, "usage", None) is not None and not has_content:
        out = [chunk, *held]
        held.clear()
        return out
    if choices and choices[0].finish_reason and not has_content:
        held.append(chunk)
        return []
    out = [*held, chunk]
    held.clear()
    return out


def online_handler() -> Any:
    """The CustomLLM registered for ``vertex_batch`` (built lazily: LiteLLM is imported by then)."""
    import litellm
    from litellm import CustomLLM

    class VertexBatchOnline(CustomLLM):
        """``vertex_batch/<model>`` online: LiteLLM's Vertex provider with the deployment's settings."""

        def completion(self, *args: Any, **call: Any) -> Any:
            if not online_calls_on():
                raise refusal(call["model"])
            return litellm.completion(**delegated_kwargs(call, stream=False))

        async def acompletion(self, *args: Any, **call: Any) -> Any:
            if not online_calls_on():
                raise refusal(call["model"])
            return await litellm.acompletion(**delegated_kwargs(call, stream=False))

        def streaming(self, *args: Any, **call: Any) -> Iterator[Any]:
            # not a generator itself: a refusal is raised before the proxy starts the event stream
            if not online_calls_on():
                raise refusal(call["model"])
            kwargs = delegated_kwargs(call, stream=True)

            def chunks() -> Iterator[Any]:
                held: list[Any] = []
                for chunk in litellm.completion(**kwargs):
                    yield from usage_before_finish(chunk, held)
                yield from held

            return chunks()

        def astreaming(self, *args: Any, **call: Any) -> AsyncIterator[Any]:  # type: ignore[override]
            # a plain def, not a coroutine: a refusal raises before the proxy starts the event stream
            if not online_calls_on():
                raise refusal(call["model"])
            kwargs = delegated_kwargs(call, stream=True)

            async def chunks() -> AsyncIterator[Any]:
                held: list[Any] = []
                async for chunk in await litellm.acompletion(**kwargs):
                    for out in usage_before_finish(chunk, held):
                        yield out
                for out in held:
                    yield out

            return chunks()

    return VertexBatchOnline()

"""What the operator configured in ``model_list``, read from the proxy's router, never from a request.

A request reaches a deployment only through the proxy's own routing (a model name in a header, a query
parameter, the body, or a model-wrapped id, each authorised against the caller's key by the proxy). The
proxy then merges that deployment's ``litellm_params`` into the call's kwargs, *together with* the request
body's own fields, so kwargs cannot tell an operator's ``vertex_project`` from a caller's. This module
therefore only learns *which* deployment was selected and reads its parameters and prices from
``llm_router.model_list``.

Price overrides (``model_info`` / ``litellm_params`` price keys) must be finite numbers >= 0; anything else
is refused: logged once at start-up and never used.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..core.input_lines import ResolvedModel
from ..core.pricing import PRICE_KEY_PATTERN, price_problem

#: litellm model prefixes of the deployments this plugin serves.
SERVED_PREFIXES = ("vertex_batch/", "vertex_ai/")
_ID_PREFIXES = ("file-", "batch_")


@dataclass(frozen=True)
class Deployment:
    """One ``model_list`` entry served by this plugin, as the operator wrote it."""

    model_name: str
    litellm_model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    model_info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The Gemini model: ``vertex_batch/gemini-2.5-flash`` -> ``gemini-2.5-flash``."""
        return self.litellm_model.split("/", 1)[1]

    @property
    def deployment_id(self) -> str | None:
        value = self.model_info.get("id")
        return str(value) if value not in (None, "") else None


def _router_model_list() -> list[Mapping[str, Any]]:
    import sys

    if "litellm.proxy.proxy_server" not in sys.modules:  # the plugin used as a library: no proxy, no router
        return []
    try:
        from litellm.proxy.proxy_server import llm_router
    except Exception:  # the plugin used as a library: no proxy, no router
        return []
    if llm_router is None:
        return []
    return [entry for entry in (getattr(llm_router, "model_list", None) or []) if isinstance(entry, Mapping)]


def served_deployments(model_list: Iterable[Mapping[str, Any]] | None = None) -> list[Deployment]:
    """Every deployment of the router that this plugin serves, in ``model_list`` order."""
    found = []
    for entry in _router_model_list() if model_list is None else model_list:
        params = entry.get("litellm_params") or {}
        litellm_model = str(params.get("model") or "") if isinstance(params, Mapping) else ""
        if litellm_model.startswith(SERVED_PREFIXES) and "/" in litellm_model:
            info = entry.get("model_info") or {}
            found.append(Deployment(model_name=str(entry.get("model_name") or ""), litellm_model=litellm_model,
                                    params=dict(params), model_info=dict(info) if isinstance(info, Mapping) else {}))
    return found


def routed_deployment(model_ref: Any, proxy_request: Mapping[str, Any] | None,
                      deployments: list[Deployment] | None = None) -> Deployment | None:
    """The deployment the proxy routed this call to, or None for a call routed by provider alone.

    ``model_ref`` is the ``model`` the proxy left in the call (a model name, a deployment id or the
    deployment's litellm model). When several deployments share it, the model name the request was routed
    by (``x-litellm-model``, ``?model=``, the body's ``model``, a model-wrapped id) picks one.
    """
    if not isinstance(model_ref, str) or not model_ref:
        return None
    deployments = served_deployments() if deployments is None else deployments
    for matches in ([d for d in deployments if d.deployment_id == model_ref],
                    [d for d in deployments if d.model_name == model_ref],
                    [d for d in deployments if d.litellm_model == model_ref]):
        if len(matches) > 1:
            names = routing_names(proxy_request or {})
            matches = [d for d in matches if d.model_name in names or d.deployment_id in names] or matches
        if matches:
            return matches[0]
    return None


def routing_names(proxy_request: Mapping[str, Any]) -> set[str]:
    """Model names a request could have been routed by, read from the request the proxy received."""
    names: set[str] = set()
    headers = proxy_request.get("headers") or {}
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == "x-litellm-model" and isinstance(value, str):
                names.add(value)
    url = urlsplit(str(proxy_request.get("url") or ""))
    query: Mapping[str, Any] = dict(parse_qsl(url.query))
    raw_body = proxy_request.get("body")
    body: Mapping[str, Any] = raw_body if isinstance(raw_body, Mapping) else {}
    for source in (query, body):
        if isinstance(source.get("model"), str):
            names.add(source["model"])
    candidates = [unquote(part) for part in url.path.split("/")]
    candidates += [str(body.get(key)) for key in ("input_file_id", "file_id", "batch_id") if body.get(key)]
    names.update(filter(None, (model_from_wrapped_id(value) for value in candidates)))
    return names


def model_from_wrapped_id(value: str) -> str | None:
    """The model name inside an id the proxy wrapped for model routing (``file-``/``batch_`` + base64)."""
    if not value.startswith(_ID_PREFIXES):
        return None
    encoded = value.split("-", 1)[1] if value.startswith("file-") else value.split("_", 1)[1]
    try:
        decoded = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    match = re.search(r";model,([^;]+)", decoded) if decoded.startswith("litellm:") else None
    return match.group(1) if match else None


def deployments_for(model: str, deployments: list[Deployment] | None = None) -> list[Deployment]:
    """Deployments that serve the Gemini ``model`` (by litellm model, or by model_name)."""
    deployments = served_deployments() if deployments is None else deployments
    return [d for d in deployments if d.model == model or d.model_name == model]


def is_served_model(model: str) -> bool:
    """A Gemini model LiteLLM's price map knows as Vertex, or one a deployment serves."""
    from ..core.pricing import is_known_model

    return is_known_model(model) or bool(deployments_for(model))


def resolve_batch_model(name: str, model_list: Iterable[Mapping[str, Any]] | None = None) -> ResolvedModel:
    """What a batch line's ``body.model`` runs on, resolved as an online call through the proxy would be:
    a ``model_list`` name first (an operator alias such as ``gpt-4o-mini`` -> ``vertex_batch/gemini-2.5-flash-lite``
    runs that Gemini model, with that deployment's project, location, credentials and bucket), else a Vertex
    model LiteLLM's price map or a deployment knows."""
    from ..core.input_lines import bare_model, valid_model_name
    from ..core.pricing import is_known_model

    entries = _router_model_list() if model_list is None else list(model_list)
    served = [d for d in served_deployments(entries) if d.model_name == name]
    if served:
        return ResolvedModel(bare_model(served[0].model), served[0].model_name)
    if any(isinstance(e, Mapping) and e.get("model_name") == name for e in entries):
        return ResolvedModel(None, problem=(
            f"body.model {name!r} is a model of this gateway that is not served by Vertex AI, so it cannot run "
            "in a Vertex batch (an operator can point a model_list entry at vertex_batch/<Gemini model>)"))
    if not valid_model_name(name):
        return ResolvedModel(name)  # the converter names the problem
    model = bare_model(name)
    if is_known_model(model) or deployments_for(model, served_deployments(entries)):
        return ResolvedModel(model)
    return ResolvedModel(None, problem=(
        f"body.model {name!r} is not a Vertex AI model this gateway knows: LiteLLM's model map has no Vertex "
        f"model of that name and no model_list entry is named {name!r}. An operator can map the name to a "
        f"Gemini model: model_list: [{{model_name: {name}, litellm_params: {{model: vertex_batch/<Gemini "
        "model>}}]"))


def deployment_named(model_name: str, deployments: list[Deployment] | None = None) -> Deployment | None:
    """The first served deployment whose model_name is ``model_name`` (as the router would pick by name)."""
    for deployment in served_deployments() if deployments is None else deployments:
        if deployment.model_name == model_name:
            return deployment
    return None


async def authorize_model(auth: Any, model_name: str) -> None:
    """The proxy's own check that the caller's key (team, org...) may use ``model_name``: a 403 from the proxy
    if not. Nothing to check without a proxy (library use); ``compat`` finds the check on each LiteLLM."""
    if auth is None:
        return
    try:
        from litellm.proxy.proxy_server import llm_router
    except ImportError:
        return
    from .compat import authorize_model_for_key

    await authorize_model_for_key(model_id=model_name, llm_router=llm_router, user_api_key_dict=auth)


def wrap_id_with_model(plain_id: str, model_name: str) -> str:
    """The id in the proxy's model-routing form, so every later call naming it is routed (and authorised) to
    ``model_name``'s deployment by the proxy itself, as it does for uploads routed by model."""
    from litellm.proxy.openai_files_endpoints.common_utils import encode_file_id_with_model

    return encode_file_id_with_model(file_id=plain_id, model=model_name)


def _price_keys(source: Any) -> dict[str, Any]:
    if not isinstance(source, Mapping):
        return {}
    return {k: v for k, v in source.items() if isinstance(k, str) and PRICE_KEY_PATTERN.match(k)}


def price_overrides(model: str, deployments: list[Deployment] | None = None) -> dict[str, float]:
    """The operator's valid price keys for ``model`` (``model_info`` over ``litellm_params``)."""
    found: dict[str, float] = {}
    for deployment in deployments_for(model, deployments):
        for source in (deployment.params, deployment.model_info):
            for key, value in _price_keys(source).items():
                if price_problem(value) is None:
                    found[key] = float(value)
    return found


def invalid_prices(deployments: list[Deployment] | None = None) -> list[str]:
    """One line per price key in ``model_list`` that is refused (negative, non-finite, not a number)."""
    problems = []
    for deployment in served_deployments() if deployments is None else deployments:
        for where, source in (("litellm_params", deployment.params), ("model_info", deployment.model_info)):
            for key, value in _price_keys(source).items():
                problem = price_problem(value)
                if problem:
                    problems.append(f"model_list entry {deployment.model_name!r}: {where}.{key} = {value!r} "
                                    f"{problem}")
    return problems

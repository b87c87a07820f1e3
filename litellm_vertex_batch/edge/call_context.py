"""One typed view of a proxy call, parsed once from the kwargs LiteLLM hands a handler.

The kwargs bag mixes what the proxy established (the caller's identity, the request it received, the
deployment it routed to) with the request body's own fields. Only the former is read here: the caller
from the proxy's auth metadata, the deployment from the router (``deployments.py``), the request from
``proxy_server_request``. Settings are then built from operator sources alone (``settings.resolve``),
and a request that names a gateway setting is refused before anything happens.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..core import settings as settings_mod
from ..core.access import Caller
from ..core.errors import InvalidRequest
from .deployments import PRICE_KEY_PATTERN, Deployment, routed_deployment

#: Creator fields kept at create time (JSON-safe) and restored on the charging event.
CREATOR_KEYS = ("user_api_key_hash", "user_api_key", "user_api_key_alias", "user_api_key_team_id",
                "user_api_key_team_alias", "user_api_key_user_id", "user_api_key_user_email",
                "user_api_key_org_id", "user_api_key_org_alias", "user_api_key_end_user_id",
                "user_api_key_project_id", "tags", "requester_metadata", "spend_logs_metadata")


def creator_metadata(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's identity and tags from the metadata the proxy attaches to a call."""
    found: dict[str, Any] = {}
    for bag in (kwargs.get("litellm_metadata"), kwargs.get("metadata")):
        if isinstance(bag, dict):
            for key in CREATOR_KEYS:
                value = bag.get(key)
                if key not in found and value is not None and _json_safe(value):
                    found[key] = value
    return found


def _json_safe(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    return False


#: Request fields that would configure the gateway: refused wherever a caller puts them (body, form, query).
GATEWAY_FIELDS = frozenset({*settings_mod.SETTING_KEYS, settings_mod.PROVIDER_NAMES_SETTING,
                            settings_mod.DEFAULT_PROVIDER_SETTING, settings_mod.ONLINE_CALLS_SETTING,
                            settings_mod.NATIVE_STORAGE_SETTING, settings_mod.NATIVE_PREFLIGHT_SETTING,
                            settings_mod.WORKER_PROCESSES_SETTING, settings_mod.BACKGROUND_WORKER_SETTING,
                            settings_mod.SWEEP_SECONDS_SETTING, settings_mod.WEBHOOKS_SETTING, "model_info",
                            "litellm_params", "model_list", "files_settings"})


def files_settings_entry(provider: str = settings_mod.PROVIDER) -> Mapping[str, Any]:
    """This provider's entry under ``files_settings`` in proxy_config.yaml, if the proxy loaded one."""
    try:
        from litellm.proxy.openai_files_endpoints import files_endpoints
    except ImportError:
        return {}
    for entry in getattr(files_endpoints, "files_config", None) or []:
        if isinstance(entry, dict) and entry.get("custom_llm_provider") == provider:
            return entry
    return {}


def _metadata_bags(kwargs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [bag for bag in (kwargs.get("litellm_metadata"), kwargs.get("metadata")) if isinstance(bag, Mapping)]


def caller_from(kwargs: Mapping[str, Any]) -> Caller:
    """The identity the proxy's auth attached (it strips forged ``user_api_key_*`` fields from bodies)."""
    for bag in _metadata_bags(kwargs):
        if bag.get("user_api_key_hash"):
            auth = bag.get("user_api_key_auth")
            role = getattr(getattr(auth, "user_role", None), "value", getattr(auth, "user_role", None))
            return Caller(key_hash=str(bag["user_api_key_hash"]), team_id=_text(bag.get("user_api_key_team_id")),
                          user_id=_text(bag.get("user_api_key_user_id")),
                          is_admin=str(role or bag.get("user_api_key_user_role") or "") in Caller.ADMIN_ROLES)
    return Caller(is_admin=True)  # no proxy identity: library use, nothing to separate


def _auth_from(kwargs: Mapping[str, Any]) -> Any:
    for bag in _metadata_bags(kwargs):
        if bag.get("user_api_key_auth") is not None:
            return bag["user_api_key_auth"]
    return None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def gateway_fields_in(proxy_request: Mapping[str, Any]) -> list[str]:
    """Names of gateway settings or prices the caller put in the request body, form or query string."""
    body = proxy_request.get("body")
    names = list(body) if isinstance(body, Mapping) else []
    names += [name for name, _ in parse_qsl(urlsplit(str(proxy_request.get("url") or "")).query)]
    return sorted({n for n in names if isinstance(n, str) and (n in GATEWAY_FIELDS or PRICE_KEY_PATTERN.match(n))})


def routed_model_ref(kwargs: Mapping[str, Any]) -> Any:
    """The model the proxy routed by: the ``model`` it left in the call or, where it removed that (streamed
    ``files.content``), the deployment model in its read-only credential snapshot (a ``MappingProxyType``, which
    no request body can produce)."""
    snapshot = kwargs.get("_litellm_internal_model_credentials")
    if kwargs.get("model") or not isinstance(snapshot, MappingProxyType):
        return kwargs.get("model")
    return snapshot.get("model")


def library_call(kwargs: Mapping[str, Any]) -> bool:
    """A direct ``litellm.a*`` call in a program that runs no proxy (so no tenant can have written kwargs)."""
    return "proxy_server_request" not in kwargs and "litellm.proxy.proxy_server" not in sys.modules


@dataclass(frozen=True)
class CallContext:
    """What a handler needs to know about its call; services receive these typed values, never kwargs."""

    caller: Caller
    creator: Mapping[str, Any]
    deployment: Deployment | None
    settings: settings_mod.Settings
    query: Mapping[str, str] = field(default_factory=dict)
    #: the proxy's ``UserAPIKeyAuth`` for the caller (None in library use), for the proxy's own model checks
    auth: Any = None

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any], config: Mapping[str, Any] | None = None,
                    environ: Mapping[str, str] | None = None) -> CallContext:
        """Parse ``kwargs`` once; a request naming a gateway setting is a 400 naming it."""
        proxy_request = kwargs.get("proxy_server_request")
        proxy_request = proxy_request if isinstance(proxy_request, Mapping) else {}
        refused = gateway_fields_in(proxy_request)
        if refused:
            raise InvalidRequest(
                f"request field{'s' if len(refused) > 1 else ''} {', '.join(map(repr, refused))} "
                f"{'are' if len(refused) > 1 else 'is a'} gateway setting{'s' if len(refused) > 1 else ''}: bucket, "
                "project, location, credentials, endpoints, access rules and prices come only from the "
                "gateway operator's configuration")
        deployment = routed_deployment(routed_model_ref(kwargs), proxy_request)
        operator_params: Mapping[str, Any] = deployment.params if deployment else {}
        if library_call(kwargs):  # no proxy: whoever calls litellm.a* directly is the operator
            operator_params = {k: v for k, v in kwargs.items() if k in settings_mod.SETTING_KEYS}
        settings = settings_mod.resolve(operator_params, files_settings_entry() if config is None else config,
                                        os.environ if environ is None else environ)
        query = dict(parse_qsl(urlsplit(str(proxy_request.get("url") or "")).query))
        return cls(caller=caller_from(kwargs), creator=creator_metadata(kwargs), deployment=deployment,
                   settings=settings, query=query, auth=_auth_from(kwargs))

    def routed_to(self, deployment: Deployment) -> CallContext:
        """This call as if the proxy had routed it to ``deployment`` (its settings over files_settings and env)."""
        return replace(self, deployment=deployment,
                       settings=settings_mod.resolve(deployment.params, files_settings_entry(), os.environ))

    @property
    def model(self) -> str | None:
        """The Gemini model of the deployment the call was routed to, if any."""
        return self.deployment.model if self.deployment else None

"""The Vertex-native ``batchPredictionJobs`` routes, added to the stock proxy (``/v1/projects/...`` and the same
under ``/vertex_ai/v1/...``, ahead of LiteLLM's generic Vertex pass-through).

Each call: the proxy's own key check (``user_api_key_auth``, run as for its Vertex pass-through route, so
virtual keys allowed LLM routes may call these), then the operator's configuration decides everything else: the
deployment (the body's ``model`` by ``model_name`` or its ``vertex_ai/``/``vertex_batch/`` model, and the key
must be allowed it), the project and location (the URL's must be a configured one's: id or number), the
credentials, where the job may read and write (``native_storage``). Answers are Google's JSON and status,
errors in Google's shape (``{"error": {"code", "message", "status"}}``), also for the gateway's own refusals.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import httpx

from ..cloud.gcs import GcsObjects
from ..cloud.store import Store
from ..cloud.vertex import VertexClient
from ..core import native
from ..core import settings as settings_mod
from ..core.access import Caller
from ..core.errors import ConfigurationError, VertexBatchError
from ..services.native_jobs import NativeJobService, NativeRules
from .call_context import creator_metadata, files_settings_entry
from .cost_events import log_job_cost
from .deployments import Deployment, authorize_model, price_overrides, served_deployments

log = logging.getLogger(__name__)
COLLECTION = "/v1/projects/{project}/locations/{location}/batchPredictionJobs"
ITEM = COLLECTION + "/{job}"
PREFIXES = ("", "/vertex_ai")
GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
                 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
_http: httpx.AsyncClient | None = None


def google_error(code: int, message: str, status: str | None = None) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": {"code": code, "message": message,
                                   "status": status or GOOGLE_STATUS.get(code, "UNKNOWN")}}, status_code=code)


def _client() -> httpx.AsyncClient:
    global _http
    if _http is None or _http.is_closed:
        _http = httpx.AsyncClient()
    return _http


# ---- auth ------------------------------------------------------------------------------------------------------

async def authenticate(request: Any, body: bytes) -> Any:
    """The proxy's key check, on the request as its Vertex pass-through route would see it."""
    from litellm.proxy.auth.user_api_key_auth import user_api_key_auth
    from starlette.requests import Request

    scope = dict(request.scope)
    if not str(scope.get("path", "")).startswith("/vertex_ai/"):
        scope["path"] = "/vertex_ai" + str(scope.get("path", ""))
    as_passthrough = Request(scope, receive=request.receive)
    as_passthrough._body = body  # already read: the key check reads the body again
    return await user_api_key_auth(
        request=as_passthrough, api_key=request.headers.get("authorization") or "", azure_api_key_header="",
        anthropic_api_key_header=None, google_ai_studio_api_key_header=request.headers.get("x-goog-api-key"),
        azure_apim_header=None, custom_litellm_key_header=None)


def auth_refusal(exc: Exception) -> Any:
    code = getattr(exc, "status_code", None) or getattr(exc, "code", None)
    try:
        status = int(code) if code is not None else 401
    except (TypeError, ValueError):
        status = 401
    message = getattr(exc, "message", None) or getattr(exc, "detail", None) or str(exc)
    if status not in (401, 403):
        status = 401
    return google_error(status, f"Request had invalid authentication credentials: {message}" if status == 401
                        else str(message))


def caller_and_creator(auth: Any) -> tuple[Caller, dict[str, Any]]:
    from litellm.proxy.litellm_pre_call_utils import LiteLLMProxyRequestSetup

    logged = dict(LiteLLMProxyRequestSetup.get_sanitized_user_information_from_key(auth))
    tags = (getattr(auth, "metadata", None) or {}).get("tags")
    if tags:
        logged["tags"] = tags
    role = getattr(getattr(auth, "user_role", None), "value", getattr(auth, "user_role", None))
    key_hash = logged.get("user_api_key_hash")
    caller = Caller(key_hash=str(key_hash) if key_hash else None, team_id=getattr(auth, "team_id", None),
                    user_id=getattr(auth, "user_id", None), is_admin=str(role or "") in Caller.ADMIN_ROLES)
    return caller, creator_metadata({"metadata": logged})


# ---- which configuration serves the call ------------------------------------------------------------------------

def _settings_for(deployment: Deployment | None) -> settings_mod.Settings:
    return settings_mod.resolve(deployment.params if deployment else {}, files_settings_entry(), os.environ)


def deployment_for_model(model: str) -> Deployment | None:
    for deployment in served_deployments():
        if deployment.model_name == model or deployment.model == model:
            return deployment
    return None


def serves(settings: settings_mod.Settings, project: str, location: str) -> bool:
    return location == settings.location and project in {settings.project, settings.project_number}


def settings_for_url(project: str, location: str) -> settings_mod.Settings | None:
    """The configured settings (the default, then each deployment's) whose project and location the URL names."""
    candidates: list[Deployment | None] = [None, *served_deployments()]
    for deployment in candidates:
        try:
            found = _settings_for(deployment)
        except ConfigurationError:
            continue
        if serves(found, project, location):
            return found
    return None


def rules(settings: settings_mod.Settings) -> NativeRules:
    entry = files_settings_entry()
    storage = settings_mod.option(entry, settings_mod.NATIVE_STORAGE_SETTING, "LITELLM_VERTEX_BATCH_NATIVE_STORAGE")
    entries = [s.strip() for s in storage.split(",")] if isinstance(storage, str) else list(storage or [])
    preflight = settings_mod.switch(entry, settings_mod.NATIVE_PREFLIGHT_SETTING,
                                    "LITELLM_VERTEX_BATCH_NATIVE_PREFLIGHT", True)
    return NativeRules(storage=[e for e in entries if e], team_access=settings.team_access, preflight=preflight)


def service(settings: settings_mod.Settings, caller: Caller, creator: Mapping[str, Any], key_alias: str | None
            ) -> NativeJobService:
    allowed = rules(settings)
    allowed.storage = native.storage_patterns(allowed.storage, caller, key_alias)
    return NativeJobService(Store(GcsObjects(settings)), settings, VertexClient(settings, _client()), caller, creator,
                            allowed, lambda bucket: GcsObjects(settings, bucket), log_job_cost, price_overrides)


# ---- the routes -------------------------------------------------------------------------------------------------

async def handle(request: Any) -> Any:
    """One native call, start to end; every outcome is Google-shaped."""
    from starlette.responses import JSONResponse

    body = await request.body()
    try:
        auth = await authenticate(request, body)
    except Exception as exc:  # the proxy's own refusal (ProxyException / HTTPException)
        return auth_refusal(exc)
    project, location = request.path_params["project"], request.path_params["location"]
    job = request.path_params.get("job")
    caller, creator = caller_and_creator(auth)
    try:
        if job is None and request.method == "POST":
            return await _create(auth, caller, creator, project, location, body)
        settings = settings_for_url(project, location)
        if settings is None:
            return _foreign_project(project, location)
        jobs = service(settings, caller, creator, creator.get("user_api_key_alias"))
        if job is None:
            return JSONResponse(await jobs.list(dict(request.query_params)))
        job_id, _, action = job.partition(":")
        if not native.JOB_ID.fullmatch(job_id) or action not in ("", "cancel") or \
                (action == "cancel") != (request.method == "POST"):
            return google_error(404, f"The requested URL {request.url.path} was not found on this server.")
        name = f"projects/{project}/locations/{location}/batchPredictionJobs/{job_id}"
        if action == "cancel":
            return JSONResponse(await jobs.cancel(name))
        if request.method == "DELETE":
            return JSONResponse(await jobs.delete(name))
        return JSONResponse(await jobs.get(name))
    except VertexBatchError as err:
        if isinstance(err, ConfigurationError) and err.detail:
            log.error("%s (%s)", err.message, err.detail)
        return google_error(err.status_code, err.message, err.reason)


async def _create(auth: Any, caller: Caller, creator: Mapping[str, Any], project: str, location: str,
                  raw: bytes) -> Any:
    from starlette.responses import JSONResponse

    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return google_error(400, "Invalid JSON payload received.")
    if not isinstance(body, dict):
        return google_error(400, "Invalid JSON payload received. Expected an object.")
    parts = native.model_parts(body.get("model"))
    if parts is None:
        return google_error(400, f"model {body.get('model')!r} is not a Google publisher model "
                                 "(publishers/google/models/<model>)")
    model_project, model_location, model = parts
    deployment = deployment_for_model(model)
    if deployment is None:
        return google_error(404, f"Publisher Model `publishers/google/models/{model}` is not served by this "
                                 "gateway (no model_list entry names it)")
    try:
        await authorize_model(auth, deployment.model_name)
    except Exception as exc:
        return google_error(403, f"Permission denied: this key may not use model {deployment.model_name!r} "
                                 f"({getattr(exc, 'message', exc)})")
    settings = _settings_for(deployment)
    if not serves(settings, project, location) or (
            model_project and not serves(settings, model_project, model_location or "")):
        return _foreign_project(project, location)
    jobs = service(settings, caller, creator, creator.get("user_api_key_alias"))
    return JSONResponse(await jobs.create(body, deployment.model))


def _foreign_project(project: str, location: str) -> Any:
    return google_error(403, f"Permission denied on resource project {project} (location {location}): this "
                             "gateway serves only the projects and locations its operator configured")


def install_native_routes() -> bool:
    """Put the routes at the front of the proxy app's routes (so they win over ``/vertex_ai/{endpoint:path}``)."""
    import sys

    if "litellm.proxy.proxy_server" not in sys.modules:  # library use: no proxy app to add routes to
        return False
    try:
        from litellm.proxy.proxy_server import app
        from starlette.routing import Route
    except Exception as exc:
        log.warning("litellm-vertex-batch: no Vertex-native routes (%s)", exc)
        return False
    if any(getattr(route, "endpoint", None) is handle for route in app.router.routes):
        return True
    routes = []
    for prefix in PREFIXES:
        routes.append(Route(prefix + COLLECTION, handle, methods=["GET", "POST"]))
        routes.append(Route(prefix + ITEM, handle, methods=["GET", "POST", "DELETE"]))
    app.router.routes[:0] = routes
    return True

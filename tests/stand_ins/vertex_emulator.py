"""Vertex AI batchPredictionJobs emulator (REST v1 subset, token endpoint, control API).

Run: ``python -m tests.stand_ins.vertex_emulator --host 127.0.0.1 --port N --gcs-endpoint http://127.0.0.1:M``
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import secrets
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.stand_ins import vertex_rows
from tests.stand_ins.vertex_jobs import ACTIVE, TERMINAL, Gcs, Job, Settings, force_state, run_job
from tests.stand_ins.vertex_requests import camel, filter_fn, validate_create

STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
          502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
PREFIX = "/v1/projects/{project}/locations/{location}/batchPredictionJobs"


def gerror(code: int, message: str, status: str | None = None) -> JSONResponse:
    """Google API error body."""
    return JSONResponse({"error": {"code": code, "message": message, "status": status or STATUS.get(code, "UNKNOWN")}},
                        status_code=code)


class Emulator:
    """In-memory state: jobs, issued tokens, faults, default settings."""

    def __init__(self, gcs_endpoint: str, settings: Settings) -> None:
        self.gcs = Gcs(gcs_endpoint)
        self.defaults = settings
        self.jobs: dict[str, Job] = {}
        self.tokens: set[str] = set()
        self.faults: list[dict[str, Any]] = []
        self.online_calls: dict[str, int] = {}
        self.seq = 0

    def reset(self) -> None:
        for job in self.jobs.values():
            if job.task and not job.task.done():
                job.task.cancel()
        self.jobs.clear()
        self.faults.clear()


def _authorized(emu: Emulator, request: Request) -> bool:
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("bearer "):
        return False
    token = auth[7:].strip()
    if token in emu.tokens:
        return True
    claims = _jwt_claims(token)  # self-signed JWT access (google-auth always_use_jwt_access)
    return bool(claims and claims.get("iss") and claims.get("aud"))


def _jwt_claims(token: str) -> dict | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, json.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _job_or_404(emu: Emulator, request: Request, job_id: str) -> Job | JSONResponse:
    p, loc = request.path_params["project"], request.path_params["location"]
    name = f"projects/{p}/locations/{loc}/batchPredictionJobs/{job_id}"
    job = emu.jobs.get(name)
    if job is None:
        return gerror(404, f'The BatchPredictionJob does not exist: "{name}"')
    return job


async def create_job(request: Request) -> JSONResponse:
    emu: Emulator = request.app.state.emu
    p, loc = request.path_params["project"], request.path_params["location"]
    try:
        body = camel(await request.json())
    except (ValueError, json.JSONDecodeError):
        return gerror(400, "Invalid JSON payload received.")
    if not isinstance(body, dict):
        return gerror(400, "Invalid JSON payload received. Expected an object.")
    problem = validate_create(body, p, loc)
    if problem:
        return gerror(400, problem)
    model = body["model"]
    if not vertex_rows.is_known_model(model):
        full = model if model.startswith("projects/") else f"projects/{p}/locations/{loc}/{model}"
        return gerror(404, f"Publisher Model `{full}` not found.")
    now = vertex_rows.rfc3339()
    job_id = str(random.randint(10**18, 2**63 - 1))
    resource: dict[str, Any] = {
        "name": f"projects/{p}/locations/{loc}/batchPredictionJobs/{job_id}",
        "displayName": body["displayName"], "model": model,
        "inputConfig": body["inputConfig"], "outputConfig": body["outputConfig"],
        "state": "JOB_STATE_PENDING", "createTime": now, "updateTime": now,
    }
    if body.get("labels"):
        resource["labels"] = body["labels"]
    for extra in ("modelParameters", "serviceAccount", "encryptionSpec"):
        if extra in body:
            resource[extra] = body[extra]
    emu.seq += 1
    job = Job(resource=resource, settings=Settings(**emu.defaults.__dict__), seq=emu.seq)
    emu.jobs[job.name] = job
    job.task = asyncio.create_task(run_job(emu.gcs, job))
    return JSONResponse(resource)


async def list_jobs(request: Request) -> JSONResponse:
    emu: Emulator = request.app.state.emu
    p, loc = request.path_params["project"], request.path_params["location"]
    qp = request.query_params
    try:
        size = int(qp.get("pageSize") or 100)
        offset = int(base64.urlsafe_b64decode(qp["pageToken"]).decode()) if qp.get("pageToken") else 0
        keep = filter_fn(qp.get("filter", ""))
    except ValueError as exc:
        return gerror(400, f"Invalid list request: {exc}")
    size = 100 if size <= 0 else min(size, 1000)
    prefix = f"projects/{p}/locations/{loc}/"
    jobs = sorted((j for j in emu.jobs.values() if j.name.startswith(prefix) and keep(j.resource)),
                  key=lambda j: (j.resource["createTime"], j.seq), reverse=True)
    page = jobs[offset:offset + size]
    body: dict[str, Any] = {"batchPredictionJobs": [j.resource for j in page]} if page else {}  # proto3 JSON
    if offset + size < len(jobs):
        body["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
    return JSONResponse(body)


async def get_job(request: Request) -> JSONResponse:
    found = _job_or_404(request.app.state.emu, request, request.path_params["job"])
    return found if isinstance(found, JSONResponse) else JSONResponse(found.resource)


async def job_action(request: Request) -> JSONResponse:
    """``POST .../batchPredictionJobs/{id}:cancel``."""
    job_id, _, action = request.path_params["job"].partition(":")
    if action != "cancel":
        return gerror(404, f"Method not found: {request.url.path}")
    found = _job_or_404(request.app.state.emu, request, job_id)
    if isinstance(found, JSONResponse):
        return found
    if found.state not in ACTIVE:
        return gerror(400, f"Cannot cancel BatchPredictionJob {found.name} in state {found.state}.",
                      "FAILED_PRECONDITION")
    found.cancel_requested_at = vertex_rows.rfc3339()
    found.hold = False
    found.set_state("JOB_STATE_CANCELLING")
    return JSONResponse({})


async def delete_job(request: Request) -> JSONResponse:
    emu: Emulator = request.app.state.emu
    found = _job_or_404(emu, request, request.path_params["job"])
    if isinstance(found, JSONResponse):
        return found
    if found.state not in TERMINAL:
        return gerror(400, f"BatchPredictionJob {found.name} is in state {found.state} and cannot be deleted; "
                           "cancel it first.", "FAILED_PRECONDITION")
    del emu.jobs[found.name]
    now = vertex_rows.rfc3339()
    p, loc = request.path_params["project"], request.path_params["location"]
    return JSONResponse({
        "name": f"projects/{p}/locations/{loc}/operations/{random.randint(10**18, 2**63 - 1)}",
        "metadata": {"@type": "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata",
                     "genericMetadata": {"createTime": now, "updateTime": now}},
        "done": True, "response": {"@type": "type.googleapis.com/google.protobuf.Empty"}})


async def token(request: Request) -> JSONResponse:
    """OAuth2 jwt-bearer grant (service-account flow); errors use the OAuth error format."""
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
        return JSONResponse({"error": "unsupported_grant_type", "error_description": "Invalid grant_type."}, 400)
    claims = _jwt_claims(form.get("assertion", ""))
    if not claims or not claims.get("iss"):
        return JSONResponse({"error": "invalid_grant", "error_description": "Invalid JWT assertion."}, 400)
    tok = "emu-" + secrets.token_urlsafe(24)
    request.app.state.emu.tokens.add(tok)
    return JSONResponse({"access_token": tok, "expires_in": 3600, "token_type": "Bearer"})


ONLINE = "/v1/projects/{project}/locations/{location}/publishers/google/models/{model_method}"


async def generate_content(request: Request) -> Any:
    """Online ``:generateContent`` / ``:streamGenerateContent?alt=sse`` (the answers batch rows would carry),
    counted per project/location/model so tests see where a call went."""
    from starlette.responses import StreamingResponse

    emu: Emulator = request.app.state.emu
    if not _authorized(emu, request):
        return gerror(401, "Request had invalid authentication credentials.")
    model, _, method = request.path_params["model_method"].partition(":")
    if method not in ("generateContent", "streamGenerateContent"):
        return gerror(404, f"The requested URL {request.url.path} was not found on this server.")
    if not vertex_rows.is_known_model(model):
        return gerror(404, f"Publisher Model `projects/{request.path_params['project']}/locations/"
                           f"{request.path_params['location']}/publishers/google/models/{model}` was not found or "
                           "your project does not have access to it.")
    try:
        body = camel(await request.json())
    except (ValueError, json.JSONDecodeError):
        return gerror(400, "Invalid JSON payload received.")
    key = f"projects/{request.path_params['project']}/locations/{request.path_params['location']}/models/{model}"
    emu.online_calls[key] = emu.online_calls.get(key, 0) + 1
    row = vertex_rows.gemini_output_row({"request": body}, model)
    if "response" not in row:
        return gerror(400, "Request contains an invalid argument.")
    response = row["response"]
    if method == "generateContent":
        return JSONResponse(response)

    async def events() -> Any:
        candidate = (response.get("candidates") or [{}])[0]
        parts = (candidate.get("content") or {}).get("parts") or []
        text = parts[0].get("text") if parts and "text" in parts[0] else None
        if text and " " in text:  # two partial chunks, the last one with finishReason and usage, as Google streams
            head, tail = text.split(" ", 1)
            first = {**response, "candidates": [{"content": {"parts": [{"text": head + " "}], "role": "model"}}]}
            first.pop("usageMetadata", None)
            yield f"data: {json.dumps(first)}\r\n\r\n"
            last = {**response, "candidates": [{**candidate, "content": {"parts": [{"text": tail}], "role": "model"}}]}
            yield f"data: {json.dumps(last)}\r\n\r\n"
        else:
            yield f"data: {json.dumps(response)}\r\n\r\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def c_online(request: Request, emu: Emulator) -> JSONResponse:
    return JSONResponse({"calls": emu.online_calls})


def _control(handler):
    """Wrap a control handler so bad input becomes a 400 in Google's format."""
    async def wrapped(request: Request) -> JSONResponse:
        try:
            return await handler(request, request.app.state.emu)
        except (ValueError, TypeError, KeyError) as exc:
            return gerror(400, f"emulator control: {exc!r}")
    return wrapped


async def _body(request: Request) -> dict:
    raw = await request.body()
    return json.loads(raw) if raw.strip() else {}


def _control_job(emu: Emulator, job_id: str) -> Job:
    for job in emu.jobs.values():
        if job.name.rsplit("/", 1)[-1] == job_id or job.name == job_id:
            return job
    raise KeyError(f"no job {job_id}")


async def c_config(request: Request, emu: Emulator) -> JSONResponse:
    emu.defaults.update(await _body(request))
    return JSONResponse(emu.defaults.__dict__)


async def c_job_config(request: Request, emu: Emulator) -> JSONResponse:
    job = _control_job(emu, request.path_params["job"])
    job.settings.update(await _body(request))
    return JSONResponse(job.internal())


async def c_hold(request: Request, emu: Emulator) -> JSONResponse:
    job = _control_job(emu, request.path_params["job"])
    job.hold = request.url.path.endswith("/hold")
    return JSONResponse(job.internal())


async def c_force(request: Request, emu: Emulator) -> JSONResponse:
    job = _control_job(emu, request.path_params["job"])
    body = await _body(request)
    await force_state(emu.gcs, job, str(body["state"]), body.get("error"), bool(body.get("write_output")))
    return JSONResponse(job.internal())


async def c_faults(request: Request, emu: Emulator) -> JSONResponse:
    if request.method == "DELETE":
        emu.faults.clear()
        return JSONResponse({"faults": []})
    if request.method == "POST":
        body = await _body(request)
        re.compile(body.get("path_regex", ".*"))
        emu.faults.append({"method": body.get("method"), "path_regex": body.get("path_regex", ".*"),
                           "status": body.get("status"), "count": int(body.get("count", 1)),
                           "delay_seconds": float(body.get("delay_seconds", 0)),
                           "message": body.get("message")})
    return JSONResponse({"faults": emu.faults})


async def c_jobs(request: Request, emu: Emulator) -> JSONResponse:
    return JSONResponse({"jobs": [j.internal() for j in sorted(emu.jobs.values(), key=lambda j: j.seq)]})


async def c_reset(request: Request, emu: Emulator) -> JSONResponse:
    emu.reset()
    return JSONResponse({})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


class GoogleGate:
    """Outer ASGI middleware: injected faults, then bearer-token auth for ``/v1``."""

    def __init__(self, app: ASGIApp, emu: Emulator) -> None:
        self.app, self.emu = app, emu

    def _take_fault(self, method: str, path: str) -> dict | None:
        for fault in self.emu.faults:
            if fault["count"] > 0 and (not fault["method"] or fault["method"].upper() == method) \
                    and re.search(fault["path_regex"], path):
                fault["count"] -= 1
                return dict(fault)
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator/"):
            return await self.app(scope, receive, send)
        fault = self._take_fault(scope["method"], scope["path"])
        if fault:
            if fault["delay_seconds"] > 0:
                await asyncio.sleep(fault["delay_seconds"])
            if fault["status"] == 0:
                transport = getattr(getattr(send, "__self__", None), "transport", None)
                if transport is not None:
                    transport.abort()
                    await asyncio.sleep(0.05)
                    return
                raise ConnectionAbortedError("emulator fault: drop connection")
            if fault["status"]:
                code = int(fault["status"])
                resp = gerror(code, fault["message"] or f"Injected fault {code}.")
                return await resp(scope, receive, send)
        if scope["path"].startswith("/v1/") and not _authorized(self.emu, Request(scope)):
            resp = gerror(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                               "login cookie or other valid authentication credential.")
            return await resp(scope, receive, send)
        await self.app(scope, receive, send)


def create_app(gcs_endpoint: str, settings: Settings | None = None) -> ASGIApp:
    """Build the ASGI app (Starlette; FastAPI is not needed for this surface)."""
    emu = Emulator(gcs_endpoint, settings or Settings())
    c = "/_emulator"
    routes = [
        Route("/token", token, methods=["POST"]),
        Route("/healthz", health, methods=["GET"]),
        Route(PREFIX, create_job, methods=["POST"]),
        Route(PREFIX, list_jobs, methods=["GET"]),
        Route(PREFIX + "/{job}", get_job, methods=["GET"]),
        Route(PREFIX + "/{job}", delete_job, methods=["DELETE"]),
        Route(PREFIX + "/{job}", job_action, methods=["POST"]),
        Route(ONLINE, generate_content, methods=["POST"]),
        Route(f"{c}/online", _control(c_online), methods=["GET"]),
        Route(f"{c}/config", _control(c_config), methods=["GET", "POST"]),
        Route(f"{c}/faults", _control(c_faults), methods=["GET", "POST", "DELETE"]),
        Route(f"{c}/jobs", _control(c_jobs), methods=["GET"]),
        Route(f"{c}/reset", _control(c_reset), methods=["POST"]),
        Route(f"{c}/jobs/{{job}}/hold", _control(c_hold), methods=["POST"]),
        Route(f"{c}/jobs/{{job}}/release", _control(c_hold), methods=["POST"]),
        Route(f"{c}/jobs/{{job}}/config", _control(c_job_config), methods=["POST"]),
        Route(f"{c}/jobs/{{job}}/force_state", _control(c_force), methods=["POST"]),
    ]

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return gerror(404, f"The requested URL {request.url.path} was not found on this server.")

    async def bad_method(request: Request, exc: Exception) -> JSONResponse:
        return gerror(405 if getattr(exc, "status_code", 0) == 405 else 404,
                      f"Method {request.method} not allowed for {request.url.path}.", "UNIMPLEMENTED")

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: bad_method})
    app.router.redirect_slashes = False  # Google answers 404, not a redirect
    app.state.emu = emu
    return GoogleGate(app, emu)


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: serve the emulator with uvicorn."""
    env = os.environ.get
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default=env("VERTEX_EMULATOR_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(env("VERTEX_EMULATOR_PORT", "8089")))
    ap.add_argument("--gcs-endpoint", default=env("VERTEX_EMULATOR_GCS_ENDPOINT") or env("STORAGE_EMULATOR_HOST"),
                    required=not (env("VERTEX_EMULATOR_GCS_ENDPOINT") or env("STORAGE_EMULATOR_HOST")))
    ap.add_argument("--pending-seconds", type=float, default=float(env("VERTEX_EMULATOR_PENDING_SECONDS", "0.5")))
    ap.add_argument("--running-seconds", type=float, default=float(env("VERTEX_EMULATOR_RUNNING_SECONDS", "1.0")))
    ap.add_argument("--rows-per-file", type=int, default=int(env("VERTEX_EMULATOR_ROWS_PER_FILE", "1000")))
    ap.add_argument("--log-level", default=env("VERTEX_EMULATOR_LOG_LEVEL", "warning"))
    args = ap.parse_args(argv)
    import uvicorn

    settings = Settings(pending_seconds=args.pending_seconds, running_seconds=args.running_seconds,
                        rows_per_file=args.rows_per_file)
    uvicorn.run(create_app(args.gcs_endpoint, settings), host=args.host, port=args.port,
                log_level=args.log_level, http="h11", lifespan="off")


if __name__ == "__main__":
    main()

"""Where each setting comes from: the operator's deployment, then ``files_settings``, then the environment.

Every source is the operator's: the ``litellm_params`` of the ``model_list`` deployment the proxy routed
the call to (read from the router, see ``deployments.py``), the proxy's ``files_settings`` entry for this
provider, and the environment. Request fields are never a source (``call_context.py`` refuses them). A
missing required setting fails naming every place it could be set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError

PROVIDER = "vertex_batch"
PROVIDER_NAMES_SETTING = "serve_vertex_ai"
#: files_settings switch: calls that name no provider (create/list) are this plugin's (``edge/routing.py``).
DEFAULT_PROVIDER_SETTING = "serve_calls_without_provider"
#: files_settings switch: ``vertex_batch/`` deployments answer online chat/Responses calls (``edge/online.py``).
ONLINE_CALLS_SETTING = "serve_online_calls"
#: files_settings: the Cloud Storage locations Vertex-native jobs may name (``gs://bucket/prefix/`` entries with
#: optional ``{team_id}`` / ``{key_alias}``), and whether their input is checked before a job is created.
NATIVE_STORAGE_SETTING = "native_storage"
NATIVE_PREFLIGHT_SETTING = "native_preflight"
#: files_settings: how many worker processes convert uploads and rewrite outputs (``cloud/processes.py``).
WORKER_PROCESSES_SETTING = "worker_processes"
#: files_settings: whether this proxy runs the background worker (finalizes, charges, sweeps), and how often.
BACKGROUND_WORKER_SETTING = "background_worker"
SWEEP_SECONDS_SETTING = "sweep_seconds"
#: files_settings: where the worker sends batch webhooks (a list of {url, secret, team_id}; ``core/webhooks.py``).
WEBHOOKS_SETTING = "webhooks"
DEFAULT_PREFIX = "litellm-vertex-batch/"

# setting -> (deployment litellm_params / files_settings keys, environment variables), first match wins
_SOURCES: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bucket": (("gcs_bucket_name", "bucket_name"), ("GCS_BUCKET_NAME",)),
    "project": (("vertex_project",), ("VERTEXAI_PROJECT", "VERTEX_PROJECT")),
    "project_number": (("vertex_project_number",), ("VERTEXAI_PROJECT_NUMBER",)),
    "location": (("vertex_location",), ("VERTEXAI_LOCATION", "VERTEX_LOCATION")),
    "vertex_credentials": (("vertex_credentials",), ("GOOGLE_APPLICATION_CREDENTIALS",)),
    "gcs_credentials": (("gcs_path_service_account", "gcs_credentials"), ("GCS_PATH_SERVICE_ACCOUNT",)),
    "vertex_api_base": (("vertex_api_base", "api_base"), ("VERTEXAI_API_BASE",)),
    "gcs_endpoint": (("gcs_endpoint",), ("STORAGE_EMULATOR_HOST",)),
    "prefix": (("gcs_prefix",), ("LITELLM_VERTEX_BATCH_PREFIX",)),
    "retry_seconds": (("retry_seconds",), ("LITELLM_VERTEX_BATCH_RETRY_SECONDS",)),
    "timeout_seconds": (("timeout_seconds",), ("LITELLM_VERTEX_BATCH_TIMEOUT_SECONDS",)),
    "finalize_lease_seconds": (("finalize_lease_seconds",), ("LITELLM_VERTEX_BATCH_FINALIZE_LEASE_SECONDS",)),
    "charge_lease_seconds": (("charge_lease_seconds",), ("LITELLM_VERTEX_BATCH_CHARGE_LEASE_SECONDS",)),
    "upload_lease_seconds": (("upload_lease_seconds",), ("LITELLM_VERTEX_BATCH_UPLOAD_LEASE_SECONDS",)),
    "team_access": (("team_access",), ("LITELLM_VERTEX_BATCH_TEAM_ACCESS",)),
    "raw_retention_seconds": (("raw_retention_seconds",), ("LITELLM_VERTEX_BATCH_RAW_RETENTION_SECONDS",)),
    "upload_chunk_mib": (("upload_chunk_mib",), ("LITELLM_VERTEX_BATCH_UPLOAD_CHUNK_MIB",)),
}
#: Default MiB per request of a resumable upload: Google advises at least 8 and google-cloud-storage's own writer
#: sends 40; each request costs a round trip (fake-gcs-server: 1 GB takes 66 s in 16 MiB requests, 43 s in 32,
#: 30 s in 64), while an upload holds about three chunks in memory (in the worker process that writes it).
DEFAULT_UPLOAD_CHUNK_MIB = 32
MAX_UPLOAD_CHUNK_MIB = 256
#: Defaults of the tuning settings: how long transient Google failures are retried, one call's timeout,
#: and after how long an unfinished output rewrite (its replica died) is taken over.
_TUNING_DEFAULTS = {"retry_seconds": 30.0, "timeout_seconds": 60.0, "finalize_lease_seconds": 900.0,
                    "charge_lease_seconds": 300.0, "upload_lease_seconds": 120.0}
_REQUIRED = ("bucket", "project", "location")
#: Every key a deployment or files_settings entry may set (a request may set none of them).
SETTING_KEYS = frozenset(key for keys, _ in _SOURCES.values() for key in keys)


@dataclass(frozen=True)
class Settings:
    bucket: str
    project: str
    location: str
    prefix: str = DEFAULT_PREFIX
    #: the project's number, which Google uses in resource names (``projects/123/...``) as well as its id
    project_number: str | None = None
    vertex_credentials: Any = None
    gcs_credentials: Any = None
    vertex_api_base: str | None = None
    gcs_endpoint: str | None = None
    retry_seconds: float = _TUNING_DEFAULTS["retry_seconds"]
    timeout_seconds: float = _TUNING_DEFAULTS["timeout_seconds"]
    finalize_lease_seconds: float = _TUNING_DEFAULTS["finalize_lease_seconds"]
    #: after how long a charge whose holder logged nothing it could record is delivered again (same id)
    charge_lease_seconds: float = _TUNING_DEFAULTS["charge_lease_seconds"]
    #: after how long without renewal an upload counts as interrupted (the sweep removes what it left)
    upload_lease_seconds: float = _TUNING_DEFAULTS["upload_lease_seconds"]
    #: keys of the creator's team may use a file or batch too (else only the creator's key and admins)
    team_access: bool = True
    #: how long after finalization Vertex's raw predictions and the batch's converted input are kept (None: kept)
    raw_retention_seconds: float | None = None
    #: MiB sent per request of a resumable upload (whole MiB: Cloud Storage wants multiples of 256 KiB)
    upload_chunk_mib: int = DEFAULT_UPLOAD_CHUNK_MIB

    @property
    def vertex_base_url(self) -> str:
        if self.vertex_api_base:
            return self.vertex_api_base.rstrip("/")
        if self.location == "global":
            return "https://aiplatform.googleapis.com"
        return f"https://{self.location}-aiplatform.googleapis.com"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"


def resolve_env_reference(value: Any, environ: Mapping[str, str]) -> Any:
    """LiteLLM's ``os.environ/NAME`` convention, for values LiteLLM does not resolve itself."""
    if isinstance(value, str) and value.startswith("os.environ/"):
        return environ.get(value[len("os.environ/"):])
    return value


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def option(config: Mapping[str, Any], key: str, env_name: str, environ: Mapping[str, str] | None = None) -> Any:
    """A plugin option: ``files_settings`` ``key`` (``os.environ/NAME`` allowed), else the variable ``env_name``."""
    environ = os.environ if environ is None else environ
    value = resolve_env_reference(config.get(key), environ)
    return environ.get(env_name) if value is None else value


def switch(config: Mapping[str, Any], key: str, env_name: str, default: bool,
           environ: Mapping[str, str] | None = None) -> bool:
    """An on/off option (see ``option``): unset is ``default``; otherwise only an explicit word turns it the other
    way (``true``/``yes``/``on``/``1`` turns on an option that is off by default, and the like for off)."""
    value = option(config, key, env_name, environ)
    if value is None or str(value).strip() == "":
        return default
    text = str(value).strip().lower()
    return text not in _FALSE if default else text in _TRUE


def resolve(deployment_params: Mapping[str, Any], config: Mapping[str, Any] | None,
            environ: Mapping[str, str] | None = None) -> Settings:
    """Settings for one call from operator sources only; see the module docstring for precedence."""
    environ = os.environ if environ is None else environ
    config = config or {}
    values: dict[str, Any] = {}
    for name, (keys, env_names) in _SOURCES.items():
        values[name] = _first(deployment_params, config, environ, keys, env_names)
    missing = [name for name in _REQUIRED if not values[name]]
    if missing:
        raise ConfigurationError("litellm-vertex-batch is missing settings: " + "; ".join(
            f"{name} (set {' or '.join(_SOURCES[name][0][:1])} in files_settings/model_list, "
            f"or {' / '.join(_SOURCES[name][1])})" for name in missing))
    prefix = (values.pop("prefix") or DEFAULT_PREFIX).strip("/") + "/"
    bucket = str(values.pop("bucket")).removeprefix("gs://").strip("/")
    gcs_endpoint = values.pop("gcs_endpoint")
    if gcs_endpoint and not str(gcs_endpoint).startswith(("http://", "https://")):
        gcs_endpoint = "http://" + str(gcs_endpoint)
    team_access = values.pop("team_access")
    values["team_access"] = str(team_access).strip().lower() not in ("0", "false", "no", "off") \
        if team_access not in (None, "") else True
    retention = values.pop("raw_retention_seconds")
    try:
        values["raw_retention_seconds"] = None if retention in (None, "") else float(retention)
        if values["raw_retention_seconds"] is not None and not values["raw_retention_seconds"] >= 0:
            raise ValueError(retention)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError("litellm-vertex-batch setting raw_retention_seconds must be a number of seconds "
                                 f">= 0, got {retention!r}") from exc
    chunk = values.pop("upload_chunk_mib")
    try:
        values["upload_chunk_mib"] = DEFAULT_UPLOAD_CHUNK_MIB if chunk in (None, "") else int(str(chunk).strip())
        if not 1 <= values["upload_chunk_mib"] <= MAX_UPLOAD_CHUNK_MIB:
            raise ValueError(chunk)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError("litellm-vertex-batch setting upload_chunk_mib must be a whole number of MiB from 1 "
                                 f"to {MAX_UPLOAD_CHUNK_MIB}, got {chunk!r}") from exc
    for name, default in _TUNING_DEFAULTS.items():
        try:
            values[name] = float(values[name]) if values[name] not in (None, "") else default
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"litellm-vertex-batch setting {name} must be a number of seconds, "
                                     f"got {values[name]!r}") from exc
    return Settings(bucket=bucket, prefix=prefix, gcs_endpoint=gcs_endpoint, **values)


def vertex_call_params(deployment_params: Mapping[str, Any], config: Mapping[str, Any] | None,
                       environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings a LiteLLM ``vertex_ai/`` call needs (project, location, credentials, API base), from the same
    operator sources as a batch; only those that are set."""
    environ = os.environ if environ is None else environ
    config = config or {}
    found = {litellm_key: _first(deployment_params, config, environ, *_SOURCES[name])
             for name, litellm_key in (("project", "vertex_project"), ("location", "vertex_location"),
                                       ("vertex_credentials", "vertex_credentials"), ("vertex_api_base", "api_base"))}
    return {key: value for key, value in found.items() if value not in (None, "")}


def _first(deployment_params: Mapping[str, Any], config: Mapping[str, Any], environ: Mapping[str, str],
           keys: tuple[str, ...], env_names: tuple[str, ...]) -> Any:
    for source in (deployment_params, config):
        for key in keys:
            value = resolve_env_reference(source.get(key), environ)
            if value not in (None, ""):
                return value
    for env_name in env_names:
        if environ.get(env_name):
            return environ[env_name]
    return None

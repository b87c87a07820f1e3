"""At start-up, one log line that tells the operator the truth: what the plugin serves, or exactly what is missing.

The plugin is imported while the proxy reads its config, before ``files_settings`` and ``model_list`` are loaded,
so the line is written by a task that waits for them (never holding up start-up, never failing it). Settings are
resolved as a call would resolve them; credentials are loaded (not used); the bucket is read once in a worker,
in the background.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Any

from ..cloud import credentials
from ..core import settings as settings_mod
from ..core.errors import ConfigurationError, VertexBatchError
from .call_context import files_settings_entry
from .deployments import _router_model_list, invalid_prices, served_deployments
from .online import online_calls_on
from .routing import default_on

log = logging.getLogger("litellm_vertex_batch")


def serving_line(version: str, provider_names: frozenset[str]) -> tuple[int, str]:
    """(log level, the line): what the plugin serves, or what is missing and where to set it."""
    try:
        s = settings_mod.resolve({}, files_settings_entry(), os.environ)
    except ConfigurationError as exc:
        return logging.ERROR, (f"litellm-vertex-batch is NOT ready on LiteLLM {version}: {exc.message}. Files and "
                               "batches calls answer an error naming it until it is set; every other provider works.")
    problems = []
    for setting, source in (("vertex_credentials", s.vertex_credentials), ("gcs_path_service_account",
                                                                          s.gcs_credentials)):
        try:
            credentials.load(source, setting)
        except ConfigurationError as exc:
            problems.append(f"{exc.message}{f' ({exc.detail})' if exc.detail else ''}")
    names = ", ".join(sorted(provider_names)) + (" and calls naming no provider" if default_on() else "")
    deployments = "; ".join(f"{d.model_name} -> {d.model}" for d in served_deployments()) or "none"
    native = settings_mod.option(files_settings_entry(), settings_mod.NATIVE_STORAGE_SETTING,
                                 "LITELLM_VERTEX_BATCH_NATIVE_STORAGE")
    text = (f"litellm-vertex-batch active on LiteLLM {version}: serves custom-llm-provider {names}; files in "
            f"gs://{s.bucket}/{s.prefix}; Vertex AI project {s.project} in {s.location}; deployments: {deployments}; "
            f"online calls on vertex_batch/ deployments {'on' if online_calls_on() else 'off'}; Vertex-native "
            f"routes /v1/projects/{{project}}/locations/{{location}}/batchPredictionJobs "
            f"({'storage: ' + str(native) if native else 'no native_storage: native creates are refused'})")
    if problems:
        return logging.ERROR, text + ". But: " + "; ".join(problems)
    return logging.INFO, text


def configure_worker_processes() -> str:
    """Set how many worker processes convert uploads and rewrite outputs (``cloud/processes.py``) from
    ``files_settings`` ``worker_processes`` (or ``LITELLM_VERTEX_BATCH_WORKER_PROCESSES``), and say what was set.
    They start with the first large job (each loads LiteLLM: seconds of CPU a proxy that never gets one saves)."""
    from ..cloud import processes

    value = settings_mod.option(files_settings_entry(), settings_mod.WORKER_PROCESSES_SETTING,
                                "LITELLM_VERTEX_BATCH_WORKER_PROCESSES")
    try:
        count = None if value in (None, "") else int(str(value).strip())
        if count is not None and count < 0:
            raise ValueError(value)
    except ValueError:
        log.error("litellm-vertex-batch setting %s must be a whole number >= 0, got %r; using %d",
                  settings_mod.WORKER_PROCESSES_SETTING, value, processes.default_size())
        count = None
    processes.configure(count)
    if processes.size() == 0:
        return "uploads and output rewrites in threads of this proxy (worker_processes: 0)"
    return (f"uploads and output rewrites in {processes.size()} worker process(es) (started with the first large "
            "one)")


def _bucket_problem(s: settings_mod.Settings) -> str | None:
    """Whether the bucket can be listed with the gateway's credentials (one object at most)."""
    from ..cloud.gcs import GcsObjects

    try:
        next(iter(GcsObjects(s).list(s.prefix)), None)
    except VertexBatchError as exc:
        return exc.message
    except Exception as exc:  # noqa: BLE001 - a start-up check reports, never raises
        return f"{type(exc).__name__}: {exc}"
    return None


async def _sweep(s: settings_mod.Settings) -> None:
    """Remove what interrupted uploads and deletions left (a crash before this start included)."""
    from ..cloud.gcs import GcsObjects
    from ..cloud.store import Store
    from ..services.sweep import sweep

    try:
        await sweep(Store(GcsObjects(s)), s)
    except VertexBatchError as exc:
        log.warning("litellm-vertex-batch could not sweep gs://%s/%s: %s", s.bucket, s.prefix, exc.message)


def report_when_ready(version: str, provider_names: Callable[[], frozenset[str]],
                      timeout_seconds: float = 120.0) -> None:
    """Schedule the report on the proxy's event loop (nothing to do outside one)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return

    async def wait_and_report() -> None:
        deadline = loop.time() + timeout_seconds
        while not _router_model_list() and loop.time() < deadline:
            await asyncio.sleep(0.5)
        level, text = serving_line(version, provider_names())
        if level == logging.INFO:
            from . import background

            text += "; " + configure_worker_processes() + "; " + background.start()
        log.log(level, text)
        for refused in invalid_prices():
            log.error("litellm-vertex-batch refuses a price: %s (prices must be finite numbers >= 0); batches of "
                      "that model are priced without it, from LiteLLM's price map", refused)
        if level == logging.INFO:
            settings = settings_mod.resolve({}, files_settings_entry(), os.environ)
            try:
                problem = await asyncio.wait_for(asyncio.to_thread(_bucket_problem, settings), 30)
            except TimeoutError:
                problem = "no answer within 30 s"
            if problem:
                log.error("litellm-vertex-batch cannot read gs://%s/%s with its Cloud Storage credentials: %s",
                          settings.bucket, settings.prefix, problem)
            else:  # at once, whoever holds the worker's lease (a replica restarted after a crash included)
                await _sweep(settings)

    task: Any = loop.create_task(wait_and_report())
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


_tasks: set[Any] = set()

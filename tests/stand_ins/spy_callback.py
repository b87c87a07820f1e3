"""A spy LiteLLM callback for tests: appends every logging event, as JSON, to $SPY_LOG_PATH.

Named in a test proxy config under ``litellm_settings.callbacks`` as ``tests.stand_ins.spy_callback.spy``.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

_lock = threading.Lock()


def _plain(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


class SpyLogger(CustomLogger):
    def _record(self, event: str, kwargs: dict, response_obj: Any) -> None:
        path = os.environ.get("SPY_LOG_PATH")
        if not path:
            return
        slo = kwargs.get("standard_logging_object") or {}
        entry = {
            "event": event,
            "pid": os.getpid(),
            "call_type": kwargs.get("call_type"),
            "response_cost": kwargs.get("response_cost"),
            "model": kwargs.get("model"),
            "call_id": kwargs.get("litellm_call_id"),
            "batch_id": getattr(response_obj, "id", None),
            "batch_status": getattr(response_obj, "status", None),
            "slo": _plain({k: slo.get(k) for k in ("response_cost", "model", "prompt_tokens", "completion_tokens",
                                                   "total_tokens", "metadata", "request_tags", "call_type",
                                                   "custom_llm_provider", "end_user", "id")}),
        }
        with _lock, open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        self._record("success", kwargs, response_obj)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):  # noqa: ANN001
        self._record("failure", kwargs, response_obj)


spy = SpyLogger()

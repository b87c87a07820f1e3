"""Vertex batch output rows -> OpenAI batch output/error lines, and the usage they carry.

What every endpoint shares: custom_ids carried back, failed and never-run rows, the OpenAI line envelope,
batch usage totals. The response body itself is the endpoint adapter's (``core.endpoint.ResponseReader``).
Pure; no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .endpoint import ResponseReader, RowUsage
from .input_lines import CUSTOM_ID_KEY, CUSTOM_ID_TAG

_STATUS_JSON = re.compile(r"^(?P<reason>[^{]*?):?\s*(?P<json>\{.*\})\s*$", re.S)
_REASON_CODES = {"bad request": 400, "unauthorized": 401, "forbidden": 403, "not found": 404,
                 "too many requests": 429, "internal server error": 500, "service unavailable": 503,
                 "deadline exceeded": 504, "gateway timeout": 504}
_GOOGLE_STATUS_CODES = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
                        "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
                        "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499,
                        "INTERNAL": 500, "UNKNOWN": 500, "DATA_LOSS": 500, "UNIMPLEMENTED": 501,
                        "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}


@dataclass(frozen=True)
class ConvertedRow:
    custom_id: str
    line: dict[str, Any]
    ok: bool
    usage: RowUsage | None = None


def row_custom_id(row: Mapping[str, Any]) -> str | None:
    """The custom_id a Vertex output row carries back, or None if Vertex did not echo it."""
    value = row.get(CUSTOM_ID_KEY)
    if isinstance(value, str) and value.startswith(CUSTOM_ID_TAG):
        return value[len(CUSTOM_ID_TAG):]
    return None


def request_fingerprint(request: Any) -> str:
    """Key for matching an output row to its input by the echoed request, when the custom_id is missing."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _request_id() -> str:
    return "batch_req_" + secrets.token_hex(12)


def parse_row_status(status: str) -> tuple[int, str, str]:
    """A failed row's ``status`` text -> (HTTP status, Google's message, Google's status name)."""
    match = _STATUS_JSON.match(status)
    if match:
        try:
            error = json.loads(match.group("json")).get("error", {})
        except (json.JSONDecodeError, AttributeError):
            error = {}
        if isinstance(error, dict) and error:
            name = str(error.get("status") or "")
            code = error.get("code")
            code = code if isinstance(code, int) and 400 <= code < 600 else _GOOGLE_STATUS_CODES.get(name, 500)
            return code, str(error.get("message") or status), name
        reason = match.group("reason").strip().lower()
        return _REASON_CODES.get(reason, 500), status, ""
    reason = status.split(":", 1)[0].strip().lower()
    return _REASON_CODES.get(reason, 500), status, ""


def error_line(custom_id: str, status_code: int, message: str, code: str | None = None) -> dict[str, Any]:
    """An error-file line for a request that ran and failed (OpenAI keeps the HTTP envelope)."""
    error_type = "invalid_request_error" if status_code < 500 and status_code != 429 else "server_error"
    if status_code == 429:
        error_type = "rate_limit_error"
    return {"id": _request_id(), "custom_id": custom_id,
            "response": {"status_code": status_code, "request_id": None,
                         "body": {"error": {"message": message, "type": error_type, "param": None,
                                            "code": code or str(status_code)}}},
            "error": None}


def not_run_line(custom_id: str, code: str, message: str) -> dict[str, Any]:
    """An error-file line for a request that never ran (batch_cancelled, batch_expired, ...)."""
    return {"id": _request_id(), "custom_id": custom_id, "response": None,
            "error": {"code": code, "message": message}}


class RowConverter:
    """Turns one batch's Vertex rows into OpenAI lines, reading successful responses with its endpoint's reader."""

    def __init__(self, reader: ResponseReader, reported_model: str | None = None) -> None:
        self.reader = reader
        #: the model name a body reports: the model_list name the lines were routed by (an online call through
        #: the proxy answers with the name it was asked for), else the Vertex model's own
        self.reported_model = reported_model

    def convert(self, row: Mapping[str, Any], custom_id: str) -> ConvertedRow:
        status = row.get("status") or ""
        response = row.get("response")
        if status or not isinstance(response, dict):
            code, message, name = parse_row_status(status or "Vertex returned no response for this request")
            return ConvertedRow(custom_id, error_line(custom_id, code, message, name or None), ok=False)
        try:
            body, usage = self.reader.read(response)
        except Exception as exc:  # a row LiteLLM cannot read is reported, never dropped
            return ConvertedRow(custom_id, error_line(custom_id, 500, f"could not read Vertex's response: {exc}",
                                                      "response_transformation_error"), ok=False)
        if self.reported_model:
            body["model"] = self.reported_model
        line = {"id": _request_id(), "custom_id": custom_id,
                "response": {"status_code": 200, "request_id": body.get("id"), "body": body}, "error": None}
        return ConvertedRow(custom_id, line, ok=True, usage=usage)


def usage_totals(rows: Mapping[str, int]) -> dict[str, Any]:
    """OpenAI's batch ``usage`` object from summed counts."""
    return {"input_tokens": rows["input_tokens"],
            "input_tokens_details": {"cached_tokens": rows["cached_tokens"]},
            "output_tokens": rows["output_tokens"],
            "output_tokens_details": {"reasoning_tokens": rows["reasoning_tokens"]},
            "total_tokens": rows["input_tokens"] + rows["output_tokens"],
            # LiteLLM's BatchUsage also carries the chat names; fill them rather than leave zeros
            "prompt_tokens": rows["input_tokens"], "completion_tokens": rows["output_tokens"]}

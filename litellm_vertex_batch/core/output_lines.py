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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .carried import CUSTOM_ID_KEY, Carried
from .endpoint import ResponseReader, RowUsage

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


def request_fingerprint(row: Mapping[str, Any]) -> str:
    """Key for matching an output row to its input row by the request it echoes, when the custom_id is
    missing: ``request`` (Gemini rows), else the text-embedding instance (an input row is its own instance)."""
    request: Any = row.get("request")
    if request is None:
        instance = row.get("instance", row)
        request = {k: v for k, v in instance.items() if k != CUSTOM_ID_KEY} if isinstance(instance, Mapping) else None
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


def gemini_row_response(row: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A Gemini output row's ``response`` when the row succeeded."""
    response = row.get("response")
    return response if isinstance(response, dict) and not row.get("status") else None


class RowConverter:
    """Turns one batch's Vertex rows into OpenAI lines, reading successful responses with its endpoint's reader."""

    def __init__(self, reader: ResponseReader, reported_model: str | None = None,
                 row_response: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] = gemini_row_response) -> None:
        self.reader = reader
        #: the model name a body reports: the model_list name the lines were routed by (an online call through
        #: the proxy answers with the name it was asked for), else the Vertex model's own
        self.reported_model = reported_model
        self.row_response = row_response

    def convert(self, row: Mapping[str, Any], custom_id: str) -> ConvertedRow:
        return self.convert_group([(0, row)], Carried(custom_id))

    def convert_group(self, parts: list[tuple[int, Mapping[str, Any]]], carried: Carried) -> ConvertedRow:
        """One OpenAI line for the rows of one line, as (part index, row) in part order: an error line if a part
        failed."""
        custom_id = carried.custom_id
        responses = []
        for index, row in parts:
            response = self.row_response(row)
            if response is None:
                status = str(row.get("status") or "")
                code, message, name = parse_row_status(status or "Vertex returned no response for this request")
                if carried.count > 1:  # which element of the line's input failed
                    message = f"input[{index}]: {message}"
                return ConvertedRow(custom_id, error_line(custom_id, code, message, name or None), ok=False)
            responses.append(response)
        try:
            if len(responses) == 1 and not carried.option:
                body, usage = self.reader.read(responses[0])
            else:
                body, usage = self.reader.read_group(responses, carried.option)
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


class PartGroups:
    """Holds the parts of lines mapped to several rows until each line's last part is in (Vertex writes rows
    in no promised order). Memory holds only lines still incomplete; a part seen twice is dropped."""

    def __init__(self) -> None:
        self._parts: dict[str, tuple[Carried, dict[int, Mapping[str, Any]]]] = {}

    def add(self, row: Mapping[str, Any], carried: Carried) -> tuple[bool, list[tuple[int, Mapping[str, Any]]] | None]:
        """(whether the row is new, the line's (part index, row) pairs in part order once all are in)."""
        if carried.count == 1:
            return True, [(0, row)]
        line, parts = self._parts.setdefault(carried.custom_id, (carried, {}))
        if carried.index in parts:
            return False, None
        parts[carried.index] = row
        if len(parts) < line.count:
            return True, None
        del self._parts[carried.custom_id]
        return True, sorted(parts.items())

    def incomplete(self) -> list[tuple[Carried, list[tuple[int, Mapping[str, Any]]]]]:
        """The lines some of whose parts never came, with the parts that did (in part order)."""
        found = [(line, sorted(parts.items())) for _, (line, parts) in sorted(self._parts.items())]
        self._parts.clear()
        return found

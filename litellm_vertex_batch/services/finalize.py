"""Rewriting a finished job's predictions into one OpenAI output file and one error file, once.

Every input custom_id ends up exactly once across the two files: rows are matched by the custom_id
Vertex echoes back; a row without it is matched by its echoed request (exact fingerprint) among the
custom_ids not yet answered; a duplicate row (e.g. incremental prediction files) is dropped; an input
row with no prediction gets a "never ran" error line. A line mapped to several rows (an embeddings
``input`` array) is answered once all its rows are in, in input order, or goes to the error file when
one failed or never came. Streams throughout; memory holds the set of custom_ids and the rows of lines
still incomplete, not the rows. Blocking: the batch service runs it in a worker, over ``Objects``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

import orjson

from .. import adapters
from ..cloud.objects import Objects, Writer, read_lines
from ..core import ids, jsonl, layout, states
from ..core.carried import Carried, leading_carried, row_carried
from ..core.errors import VertexBatchError
from ..core.output_lines import PartGroups, RowConverter, not_run_line, request_fingerprint, usage_totals
from ..core.pricing import CostTally, price_info
from ..core.settings import Settings

log = logging.getLogger(__name__)
#: What the batch object needs of a finished job, kept in the result record.
FINISHED_JOB_FIELDS = ("name", "state", "createTime", "startTime", "endTime", "updateTime", "error", "completionStats",
                       "outputInfo")
_USAGE_KEYS = ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens")


class _LazyWriter:
    """A GCS file opened on the first line, so an empty error file is never created.

    Its id is derived from the batch, so a rewrite taken over from a replica that died writes the same
    object again instead of leaving a second file behind.
    """

    def __init__(self, objects: Objects, settings: Settings, token: str, filename: str, model: str,
                 owner: Mapping[str, str], created_at: int, expires_at: int | None) -> None:
        self.objects = objects
        self.token = token
        self.name = layout.file_object(settings, self.token)
        self.metadata = {"purpose": "batch_output", "filename": filename, "created_at": str(created_at),
                         "model": model, **owner}
        if expires_at is not None:
            self.metadata["expires_at"] = str(expires_at)
        self.lines = 0
        self._handle: Writer | None = None

    def write(self, line: Mapping[str, Any]) -> None:
        if self._handle is None:
            self._handle = self.objects.open_write(self.name, self.metadata)
        self._handle.write(jsonl.dumps_line_fast(line))
        self.lines += 1

    def close(self) -> str | None:
        if self._handle is None:
            return None
        self._handle.close()
        return ids.file_id(self.token)

    def discard(self) -> None:
        """Abandon the upload: closing would publish a partial file; an unfinished resumable upload never
        appears, and a complete file written by a replica that took over stays untouched."""
        if self._handle is not None:
            self._handle.discard()
        self._handle = None


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # what orjson refuses or reads differently, json decides (as before)
        return json.loads(raw)


def _parse_row(raw: bytes) -> dict[str, Any] | None:
    """One JSONL row as a dict; None for a blank line or anything else (unreadable rows are logged)."""
    if not raw.strip():
        return None
    try:
        row = _loads(raw) if not jsonl.has_long_digits(raw) else json.loads(raw)
    except json.JSONDecodeError:
        log.error("unreadable prediction row skipped: %.200r", raw)
        return None
    return row if isinstance(row, dict) else None


def _jsonl_rows(handle: IO[bytes]) -> Iterator[dict[str, Any]]:
    for raw in read_lines(handle):
        row = _parse_row(raw)
        if row is not None:
            yield row


def output_directory(objects: Objects, settings: Settings, record: Mapping[str, Any],
                     job: Mapping[str, Any]) -> str:
    """The object prefix of the job's predictions, from ``outputInfo`` when Vertex set it."""
    directory = (job.get("outputInfo") or {}).get("gcsOutputDirectory")
    base = objects.uri("")
    if isinstance(directory, str) and directory.startswith(base):
        return directory[len(base):].rstrip("/") + "/"
    return layout.vertex_output_prefix(settings, record["token"])


def finalize(objects: Objects, settings: Settings, record: Mapping[str, Any], job: Mapping[str, Any],
             finalizing_at: int) -> dict[str, Any]:
    """Write the output and error files for a finished job; return the result record (not yet stored)."""
    token = record["token"]
    model = record.get("model") or ""
    pending = _expected_custom_ids(objects, settings, record)
    endpoint = adapters.for_url(record.get("endpoint"))
    if endpoint is None:
        raise VertexBatchError(f"batch {record.get('id')} uses {record.get('endpoint')!r}, which this gateway no "
                               "longer serves")
    converter = RowConverter(endpoint.response_reader(model), record.get("deployment") or None,
                             endpoint.row_response)
    groups = PartGroups()
    tally = CostTally(price_info(model, record.get("price_overrides")))
    owner = record.get("owner") or {}
    created_at = int(time.time())
    lifetime = record.get("output_expires_after")
    expires_at = created_at + int(lifetime) if lifetime else None
    output = _LazyWriter(objects, settings, ids.derived_token(token, "output"), f"{ids.batch_id(token)}_output.jsonl",
                         model, owner, created_at, expires_at)
    errors = _LazyWriter(objects, settings, ids.derived_token(token, "error"), f"{ids.batch_id(token)}_error.jsonl",
                         model, owner, created_at, expires_at)
    totals = dict.fromkeys(_USAGE_KEYS, 0)
    counts = {"completed": 0, "failed": 0}

    def emit(parts: list[tuple[int, Mapping[str, Any]]], carried: Carried) -> None:
        pending.discard(carried.custom_id)
        converted = converter.convert_group(parts, carried)
        (output if converted.ok else errors).write(converted.line)
        counts["completed" if converted.ok else "failed"] += 1
        if converted.usage is not None:
            for key in _USAGE_KEYS:
                totals[key] += getattr(converted.usage, key)

    def take(row: Mapping[str, Any], carried: Carried) -> None:
        if carried.custom_id not in pending:
            return  # answered already: a duplicate row
        new, complete = groups.add(row, carried)
        if not new:
            return
        response = endpoint.row_response(row)
        if response is not None:  # Google bills every row it answered; failed rows cost nothing
            tally.add(endpoint.row_tokens(response))
        if complete is not None:
            emit(complete, carried)

    try:
        with tempfile.TemporaryFile() as unmatched:
            directory = output_directory(objects, settings, record, job)
            for info in sorted(objects.list(directory), key=lambda i: i.name):
                if not info.name.endswith(".jsonl"):
                    continue
                with objects.open_read(info.name) as handle:
                    for row in _jsonl_rows(handle):
                        carried = row_carried(row)
                        if carried is None:
                            unmatched.write(json.dumps(row).encode("utf-8") + b"\n")
                        else:
                            take(row, carried)
            if unmatched.tell():
                unmatched.seek(0)
                _match_by_request(objects, settings, record, pending, _jsonl_rows(unmatched), take)
        state = job.get("state", "")
        message = _not_run_message(state, job)
        for carried, parts in groups.incomplete():
            if any(endpoint.row_response(row) is None for _, row in parts):
                emit(parts, carried)  # a part failed: the error file gets Google's reason
            else:
                pending.discard(carried.custom_id)
                errors.write(not_run_line(carried.custom_id, states.not_run_code(state),
                                          f"{carried.count - len(parts)} of the {carried.count} inputs of this "
                                          f"request got no result. {message}"))
                counts["failed"] += 1
        for custom_id in sorted(pending):
            errors.write(not_run_line(custom_id, states.not_run_code(state), message))
            counts["failed"] += 1
        output_file_id = output.close()
        error_file_id = errors.close()
    except BaseException:
        output.discard()
        errors.discard()
        raise
    total = int(record.get("total", 0))
    return {"token": token, "output_file_id": output_file_id, "error_file_id": error_file_id,
            "request_counts": {"total": total, **counts}, "usage": usage_totals(totals),
            **tally.as_dict(),
            "finalizing_at": finalizing_at, "finalized_at": int(time.time()),
            "vertex_state": job.get("state"), "output_rows": output.lines, "error_rows": errors.lines,
            "files_expire_at": expires_at,
            # a finished job never changes: with this, the batch is served without asking Vertex again
            "job": {key: job[key] for key in FINISHED_JOB_FIELDS if key in job}}


def _expected_custom_ids(objects: Objects, settings: Settings, record: Mapping[str, Any]) -> set[str]:
    """Every custom_id of the batch's converted input, read from each row's first bytes (the whole row is parsed
    only when it does not start with its carried value)."""
    ids_: set[str] = set()
    with objects.open_read(layout.batch_input(settings, record["token"])) as handle:
        for raw in read_lines(handle):
            carried = leading_carried(raw)
            if carried is None:
                row = _parse_row(raw)
                carried = row_carried(row) if row is not None else None
            if carried is not None:
                ids_.add(carried.custom_id)
    return ids_


def _match_by_request(objects: Objects, settings: Settings, record: Mapping[str, Any], pending: set[str],
                      rows: Iterator[dict[str, Any]], take: Callable[[Mapping[str, Any], Carried], None]) -> None:
    """Match rows Vertex returned without their custom_id by the exact request they echo.

    Only requests still unanswered are candidates, so a row is never given a custom_id that already has
    a result; a row whose request matches nothing unanswered is logged and left out (never misattributed).
    """
    by_request: dict[str, list[Carried]] = {}
    with objects.open_read(layout.batch_input(settings, record["token"])) as handle:
        for row in _jsonl_rows(handle):
            carried = row_carried(row)
            if carried is not None and carried.custom_id in pending:
                by_request.setdefault(request_fingerprint(row), []).append(carried)
    for row in rows:
        candidates = by_request.get(request_fingerprint(row))
        if not candidates:
            log.error("batch %s: a prediction row matches no unanswered request; "
                      "its custom_id stays in the error file", ids.batch_id(record["token"]))
            continue
        take(row, candidates.pop(0))


def _not_run_message(state: str, job: Mapping[str, Any]) -> str:
    if state == "JOB_STATE_CANCELLED":
        return "This request was not run because the batch was cancelled."
    if state == "JOB_STATE_EXPIRED":
        return "This request was not run because the batch expired before it could start."
    error = (job.get("error") or {}).get("message")
    if state == "JOB_STATE_FAILED":
        return f"This request was not run because the batch failed: {error or 'no reason given'}"
    return "Vertex AI returned no result for this request."


"""OpenAI batch input lines -> Vertex batch input rows, with every problem named by line.

The rules every line follows whatever its endpoint (JSON, custom_id, method, url, one model, Vertex's import
rules); the body itself is the endpoint adapter's (``core.endpoint.Endpoint``). Pure; no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import jsonl
from .carried import CUSTOM_ID_KEY, carried_custom_id, parse_carried
from .endpoint import Endpoint, LineProblem, RowMapper
from .import_rules import MAX_LINE_NESTING, TypeTracker, nesting_problem, row_problems

MAX_LINES = 200_000
MAX_PROBLEMS = 50
_PROVIDER_PREFIXES = ("vertex_batch/", "vertex_ai/", "vertex_ai_beta/", "gemini/")
#: What a Vertex publisher model id looks like (``gemini-2.5-flash``, ``text-embedding-005@001``).
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


def bare_model(model: str) -> str:
    """``vertex_ai/gemini-2.5-flash`` or ``publishers/google/models/gemini-2.5-flash`` -> ``gemini-2.5-flash``."""
    for prefix in _PROVIDER_PREFIXES:
        if model.startswith(prefix):
            model = model[len(prefix):]
    return model.rsplit("/models/", 1)[-1]


def valid_model_name(model: str) -> bool:
    """Whether ``model`` (provider prefixes and ``publishers/.../models/`` allowed) can name a Vertex model."""
    return _MODEL_NAME.fullmatch(bare_model(model)) is not None


@dataclass(frozen=True)
class ResolvedModel:
    """What a line's ``body.model`` names on this gateway: the Vertex model to run, the ``model_list``
    name it was resolved through (an operator alias), or why it cannot run as a Vertex batch."""

    model: str | None
    deployment: str | None = None
    problem: str | None = None


def as_named(model: str) -> ResolvedModel:
    """No gateway to ask (library use, unit tests): the name is the Vertex model."""
    return ResolvedModel(model)


@dataclass
class InputSummary:
    """What a valid input file holds: the model, endpoint and line count the batch will need."""

    #: the Vertex (Gemini) model the lines resolve to
    model: str | None = None
    endpoint: str | None = None
    #: the model_list name the lines' body.model was resolved through, if any
    deployment: str | None = None
    lines: int = 0
    #: what the batch job's ``modelParameters`` must hold (a text-embedding batch's one output size)
    model_parameters: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0

    def add(self, line_no: int | None, problem: str, custom_id: object = None) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            self.more_problems += 1
            return
        where = f"line {line_no}" if line_no is not None else "file"
        if isinstance(custom_id, str):
            where += f" (custom_id {custom_id!r})"
        self.problems.append(f"{where}: {problem}")

    def message(self) -> str:
        text = "Invalid batch input file:\n" + "\n".join(self.problems)
        if self.more_problems:
            text += f"\n... and {self.more_problems} more problems"
        return text


def iter_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) for each non-blank line: CRLF, a UTF-8 BOM and no final newline accepted."""
    pending = b""
    line_no = 0
    first = True
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for raw in complete:
            line_no += 1
            if first:
                raw, first = raw.removeprefix(b"\xef\xbb\xbf"), False
            if raw.strip():
                yield line_no, raw.rstrip(b"\r")
    if first:
        pending = pending.removeprefix(b"\xef\xbb\xbf")
    if pending.strip():
        yield line_no + 1, pending.rstrip(b"\r")


def _custom_id_of(raw: bytes) -> object:
    """The custom_id of a line that is not otherwise read (to name it), or None."""
    try:
        entry = jsonl.loads(raw)
    except (ValueError, RecursionError):
        return None
    return entry.get("custom_id") if isinstance(entry, dict) else None


def _row_custom_id(row: Mapping[str, Any]) -> str | None:
    """The custom_id a row carries, to name its line in a problem."""
    carried = parse_carried(row.get(CUSTOM_ID_KEY))
    return carried.custom_id if carried else None


class InputConverter:
    """Validates OpenAI lines one at a time and yields their Vertex rows; problems pile up in ``summary``.

    ``model`` is the deployment's model, when the batch is routed to one; otherwise each line's
    ``body.model`` names it (all lines alike) and ``resolve_model`` says what it is on this gateway (an
    operator's model_list alias, a Vertex model, or neither).
    """

    def __init__(self, endpoints: Mapping[str, Endpoint], model: str | None = None,
                 resolve_model: Callable[[str], ResolvedModel] = as_named) -> None:
        self.endpoints = endpoints
        self.summary = InputSummary(model=bare_model(model) if model else None)
        self._resolve_model = resolve_model
        self._line_model: str | None = None
        self._fixed_model = model is not None
        self._seen_ids: set[str] = set()
        self._types = TypeTracker()
        self._mappers: dict[str, RowMapper] = {}
        #: row shapes whose first line passed the import rules: every line of that shape passes them alike
        self._clean_shapes: set[bytes] = set()
        #: whether the last line's rows were built from its input's parsed values only (no NaN can be in them)
        self._proven = False

    def convert(self, line_no: int, raw: bytes) -> list[dict[str, Any]] | None:
        """The line's Vertex rows, or None when it has a problem (added to ``summary``)."""
        summary = self.summary
        summary.lines += 1
        if summary.lines > MAX_LINES:
            if summary.lines == MAX_LINES + 1:
                summary.add(line_no, f"more than {MAX_LINES} requests (Vertex's limit per batch job)",
                            _custom_id_of(raw))
            return None
        try:
            entry = jsonl.loads_fast(raw)
        except UnicodeDecodeError as exc:
            summary.add(line_no, f"not valid UTF-8 ({exc.reason} at byte {exc.start})")
            return None
        except json.JSONDecodeError as exc:
            summary.add(line_no, f"not valid JSON ({exc.msg} at column {exc.colno})")
            return None
        except ValueError as exc:  # NaN / Infinity / a number that overflows / an over-long integer
            summary.add(line_no, f"not valid JSON ({exc})")
            return None
        except RecursionError:
            summary.add(line_no, f"nests objects and arrays more than {MAX_LINE_NESTING} levels deep")
            return None
        if not isinstance(entry, dict):
            summary.add(line_no, "must be a JSON object")
            return None
        custom_id = entry.get("custom_id")
        problem = self._shape_problem(raw, entry) or self._entry_problem(entry, custom_id)
        if problem:
            summary.add(line_no, problem, custom_id)
            return None
        assert isinstance(custom_id, str)  # _entry_problem refused anything else
        self._seen_ids.add(custom_id)
        try:
            rows, shape = self._mapper(entry["url"]).rows(carried_custom_id(custom_id), entry["body"])
        except LineProblem as exc:  # what the model cannot do, in the adapter's words
            summary.add(line_no, str(exc), custom_id)
            return None
        except Exception as exc:  # LiteLLM's mapping refuses what it cannot express
            summary.add(line_no, f"cannot be mapped to a Vertex request: {exc}", custom_id)
            return None
        self._proven = shape is not None
        if shape is not None and shape in self._clean_shapes:
            return rows
        problems = [reason for row in rows for reason in row_problems(row) + self._types.conflicts(row, line_no)]
        for reason in problems:
            summary.add(line_no, reason, custom_id)
        if shape is not None and not problems:
            self._clean_shapes.add(shape)
        return rows

    def encoded(self, line_no: int, raw: bytes) -> list[bytes]:
        """The line's Vertex rows as JSON lines; [] when the line has a problem (added to ``summary``)."""
        rows = self.convert(line_no, raw)
        if not rows:
            return []
        dump = jsonl.dumps_line_fast if self._proven else jsonl.dumps_line
        encoded = []
        for row in rows:
            try:
                encoded.append(dump(row))
            except UnicodeEncodeError as exc:
                self.summary.add(line_no, f"contains an unpaired surrogate escape ({exc.object[exc.start]!a}), "
                                          "which is not valid Unicode", _row_custom_id(row))
                return []
            except ValueError as exc:  # a value LiteLLM's mapping made non-finite
                self.summary.add(line_no, f"maps to a request JSON cannot carry ({exc})", _row_custom_id(row))
                return []
        return encoded

    def _mapper(self, url: str) -> RowMapper:
        mapper = self._mappers.get(url)
        if mapper is None:
            mapper = self._mappers[url] = self.endpoints[url].row_mapper(self.summary.model or "")
        return mapper

    @staticmethod
    def _shape_problem(raw: bytes, entry: dict[str, Any]) -> str | None:
        """Problems of the line as written, checked only when its bytes make them possible (cheap)."""
        if raw.count(b"{") + raw.count(b"[") > MAX_LINE_NESTING:
            problem = nesting_problem(entry)
            if problem:
                return problem
        if raw.count(b'"custom_id"') > 1 and jsonl.top_level_keys(raw).count("custom_id") > 1:
            return "custom_id is given more than once in this line"
        return None

    def _entry_problem(self, entry: dict[str, Any], custom_id: object) -> str | None:
        if "custom_id" not in entry:
            return "custom_id is missing"
        if not isinstance(custom_id, str) or not custom_id:
            return "custom_id must be a non-empty string"
        if custom_id in self._seen_ids:
            return "custom_id is a duplicate (each custom_id must be unique in the file)"
        if entry.get("method") != "POST":
            return f"method must be \"POST\", got {entry.get('method')!r}"
        url = entry.get("url")
        endpoint = self.endpoints.get(url) if isinstance(url, str) else None
        if endpoint is None:
            return f"url {url!r} is not supported (supported: {', '.join(sorted(self.endpoints))})"
        if self.summary.endpoint is None:
            self.summary.endpoint = url
        elif url != self.summary.endpoint:
            return f"url {url!r} differs from {self.summary.endpoint!r} on earlier lines (one endpoint per batch)"
        body = entry.get("body")
        if not isinstance(body, dict):
            return "body must be a JSON object"
        return endpoint.body_problem(body) or self._model_problem(body.get("model"))

    def _model_problem(self, model: object) -> str | None:
        if self._fixed_model:
            return None
        if model is None or model == "":
            return "body.model is missing (one model per batch, named on every line)"
        if not isinstance(model, str):
            return f"body.model must be a string, got {type(model).__name__}"
        if self._line_model is None:
            resolved = self._resolve_model(model)
            if resolved.problem or not resolved.model:
                return resolved.problem or f"body.model {model!r} is not a Vertex AI model"
            if not _MODEL_NAME.fullmatch(bare_model(resolved.model)):
                return f"body.model {model!r} is not a valid Vertex AI model name"
            self._line_model = model
            self.summary.model, self.summary.deployment = bare_model(resolved.model), resolved.deployment
        elif model != self._line_model and bare_model(model) != bare_model(self._line_model):
            return (f"body.model {model!r} differs from {self._line_model!r} on earlier lines "
                    "(a Vertex batch runs one model)")
        return None

    def finish(self) -> InputSummary:
        if self.summary.lines == 0:
            self.summary.add(None, "the file has no requests")
        for mapper in self._mappers.values():
            self.summary.model_parameters = mapper.model_parameters() or self.summary.model_parameters
        return self.summary

"""OpenAI batch input lines -> Vertex batch input rows, with every problem named by line.

The request mapping is LiteLLM's own (``get_optional_params`` + ``transform_request_body``, the code a live
``litellm.completion(model="vertex_ai/...")`` runs), so a batch line maps exactly like an online call.
Pure apart from LiteLLM's transformation; no I/O.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from . import jsonl
from .import_rules import MAX_LINE_NESTING, TypeTracker, inline_schema_refs, nesting_problem, row_problems

SUPPORTED_URLS = frozenset({"/v1/chat/completions"})
#: Key on every Vertex row that carries the OpenAI custom_id; Vertex echoes extra top-level keys.
CUSTOM_ID_KEY = "custom_id"
#: Prefix that keeps the carried value a string even when the custom_id looks numeric ("000123").
CUSTOM_ID_TAG = "cid:"
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


def carried_custom_id(custom_id: str) -> str:
    return CUSTOM_ID_TAG + custom_id


def _optional_params(model: str, body: dict[str, Any]) -> dict[str, Any]:
    from litellm.types.utils import all_litellm_params
    from litellm.utils import get_optional_params

    named = inspect.signature(get_optional_params).parameters
    # LiteLLM's own params (metadata, ...) never reach the provider online either
    skip = {"model", "messages", *all_litellm_params}
    params = {k: v for k, v in body.items() if k not in skip and v is not None}
    explicit = {k: v for k, v in params.items() if k in named}
    extra = {k: v for k, v in params.items() if k not in named}
    return dict(get_optional_params(model=model, custom_llm_provider="vertex_ai", **explicit, **extra))


def openai_body_to_vertex_request(body: dict[str, Any], model: str) -> dict[str, Any]:
    """A chat.completions request body -> a Vertex GenerateContentRequest, as LiteLLM maps online calls."""
    from litellm.llms.base_llm.base_utils import map_developer_role_to_system_role
    from litellm.llms.vertex_ai.gemini.transformation import transform_request_body

    request = transform_request_body(
        messages=map_developer_role_to_system_role(body.get("messages") or []),
        model=model,
        optional_params=_optional_params(model, body),
        custom_llm_provider="vertex_ai",
        litellm_params={},
        cached_content=None,
    )
    return inline_schema_refs(dict(request))


def openai_line_to_vertex_row(entry: dict[str, Any], model: str) -> dict[str, Any]:
    """One OpenAI batch input line -> one Vertex input row carrying its custom_id."""
    return {CUSTOM_ID_KEY: carried_custom_id(entry["custom_id"]),
            "request": openai_body_to_vertex_request(entry["body"], model)}


@dataclass
class InputSummary:
    """What a valid input file holds: the model, endpoint and line count the batch will need."""

    model: str | None = None
    endpoint: str | None = None
    lines: int = 0
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


class InputConverter:
    """Validates OpenAI lines one at a time and yields their Vertex rows; problems pile up in ``summary``.

    ``model`` is the deployment's model, when the batch is routed to one; otherwise each line's
    ``body.model`` names it and all lines must agree.
    """

    def __init__(self, model: str | None = None, known_model: Callable[[str], bool] | None = None) -> None:
        self.summary = InputSummary(model=bare_model(model) if model else None)
        self._known_model = known_model
        self._fixed_model = model is not None
        self._seen_ids: set[str] = set()
        self._types = TypeTracker()

    def convert(self, line_no: int, raw: bytes) -> dict[str, Any] | None:
        summary = self.summary
        summary.lines += 1
        if summary.lines > MAX_LINES:
            if summary.lines == MAX_LINES + 1:
                summary.add(line_no, f"more than {MAX_LINES} requests (Vertex's limit per batch job)")
            return None
        try:
            text = raw.decode("utf-8")
            entry = jsonl.loads(text)
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
        problem = self._shape_problem(raw, text, entry) or self._entry_problem(entry, custom_id)
        if problem:
            summary.add(line_no, problem, custom_id)
            return None
        self._seen_ids.add(custom_id)
        try:
            row = openai_line_to_vertex_row(entry, summary.model or "")
        except Exception as exc:  # LiteLLM's mapping refuses what it cannot express
            summary.add(line_no, f"cannot be mapped to a Vertex request: {exc}", custom_id)
            return None
        for reason in row_problems(row) + self._types.conflicts(row, line_no):
            summary.add(line_no, reason, custom_id)
        return row

    @staticmethod
    def _shape_problem(raw: bytes, text: str, entry: dict[str, Any]) -> str | None:
        """Problems of the line as written, checked only when its bytes make them possible (cheap)."""
        if raw.count(b"{") + raw.count(b"[") > MAX_LINE_NESTING:
            problem = nesting_problem(entry)
            if problem:
                return problem
        if raw.count(b'"custom_id"') > 1 and jsonl.top_level_keys(text).count("custom_id") > 1:
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
        if url not in SUPPORTED_URLS:
            return f"url {url!r} is not supported (supported: {', '.join(sorted(SUPPORTED_URLS))})"
        if self.summary.endpoint is None:
            self.summary.endpoint = url
        elif url != self.summary.endpoint:
            return f"url {url!r} differs from {self.summary.endpoint!r} on earlier lines (one endpoint per batch)"
        body = entry.get("body")
        if not isinstance(body, dict):
            return "body must be a JSON object"
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return "body.messages must be a non-empty list"
        return self._model_problem(body.get("model"))

    def _model_problem(self, model: object) -> str | None:
        if self._fixed_model:
            return None
        if model is None or model == "":
            return "body.model is missing (one model per batch, named on every line)"
        if not isinstance(model, str):
            return f"body.model must be a string, got {type(model).__name__}"
        if not _MODEL_NAME.fullmatch(bare_model(model)):
            return f"body.model {model!r} is not a valid Vertex AI model name"
        model = bare_model(model)
        if self.summary.model is None:
            if self._known_model is not None and not self._known_model(model):
                return (f"body.model {model!r} is not a Vertex AI model this gateway knows (not in LiteLLM's "
                        f"model map; an operator can add it to model_list as vertex_batch/{model})")
            self.summary.model = model
        elif model != self.summary.model:
            return (f"body.model {model!r} differs from {self.summary.model!r} on earlier lines "
                    "(a Vertex batch runs one model)")
        return None

    def finish(self) -> InputSummary:
        if self.summary.lines == 0:
            self.summary.add(None, "the file has no requests")
        return self.summary

"""Pure request helpers for the Vertex emulator: create-body validation and list filters."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

JOB_FIELDS = {"name", "displayName", "model", "modelVersionId", "unmanagedContainerModel", "inputConfig",
              "instanceConfig", "modelParameters", "outputConfig", "dedicatedResources", "serviceAccount",
              "manualBatchTuningParameters", "generateExplanation", "explanationSpec", "outputInfo", "state",
              "error", "partialFailures", "resourcesConsumed", "completionStats", "createTime", "startTime",
              "endTime", "updateTime", "labels", "encryptionSpec", "modelMonitoringConfig",
              "disableContainerLogging", "satisfiesPzs", "satisfiesPzi"}
LABEL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
FREE_FORM = {"labels", "modelParameters"}


def camel(obj: Any, skip: bool = False) -> Any:
    """proto3 JSON accepts snake_case field names too: normalise them (not inside free-form maps)."""
    if isinstance(obj, list):
        return [camel(x) for x in obj]
    if not isinstance(obj, dict) or skip:
        return obj
    out = {}
    for key, value in obj.items():
        new = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)
        out[new] = camel(value, skip=new in FREE_FORM)
    return out


def validate_create(body: dict, project: str, location: str) -> str | None:
    """Return an INVALID_ARGUMENT message, or None."""
    unknown = sorted(set(body) - JOB_FIELDS)
    if unknown:
        return f'Invalid JSON payload received. Unknown name "{unknown[0]}" at \'batch_prediction_job\': Cannot find field.'
    if not body.get("displayName"):
        return "List of found errors:\t1.Field: batch_prediction_job.display_name; Message: Required field is not set."
    if not body.get("model"):
        return "List of found errors:\t1.Field: batch_prediction_job.model; Message: Required field is not set."
    inp = body.get("inputConfig") or {}
    if inp.get("instancesFormat") != "jsonl" or "gcsSource" not in inp:
        return "inputConfig must have instancesFormat \"jsonl\" and gcsSource (emulator supports GCS JSONL only)."
    uris = (inp.get("gcsSource") or {}).get("uris") or []
    if not uris or not all(isinstance(u, str) and u.startswith("gs://") and "/" in u[5:] for u in uris):
        return "inputConfig.gcsSource.uris must be a non-empty list of gs://bucket/object URIs."
    out = body.get("outputConfig") or {}
    prefix = (out.get("gcsDestination") or {}).get("outputUriPrefix")
    if out.get("predictionsFormat") != "jsonl" or not isinstance(prefix, str) or not prefix.startswith("gs://"):
        return "outputConfig must have predictionsFormat \"jsonl\" and gcsDestination.outputUriPrefix gs://..."
    labels = body.get("labels") or {}
    if not isinstance(labels, dict) or len(labels) > 64:
        return "labels must be a map of at most 64 entries."
    for key, value in labels.items():
        if not LABEL_RE.match(key) or not isinstance(value, str) or not LABEL_VALUE_RE.match(value):
            return f"Invalid label {key!r}={value!r}: lowercase letters, digits, '_' and '-', <= 63 chars."
    return None


def filter_fn(expr: str) -> Callable[[dict], bool]:
    """Compile an AIP-160 filter as Vertex's list takes it: terms like ``state=X``, ``display_name="y"``,
    ``labels.k=v``, ``create_time>"..."``, joined by ``AND`` / ``OR`` (AND binds tighter), ``NOT``, parentheses."""
    tokens = re.findall(r'\(|\)|[^\s()"]*"[^"]*"|[^\s()]+', expr)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def disjunction() -> Callable[[dict], bool]:
        parts = [conjunction()]
        while (peek() or "").upper() == "OR":
            take()
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else (lambda r, ps=parts: any(p(r) for p in ps))

    def conjunction() -> Callable[[dict], bool]:
        parts = [unary()]
        while peek() is not None and peek() != ")" and (peek() or "").upper() != "OR":
            if (peek() or "").upper() == "AND":
                take()
            parts.append(unary())
        return parts[0] if len(parts) == 1 else (lambda r, ps=parts: all(p(r) for p in ps))

    def unary() -> Callable[[dict], bool]:
        token = peek()
        if token is None:
            raise ValueError("Unsupported filter: it ends early")
        if token.upper() == "NOT":
            take()
            inner = unary()
            return lambda r: not inner(r)
        if token == "(":
            take()
            inner = disjunction()
            if peek() != ")":
                raise ValueError("Unsupported filter: unbalanced parentheses")
            take()
            return inner
        term = take()
        operator = r"(!=|>=|<=|=|>|<|:)"
        if not re.search(operator, term) and peek() is not None and re.fullmatch(operator, peek() or ""):
            term += take()  # "key = value" written with spaces
        if re.search(operator + "$", term) and peek() not in (None, "(", ")"):
            term += take()
        return _term(term)

    if not expr.strip():
        return lambda r: True
    compiled = disjunction()
    if pos != len(tokens):
        raise ValueError(f"Unsupported filter: unexpected {tokens[pos]!r}")
    return compiled


def _term(term: str) -> Callable[[dict], bool]:
    m = re.match(r'^\s*([A-Za-z_.0-9-]+)\s*(!=|>=|<=|=|>|<|:)\s*(.*?)\s*$', term)
    if not m:
        raise ValueError(f"Unsupported filter term: {term!r}")
    key, op, value = m.group(1), m.group(2), m.group(3).strip('"')
    if key == "state":
        getter = lambda r: r.get("state")  # noqa: E731
    elif key in ("display_name", "displayName"):
        getter = lambda r: r.get("displayName")  # noqa: E731
    elif key in ("create_time", "createTime", "update_time", "updateTime"):
        field = "createTime" if key.startswith("create") else "updateTime"
        getter = lambda r, f=field: r.get(f)  # noqa: E731
    elif key.startswith("labels."):
        getter = lambda r, k=key[7:]: (r.get("labels") or {}).get(k)  # noqa: E731
    else:
        raise ValueError(f"Unsupported filter field: {key!r}")
    ops = {"=": lambda a, b: a == b, ":": lambda a, b: a == b or (b == "*" and a is not None),
           "!=": lambda a, b: a != b, ">": lambda a, b: a is not None and a > b,
           "<": lambda a, b: a is not None and a < b, ">=": lambda a, b: a is not None and a >= b,
           "<=": lambda a, b: a is not None and a <= b}
    return lambda r, g=getter, o=ops[op], v=value: o(g(r), v)

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
    """Compile ``state=X AND display_name="y" AND labels.k=v AND create_time>"..."`` into a predicate."""
    tests = []
    for term in re.split(r"\s+AND\s+", expr.strip(), flags=re.I) if expr.strip() else []:
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
        tests.append(lambda r, g=getter, o=ops[op], v=value: o(g(r), v))
    return lambda r: all(t(r) for t in tests)

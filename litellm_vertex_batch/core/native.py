"""The rules of Vertex-native ``batchPredictionJobs`` calls made through the gateway. Pure; no I/O.

A caller sends Google's own request bodies with a LiteLLM key. The gateway decides, from operator
configuration only: which deployment the body's ``model`` names, whether the URL's project and location are
that deployment's, which Cloud Storage locations this caller may have the gateway's service account read and
write (``native_storage``), and who owns a job. Ownership is two Vertex labels set on create (a caller cannot set
or remove them), so a job needs nothing stored beside it to be isolated: lists are filtered on Vertex's side by
label, and a job without the caller's label does not exist for that caller (Google's 404).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .access import Caller

#: ``projects/P/locations/L/publishers/google/models/M``, ``publishers/google/models/M`` or ``M``.
_MODEL_REF = re.compile(r"^(?:projects/([^/]+)/locations/([^/]+)/)?(?:publishers/google/models/)?"
                        r"([A-Za-z0-9][A-Za-z0-9._@-]{0,127})$")
OWNER_LABEL = "litellm_owner"
TEAM_LABEL = "litellm_team"
#: Labels only the gateway writes (a caller's labels with these keys are refused).
RESERVED_LABEL_PREFIX = "litellm_"
JOB_ID = re.compile(r"^[0-9]{1,30}$")


def model_parts(ref: object) -> tuple[str | None, str | None, str] | None:
    """(project, location, model) of a body's ``model``; None when it is not a Google publisher model."""
    if not isinstance(ref, str):
        return None
    match = _MODEL_REF.fullmatch(ref.strip())
    return (match.group(1), match.group(2), match.group(3)) if match else None


def label_value(text: str) -> str:
    """A Vertex label value (lowercase hex, 40 characters) standing for ``text``: key hashes and team ids have
    characters and lengths labels do not allow."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


def owner_labels(caller: Caller) -> dict[str, str]:
    labels = {}
    if caller.key_hash:
        labels[OWNER_LABEL] = label_value(caller.key_hash)
    if caller.team_id:
        labels[TEAM_LABEL] = label_value(caller.team_id)
    return labels


def may_see(job: Mapping[str, Any], caller: Caller, team_access: bool) -> bool:
    """Whether ``caller`` may see a job (its creator's key, its team when team_access is on, or an admin)."""
    if caller.is_admin:
        return True
    labels = job.get("labels") or {}
    if not isinstance(labels, Mapping):
        return False
    if caller.key_hash and labels.get(OWNER_LABEL) == label_value(caller.key_hash):
        return True
    return bool(team_access and caller.team_id and labels.get(TEAM_LABEL) == label_value(caller.team_id))


def visibility_filter(caller: Caller, team_access: bool) -> str | None:
    """The Vertex list filter term that shows only the jobs ``caller`` may see (None: everything, for admins)."""
    if caller.is_admin:
        return None
    if team_access and caller.team_id:
        return f'labels.{TEAM_LABEL}="{label_value(caller.team_id)}"'
    return f'labels.{OWNER_LABEL}="{label_value(caller.key_hash or "")}"'


def combined_filter(caller_filter: str | None, own: str | None) -> str | None:
    """The caller's filter AND the visibility term (parenthesised, so the caller's OR cannot widen it)."""
    caller_filter = (caller_filter or "").strip()
    if not own:
        return caller_filter or None
    return f"({caller_filter}) AND {own}" if caller_filter else own


def labels_problem(labels: object) -> str | None:
    if labels is None:
        return None
    if not isinstance(labels, Mapping):
        return "labels must be a map of strings"
    reserved = sorted(k for k in labels if isinstance(k, str) and k.startswith(RESERVED_LABEL_PREFIX))
    if reserved:
        return f"label keys starting with {RESERVED_LABEL_PREFIX!r} are reserved by the gateway: {', '.join(reserved)}"
    return None


def storage_patterns(entries: Iterable[str], caller: Caller, key_alias: str | None) -> list[str]:
    """The operator's ``native_storage`` entries for this caller: ``{team_id}``/``{key_alias}`` filled in; an
    entry whose placeholder the caller has no value for does not apply to it."""
    found = []
    for entry in entries:
        text = str(entry).strip()
        if not text.startswith("gs://"):
            continue
        values = {"{team_id}": caller.team_id, "{key_alias}": key_alias}
        if any(placeholder in text and not value for placeholder, value in values.items()):
            continue
        for placeholder, value in values.items():
            if value:
                text = text.replace(placeholder, _path_safe(value))
        found.append(text if text.endswith("/") else text + "/")
    return found


def _path_safe(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", value)


def storage_problem(uri: object, allowed: list[str], forbidden: list[str]) -> str | None:
    """Why ``uri`` may not be named by this caller, or None. A location is allowed only under an allowed prefix
    (whole path segments), never under the gateway's own prefix, and never with ``..`` segments."""
    if not isinstance(uri, str) or not uri.startswith("gs://") or len(uri) <= len("gs://"):
        return f"{uri!r} is not a Cloud Storage URI (gs://bucket/path)"
    if any(part in ("..", ".") for part in uri[len("gs://"):].split("/")):
        return f"{uri!r} has relative path segments"
    wildcard = min((i for i in (uri.find("*"), uri.find("?")) if i >= 0), default=-1)
    # what the URI can reach: everything under its fixed part (a wildcard reaches whatever follows it)
    reach = uri[:wildcard] if wildcard >= 0 else (uri if uri.endswith("/") else uri + "/")
    if any(reach.startswith(prefix) or prefix.startswith(reach) for prefix in forbidden):
        return f"{uri!r} is inside the gateway's own storage"
    if not any(reach.startswith(prefix) for prefix in allowed):
        return f"{uri!r} is not a location this key may use"
    return None


def job_storage(body: Mapping[str, Any]) -> tuple[list[Any], Any, str | None]:
    """(input URIs, output prefix, problem) of a create body; only Cloud Storage input and output are served."""
    input_config = body.get("inputConfig") or {}
    output_config = body.get("outputConfig") or {}
    if not isinstance(input_config, Mapping) or not isinstance(output_config, Mapping):
        return [], None, "inputConfig and outputConfig must be objects"
    if "bigquerySource" in input_config or "bigqueryDestination" in output_config:
        return [], None, "only Cloud Storage input and output (gcsSource, gcsDestination) are served by this gateway"
    source = input_config.get("gcsSource") or {}
    destination = output_config.get("gcsDestination") or {}
    uris = source.get("uris") if isinstance(source, Mapping) else None
    prefix = destination.get("outputUriPrefix") if isinstance(destination, Mapping) else None
    if not isinstance(uris, list) or not uris:
        return [], prefix, "inputConfig.gcsSource.uris must list at least one gs:// URI"
    if not prefix:
        return uris, prefix, "outputConfig.gcsDestination.outputUriPrefix is required"
    return uris, prefix, None

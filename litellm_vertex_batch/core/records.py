"""What replicas share through the bucket: the records' schema, read and written here and nowhere else.

Each JSON record carries ``v`` (its schema version). Records written before versions existed (``v`` absent,
schema 0) load as version 1: the fields are the same, so loading only fills what older writers left out.
A record from a *newer* writer is refused rather than half-understood.

    batches/<token>.json        BatchRecord   what was asked at create time, and the Vertex job's name
    batch-results/<token>.json  BatchResult   written once, when the output has been rewritten
    charges/<token>.json        ChargeRecord  written once the cost has been logged
    locks/<token>.*             Claim         a lease: who holds it since when
    files/<token>               FileMetadata  the object metadata of a file (strings, as Cloud Storage keeps them)
    deleted/<token>.json        FileTombstone who deleted a file, when (its own retries succeed for a while)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict, cast

from .errors import VertexBatchError

SCHEMA_VERSION = 1


class BatchRecord(TypedDict, total=False):
    v: int
    token: str
    id: str
    input_file_id: str
    input_token: str
    endpoint: str
    completion_window: str
    metadata: dict[str, str] | None
    model: str
    #: the model_list name the batch was routed by (output bodies report it as online answers do)
    deployment: str | None
    created_at: int
    total: int
    project: str
    location: str
    job_name: str | None
    creator: dict[str, Any]
    owner: dict[str, str]
    cancelling_at: int | None
    price_overrides: dict[str, float]
    create_error: dict[str, Any]
    failed_at: int
    #: seconds after their creation the batch's output and error files expire (``output_expires_after``)
    output_expires_after: int | None
    #: set when Vertex answered 404 for the batch's job (deleted at Google): when, and what the batch says
    job_lost: dict[str, Any]


class BatchResult(TypedDict, total=False):
    v: int
    token: str
    output_file_id: str | None
    error_file_id: str | None
    request_counts: dict[str, int]
    usage: dict[str, Any]
    cost: float
    prompt_cost: float
    completion_cost: float
    finalizing_at: int
    finalized_at: int
    vertex_state: str | None
    output_rows: int
    error_rows: int
    #: when the output and error files expire (None: they do not)
    files_expire_at: int | None
    #: the finished job's name, state, times, error and stats (absent in results written before)
    job: dict[str, Any]


class ChargeRecord(TypedDict, total=False):
    v: int
    charged_at: float
    cost: float


class Claim(TypedDict, total=False):
    v: int
    claimed_at: float


class FileTombstone(TypedDict, total=False):
    v: int
    deleted_at: float
    owner: dict[str, str]


class FileMetadata(TypedDict, total=False):
    purpose: str
    filename: str
    created_at: str
    model: str
    endpoint: str
    lines: str
    owner_key_hash: str
    owner_team_id: str
    owner_user_id: str


_REQUIRED: Mapping[str, tuple[str, ...]] = {
    "batch": ("token", "id", "input_file_id", "endpoint", "created_at"),
    "result": ("token", "request_counts"),
}
_BATCH_DEFAULTS: Mapping[str, Any] = {"completion_window": "24h", "metadata": None, "total": 0, "job_name": None,
                                      "creator": {}, "owner": {}, "cancelling_at": None, "price_overrides": {}}


def _loaded(kind: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise VertexBatchError(f"stored {kind} record is not a JSON object")
    version = raw.get("v", 0)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise VertexBatchError(f"stored {kind} record has schema version {version!r}; this plugin reads up to "
                               f"{SCHEMA_VERSION} (a newer replica wrote it)")
    missing = [key for key in _REQUIRED.get(kind, ()) if key not in raw]
    if missing:
        raise VertexBatchError(f"stored {kind} record lacks {', '.join(missing)}")
    return {**raw, "v": SCHEMA_VERSION}


def load_batch(raw: Any) -> BatchRecord:
    return cast(BatchRecord, {**_BATCH_DEFAULTS, **_loaded("batch", raw)})


def load_result(raw: Any) -> BatchResult:
    return cast(BatchResult, _loaded("result", raw))


def load_charge(raw: Any) -> ChargeRecord:
    return cast(ChargeRecord, _loaded("charge", raw))


def load_claim(raw: Any) -> Claim:
    return cast(Claim, _loaded("claim", raw))


def load_tombstone(raw: Any) -> FileTombstone:
    return cast(FileTombstone, _loaded("tombstone", raw))


def dump(record: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON to store, stamped with the current schema version."""
    return {**record, "v": SCHEMA_VERSION}

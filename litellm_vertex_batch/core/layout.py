"""Object names in the bucket. Everything a replica needs lives under ``Settings.prefix``:

    files/<token>                  a file as the user sees it (input as uploaded, or batch output);
                                   its metadata holds purpose, filename, model, endpoint, line count
    vertex-input/<token>.jsonl     the Vertex rows of an input file
    batch-input/<token>.jsonl      the batch's own copy of its Vertex rows (the input file may be deleted)
    batches/<token>.json           a batch record: what was asked at create time and the Vertex job
    vertex-output/<token>/         where Vertex writes the job's predictions
    batch-results/<token>.json     written once, when the output has been rewritten
    locks/<token>.finalize         claim of the replica rewriting the output
    locks/<token>.charge           claim of the replica logging the batch's cost
    charges/<token>.json           written once the cost has been logged
    deleted/<token>.json           a deleted file's tombstone: its owner, so the deleter's own retry succeeds
    open/<token>.json              index of batches not yet finalized and charged (what the worker reads)
    open-native/<key>.json         index of Vertex-native jobs made through the gateway, not yet charged
    locks/worker.sweep             lease of the replica whose background worker sweeps this prefix
    expiry/<at>-<kind>-<token>.json  what expires when (``core/expiry.py``), in time order
    webhooks/<webhook id>.json     the webhook outbox (``services/webhooks.py``)
"""

from __future__ import annotations

from .settings import Settings


def file_object(s: Settings, token: str) -> str:
    return f"{s.prefix}files/{token}"


def files_prefix(s: Settings) -> str:
    return f"{s.prefix}files/"


def vertex_input(s: Settings, token: str) -> str:
    return f"{s.prefix}vertex-input/{token}.jsonl"


def batch_input(s: Settings, token: str) -> str:
    return f"{s.prefix}batch-input/{token}.jsonl"


def batch_record(s: Settings, token: str) -> str:
    return f"{s.prefix}batches/{token}.json"


def batches_prefix(s: Settings) -> str:
    return f"{s.prefix}batches/"


def vertex_output_prefix(s: Settings, token: str) -> str:
    return f"{s.prefix}vertex-output/{token}/"


def batch_result(s: Settings, token: str) -> str:
    return f"{s.prefix}batch-results/{token}.json"


def finalize_lock(s: Settings, token: str) -> str:
    return f"{s.prefix}locks/{token}.finalize"


def token_from_name(name: str, prefix: str, suffix: str = "") -> str:
    return name[len(prefix):len(name) - len(suffix) if suffix else None]


def charge_lock(s: Settings, token: str) -> str:
    return f"{s.prefix}locks/{token}.charge"


def charge_record(s: Settings, token: str) -> str:
    return f"{s.prefix}charges/{token}.json"


def deleted_file(s: Settings, token: str) -> str:
    return f"{s.prefix}deleted/{token}.json"


def uploads_prefix(s: Settings) -> str:
    """Leases of uploads in flight: the index the sweep reads to find what an interrupted upload left."""
    return f"{s.prefix}uploads/"


def upload_lease(s: Settings, token: str) -> str:
    return f"{uploads_prefix(s)}{token}.json"


def staged_upload(s: Settings, token: str) -> str:
    """An upload's own bytes, stored beside its conversion, until they are copied to the file object."""
    return f"{uploads_prefix(s)}{token}.jsonl"


def deleted_prefix(s: Settings) -> str:
    return f"{s.prefix}deleted/"


def open_batches_prefix(s: Settings) -> str:
    """The index of unfinished batches: the background worker lists it (never every batch record)."""
    return f"{s.prefix}open/"


def open_batch(s: Settings, token: str) -> str:
    return f"{open_batches_prefix(s)}{token}.json"


def open_native_prefix(s: Settings) -> str:
    """The index of Vertex-native jobs made through the gateway whose cost is not logged yet."""
    return f"{s.prefix}open-native/"


def open_native(s: Settings, key: str) -> str:
    return f"{open_native_prefix(s)}{key}.json"


def sweeper_lease(s: Settings) -> str:
    return f"{s.prefix}locks/worker.sweep"

"""Expiry as OpenAI does it: ``expires_after`` on ``files.create`` and ``output_expires_after`` on
``batches.create`` (``{"anchor": "created_at", "seconds": N}``, N from one hour to 30 days), and the index the
background worker reads to delete what expired.

Index entries are named ``expiry/<expires_at, 12 digits>-<kind>-<token>.json``, so a listing is in time order and
a pass stops at the first entry still in the future. Kinds: ``file`` (a file: its object and converted rows) and
``raw`` (a finalized batch's Vertex predictions and its copy of the converted input, by operator setting).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequest
from .settings import Settings

#: OpenAI's bounds on ``seconds``: one hour to 30 days.
MIN_SECONDS, MAX_SECONDS = 3600, 2_592_000
FILE, RAW = "file", "raw"


def expires_after_seconds(value: Any, field: str) -> int | None:
    """The seconds of an ``expires_after``-shaped parameter, or None when it is not given; a 400 naming the field
    when it is not one OpenAI accepts."""
    if value is None:
        return None
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid '{field}': expected an object with 'anchor' and 'seconds'.")
    if value.get("anchor") != "created_at":
        raise InvalidRequest(f"Invalid '{field}.anchor': expected 'created_at', got {value.get('anchor')!r}.")
    seconds = value.get("seconds")
    try:
        whole = int(str(seconds).strip())
    except (TypeError, ValueError):
        raise InvalidRequest(f"Invalid '{field}.seconds': expected an integer, got {seconds!r}.") from None
    if not MIN_SECONDS <= whole <= MAX_SECONDS:
        side, bound = ("below minimum", f">= {MIN_SECONDS}") if whole < MIN_SECONDS else \
            ("above maximum", f"<= {MAX_SECONDS}")
        raise InvalidRequest(f"Invalid '{field}.seconds': integer {side} value. Expected a value {bound}, but got "
                             f"{whole} instead.")
    return whole


def expiry_prefix(s: Settings) -> str:
    return f"{s.prefix}expiry/"


def entry_name(s: Settings, expires_at: int, kind: str, token: str) -> str:
    return f"{expiry_prefix(s)}{int(expires_at):012d}-{kind}-{token}.json"


def parse_entry(s: Settings, name: str) -> tuple[int, str, str] | None:
    """(expires_at, kind, token) of an index entry's name, or None for anything else."""
    stem = name[len(expiry_prefix(s)):].removesuffix(".json")
    at, _, rest = stem.partition("-")
    kind, _, token = rest.partition("-")
    if not at.isdigit() or kind not in (FILE, RAW) or not token:
        return None
    return int(at), kind, token


def expires_at(metadata: Mapping[str, str]) -> int | None:
    """When a file's object metadata says it expires (Unix seconds), None when it never does."""
    at = str(metadata.get("expires_at") or "")
    return int(at) if at.isdigit() else None


def expired(metadata: Mapping[str, str], now: float) -> bool:
    """Whether a file's object metadata says it has expired (it is answered 404 from then on)."""
    at = expires_at(metadata)
    return at is not None and at <= now

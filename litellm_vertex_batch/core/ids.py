"""Opaque, URL-safe ids for files and batches, and their strict parsing.

An id is a prefix and a 26-character token: 10 characters of *inverted* creation time, then 16 random
ones, in a base32 alphabet whose ASCII order is its numeric order. Object names in GCS are built from
the token, so listing a prefix returns newest first and ``after`` paging is a ``start_offset``.
Nothing else in the id (no bucket, no path) is trusted: an id that does not match exactly is not ours.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lowercase: sorted in ASCII
FILE_PREFIX = "file-vb"
BATCH_PREFIX = "batch_vb"
TOKEN_LEN = 26
_TIME_CHARS = 10
_TIME_MAX = 32**_TIME_CHARS - 1
_TOKEN_RE = re.compile(f"[{ALPHABET}]{{{TOKEN_LEN}}}")


def _encode(value: int, width: int) -> str:
    chars = []
    for _ in range(width):
        value, digit = divmod(value, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def _decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + ALPHABET.index(char)
    return value


_last_millis = 0
_clock_lock = threading.Lock()


def new_token(now: float | None = None) -> str:
    """A fresh token that sorts before every token made earlier (in this process strictly: two tokens in one
    millisecond take the next one; across processes to the millisecond)."""
    global _last_millis
    millis = int((time.time() if now is None else now) * 1000)
    if now is None:
        with _clock_lock:
            millis = _last_millis = max(millis, _last_millis + 1)
    random_part = _encode(secrets.randbits(80), TOKEN_LEN - _TIME_CHARS)
    return _encode(_TIME_MAX - millis, _TIME_CHARS) + random_part


def derived_token(token: str, purpose: str) -> str:
    """A token fixed by ``token`` and ``purpose``: whoever computes it (any replica, any retry) gets the same."""
    import hashlib

    digest = int.from_bytes(hashlib.sha256(f"{token}/{purpose}".encode()).digest()[:10], "big")
    return token[:_TIME_CHARS] + _encode(digest, TOKEN_LEN - _TIME_CHARS)


def token_created_at(token: str) -> int:
    """Unix seconds at which the token was made."""
    return (_TIME_MAX - _decode(token[:_TIME_CHARS])) // 1000


def file_id(token: str) -> str:
    return FILE_PREFIX + token


def batch_id(token: str) -> str:
    return BATCH_PREFIX + token


def parse_file_id(value: object) -> str | None:
    """The token of a file id this plugin issued, or None for anything else."""
    return _parse(value, FILE_PREFIX)


def parse_batch_id(value: object) -> str | None:
    """The token of a batch id this plugin issued, or None for anything else."""
    return _parse(value, BATCH_PREFIX)


def _parse(value: object, prefix: str) -> str | None:
    if not isinstance(value, str) or len(value) != len(prefix) + TOKEN_LEN or not value.startswith(prefix):
        return None
    token = value[len(prefix):]
    return token if _TOKEN_RE.fullmatch(token) else None


#: fixed for ever: charge ids made by every release and replica must agree
_CHARGE_NAMESPACE = uuid.UUID("5d0c3f0e-8a4b-5b7e-9a51-6c1f2f0b7a11")


def charge_id(kind: str, key: str) -> str:
    """The logging call id of the one charge for a batch (``kind`` "batch", ``key`` its id) or a Vertex-native job
    ("job", its resource name): the same on every replica and every retry, so that a re-delivery after a crash is
    the same event to LiteLLM (its spend log is keyed by it) and to every callback that looks."""
    return str(uuid.uuid5(_CHARGE_NAMESPACE, f"{kind}:{key}"))

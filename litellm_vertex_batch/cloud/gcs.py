"""Cloud Storage: the plugin's only store. google-cloud-storage is synchronous, so every call here is
either sync (run by callers in a worker thread) or an ``a``-prefixed wrapper that uses ``asyncio.to_thread``.
Files move as streams (resumable uploads, chunked reads); nothing is read whole except small records.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import IO, Any

from ..core.errors import NotFound, TransientError, UpstreamError, VertexBatchError, without_storage_names
from ..core.settings import Settings

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_clients: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    size: int
    created: float
    metadata: dict[str, str]


def _client(settings: Settings) -> Any:
    from google.cloud import storage

    key = (settings.project, settings.gcs_endpoint, json.dumps(settings.gcs_credentials, sort_keys=True, default=str))
    with _lock:
        if key not in _clients:
            from google.auth.credentials import AnonymousCredentials

            from . import credentials

            anonymous = bool(settings.gcs_endpoint) and not settings.gcs_credentials  # an emulator, no credentials
            creds = AnonymousCredentials() if anonymous else credentials.load(settings.gcs_credentials,
                                                                              "gcs_path_service_account")
            options = {"api_endpoint": settings.gcs_endpoint} if settings.gcs_endpoint else None
            _clients[key] = storage.Client(project=settings.project, credentials=creds, client_options=options,
                                           use_auth_w_custom_endpoint=not anonymous)
        return _clients[key]


def _translate(exc: BaseException) -> UpstreamError:
    """The one mapping from google-cloud-storage failures to the plugin's errors (Google's status kept)."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.RetryError):  # retries ran out: report the last failure, not the retry wrapper
        last = _translate(exc.cause) if exc.cause is not None else TransientError("Cloud Storage", 503)
        return type(last)(f"{last.message} (gave up retrying: {exc.message})", last.status_code)
    if isinstance(exc, gexc.GoogleAPICallError):
        code = exc.code or 500
        message = getattr(exc, "message", None) or str(exc)
        cls = TransientError if code in (429, 500, 502, 503, 504) else UpstreamError
        return cls(f"Cloud Storage: {message}", int(code))
    if "timeout" in type(exc).__name__.lower() or isinstance(exc, TimeoutError):
        return TransientError(f"Cloud Storage did not answer in time ({type(exc).__name__})", 504)
    return TransientError(f"Cloud Storage unreachable: {exc!r}", 503)


class Bucket:
    """The plugin's view of its bucket; every method is synchronous and may raise ``UpstreamError``."""

    def __init__(self, settings: Settings) -> None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.settings = settings
        self._bucket = _client(settings).bucket(settings.bucket)
        # transient failures are retried with google-cloud-storage's jittered backoff, but only so long
        self._opts = {"retry": DEFAULT_RETRY.with_deadline(settings.retry_seconds),
                      "timeout": settings.timeout_seconds}

    def uri(self, name: str) -> str:
        return f"gs://{self.settings.bucket}/{name}"

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from google.api_core import exceptions as gexc

        try:
            return fn(*args, **kwargs)
        except gexc.NotFound as exc:
            raise self._safe(NotFound(f"Cloud Storage object not found: {getattr(exc, 'message', exc)}")) from exc
        except VertexBatchError:
            raise
        except Exception as exc:
            raise self._safe(_translate(exc)) from exc

    def _safe(self, err: VertexBatchError) -> VertexBatchError:
        """The error with the bucket's and objects' names taken out of Google's message (clients read it)."""
        err.message = without_storage_names(err.message, self.settings.bucket)
        err.args = (err.message,)
        return err

    def upload(self, name: str, source: IO[bytes], metadata: dict[str, str] | None = None,
               content_type: str = "application/jsonl") -> int:
        """Stream ``source`` into ``name``; the object appears only when the upload completes."""
        blob = self._bucket.blob(name, chunk_size=8 * CHUNK)
        blob.metadata = metadata
        try:
            self._call(blob.upload_from_file, source, content_type=content_type, rewind=True, **self._opts)
        except NotFound as exc:
            # the session is gone: either its last answer was lost after the object was stored (then the
            # object is there, whole), or the upload really failed (transient, not "no such file")
            stored = self.info(name)
            source.seek(0, 2)
            if stored is not None and stored.size == source.tell():
                return stored.size
            raise TransientError(f"Cloud Storage lost an upload: {exc.message}", 503) from exc
        return int(blob.size or 0)

    def write_json(self, name: str, value: Any, metadata: dict[str, str] | None = None,
                   only_if_absent: bool = False, if_generation: int | None = None) -> bool:
        """Write a small JSON record; False when the precondition (absent / that generation) does not hold."""
        blob = self._bucket.blob(name)
        blob.metadata = metadata
        try:
            self._call(blob.upload_from_string, json.dumps(value),
                       content_type="application/json", if_generation_match=0 if only_if_absent else if_generation,
                       **self._opts)
        except UpstreamError as err:
            if err.status_code == 412:
                return False
            raise
        return True

    def claim(self, name: str, lease_seconds: float) -> bool:
        """Take the lease object ``name``: True if it was free, or held longer than ``lease_seconds`` ago."""
        now = time.time()
        if self.write_json(name, {"claimed_at": now}, only_if_absent=True):
            return True
        found = self.read_json(name)
        if found is None:
            return self.write_json(name, {"claimed_at": now}, only_if_absent=True)
        held, generation = found
        if now - float(held.get("claimed_at", 0)) < lease_seconds:
            return False
        log.warning("taking over %s, held since %s (its holder stopped)", name,
                    held.get("claimed_at"))
        return self.write_json(name, {"claimed_at": now}, if_generation=generation)

    def read_json(self, name: str) -> tuple[Any, int] | None:
        """(record, generation), or None when it does not exist."""
        blob = self._bucket.blob(name)
        try:
            data = self._call(blob.download_as_bytes, **self._opts)
        except NotFound:
            return None
        return json.loads(data), int(blob.generation or 0)

    def info(self, name: str) -> ObjectInfo | None:
        blob = self._bucket.blob(name)
        try:
            self._call(blob.reload, **self._opts)
        except NotFound:
            return None
        return _object_info(blob)

    def list(self, prefix: str, start_offset: str | None = None, limit: int | None = None) -> Iterator[ObjectInfo]:
        try:
            for blob in self._bucket.list_blobs(prefix=prefix, start_offset=start_offset or None,
                                                max_results=limit, **self._opts):
                yield _object_info(blob)
        except VertexBatchError:
            raise
        except Exception as exc:
            raise self._safe(_translate(exc)) from exc

    def delete(self, name: str) -> bool:
        try:
            self._call(self._bucket.blob(name).delete, **self._opts)
        except NotFound:
            return False
        return True

    def copy(self, source: str, destination: str) -> None:
        """Server-side copy (no bytes pass through the proxy)."""
        self._call(self._bucket.copy_blob, self._bucket.blob(source), self._bucket, destination, **self._opts)

    def open_read(self, name: str) -> IO[bytes]:
        return self._call(self._bucket.blob(name).open, "rb", chunk_size=CHUNK, **self._opts)

    def open_write(self, name: str, metadata: dict[str, str] | None = None,
                   content_type: str = "application/jsonl") -> IO[bytes]:
        blob = self._bucket.blob(name)
        blob.metadata = metadata
        return self._call(blob.open, "wb", chunk_size=8 * CHUNK, content_type=content_type, **self._opts)

    async def astream(self, name: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks, each read in a worker thread."""
        handle = await asyncio.to_thread(self.open_read, name)
        try:
            while True:
                chunk = await asyncio.to_thread(self._call, handle.read, CHUNK)
                if not chunk:
                    break
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)


def _object_info(blob: Any) -> ObjectInfo:
    created = blob.time_created.timestamp() if blob.time_created else 0.0
    return ObjectInfo(name=blob.name, size=int(blob.size or 0), created=created, metadata=dict(blob.metadata or {}))

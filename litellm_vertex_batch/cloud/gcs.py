"""Cloud Storage behind the blocking ``Objects`` interface, with google-cloud-storage.

Transient failures are retried with google-cloud-storage's jittered backoff for at most ``retry_seconds``;
every failure becomes one of the plugin's errors with Google's status kept and the bucket's and objects'
names taken out of the message (clients read it). Files move as streams (resumable uploads, chunked reads).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import IO, Any

from ..core.errors import (
    TRANSIENT_STATUS,
    NotFound,
    TransientError,
    UpstreamError,
    VertexBatchError,
    without_storage_names,
)
from ..core.settings import Settings
from .objects import ObjectInfo

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_clients: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


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
        code = int(exc.code or 500)
        message = getattr(exc, "message", None) or str(exc)
        cls = TransientError if code in TRANSIENT_STATUS else UpstreamError
        return cls(f"Cloud Storage: {message}", code)
    response = getattr(exc, "response", None)  # google-resumable-media's InvalidResponse (downloads, uploads)
    if response is not None and isinstance(getattr(response, "status_code", None), int):
        code = int(response.status_code)
        cls = TransientError if code in TRANSIENT_STATUS else UpstreamError
        return cls(f"Cloud Storage: {_google_message(response)}", code)
    if "timeout" in type(exc).__name__.lower() or isinstance(exc, TimeoutError):
        return TransientError(f"Cloud Storage did not answer in time ({type(exc).__name__})", 504)
    return TransientError(f"Cloud Storage unreachable: {exc!r}", 503)


def _google_message(response: Any) -> str:
    """Google's own error message from an HTTP response body, else its text."""
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    except Exception:  # not JSON: fall back to the text
        pass
    return str(getattr(response, "text", "") or getattr(response, "reason", "") or "error")[:500]


class GcsObjects:
    """One bucket of Cloud Storage; every method blocks and raises only the plugin's errors."""

    def __init__(self, settings: Settings, bucket: str | None = None) -> None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.settings = settings
        self.bucket = bucket or settings.bucket
        self._bucket = _client(settings).bucket(self.bucket)
        self._upload_chunk = settings.upload_chunk_mib * CHUNK
        # transient failures are retried with google-cloud-storage's jittered backoff, but only so long
        self._opts = {"retry": DEFAULT_RETRY.with_deadline(settings.retry_seconds),
                      "timeout": settings.timeout_seconds}

    def uri(self, name: str) -> str:
        return f"gs://{self.bucket}/{name}"

    def recipe(self) -> tuple[Any, tuple[Any, ...]]:
        """How a worker process opens the same bucket (``cloud/processes.py``)."""
        return GcsObjects, (self.settings, self.bucket)

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
        err.message = without_storage_names(err.message, self.bucket)
        err.args = (err.message,)
        return err

    def info(self, name: str) -> ObjectInfo | None:
        blob = self._bucket.blob(name)
        try:
            self._call(blob.reload, **self._opts)
        except NotFound:
            return None
        return _object_info(blob)

    def read_bytes(self, name: str) -> tuple[bytes, int] | None:
        blob = self._bucket.blob(name)
        try:
            data = self._call(blob.download_as_bytes, **self._opts)
        except NotFound:
            return None
        return data, int(blob.generation or 0)

    def write_bytes(self, name: str, data: bytes, metadata: dict[str, str] | None = None,
                    content_type: str = "application/json", if_generation: int | None = None) -> bool:
        blob = self._bucket.blob(name)
        blob.metadata = metadata
        try:
            self._call(blob.upload_from_string, data, content_type=content_type, if_generation_match=if_generation,
                       **self._opts)
        except UpstreamError as err:
            if err.status_code == 412:
                return False
            raise
        return True

    def delete(self, name: str) -> bool:
        try:
            self._call(self._bucket.blob(name).delete, **self._opts)
        except NotFound:
            return False
        return True

    def copy(self, source: str, destination: str, metadata: dict[str, str] | None = None) -> None:
        if metadata is None:
            self._call(self._bucket.copy_blob, self._bucket.blob(source), self._bucket, destination, **self._opts)
            return
        # a rewrite takes the destination's metadata from the request; in one location and storage class it is
        # done in one call, else it is resumed with the token Google gives until it is
        target = self._bucket.blob(destination)
        target.metadata, target.content_type = metadata, "application/jsonl"
        token = None
        while True:
            token, _, _ = self._call(target.rewrite, self._bucket.blob(source), token=token, **self._opts)
            if token is None:
                return

    def list(self, prefix: str, start_offset: str | None = None) -> Iterator[ObjectInfo]:
        try:
            for blob in self._bucket.list_blobs(prefix=prefix, start_offset=start_offset or None, **self._opts):
                yield _object_info(blob)
        except VertexBatchError:
            raise
        except Exception as exc:
            raise self._safe(_translate(exc)) from exc

    def upload(self, name: str, source: IO[bytes], metadata: dict[str, str] | None = None,
               content_type: str = "application/jsonl") -> int:
        """Stream ``source`` into ``name``; the object appears only when the upload completes."""
        blob = self._bucket.blob(name, chunk_size=self._upload_chunk)
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

    def open_read(self, name: str) -> IO[bytes]:
        handle = self._call(self._bucket.blob(name).open, "rb", chunk_size=CHUNK, **self._opts)
        return io.BufferedReader(_Reader(handle, self), CHUNK)

    def open_write(self, name: str, metadata: dict[str, str] | None = None,
                   content_type: str = "application/jsonl") -> _Writer:
        blob = self._bucket.blob(name)
        blob.metadata = metadata
        return _Writer(self._call(blob.open, "wb", chunk_size=self._upload_chunk, content_type=content_type,
                                  **self._opts), self, self._upload_chunk)


class _Reader(io.RawIOBase):
    """A blob reader whose failures are the plugin's errors."""

    def __init__(self, handle: Any, objects: GcsObjects) -> None:
        super().__init__()
        self._handle, self._objects = handle, objects

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._objects._call(self._handle.read, size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._objects._call(self._handle.close)
        super().close()


class _Writer:
    """A resumable upload: the object appears on ``close``; ``discard`` abandons it (nothing appears).

    Written behind: data gathers to one upload chunk, which a thread sends while the caller produces the next
    (the caller waits only when the one before is still on its way), so converting rows and sending them
    overlap instead of taking turns. About three chunks are held: the caller's pieces filling the next one, and
    the one in flight in google-cloud-storage's own buffer and in the copy of it that its request sends (each piece
    handed over is let go as soon as that buffer holds it).
    """

    def __init__(self, handle: Any, objects: GcsObjects, chunk_size: int) -> None:
        self._handle: Any = handle
        self._objects = objects
        self._chunk_size = chunk_size
        #: the caller's pieces since the last hand-over (kept as given: no copy, no growing buffer)
        self._filling: list[bytes] = []
        self._filled = 0
        self._in_flight: threading.Thread | None = None
        self._failure: BaseException | None = None

    def write(self, data: bytes) -> int:
        self._filling.append(bytes(data))
        self._filled += len(data)
        if self._filled >= self._chunk_size:
            self._wait()
            chunk, self._filling, self._filled = self._filling, [], 0
            self._in_flight = threading.Thread(target=self._send, args=(chunk,), daemon=True,
                                               name="litellm-vertex-batch-upload")
            self._in_flight.start()
        return len(data)

    def _send(self, pieces: list[bytes]) -> None:
        try:
            while pieces:  # each piece is let go once the upload's own buffer holds it
                self._objects._call(self._handle.write, pieces.pop(0))
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread by its next write or close
            self._failure = exc

    def _wait(self) -> None:
        """Wait for the chunk in flight; its failure is raised here (and again by every later call)."""
        if self._in_flight is not None:
            self._in_flight.join()
            self._in_flight = None
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Complete the upload (the object appears). When completing fails, the upload is abandoned: left as it
        was, garbage collection would close it again later, and publish it then."""
        if self._handle is not None:
            try:
                self._wait()
                self._send(self._filling)
                self._wait()
                self._objects._call(self._handle.close)
            except BaseException:
                self.discard()
                raise
            self._handle = None

    def discard(self) -> None:
        """Abandon the upload: its resumable session is cancelled, and its buffer closed so that garbage
        collection (which closes an unclosed file object, and closing publishes) can never publish it."""
        with contextlib.suppress(BaseException):
            self._wait()  # the chunk in flight must not race the cancellation
        self._filling, self._filled = [], 0
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            handle.terminate()  # DELETE of the session on Cloud Storage
        except Exception as exc:  # noqa: BLE001 - an abandoned session expires on its own within a week
            log.debug("could not cancel an abandoned upload: %r", exc)
        finally:
            buffer = getattr(handle, "_buffer", None)
            if buffer is not None and not buffer.closed:
                buffer.close()


def _object_info(blob: Any) -> ObjectInfo:
    created = blob.time_created.timestamp() if blob.time_created else 0.0
    return ObjectInfo(name=blob.name, size=int(blob.size or 0), created=created, metadata=dict(blob.metadata or {}),
                      generation=int(blob.generation or 0))

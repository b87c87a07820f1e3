"""The plugin's exceptions, and the one place they become LiteLLM/HTTP errors.

    VertexBatchError
     ├── InvalidRequest      400: the caller's input or parameters (names the line and the problem)
     ├── NotFound            404: an id this plugin did not issue, or that this caller may not see
     ├── Forbidden           403: a caller naming what its key may not use (storage, a model)
     ├── ConfigurationError  500: a missing or malformed setting (names the setting)
     └── UpstreamError       Google answered with an error (keeps Google's status and message)
          └── TransientError 429/5xx/timeouts after the retries ran out

Everything raised inside the plugin is one of these; ``edge.translate.to_litellm_error`` maps them, in one
place, to the LiteLLM exception types the proxy turns into the right HTTP status.
"""

from __future__ import annotations

import re

#: Google statuses worth retrying (and reported as TransientError once the retries ran out).
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class VertexBatchError(Exception):
    status_code: int = 500
    #: Google's status name (``INVALID_ARGUMENT``...) when Google gave one
    reason: str | None = None

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled whole (status, reason, ...), so an error raised in a worker process arrives as it was raised."""
        return _rebuild, (type(self), self.message, dict(self.__dict__))


def _rebuild(cls: type[VertexBatchError], message: str, state: dict[str, object]) -> VertexBatchError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class InvalidRequest(VertexBatchError):
    status_code = 400


class NotFound(VertexBatchError):
    status_code = 404


class Forbidden(VertexBatchError):
    status_code = 403


def no_such_file(file_id: str) -> NotFound:
    """The one answer for a file that does not exist or that the caller may not see (same text for both)."""
    return NotFound(f"No such file: {file_id}")


def no_such_batch(batch_id: str) -> NotFound:
    """The one answer for a batch that does not exist or that the caller may not see (same text for both)."""
    return NotFound(f"No batch found with id '{batch_id}'.")


class ConfigurationError(VertexBatchError):
    """The gateway's own setting is missing or unusable. ``message`` names the setting and is safe for clients;
    ``detail`` (server file paths, Google's text) goes only to the proxy log."""

    status_code = 500

    def __init__(self, message: str, status_code: int | None = None, detail: str | None = None) -> None:
        super().__init__(message, status_code)
        self.detail = detail


class UpstreamError(VertexBatchError):
    """Google's error: ``status_code`` is Google's HTTP status, ``message`` Google's text."""


class TransientError(UpstreamError):
    """A retryable failure (429, 5xx, timeout, dropped connection) that outlasted the retries.

    ``ambiguous`` when no answer came back (timeout, dropped connection): the request may still have been
    carried out.
    """

    def __init__(self, message: str, status_code: int | None = None, ambiguous: bool = False) -> None:
        super().__init__(message, status_code)
        self.ambiguous = ambiguous


def without_storage_names(message: str, bucket: str) -> str:
    """``message`` with the gateway's bucket and object names (``gs://b/p/o``, ``b/p/o``, ``/b/b/o/p%2Fo``) taken
    out: a client is told what failed, never where the gateway keeps things."""
    if not bucket:
        return message
    pattern = r"(?:gs://)?(?<![\w.-])" + re.escape(bucket) + r"(?![\w.-])(?:/[^\s'\"<>]*)?"
    return re.sub(pattern, "<gateway storage>", message)

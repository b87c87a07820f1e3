"""The jobs proportional to a file's size, as worker processes run them (``cloud/processes.py``): each is
handed the ``Objects`` of its bucket first, then plain, picklable arguments.

* ``convert_to_object``: validate an upload and stream its Vertex rows into a resumable upload that is
  completed only when every line passed (nothing appears otherwise), the upload's own bytes stored beside it;
* ``finalize``: the output rewrite (``services/finalize.py``).
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Callable
from typing import IO, Any

from ..cloud.objects import Objects, Writer
from ..core.input_lines import InputSummary, ResolvedModel
from .files import convert_input
from .finalize import finalize

__all__ = ["convert_to_object", "finalize", "shared_path", "ModelTable"]


class ModelTable:
    """What the proxy resolved a batch's model name to, carried to a worker (which has no router to ask).
    Any other name raises ``UnknownModelName``: the proxy then converts the upload itself."""

    def __init__(self, resolved: dict[str, ResolvedModel]) -> None:
        self.resolved = resolved

    def __call__(self, name: str) -> ResolvedModel:
        if name not in self.resolved:
            raise UnknownModelName(name)
        return self.resolved[name]


class UnknownModelName(Exception):
    """A line names a model the proxy did not resolve in advance."""


class _Counting(io.RawIOBase):
    """Rows on their way into a resumable upload, counted (the converted size is limited, like the input)."""

    def __init__(self, writer: Writer) -> None:
        super().__init__()
        self._writer = writer
        self._written = 0
        #: set once the upload is abandoned: a late flush (garbage collection) must not write to it
        self.discarded = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.discarded:
            return len(data)
        self._writer.write(bytes(data))
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written


class _StoredBeside:
    """The upload's own bytes sent to ``name`` by a thread, read from a handle of its own while the conversion reads
    another: storing the file takes no time of its own after the conversion (both are mostly waiting on the
    network). The thread completes the object as soon as its bytes are sent (Cloud Storage assembles it while the
    rows are still being made); ``abandon`` stops it, and removes the object if it was completed already."""

    def __init__(self, objects: Objects, path: str, name: str) -> None:
        self._objects, self._name = objects, name
        self._writer = objects.open_write(name, {})
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._completed = False
        self._thread = threading.Thread(target=self._send, args=(path,), daemon=True,
                                        name="litellm-vertex-batch-store-upload")
        self._thread.start()

    def _send(self, path: str) -> None:
        try:
            with open(path, "rb") as handle:
                while not self._stop.is_set() and (chunk := handle.read(1024 * 1024)):
                    self._writer.write(chunk)
            if not self._stop.is_set():
                self._writer.close()
                self._completed = True
        except BaseException as exc:  # noqa: BLE001 - raised by ``finish`` in the converting thread
            self._failure = exc

    def finish(self) -> None:
        self._thread.join()
        if self._failure is not None:
            raise self._failure

    def abandon(self) -> None:
        self._stop.set()
        self._thread.join()
        self._writer.discard()
        if self._completed:
            with contextlib.suppress(Exception):  # the uploading process removes it again (its written names)
                self._objects.delete(self._name)


def convert_to_object(objects: Objects, source: IO[bytes] | str, rows_name: str, rows_metadata: dict[str, str],
                      model: str | None, resolve_model: Callable[[str], ResolvedModel],
                      stage_as: str | None = None) -> InputSummary:
    """Validate ``source`` (an open file, or a path) and stream its Vertex rows into ``rows_name``; the object
    appears only when every line passed (InvalidRequest lists the problems otherwise). With ``stage_as`` (and a
    path), the upload's bytes are stored there at the same time, and removed again when the rows fail."""
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open(source, "rb")) if isinstance(source, str) else source
        writer = objects.open_write(rows_name, rows_metadata)
        counting = _Counting(writer)
        rows = io.BufferedWriter(counting, 8 * 1024 * 1024)
        beside = _StoredBeside(objects, source, stage_as) if stage_as and isinstance(source, str) else None
        try:
            summary = convert_input(handle, rows, model, resolve_model)
            rows.flush()
            writer.close()
            if beside is not None:
                beside.finish()
        except BaseException:
            counting.discarded = True
            writer.discard()  # after a failed close too: nothing may appear later
            if beside is not None:
                beside.abandon()
            raise
    return summary


def shared_path(source: IO[bytes]) -> str | None:
    """A path another process can open to read ``source`` (its descriptor under Linux's ``/proc``), or None."""
    try:
        descriptor = source.fileno()  # a spooled upload still in memory is written to its temporary file here
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    path = f"/proc/{os.getpid()}/fd/{descriptor}"
    return path if os.path.exists(path) else None

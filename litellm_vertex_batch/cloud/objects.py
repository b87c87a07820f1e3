"""The blocking object-storage interface both backends implement (Cloud Storage and the in-memory fake).

Everything here blocks, and is called either through ``Store`` (which runs it off the event loop) or from a
worker that already is off it (the heavy jobs: converting uploads, rewriting outputs). Errors are the
plugin's own (``NotFound``, ``UpstreamError``, ``TransientError``), never a backend's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Protocol


@dataclass(frozen=True)
class ObjectInfo:
    name: str
    size: int
    created: float
    metadata: dict[str, str] = field(default_factory=dict)
    generation: int = 0


class Writer(Protocol):
    """A streamed upload: the object appears only on ``close``; ``discard`` abandons it (nothing appears)."""

    def write(self, data: bytes) -> int: ...
    def close(self) -> None: ...
    def discard(self) -> None: ...


class Objects(Protocol):
    """One bucket's objects."""

    bucket: str

    def uri(self, name: str) -> str: ...
    def info(self, name: str) -> ObjectInfo | None: ...
    def read_bytes(self, name: str) -> tuple[bytes, int] | None:
        """(content, generation), or None when absent; for small records only."""
    def write_bytes(self, name: str, data: bytes, metadata: dict[str, str] | None = None,
                    content_type: str = "application/json", if_generation: int | None = None) -> bool:
        """Write ``data``; False when ``if_generation`` does not hold (0: only if absent)."""
    def delete(self, name: str) -> bool: ...
    def copy(self, source: str, destination: str, metadata: dict[str, str] | None = None) -> None:
        """Server-side copy; ``metadata``, when given, replaces the source's on the copy."""
    def list(self, prefix: str, start_offset: str | None = None) -> Iterator[ObjectInfo]: ...
    def upload(self, name: str, source: IO[bytes], metadata: dict[str, str] | None = None,
               content_type: str = "application/jsonl") -> int:
        """Stream ``source`` (from its start) into ``name``; returns the size stored."""
    def open_read(self, name: str) -> IO[bytes]: ...
    def open_write(self, name: str, metadata: dict[str, str] | None = None,
                   content_type: str = "application/jsonl") -> Writer: ...


def read_lines(handle: IO[bytes], chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """The lines of ``handle`` (each ending in ``\\n`` but perhaps the last), read in large chunks.

    Readers such as google-cloud-storage's ``BlobReader`` have no ``readline``: iterating them directly reads
    one byte per call."""
    pending = b""
    while chunk := handle.read(chunk_size):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line + b"\n"
    if pending:
        yield pending


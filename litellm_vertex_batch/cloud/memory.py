"""An in-memory bucket with Cloud Storage's rules that matter here: generations, ``ifGenerationMatch``
preconditions (0 = only if absent), lexicographic listing with ``start_offset``, uploads that appear only
when complete. For unit tests of the services; thread-safe so heavy jobs may run in workers against it."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from ..core.errors import NotFound
from .objects import ObjectInfo


@dataclass
class _Stored:
    data: bytes
    metadata: dict[str, str]
    generation: int
    created: float = field(default_factory=time.time)


class MemoryObjects:
    def __init__(self, bucket: str = "memory-bucket") -> None:
        self.bucket = bucket
        self._objects: dict[str, _Stored] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def uri(self, name: str) -> str:
        return f"gs://{self.bucket}/{name}"

    def names(self) -> list[str]:
        """Every object name, sorted (for tests auditing what is left behind)."""
        with self._lock:
            return sorted(self._objects)

    def _put(self, name: str, data: bytes, metadata: dict[str, str] | None, if_generation: int | None) -> bool:
        with self._lock:
            current = self._objects.get(name)
            if if_generation is not None and (current.generation if current else 0) != if_generation:
                return False
            self._generation += 1
            self._objects[name] = _Stored(data, dict(metadata or {}), self._generation)
            return True

    def info(self, name: str) -> ObjectInfo | None:
        with self._lock:
            stored = self._objects.get(name)
            return None if stored is None else self._info(name, stored)

    @staticmethod
    def _info(name: str, stored: _Stored) -> ObjectInfo:
        return ObjectInfo(name=name, size=len(stored.data), created=stored.created, metadata=dict(stored.metadata),
                          generation=stored.generation)

    def read_bytes(self, name: str) -> tuple[bytes, int] | None:
        with self._lock:
            stored = self._objects.get(name)
            return None if stored is None else (stored.data, stored.generation)

    def write_bytes(self, name: str, data: bytes, metadata: dict[str, str] | None = None,
                    content_type: str = "application/json", if_generation: int | None = None) -> bool:
        return self._put(name, data, metadata, if_generation)

    def delete(self, name: str) -> bool:
        with self._lock:
            return self._objects.pop(name, None) is not None

    def copy(self, source: str, destination: str, metadata: dict[str, str] | None = None) -> None:
        found = self.read_bytes(source)
        if found is None:
            raise NotFound("Cloud Storage object not found")
        info = self.info(source)
        self._put(destination, found[0], metadata if metadata is not None else info.metadata if info else None, None)

    def list(self, prefix: str, start_offset: str | None = None) -> Iterator[ObjectInfo]:
        with self._lock:
            found = [self._info(n, s) for n, s in sorted(self._objects.items())
                     if n.startswith(prefix) and (start_offset is None or n >= start_offset)]
        yield from found

    def upload(self, name: str, source: IO[bytes], metadata: dict[str, str] | None = None,
               content_type: str = "application/jsonl") -> int:
        source.seek(0)
        data = source.read()
        self._put(name, data, metadata, None)
        return len(data)

    def open_read(self, name: str) -> IO[bytes]:
        found = self.read_bytes(name)
        if found is None:
            raise NotFound("Cloud Storage object not found")
        return io.BytesIO(found[0])

    def open_write(self, name: str, metadata: dict[str, str] | None = None,
                   content_type: str = "application/jsonl") -> MemoryWriter:
        return MemoryWriter(self, name, metadata)


class MemoryWriter:
    def __init__(self, objects: MemoryObjects, name: str, metadata: dict[str, str] | None) -> None:
        self._objects, self._name, self._metadata = objects, name, metadata
        self._buffer: io.BytesIO | None = io.BytesIO()

    def write(self, data: bytes) -> int:
        assert self._buffer is not None, "write after close or discard"
        return self._buffer.write(data)

    def close(self) -> None:
        if self._buffer is not None:
            self._objects._put(self._name, self._buffer.getvalue(), self._metadata, None)
            self._buffer = None

    def discard(self) -> None:
        self._buffer = None

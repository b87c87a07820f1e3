"""The services' async view of one bucket, over a blocking ``Objects`` backend.

Every blocking call runs in a worker thread here and nowhere else (``offload=False`` runs them inline, for
the in-memory fake). Small JSON records, claims (leases) and chunked streams are built on the backend's
few primitives, so Cloud Storage and the fake share one implementation of the rules.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

from .objects import ObjectInfo, Objects

log = logging.getLogger(__name__)
T = TypeVar("T")
CHUNK = 1024 * 1024


class Store:
    def __init__(self, objects: Objects, offload: bool = True) -> None:
        self.objects = objects
        self._offload = offload

    @property
    def bucket(self) -> str:
        return self.objects.bucket

    def uri(self, name: str) -> str:
        return self.objects.uri(name)

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking call (a backend method, or a heavy job handed ``self.objects``) off the event loop."""
        if not self._offload:
            return fn(*args)
        return await asyncio.to_thread(fn, *args)

    @property
    def heavy_in_process(self) -> bool:
        """Whether ``run_heavy`` runs in a worker process (Cloud Storage, workers on), not a thread."""
        from . import processes

        return self._offload and hasattr(self.objects, "recipe") and processes.size() > 0

    async def run_heavy(self, fn: Callable[..., T], *args: Any, small: bool = False) -> T:
        """``fn(objects, *args)`` for work proportional to a file's size: in a worker process when the backend can
        be rebuilt there (``heavy_in_process``), so it never holds the proxy's GIL; in a thread when it cannot, or
        when the job is ``small`` (milliseconds of work: less than handing it over costs)."""
        from . import processes

        if small or not self.heavy_in_process:
            return await self.run_blocking(fn, self.objects, *args)
        recipe = self.objects.recipe()  # type: ignore[attr-defined]
        return await processes.run(processes.run_with_objects, recipe, fn, *args)

    async def info(self, name: str) -> ObjectInfo | None:
        return await self.run_blocking(self.objects.info, name)

    async def list_objects(self, prefix: str) -> list[ObjectInfo]:
        """Every object under ``prefix`` (for the small indexes: leases, tombstones, open batches, outboxes)."""
        return await self.run_blocking(lambda: list(self.objects.list(prefix)))

    async def read_json(self, name: str) -> tuple[Any, int] | None:
        """(record, generation), or None when it does not exist."""
        found = await self.run_blocking(self.objects.read_bytes, name)
        return None if found is None else (json.loads(found[0]), found[1])

    async def write_json(self, name: str, value: Any, metadata: dict[str, str] | None = None,
                         only_if_absent: bool = False, if_generation: int | None = None) -> bool:
        """Write a small JSON record; False when the precondition (absent / that generation) does not hold."""
        data = json.dumps(value).encode("utf-8")
        generation = 0 if only_if_absent else if_generation
        return await self.run_blocking(self.objects.write_bytes, name, data, metadata, "application/json",
                                       generation)

    async def delete(self, name: str) -> bool:
        return await self.run_blocking(self.objects.delete, name)

    async def copy(self, source: str, destination: str, metadata: dict[str, str] | None = None) -> None:
        """Server-side copy (``metadata`` replacing the source's, when given): no bytes pass through the proxy."""
        await self.run_blocking(self.objects.copy, source, destination, metadata)

    async def scan(self, prefix: str, keep: Callable[[ObjectInfo], bool], limit: int,
                   start_offset: str | None = None) -> list[ObjectInfo]:
        """The first ``limit`` objects under ``prefix`` (after ``start_offset``) that ``keep`` accepts, listed in
        one worker call that stops as soon as it has them."""
        def collect() -> list[ObjectInfo]:
            found = []
            for info in self.objects.list(prefix, start_offset):
                if keep(info):
                    found.append(info)
                    if len(found) >= limit:
                        break
            return found

        return await self.run_blocking(collect)

    async def claim(self, name: str, lease_seconds: float, note: Mapping[str, Any] | None = None) -> bool:
        """Take the lease object ``name``: True if it was free, or held longer than ``lease_seconds`` ago.
        ``note`` is written into it (what the holder is about to do). See ``leases.py``."""
        from . import leases

        return await leases.claim(self, name, lease_seconds, note) is not None

    async def stream(self, name: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        """The object's bytes in chunks, each read off the event loop.

        The object is opened and its first chunk read before this returns: a failure before the first byte is
        raised here, with its own status, rather than inside a response that has already begun."""
        handle = await self.run_blocking(self.objects.open_read, name)
        try:
            first = await self.run_blocking(handle.read, chunk_size)
        except BaseException:
            await self.run_blocking(handle.close)
            raise

        async def chunks() -> AsyncIterator[bytes]:
            try:
                chunk = first
                while chunk:
                    yield chunk
                    chunk = await self.run_blocking(handle.read, chunk_size)
            finally:
                await self.run_blocking(handle.close)

        return chunks()

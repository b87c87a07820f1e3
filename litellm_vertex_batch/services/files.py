"""The OpenAI Files API on the object store: upload (validated and converted before anything is written),
retrieve, list, delete and streamed content.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import IO, Any

from ..adapters import ADAPTERS
from ..cloud import leases
from ..cloud.objects import ObjectInfo
from ..cloud.store import CHUNK, Store
from ..core import expiry, ids, jsonl, layout, records
from ..core.access import Caller, may_access
from ..core.errors import InvalidRequest, VertexBatchError, no_such_file
from ..core.input_lines import InputConverter, InputSummary, ResolvedModel, as_named, iter_lines
from ..core.settings import Settings

log = logging.getLogger(__name__)
#: Vertex's input limit per Gemini batch job.
MAX_INPUT_BYTES = 1024**3
#: How long a deleted file's deleter (or its team) may delete it again and be told it worked (its retries).
DELETE_RETRY_SECONDS = 600


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    while chunk := source.read(CHUNK):
        yield chunk


#: Purposes OpenAI accepts on upload (``batch_output`` is one it gives its own output files, never an upload).
UPLOAD_PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
#: Most files one list returns (OpenAI's ``limit`` bound).
MAX_LIST_LIMIT = 10_000

#: Uploads up to this size are converted in a thread of the proxy (a few milliseconds of its GIL), larger ones in
#: a worker process.
IN_PROXY_MAX_BYTES = 256 * 1024
#: How much of an upload is read to find the first line's model (a line longer than this is routed by default).
FIRST_LINE_LIMIT = 64 * 1024**2


def first_line_model(source: IO[bytes]) -> str | None:
    """The ``body.model`` of the first request line, read before conversion so an upload naming an operator's
    alias can be stored where that deployment keeps its files; None when it cannot be read."""
    def limited() -> Iterator[bytes]:
        read = 0
        while read < FIRST_LINE_LIMIT and (chunk := source.read(CHUNK)):
            read += len(chunk)
            yield chunk

    source.seek(0)
    try:
        for _, raw in iter_lines(limited()):
            entry = jsonl.loads(raw)
            body = entry.get("body") if isinstance(entry, dict) else None
            model = body.get("model") if isinstance(body, dict) else None
            return model if isinstance(model, str) and model else None
        return None
    except (ValueError, RecursionError):
        return None
    finally:
        source.seek(0)


def _size(source: IO[bytes]) -> int:
    size = source.seek(0, 2)
    source.seek(0)
    return size


def file_object(token: str, info: ObjectInfo) -> dict[str, Any]:
    """The OpenAI file object for a stored file."""
    meta = info.metadata
    return {"id": ids.file_id(token), "object": "file", "bytes": info.size,
            "created_at": int(meta.get("created_at") or info.created), "filename": meta.get("filename", token),
            "purpose": meta.get("purpose", "batch"), "status": "processed",
            "expires_at": expiry.expires_at(meta),
            "status_details": None}


def convert_input(source: IO[bytes], rows: IO[bytes], model: str | None,
                  resolve_model: Callable[[str], ResolvedModel] = as_named) -> Any:
    """Validate ``source`` whole and write its Vertex rows to ``rows``; InvalidRequest lists every problem."""
    source.seek(0)
    converter = InputConverter(ADAPTERS, model, resolve_model=resolve_model)
    for line_no, raw in iter_lines(_chunks(source)):
        for encoded in converter.encoded(line_no, raw):
            if not converter.summary.problems:
                rows.write(encoded)
    summary = converter.finish()
    size = source.tell()
    if size > MAX_INPUT_BYTES:
        summary.add(None, f"the file is {size} bytes; Vertex accepts at most {MAX_INPUT_BYTES} per batch")
    if rows.tell() > MAX_INPUT_BYTES:
        summary.add(None, f"converted for Vertex the file is {rows.tell()} bytes, over Vertex's "
                          f"{MAX_INPUT_BYTES}-byte limit per batch")
    if summary.problems:
        raise InvalidRequest(summary.message())
    source.seek(0)
    return summary


class FileService:
    """Files as ``caller`` sees them: another tenant's file does not exist (404)."""

    def __init__(self, store: Store, settings: Settings, caller: Caller | None = None,
                 resolve_model: Callable[[str], ResolvedModel] = as_named) -> None:
        self.store = store
        self.s = settings
        self.caller = caller or Caller(is_admin=True)
        #: what a line's body.model runs on (the operator's model_list aliases, LiteLLM's price map)
        self.resolve_model = resolve_model

    def visible(self, metadata: dict[str, str]) -> bool:
        return may_access(metadata, self.caller, self.s.team_access)

    async def create(self, source: IO[bytes], filename: str, purpose: str, model: str | None = None,
                     extra_metadata: dict[str, str] | None = None,
                     expires_after_seconds: int | None = None) -> dict[str, Any]:
        """Validate and convert the whole upload, then store its Vertex rows and the file itself (indexed for
        expiry first when it expires, so the worker deletes it on time)."""
        if purpose not in UPLOAD_PURPOSES:
            raise InvalidRequest(f"purpose {purpose!r} cannot be uploaded (OpenAI accepts: "
                                 f"{', '.join(sorted(UPLOAD_PURPOSES))}; batch_output files are made by batches)")
        token = ids.new_token()
        created_at = int(time.time())
        metadata = {"purpose": purpose, "filename": filename, "created_at": str(created_at),
                    **self.caller.owner_fields(), **(extra_metadata or {})}
        if expires_after_seconds is not None:
            metadata["expires_at"] = str(created_at + expires_after_seconds)
        written: list[str] = []
        objects = self.store.objects
        # a lease marks the upload in flight until the file object exists: if this process dies (SIGKILL skips the
        # clean-up below), the lapsed lease tells the sweep which converted rows nobody owns (``services/sweep.py``)
        lease = layout.upload_lease(self.s, token)
        holder = await leases.claim(self.store, lease, self.s.upload_lease_seconds) if purpose == "batch" else None
        try:
            async with contextlib.AsyncExitStack() as renewing:
                if holder is not None:
                    await renewing.enter_async_context(leases.holding(self.store, lease, holder,
                                                                      self.s.upload_lease_seconds))
                staged = None
                if purpose == "batch":
                    written.append(layout.vertex_input(self.s, token))  # removed again if anything below fails
                    written.append(layout.staged_upload(self.s, token))
                    summary, staged = await self._convert(source, written[-2], written[-1], token, model)
                    metadata.update(model=summary.model or "", endpoint=summary.endpoint or "",
                                    lines=str(summary.lines),
                                    deployment=summary.deployment or metadata.get("deployment", ""))
                    if summary.model_parameters:
                        metadata["model_parameters"] = json.dumps(summary.model_parameters, sort_keys=True)
                if expires_after_seconds is not None:
                    written.append(expiry.entry_name(self.s, int(metadata["expires_at"]), expiry.FILE, token))
                    await self.store.write_json(written[-1], {})
                written.append(layout.file_object(self.s, token))
                if staged is not None:  # stored during the conversion: copied with the metadata it makes
                    await self.store.copy(staged, written[-1], metadata)
                    await self._discard([staged])
                else:
                    await self.store.run_blocking(objects.upload, written[-1], source, metadata)
            return await self.retrieve(token)
        except BaseException:
            await self._discard(written)  # nothing half-written: a file the caller was not given does not stay
            raise
        finally:
            if holder is not None:
                await leases.release(self.store, lease, holder)

    async def _convert(self, source: IO[bytes], rows_name: str, staged_name: str, token: str,
                       model: str | None) -> tuple[InputSummary, str | None]:
        """Validate the upload and stream its Vertex rows into ``rows_name``: in a worker process when the upload
        can be read there (the proxy's GIL stays free), the model name resolved here first (the router is here).
        The worker also stores the upload itself at ``staged_name`` meanwhile; the name is returned when it did."""
        from .heavy import ModelTable, UnknownModelName, convert_to_object, shared_path

        rows_metadata = {"file_token": token}
        large = await self.store.run_blocking(_size, source) > IN_PROXY_MAX_BYTES
        path = await self.store.run_blocking(shared_path, source) if large and self.store.heavy_in_process else None
        if path is not None:
            named = None if model else await self.store.run_blocking(first_line_model, source)
            table = ModelTable({named: self.resolve_model(named)} if named else {})
            try:
                return await self.store.run_heavy(convert_to_object, path, rows_name, rows_metadata, model, table,
                                                  staged_name), staged_name
            except UnknownModelName:  # the first line names no model: resolved line by line, here
                pass
        return await self.store.run_blocking(convert_to_object, self.store.objects, source, rows_name,
                                             rows_metadata, model, self.resolve_model), None

    async def _discard(self, names: list[str]) -> None:
        for name in reversed(names):
            try:
                await self.store.delete(name)
            except VertexBatchError:
                log.error("could not remove %s after a failed upload", name)

    async def info(self, token: str) -> ObjectInfo:
        info = await self.store.info(layout.file_object(self.s, token))
        if info is None or not self.visible(info.metadata) or expiry.expired(info.metadata, time.time()):
            raise no_such_file(ids.file_id(token))  # an expired file is gone, whether or not the worker came by
        return info

    async def retrieve(self, token: str) -> dict[str, Any]:
        return file_object(token, await self.info(token))

    async def list(self, after: str | None = None, limit: int = MAX_LIST_LIMIT, purpose: str | None = None,
                   order: str = "desc") -> dict[str, Any]:
        """One page of the caller's files as OpenAI lists them (``data``, ``first_id``, ``last_id``, ``has_more``).

        Names sort newest first, so ``desc`` (OpenAI's default) reads just one page plus one object; ``asc`` reads
        every visible file (at most ``MAX_LIST_LIMIT`` of them) and turns them around."""
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
        if order not in ("asc", "desc"):
            raise InvalidRequest(f"order must be 'asc' or 'desc', got {order!r}")
        prefix = layout.files_prefix(self.s)
        now = time.time()

        def keep(info: ObjectInfo) -> bool:
            token = layout.token_from_name(info.name, prefix)
            return (ids.parse_file_id(ids.file_id(token)) is not None and self.visible(info.metadata)
                    and (not purpose or info.metadata.get("purpose") == purpose)
                    and not expiry.expired(info.metadata, now))

        if order == "desc":
            found = await self.store.scan(prefix, keep, limit + 1, prefix + after + "\x00" if after else None)
        else:
            found = list(reversed(await self.store.scan(prefix, keep, MAX_LIST_LIMIT)))
            if after:
                found = [info for info in found if layout.token_from_name(info.name, prefix) < after]
        items = [file_object(layout.token_from_name(info.name, prefix), info) for info in found[:limit]]
        return {"object": "list", "data": items, "first_id": items[0]["id"] if items else None,
                "last_id": items[-1]["id"] if items else None, "has_more": len(found) > limit}

    async def content(self, token: str) -> tuple[ObjectInfo, AsyncIterator[bytes]]:
        """The file's size and a stream of its bytes."""
        info = await self.info(token)
        return info, await self.store.stream(layout.file_object(self.s, token))

    async def delete(self, token: str) -> dict[str, Any]:
        """Delete the file and its Vertex rows. A tombstone written first makes the call idempotent for its
        own retries: when the first attempt worked but its answer was lost, the retry succeeds too (and
        removes whatever that attempt left), instead of answering 404 to the caller who deleted it."""
        deleted = {"id": ids.file_id(token), "object": "file", "deleted": True}
        tombstone_name = layout.deleted_file(self.s, token)
        info = await self.store.info(layout.file_object(self.s, token))
        if info is None:
            found = await self.store.read_json(tombstone_name)
            tombstone = records.load_tombstone(found[0]) if found else None
            if tombstone and self.visible(tombstone.get("owner") or {}) \
                    and time.time() - float(tombstone.get("deleted_at", 0)) < DELETE_RETRY_SECONDS:
                await self.store.delete(layout.vertex_input(self.s, token))
                return deleted
            raise no_such_file(ids.file_id(token))
        if not self.visible(info.metadata):
            raise no_such_file(ids.file_id(token))
        owner = {k: v for k, v in info.metadata.items() if k.startswith("owner_")}
        await self.store.write_json(tombstone_name, records.dump({"deleted_at": time.time(), "owner": owner}))
        await self.store.delete(layout.vertex_input(self.s, token))
        await self.store.delete(layout.file_object(self.s, token))
        return deleted

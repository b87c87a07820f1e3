"""The OpenAI Files API on Cloud Storage: upload (validated and converted before anything is written),
retrieve, list, delete and streamed content. Synchronous; the plugin runs it in worker threads.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from ..adapters import ADAPTERS
from ..cloud.gcs import CHUNK, Bucket, ObjectInfo
from ..core import ids, jsonl, layout
from ..core.access import Caller, may_access
from ..core.errors import InvalidRequest, NotFound, VertexBatchError
from ..core.input_lines import InputConverter, iter_lines
from ..core.output_lines import row_custom_id

log = logging.getLogger(__name__)
#: Vertex's input limit per Gemini batch job.
MAX_INPUT_BYTES = 1024**3


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    while chunk := source.read(CHUNK):
        yield chunk


def file_object(token: str, info: ObjectInfo) -> dict[str, Any]:
    """The OpenAI file object for a stored file."""
    meta = info.metadata
    return {"id": ids.file_id(token), "object": "file", "bytes": info.size,
            "created_at": int(meta.get("created_at") or info.created), "filename": meta.get("filename", token),
            "purpose": meta.get("purpose", "batch"), "status": "processed", "expires_at": None,
            "status_details": None}


def convert_input(source: IO[bytes], rows: IO[bytes], model: str | None,
                  known_model: Callable[[str], bool] | None = None) -> Any:
    """Validate ``source`` whole and write its Vertex rows to ``rows``; InvalidRequest lists every problem."""
    source.seek(0)
    converter = InputConverter(ADAPTERS, model, known_model=known_model)
    for line_no, raw in iter_lines(_chunks(source)):
        for row in converter.convert(line_no, raw) or ():
            try:
                encoded = jsonl.dumps_line(row)
            except UnicodeEncodeError as exc:
                converter.summary.add(line_no, f"contains an unpaired surrogate escape ({exc.object[exc.start]!a}), "
                                               "which is not valid Unicode", row_custom_id(row))
                break
            except ValueError as exc:  # a value LiteLLM's mapping made non-finite
                converter.summary.add(line_no, f"maps to a request JSON cannot carry ({exc})", row_custom_id(row))
                break
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


class FileStore:
    """Files as ``caller`` sees them: another tenant's file does not exist (404)."""

    def __init__(self, bucket: Bucket, caller: Caller | None = None,
                 known_model: Callable[[str], bool] | None = None) -> None:
        self.bucket = bucket
        self.s = bucket.settings
        self.caller = caller or Caller(is_admin=True)
        #: which models a batch may name (LiteLLM's price map and the operator's model_list)
        self.known_model = known_model

    def visible(self, metadata: dict[str, str]) -> bool:
        return may_access(metadata, self.caller, self.s.team_access)

    def create(self, source: IO[bytes], filename: str, purpose: str, model: str | None = None,
               extra_metadata: dict[str, str] | None = None) -> dict[str, Any]:
        token = ids.new_token()
        metadata = {"purpose": purpose, "filename": filename, "created_at": str(int(time.time())),
                    **self.caller.owner_fields(), **(extra_metadata or {})}
        written: list[str] = []
        try:
            if purpose == "batch":
                with tempfile.TemporaryFile() as rows:
                    summary = convert_input(source, rows, model, self.known_model)
                    metadata.update(model=summary.model or "", endpoint=summary.endpoint or "",
                                    lines=str(summary.lines))
                    rows.seek(0)
                    written.append(layout.vertex_input(self.s, token))
                    self.bucket.upload(written[-1], rows, {"file_token": token})
            written.append(layout.file_object(self.s, token))
            self.bucket.upload(written[-1], source, metadata)
            return self.retrieve(token)
        except BaseException:
            self._discard(written)  # nothing half-written: a file the caller was not given does not stay
            raise

    def _discard(self, names: list[str]) -> None:
        for name in reversed(names):
            try:
                self.bucket.delete(name)
            except VertexBatchError:
                log.error("could not remove %s after a failed upload", name)

    def info(self, token: str) -> ObjectInfo:
        info = self.bucket.info(layout.file_object(self.s, token))
        if info is None or not self.visible(info.metadata):
            raise NotFound(f"No such file: {ids.file_id(token)}")
        return info

    def retrieve(self, token: str) -> dict[str, Any]:
        return file_object(token, self.info(token))

    def list(self, after: str | None = None, limit: int = 10000, purpose: str | None = None) -> list[dict[str, Any]]:
        prefix = layout.files_prefix(self.s)
        start = prefix + after + "\x00" if after else None
        found = []
        for info in self.bucket.list(prefix, start_offset=start):
            token = layout.token_from_name(info.name, prefix)
            if ids.parse_file_id(ids.file_id(token)) is None:
                continue
            if (purpose and info.metadata.get("purpose") != purpose) or not self.visible(info.metadata):
                continue
            found.append(file_object(token, info))
            if len(found) >= limit:
                break
        return found

    def delete(self, token: str) -> dict[str, Any]:
        self.info(token)  # 404 unless the caller may see it
        if not self.bucket.delete(layout.file_object(self.s, token)):
            raise NotFound(f"No such file: {ids.file_id(token)}")
        self.bucket.delete(layout.vertex_input(self.s, token))
        return {"id": ids.file_id(token), "object": "file", "deleted": True}


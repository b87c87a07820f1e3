"""A stand-in for OpenAI's own Files and Batches API (in memory), so the proxy's built-in ``openai`` provider
has somewhere to go: tests check that its calls keep working beside this plugin's (routing by id and header).

It answers the calls LiteLLM's openai provider makes (``/v1/files``, ``/v1/batches``) in OpenAI's shapes, with
OpenAI-looking ids (``file-`` + 22 base62 characters, ``batch_`` + 32 hex) and records every request.
"""

from __future__ import annotations

import asyncio
import secrets
import string
import threading
import time
from typing import Any

from aiohttp import web

from tests.stand_ins.gcs import free_port

_BASE62 = string.ascii_letters + string.digits


def _file_id() -> str:
    return "file-" + "".join(secrets.choice(_BASE62) for _ in range(22))


class FakeOpenAI:
    """Context manager; ``.url`` is the base URL (ends in ``/v1``), ``.requests`` lists ``(method, path)``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.files: dict[str, dict[str, Any]] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    # ---- handlers ---------------------------------------------------------------------------------------
    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        return await handler(request)

    async def create_file(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        content = upload.file.read() if isinstance(upload, web.FileField) else b""
        file_id = _file_id()
        self.contents[file_id] = content
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                               "filename": getattr(upload, "filename", "upload"), "purpose": str(form.get("purpose")),
                               "status": "processed"}
        return web.json_response(self.files[file_id])

    async def list_files(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": list(self.files.values()), "has_more": False})

    def _file(self, request: web.Request) -> dict[str, Any]:
        found = self.files.get(request.match_info["file_id"])
        if found is None:
            raise web.HTTPNotFound(text='{"error": {"message": "No such File object", "type": '
                                        '"invalid_request_error"}}', content_type="application/json")
        return found

    async def get_file(self, request: web.Request) -> web.Response:
        return web.json_response(self._file(request))

    async def file_content(self, request: web.Request) -> web.Response:
        return web.Response(body=self.contents[self._file(request)["id"]], content_type="application/octet-stream")

    async def delete_file(self, request: web.Request) -> web.Response:
        found = self._file(request)
        del self.files[found["id"]]
        return web.json_response({"id": found["id"], "object": "file", "deleted": True})

    async def create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        batch_id = "batch_" + secrets.token_hex(16)
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": body.get("endpoint"), "errors": None,
            "input_file_id": body.get("input_file_id"), "completion_window": body.get("completion_window", "24h"),
            "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": int(time.time()),
            "request_counts": {"total": 0, "completed": 0, "failed": 0}, "metadata": body.get("metadata")}
        return web.json_response(self.batches[batch_id])

    async def get_batch(self, request: web.Request) -> web.Response:
        found = self.batches.get(request.match_info["batch_id"])
        if found is None:
            raise web.HTTPNotFound(text='{"error": {"message": "No batch found", "type": "invalid_request_error"}}',
                                   content_type="application/json")
        return web.json_response(found)

    async def list_batches(self, request: web.Request) -> web.Response:
        data = list(self.batches.values())
        return web.json_response({"object": "list", "data": data, "has_more": False,
                                  "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None})

    # ---- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._serve, name="fake-openai", daemon=True)
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("fake OpenAI did not start")
        return self

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        loop.run_until_complete(self._main())
        loop.close()

    async def _main(self) -> None:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 1024**2)
        app.add_routes([web.post("/v1/files", self.create_file), web.get("/v1/files", self.list_files),
                        web.get("/v1/files/{file_id}", self.get_file),
                        web.get("/v1/files/{file_id}/content", self.file_content),
                        web.delete("/v1/files/{file_id}", self.delete_file),
                        web.post("/v1/batches", self.create_batch), web.get("/v1/batches", self.list_batches),
                        web.get("/v1/batches/{batch_id}", self.get_batch)])
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._stopping = asyncio.Event()
        self._ready.set()
        await self._stopping.wait()
        await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

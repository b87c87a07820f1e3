"""A fault-injecting HTTP reverse proxy in front of fake-gcs-server (or any other 127.0.0.1 HTTP server, e.g. the
Vertex emulator).

Everything is forwarded as is (method, path, query string, headers incl. ``Content-Range``, bodies streamed both
ways); ``Location`` headers and JSON metadata links that name the upstream are rewritten to name the proxy, so a
resumable upload's session URI (and ``mediaLink``) keeps going through it. Faults, like the Vertex emulator's:

    with FaultProxy(stand_ins.gcs_url) as fp:          # .url -> use as STORAGE_EMULATOR_HOST
        fp.inject(r"/upload/.*uploadType=resumable", status=503, method="POST", count=2)
        fp.inject(r"/o/[^/]+$", status=None, delay_seconds=5)      # hang 5 s, then forward normally
        fp.inject(r"/upload/", status=0)                           # close the connection, no answer
        fp.inject(r"/upload/", status=None, drop_after_bytes=4096)  # forward 4 KiB of the body, then cut both sides
        fp.inject(r"/upload/", status=None, lose_answer=True)      # the upstream acts, its answer is lost
        fp.served()  # {"status:503": 2, ...}                       fp.clear()

A fault matches the request's path plus ``?query`` (``re.search``) and, if given, its method and ``body_regex``
(searched in a request body of at most ``MAX_BODY_MATCH`` bytes, read whole first: e.g. the object name inside a
small multipart upload, which has no name in its URL); the first fault
with ``count`` left is used for the next matching request. ``status``: an HTTP status answered in Google's
JSON error format (the request body is read and discarded first, as a server would), ``0`` = close the
connection without an answer (nothing is forwarded), ``None`` = forward (after ``delay_seconds``, if any).
``drop_after_bytes``: forward the request and its first N body bytes, then abort the upstream request and the
client connection (an upload cut mid-body). ``lose_answer``: forward the whole request, let the upstream answer,
then close the client connection without that answer (the server acted; the client cannot know); with
``delay_seconds`` the request is forwarded after the delay even if the client has given up meanwhile. The same
control API is served over HTTP on the proxy's port: ``POST /_faults`` (the keyword arguments of ``inject`` as
JSON), ``GET /_faults`` (faults, served counts), ``DELETE /_faults``.

Bounded: binds 127.0.0.1 only and forwards only to a loopback upstream; at most ``MAX_CONCURRENT`` requests at a
time, ``MAX_FAULTS`` faults, delays of at most ``MAX_DELAY_SECONDS`` (cut short when the client goes away or the
proxy stops), a request log of ``LOG_SIZE`` entries, upstream socket reads time out after ``UPSTREAM_READ_SECONDS``.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web
from multidict import CIMultiDict

from tests.stand_ins.gcs import free_port

MAX_CONCURRENT = 64
MAX_FAULTS = 100
MAX_COUNT = 100_000
MAX_DELAY_SECONDS = 120.0
MAX_DISCARD_BYTES = 256 * 1024 * 1024
MAX_BODY_MATCH = 1024 * 1024
UPSTREAM_READ_SECONDS = 120.0
LOG_SIZE = 5000
CHUNK = 64 * 1024
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "host"})
REASONS = {400: "badRequest", 404: "notFound", 408: "requestTimeout", 412: "conditionNotMet",
           429: "rateLimitExceeded", 500: "backendError", 502: "badGateway", 503: "backendError",
           504: "gatewayTimeout"}


@dataclass
class Fault:
    path_regex: str
    status: int | None = 503
    method: str | None = None
    count: int = 1
    delay_seconds: float = 0.0
    drop_after_bytes: int | None = None
    lose_answer: bool = False
    message: str | None = None
    body_regex: str | None = None
    served: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)
    _body_pattern: re.Pattern[bytes] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path_regex)
        self._body_pattern = re.compile(self.body_regex.encode()) if self.body_regex else None
        if self.body_regex and self.drop_after_bytes is not None:
            raise ValueError("body_regex cannot be combined with drop_after_bytes")
        if self.status is not None and not (self.status == 0 or 100 <= int(self.status) <= 599):
            raise ValueError(f"status must be 0, None or an HTTP status, got {self.status!r}")
        if self.drop_after_bytes is not None and (self.status is not None or int(self.drop_after_bytes) < 0):
            raise ValueError("drop_after_bytes needs status=None and a byte count >= 0")
        if self.lose_answer and (self.status is not None or self.drop_after_bytes is not None):
            raise ValueError("lose_answer needs status=None and no drop_after_bytes")
        if not 0 <= float(self.delay_seconds) <= MAX_DELAY_SECONDS:
            raise ValueError(f"delay_seconds must be within [0, {MAX_DELAY_SECONDS}]")
        if not 0 <= int(self.count) <= MAX_COUNT:
            raise ValueError(f"count must be within [0, {MAX_COUNT}]")
        if self.method:
            self.method = self.method.upper()

    @property
    def kind(self) -> str:
        if self.drop_after_bytes is not None:
            return "drop_upload"
        if self.lose_answer:
            return "lose_answer"
        if self.status == 0:
            return "drop"
        if self.status is None:
            return "delay"
        return f"status:{self.status}"

    def matches(self, method: str, target: str, body: bytes | None = None) -> bool:
        if self.count <= 0 or (self.method and self.method != method) or not self._pattern.search(target):
            return False
        return self._body_pattern is None or (body is not None and bool(self._body_pattern.search(body)))

    def wants_body(self, method: str, target: str) -> bool:
        return self._body_pattern is not None and self.count > 0 and (not self.method or self.method == method) \
            and bool(self._pattern.search(target))

    def public(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        data["kind"] = self.kind
        return data


class _Cut(Exception):
    """Raised inside the upstream request body to cut an upload mid-body."""


class FaultProxy:
    """Context manager; ``.url``, ``.inject(...)``, ``.clear()``, ``.served()``, ``.log``, ``.hits(regex)``."""

    def __init__(self, upstream: str, port: int | None = None) -> None:
        parts = urlsplit(upstream)
        host = parts.hostname or ""
        if parts.scheme != "http" or not _is_loopback(host):
            raise ValueError(f"FaultProxy forwards only to http://127.0.0.1 (or localhost), not {upstream!r}")
        self.upstream = f"http://{parts.netloc}"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._faults: list[Fault] = []
        self._served: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self.log: collections.deque[dict[str, Any]] = collections.deque(maxlen=LOG_SIZE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    # ---- faults (thread-safe; also reachable over HTTP at /_faults) ---------------------------------------
    def inject(self, path_regex: str, status: int | None = 503, method: str | None = None, count: int = 1,
               delay_seconds: float = 0.0, drop_after_bytes: int | None = None, lose_answer: bool = False,
               message: str | None = None, body_regex: str | None = None) -> Fault:
        fault = Fault(path_regex=path_regex, status=status, method=method, count=int(count),
                      delay_seconds=float(delay_seconds),
                      drop_after_bytes=None if drop_after_bytes is None else int(drop_after_bytes),
                      lose_answer=bool(lose_answer), message=message, body_regex=body_regex)
        with self._lock:
            if len(self._faults) >= MAX_FAULTS:
                raise ValueError(f"at most {MAX_FAULTS} faults at a time; clear() first")
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Drop every pending fault (served counts are kept; see ``reset_counts``)."""
        with self._lock:
            self._faults.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self._served.clear()
            self.log.clear()

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.public() for f in self._faults]

    def served(self) -> dict[str, int]:
        """How many faults of each kind were served since the start (or ``reset_counts``)."""
        with self._lock:
            return dict(self._served)

    def hits(self, path_regex: str = "", method: str | None = None) -> list[dict[str, Any]]:
        """Logged requests whose ``method path?query`` matches (newest last)."""
        pattern = re.compile(path_regex)
        with self._lock:
            entries = list(self.log)
        return [e for e in entries if (not method or e["method"] == method.upper()) and pattern.search(e["target"])]

    def _wants_body(self, method: str, target: str) -> bool:
        with self._lock:
            return any(fault.wants_body(method, target) for fault in self._faults)

    def _take(self, method: str, target: str, body: bytes | None = None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, target, body):
                    fault.count -= 1
                    fault.served += 1
                    self._served[fault.kind] += 1
                    return fault
        return None

    def _record(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.log.append(entry)
        return entry

    # ---- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._serve, name=f"fault-proxy-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            self.stop()
            raise RuntimeError(f"fault proxy did not start on {self.url}: {self._error!r}")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(self._stopping.set)  # type: ignore[union-attr]
            thread.join(20)
        self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(MAX_CONCURRENT)
        self._session = ClientSession(
            auto_decompress=False, connector=TCPConnector(limit=MAX_CONCURRENT, force_close=False),
            timeout=ClientTimeout(total=None, sock_connect=10, sock_read=UPSTREAM_READ_SECONDS))
        app = web.Application(client_max_size=MAX_DISCARD_BYTES)
        app.router.add_route("*", "/_faults", self._control)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=MAX_CONCURRENT).start()
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self._runner.cleanup()
            await self._session.close()

    # ---- HTTP ------------------------------------------------------------------------------------------
    async def _control(self, request: web.Request) -> web.Response:
        try:
            if request.method == "DELETE":
                self.clear()
            elif request.method == "POST":
                body = await request.json()
                allowed = {"path_regex", "status", "method", "count", "delay_seconds", "drop_after_bytes",
                           "lose_answer", "message", "body_regex"}
                unknown = set(body) - allowed
                if unknown:
                    raise ValueError(f"unknown fault keys: {sorted(unknown)}")
                self.inject(**body)
            elif request.method != "GET":
                return web.json_response({"error": "use GET, POST or DELETE"}, status=405)
        except (ValueError, TypeError, re.error, json.JSONDecodeError) as exc:
            return web.json_response({"error": repr(exc)}, status=400)
        return web.json_response({"faults": self.faults(), "served": self.served()})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        async with self._slots:
            target = request.rel_url.raw_path_qs
            entry = self._record({"time": time.time(), "method": request.method, "target": target,
                                  "fault": None, "status": None})
            body = None
            if request.body_exists and (request.content_length or 0) <= MAX_BODY_MATCH and \
                    self._wants_body(request.method, target):
                body = await request.read()
            fault = self._take(request.method, target, body)
            if fault is not None:
                entry["fault"] = fault.kind
                if fault.lose_answer:
                    return await self._forward_and_lose(request, entry, fault.delay_seconds, body)
                if fault.delay_seconds and not await self._sleep(request, fault.delay_seconds):
                    entry["status"] = "client gone"
                    return _abort(request)
                if fault.status == 0:
                    entry["status"] = "dropped"
                    return _abort(request)
                if fault.status:
                    entry["status"] = fault.status
                    return await self._error_response(request, fault)
            try:
                return await self._forward(request, entry, fault.drop_after_bytes if fault else None, body)
            except _Cut:
                entry["status"] = "cut mid-body"
                return _abort(request)

    async def _sleep(self, request: web.Request, seconds: float) -> bool:
        """Sleep up to ``seconds``; False if the client went away or the proxy is stopping."""
        deadline = time.monotonic() + min(seconds, MAX_DELAY_SECONDS)
        while (left := deadline - time.monotonic()) > 0:
            transport = request.transport
            if transport is None or transport.is_closing() or self._stopping.is_set():  # type: ignore[union-attr]
                return False
            await asyncio.sleep(min(0.05, left))
        return True

    async def _error_response(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        discarded = 0
        async for chunk in request.content.iter_chunked(CHUNK):  # a server reads the request before answering
            discarded += len(chunk)
            if discarded > MAX_DISCARD_BYTES:
                return _abort(request)
        code = int(fault.status or 500)
        message = fault.message or f"Injected fault {code} (fault proxy)."
        body = {"error": {"code": code, "message": message,
                          "errors": [{"message": message, "domain": "global", "reason": REASONS.get(code, "error")}]}}
        return web.json_response(body, status=code)

    async def _forward(self, request: web.Request, entry: dict[str, Any],
                       drop_after_bytes: int | None, read_body: bytes | None = None) -> web.StreamResponse:
        assert self._session is not None
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        body: Any = read_body if read_body is not None else (
            _body(request, drop_after_bytes) if request.body_exists else None)
        url = self.upstream + request.rel_url.raw_path_qs
        try:
            upstream = await self._session.request(
                request.method, url, headers=headers, data=body, allow_redirects=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"))
        except Exception as exc:  # noqa: BLE001 - the upstream is down or the body was cut on purpose
            if drop_after_bytes is not None:
                raise _Cut() from exc
            entry["status"] = 502
            return web.json_response({"error": {"code": 502, "message": f"fault proxy: upstream failed: {exc!r}"}},
                                     status=502)
        async with upstream:
            if drop_after_bytes is not None:  # the upstream answered early: the client still gets no answer
                raise _Cut()
            entry["status"] = upstream.status
            rewrite = self._rewrites_body(request, upstream)
            headers_out = []
            for key, value in upstream.headers.items():
                low = key.lower()
                if low in HOP_BY_HOP or (rewrite and low == "content-length"):
                    continue
                if low == "location":
                    value = value.replace(self.upstream, self.url)
                headers_out.append((key, value))
            if rewrite:
                raw = (await upstream.read()).replace(self.upstream.encode(), self.url.encode())
                return web.Response(status=upstream.status, reason=upstream.reason, body=raw,
                                    headers=CIMultiDict(headers_out))
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                          headers=CIMultiDict(headers_out))
            await response.prepare(request)
            if request.method != "HEAD":
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await response.write(chunk)
            await response.write_eof()
            return response

    async def _forward_and_lose(self, request: web.Request, entry: dict[str, Any],
                                delay_seconds: float, read_body: bytes | None = None) -> web.StreamResponse:
        """The upstream gets the whole request (after ``delay_seconds``, even if the client has given up by then:
        a slow server finishing the work) and answers; the client gets no answer."""
        assert self._session is not None
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        body = read_body if read_body is not None else (
            await request.read() if request.body_exists else None)  # bounded by client_max_size
        deadline = time.monotonic() + min(delay_seconds, MAX_DELAY_SECONDS)
        while (left := deadline - time.monotonic()) > 0 and not self._stopping.is_set():  # type: ignore[union-attr]
            await asyncio.sleep(min(0.05, left))
        try:
            async with self._session.request(
                    request.method, self.upstream + request.rel_url.raw_path_qs, headers=headers, data=body,
                    allow_redirects=False,
                    skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type")) as upstream:
                await upstream.read()
                entry["status"] = f"answer lost ({upstream.status})"
        except Exception as exc:  # noqa: BLE001
            entry["status"] = f"answer lost ({exc!r})"
        return _abort(request)

    def _rewrites_body(self, request: web.Request, upstream: Any) -> bool:
        """Small JSON metadata answers (not object downloads) name the upstream in mediaLink/selfLink."""
        if request.query.get("alt") == "media" or request.path.startswith("/download/"):
            return False
        if not upstream.headers.get("Content-Type", "").startswith("application/json"):
            return False
        length = upstream.headers.get("Content-Length")
        return length is not None and length.isdigit() and int(length) <= 4 * 1024 * 1024


async def _body(request: web.Request, drop_after_bytes: int | None) -> Any:
    sent = 0
    async for chunk in request.content.iter_chunked(CHUNK):
        if drop_after_bytes is not None and sent + len(chunk) >= drop_after_bytes:
            if drop_after_bytes > sent:
                yield chunk[:drop_after_bytes - sent]
                await asyncio.sleep(0.05)  # let the partial body reach the upstream before cutting it
            raise _Cut()
        sent += len(chunk)
        yield chunk
    if drop_after_bytes is not None:
        raise _Cut()  # the body was shorter than the cut: still cut before the answer


def _abort(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError()  # aiohttp drops a cancelled handler's connection without an answer


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

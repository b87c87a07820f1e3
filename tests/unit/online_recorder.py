"""A local stand-in for Vertex's HTTP API that records what LiteLLM's online calls send: the differential tests
call ``litellm.completion`` / ``embedding`` / ``responses`` against it and compare with the batch mapping."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN_ANSWER = {"access_token": "test-token", "expires_in": 3600, "token_type": "Bearer"}


@dataclass
class Recording:
    url: str
    #: a service account whose token endpoint is this server (what ``vertex_credentials`` takes)
    credentials: str
    #: (path, JSON body) of every call but the token's
    bodies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def service_account(token_uri: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return json.dumps({"type": "service_account", "project_id": "p", "private_key_id": secrets.token_hex(8),
                       "private_key": pem, "client_email": "unit@p.iam.gserviceaccount.com", "client_id": "1",
                       "token_uri": token_uri})


@contextlib.contextmanager
def recording(answer: Callable[[str, dict[str, Any]], dict[str, Any]]) -> Iterator[Recording]:
    """A server answering each POST with ``answer(path, body)`` (the OAuth token request with a token)."""
    bodies: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path == "/token":  # a form, not JSON
                reply: dict[str, Any] = TOKEN_ANSWER
            else:
                data = json.loads(raw)
                bodies.append((self.path, data))
                reply = answer(self.path, data)
            payload = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield Recording(url, service_account(url + "/token"), bodies)
    finally:
        server.shutdown()
        server.server_close()

"""Google credentials from what operators already configure, loaded with google-auth.

Accepts a service-account JSON path, JSON text or dict (its ``token_uri`` is honoured, which is also how
the local emulator's token endpoint is reached), or falls back to application default credentials.
Credentials are cached per source and refreshed in a worker thread: google-auth is synchronous.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from typing import Any

from ..core.errors import ConfigurationError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_cache: dict[str, Any] = {}
_refresh_locks: dict[int, threading.Lock] = {}
_lock = threading.Lock()


def _info(source: Any, setting: str) -> dict[str, Any] | None:
    if source is None or source == "":
        return None
    if isinstance(source, dict):
        return source
    text = str(source)
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{setting} is not valid JSON", detail=exc.msg) from exc
    if not os.path.exists(text):
        raise ConfigurationError(f"{setting} names a credentials file that does not exist",
                                 detail=f"no file {text!r}")
    with open(text, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{setting} names a credentials file that is not valid JSON",
                                     detail=f"{text!r}: {exc.msg}") from exc


def load(source: Any, setting: str = "vertex_credentials") -> Any:
    """google-auth credentials for ``source`` (cached), or application default credentials; ``setting`` is the
    name errors give the operator (never the file path, which only the proxy log shows)."""
    key = json.dumps(source, sort_keys=True) if isinstance(source, dict) else str(source)
    with _lock:
        if key in _cache:
            return _cache[key]
        info = _info(source, setting)
        if info is None:
            import google.auth

            try:
                creds, _ = google.auth.default(scopes=list(SCOPES))
            except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError
                raise ConfigurationError(
                    f"no Google credentials: set {setting}, GOOGLE_APPLICATION_CREDENTIALS or application default "
                    "credentials", detail=str(exc)) from exc
        elif info.get("type") == "service_account":
            from google.oauth2 import service_account

            creds = service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
        elif info.get("type") == "authorized_user":
            from google.oauth2.credentials import Credentials

            creds = Credentials.from_authorized_user_info(info, scopes=list(SCOPES))
        else:
            import google.auth

            creds, _ = google.auth.load_credentials_from_dict(info, scopes=list(SCOPES))
        _cache[key] = creds
        return creds


def _refresh_lock(creds: Any) -> threading.Lock:
    with _lock:  # held only for the dictionary lookup, never across a refresh
        return _refresh_locks.setdefault(id(creds), threading.Lock())


def _refresh_sync(creds: Any) -> str:
    """Refresh in a worker thread; one refresh per credential at a time, and cache lookups never wait for it."""
    import google.auth.transport.requests

    with _refresh_lock(creds):
        if not creds.valid:
            creds.refresh(google.auth.transport.requests.Request())
        return creds.token


async def access_token(source: Any, setting: str = "vertex_credentials") -> str:
    """A valid OAuth access token, refreshed off the event loop.

    Failing to get one is the gateway's problem, not the caller's: a 502 naming the setting, never a 401/403
    (which would tell a client its own key is wrong)."""
    creds = load(source, setting)
    if creds.valid:
        return creds.token
    try:
        return await asyncio.to_thread(_refresh_sync, creds)
    except Exception as exc:  # google.auth.exceptions.RefreshError, transport errors
        raise ConfigurationError(f"the gateway could not obtain a Google access token with its {setting} setting",
                                 502, detail=repr(exc)) from exc

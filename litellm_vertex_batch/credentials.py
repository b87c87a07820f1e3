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

from .errors import ConfigurationError, UpstreamError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_cache: dict[str, Any] = {}
_lock = threading.Lock()


def _info(source: Any) -> dict[str, Any] | None:
    if source is None or source == "":
        return None
    if isinstance(source, dict):
        return source
    text = str(source)
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"vertex_credentials is not valid JSON: {exc.msg}") from exc
    if not os.path.exists(text):
        raise ConfigurationError(f"credentials file {text!r} does not exist")
    with open(text, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"credentials file {text!r} is not valid JSON: {exc.msg}") from exc


def load(source: Any) -> Any:
    """google-auth credentials for ``source`` (cached), or application default credentials."""
    key = json.dumps(source, sort_keys=True) if isinstance(source, dict) else str(source)
    with _lock:
        if key in _cache:
            return _cache[key]
        info = _info(source)
        if info is None:
            import google.auth

            try:
                creds, _ = google.auth.default(scopes=list(SCOPES))
            except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError
                raise ConfigurationError(
                    "no Google credentials: set vertex_credentials, GOOGLE_APPLICATION_CREDENTIALS or "
                    f"application default credentials ({exc})") from exc
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


def _refresh_sync(creds: Any) -> str:
    import google.auth.transport.requests

    with _lock:
        if not creds.valid:
            creds.refresh(google.auth.transport.requests.Request())
        return creds.token


async def access_token(source: Any) -> str:
    """A valid OAuth access token, refreshed off the event loop."""
    creds = load(source)
    if creds.valid:
        return creds.token
    try:
        return await asyncio.to_thread(_refresh_sync, creds)
    except Exception as exc:  # google.auth.exceptions.RefreshError, transport errors
        raise UpstreamError(f"could not obtain a Google access token: {exc}", 401) from exc

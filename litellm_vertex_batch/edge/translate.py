"""The one place plugin errors become LiteLLM exceptions, which the proxy renders with their status and message."""

from __future__ import annotations

import logging
from typing import Any

import litellm

from ..core.errors import ConfigurationError, VertexBatchError
from ..core.settings import PROVIDER

log = logging.getLogger(__name__)


def to_litellm_error(err: VertexBatchError, model: str = "") -> Exception:
    """The LiteLLM exception the proxy renders with ``err.status_code`` and ``err.message``."""
    if isinstance(err, ConfigurationError) and err.detail:
        log.error("%s (%s)", err.message, err.detail)
    code = err.status_code
    kwargs: dict[str, Any] = {"message": err.message, "llm_provider": PROVIDER, "model": model}
    if code == 400:
        return litellm.BadRequestError(**kwargs)
    if code == 401:
        return litellm.AuthenticationError(**kwargs)
    if code == 403:
        return litellm.PermissionDeniedError(message=err.message, llm_provider=PROVIDER, model=model,
                                             response=_fake_response(403))
    if code == 404:
        return litellm.NotFoundError(**kwargs)
    if code == 408 or code == 504:
        exc = litellm.Timeout(**kwargs)
        exc.status_code = code
        return exc
    if code == 429:
        return litellm.RateLimitError(**kwargs)
    if 400 < code < 500:
        return _with_status(litellm.BadRequestError(**kwargs), code)
    if code == 503:
        return litellm.ServiceUnavailableError(**kwargs)
    return _with_status(litellm.InternalServerError(**kwargs), code)


def _with_status(exc: Exception, code: int) -> Exception:
    exc.status_code = code  # type: ignore[attr-defined]
    return exc


def _fake_response(code: int) -> Any:
    """The httpx.Response LiteLLM's PermissionDeniedError requires."""
    import httpx

    return httpx.Response(code, request=httpx.Request("GET", "https://aiplatform.googleapis.com"))

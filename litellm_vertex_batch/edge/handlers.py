"""The nine Files/Batches handlers the proxy calls for this plugin's provider names.

Each handler parses its kwargs once into a ``CallContext`` (settings from operator sources only: the
routed deployment as the router holds it, files_settings, env), runs the service, and translates plugin
errors to LiteLLM exceptions in one place (``_translated``).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx

from ..cloud.gcs import GcsObjects
from ..cloud.store import Store
from ..cloud.vertex import VertexClient
from ..core import expiry, ids
from ..core import settings as settings_mod
from ..core.errors import InvalidRequest, VertexBatchError, no_such_file
from ..services.batches import BatchService
from ..services.files import MAX_LIST_LIMIT, FileService, first_line_model
from .call_context import CallContext, files_settings_entry
from .cost_events import batch_cost_logger
from .deployments import authorize_model, deployment_named, price_overrides, resolve_batch_model, wrap_id_with_model
from .translate import to_litellm_error

log = logging.getLogger(__name__)
PROVIDER = "vertex_batch"
T = TypeVar("T")


def _translated(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(fn)
    async def wrapper(self: VertexBatchFiles, *args: Any, **kwargs: Any) -> T:
        try:
            return await fn(self, *args, **kwargs)
        except VertexBatchError as err:
            raise to_litellm_error(err) from err
    return wrapper


def _user_metadata(metadata: Any) -> dict[str, str] | None:
    """The caller's batch metadata, without what the proxy adds for its own bookkeeping."""
    if not isinstance(metadata, dict):
        return None
    kept = {k: v for k, v in metadata.items() if isinstance(v, str) and not k.startswith(("user_api_key", "litellm"))}
    return kept or None


class VertexBatchFiles:
    """Stateless: every call builds its view from settings; clients are cached per settings."""

    def __init__(self) -> None:
        #: one HTTP client per event loop (the proxy's; the sync calls' own), as httpx clients are bound to one
        self._http: dict[int, httpx.AsyncClient] = {}

    def provider_names(self) -> frozenset[str]:
        if settings_mod.switch(files_settings_entry(), settings_mod.PROVIDER_NAMES_SETTING,
                               "LITELLM_VERTEX_BATCH_SERVE_VERTEX_AI", False):
            return frozenset({PROVIDER, "vertex_ai"})
        return frozenset({PROVIDER})

    def _http_client(self) -> httpx.AsyncClient:
        import asyncio

        loop = id(asyncio.get_running_loop())
        if loop not in self._http or self._http[loop].is_closed:
            self._http[loop] = httpx.AsyncClient()
        return self._http[loop]

    def _files(self, ctx: CallContext) -> FileService:
        return FileService(Store(GcsObjects(ctx.settings)), ctx.settings, ctx.caller,
                           resolve_model=resolve_batch_model)

    def _batches(self, ctx: CallContext) -> BatchService:
        s = ctx.settings
        return BatchService(Store(GcsObjects(s)), s, VertexClient(s, self._http_client()), ctx.caller)

    # ---- files -------------------------------------------------------------------------------
    @_translated
    async def acreate_file(self, file: Any, purpose: str, **kwargs: Any) -> Any:
        from litellm.types.llms.openai import OpenAIFileObject

        ctx = CallContext.from_kwargs(kwargs)
        expires_after = expiry.expires_after_seconds(kwargs.get("expires_after"), "expires_after")
        filename, source = _file_parts(file)
        model, wrap_for = ctx.model, None
        if ctx.deployment is None and purpose == "batch":
            ctx, wrap_for = await self._route_by_lines(ctx, source)
        routed_by = {"deployment": ctx.deployment.model_name} if ctx.deployment and not wrap_for else None
        created = await self._files(ctx).create(source, filename, purpose, model, routed_by, expires_after)
        if wrap_for:  # the file lives where that deployment keeps files: later calls must be routed there
            created["id"] = wrap_id_with_model(created["id"], wrap_for)
        return OpenAIFileObject(**created)

    @staticmethod
    async def _route_by_lines(ctx: CallContext, source: Any) -> tuple[CallContext, str | None]:
        """An upload routed by provider alone whose lines name an operator's model_list alias is routed as an
        online call naming it would be: the key must be allowed that model, and the deployment's own storage,
        project, location and credentials apply (then its id carries the model, as the proxy's routed ids do)."""
        import asyncio

        named = await asyncio.to_thread(first_line_model, source)
        resolved = resolve_batch_model(named) if named else None
        deployment = deployment_named(resolved.deployment) if resolved and resolved.deployment else None
        if deployment is None:
            return ctx, None
        await authorize_model(ctx.auth, deployment.model_name)
        routed = ctx.routed_to(deployment)
        if routed.settings == ctx.settings:
            return ctx, None
        return routed, deployment.model_name

    @_translated
    async def afile_retrieve(self, file_id: str, **kwargs: Any) -> Any:
        from litellm.types.llms.openai import OpenAIFileObject

        files = self._files(CallContext.from_kwargs(kwargs))
        return OpenAIFileObject(**await files.retrieve(_file_token(file_id)))

    @_translated
    async def afile_delete(self, file_id: str, **kwargs: Any) -> Any:
        from openai.types.file_deleted import FileDeleted

        files = self._files(CallContext.from_kwargs(kwargs))
        return FileDeleted(**await files.delete(_file_token(file_id)))

    @_translated
    async def afile_list(self, purpose: str | None = None, **kwargs: Any) -> Any:
        from litellm.types.llms.openai import OpenAIFileObject

        ctx = CallContext.from_kwargs(kwargs)
        query = ctx.query
        after = kwargs.get("after") or query.get("after")
        after_token = ids.parse_file_id(after) if after else None
        if after and after_token is None:
            raise InvalidRequest(f"after {after!r} is not a file id of this gateway")
        limit = _limit(kwargs.get("limit") or query.get("limit"), MAX_LIST_LIMIT)
        page = await self._files(ctx).list(after_token, limit, purpose, str(query.get("order") or "desc"))
        page["data"] = [OpenAIFileObject(**item) for item in page["data"]]
        return page

    @_translated
    async def afile_content(self, file_id: str, stream: bool = False, **kwargs: Any) -> Any:
        from litellm.files.types import FileContentStreamingResult
        from litellm.types.llms.openai import HttpxBinaryResponseContent

        info, chunks = await self._files(CallContext.from_kwargs(kwargs)).content(_file_token(file_id))
        headers = {"content-type": "application/octet-stream", "content-length": str(info.size)}
        if stream:
            return FileContentStreamingResult(stream_iterator=chunks, headers=headers)
        content = b"".join([chunk async for chunk in chunks])
        return HttpxBinaryResponseContent(response=httpx.Response(
            200, content=content, headers=headers, request=httpx.Request("GET", f"/v1/files/{file_id}/content")))

    # ---- batches -----------------------------------------------------------------------------
    @_translated
    async def acreate_batch(self, input_file_id: str, endpoint: str, completion_window: str = "24h",
                            metadata: Any = None, **kwargs: Any) -> Any:
        from litellm.types.utils import LiteLLMBatch

        ctx = CallContext.from_kwargs(kwargs)
        if completion_window != "24h":
            raise InvalidRequest(f"completion_window must be '24h' (the only window OpenAI's Batch API has), "
                                 f"got {completion_window!r}")
        user_metadata = _user_metadata(metadata)
        problem = metadata_problem(user_metadata)
        if problem:
            raise InvalidRequest(problem)
        output_expires = expiry.expires_after_seconds(kwargs.get("output_expires_after"), "output_expires_after")
        created = await self._batches(ctx).create(input_file_id, endpoint, completion_window,
                                                  user_metadata, ctx.model, ctx.creator, price_overrides,
                                                  output_expires)
        return LiteLLMBatch(**created)

    @_translated
    async def aretrieve_batch(self, batch_id: str, **kwargs: Any) -> Any:
        from litellm.types.utils import LiteLLMBatch

        ctx = CallContext.from_kwargs(kwargs)
        service = self._batches(ctx)
        logging_obj = kwargs.get("litellm_logging_obj")
        if logging_obj is None or not hasattr(logging_obj, "update_from_kwargs"):  # library use: nothing to log
            return LiteLLMBatch(**await service.retrieve(batch_id))

        def logger_for(record: Mapping[str, Any], result: Mapping[str, Any], found: dict[str, Any]) -> Any:
            batch = LiteLLMBatch(**found)
            _prepare_logging(logging_obj, kwargs, ctx, batch.model)
            return batch_cost_logger(logging_obj, record, result, batch)

        found, charged = await service.retrieve_and_charge(batch_id, logger_for)  # logger_for prepared it
        batch = LiteLLMBatch(**found)
        if charged is None:  # not finished: nothing to charge yet
            _prepare_logging(logging_obj, kwargs, ctx, batch.model)
        elif not charged:
            # already charged (or being charged elsewhere); LiteLLM's own batch pricing, which cannot
            # read this provider's output, must not log it again
            params = logging_obj.litellm_params
            params["litellm_metadata"] = {**(params.get("litellm_metadata") or {}),
                                          "batch_ignore_default_logging": True}
        return batch

    @_translated
    async def alist_batches(self, after: str | None = None, limit: int | None = None, **kwargs: Any) -> Any:
        from litellm.types.utils import LiteLLMBatch

        limit = _limit(limit, 100, default=20)
        found = await self._batches(CallContext.from_kwargs(kwargs)).list(after, limit + 1)
        page = [LiteLLMBatch(**item) for item in found[:limit]]
        return {"object": "list", "data": page, "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None, "has_more": len(found) > limit}

    @_translated
    async def acancel_batch(self, batch_id: str, **kwargs: Any) -> Any:
        from litellm.types.utils import LiteLLMBatch

        return LiteLLMBatch(**await self._batches(CallContext.from_kwargs(kwargs)).cancel(batch_id))


def _prepare_logging(logging_obj: Any, kwargs: Mapping[str, Any], ctx: CallContext, model: str | None) -> None:
    """Give the call's LiteLLM logging object what built-in providers give it (provider, model, params)."""
    logging_obj.update_from_kwargs(
        kwargs=dict(kwargs), model=model, user=None, optional_params={},
        litellm_params={"litellm_call_id": kwargs.get("litellm_call_id"),
                        "proxy_server_request": kwargs.get("proxy_server_request"),
                        # the routed deployment's model_info as the operator wrote it, never the request's
                        "model_info": dict(ctx.deployment.model_info) if ctx.deployment else None,
                        "preset_cache_key": None, "stream_response": {}},
        custom_llm_provider=kwargs.get("custom_llm_provider") or PROVIDER)


def _limit(value: Any, most: int, default: int | None = None) -> int:
    """A list's ``limit``: 1 to ``most`` (OpenAI's bounds), the default when not given; anything else is a 400."""
    if value in (None, ""):
        return most if default is None else default
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise InvalidRequest(f"limit must be an integer, got {value!r}") from None
    if not 1 <= limit <= most:
        raise InvalidRequest(f"limit must be between 1 and {most}, got {limit}")
    return limit


#: OpenAI's metadata limits (pairs, key and value lengths).
METADATA_PAIRS, METADATA_KEY_CHARS, METADATA_VALUE_CHARS = 16, 64, 512


def metadata_problem(metadata: Mapping[str, Any] | None) -> str | None:
    """Why a batch's metadata breaks OpenAI's limits, or None."""
    if not metadata:
        return None
    if len(metadata) > METADATA_PAIRS:
        return f"metadata has {len(metadata)} pairs; at most {METADATA_PAIRS} are allowed"
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_CHARS:
            return f"metadata key {key[:20]!r}... is {len(key)} characters; at most {METADATA_KEY_CHARS}"
        if not isinstance(value, str):
            return f"metadata value of {key!r} must be a string"
        if len(value) > METADATA_VALUE_CHARS:
            return f"metadata value of {key!r} is {len(value)} characters; at most {METADATA_VALUE_CHARS}"
    return None


def _file_token(file_id: str) -> str:
    token = ids.parse_file_id(file_id)
    if token is None:
        raise no_such_file(file_id)
    return token


def _file_parts(file: Any) -> tuple[str, Any]:
    """(filename, binary stream) from what the proxy passes: a (name, handle, type) tuple, bytes or a handle."""
    import io

    if isinstance(file, tuple):
        filename, source = file[0], file[1]
    else:
        filename, source = getattr(file, "name", "upload.jsonl"), file
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    elif isinstance(source, str):
        source = io.BytesIO(source.encode("utf-8"))
    return os.path.basename(str(filename or "upload.jsonl")), source

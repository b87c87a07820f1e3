"""``batches.list``: a page of batch records, each shown as fully as can be read now.

A finished batch is answered from its stored result (no Vertex call); the unfinished ones are read from Vertex
concurrently (bounded). One item that cannot be read (Vertex or storage failing for it) is shown as its record
tells it, and logged, never failing the whole list; an item whose record is gone is left out.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..cloud.objects import ObjectInfo
from ..core import ids, layout
from ..core.errors import NotFound, VertexBatchError, no_such_batch

if TYPE_CHECKING:
    from .batches import BatchService

log = logging.getLogger(__name__)
#: Unfinished batches a list reads from Vertex at the same time: a whole page of OpenAI's largest size (100), so a
#: page costs one Vertex round trip, not two (within httpx's default pool of 100 connections).
LIST_CONCURRENCY = 100


async def list_batches(service: BatchService, after: str | None, limit: int) -> list[dict[str, Any]]:
    s = service.s
    prefix = layout.batches_prefix(s)
    after_token = ids.parse_batch_id(after) if after else None
    if after and after_token is None:
        raise no_such_batch(after)
    start = layout.batch_record(s, after_token) + "\x00" if after_token else None

    def keep(info: ObjectInfo) -> bool:
        token = layout.token_from_name(info.name, prefix, ".json")
        return ids.parse_batch_id(ids.batch_id(token)) is not None and service.visible(info.metadata)

    found = await service.store.scan(prefix, keep, limit, start)
    gate = asyncio.Semaphore(LIST_CONCURRENCY)

    async def one(info: ObjectInfo) -> dict[str, Any] | None:
        batch_id = ids.batch_id(layout.token_from_name(info.name, prefix, ".json"))
        async with gate:
            try:
                return await service.retrieve(batch_id, finalize_now=False)
            except NotFound:
                return None
            except VertexBatchError as err:
                log.warning("listing %s as far as its record tells (%s): %s", batch_id, err.status_code,
                            err.message)
            except Exception as err:  # noqa: BLE001 - e.g. an unreadable stored record: logged, never the list's
                log.warning("listing %s as far as its record tells: %s: %s", batch_id, type(err).__name__, err)
            return await service.record_only(batch_id)

    return [batch for batch in await asyncio.gather(*(one(info) for info in found)) if batch is not None]

"""Retrying transient Google failures with jittered exponential backoff, bounded in total time.

Only idempotent calls go through ``retry_async``; batch creation has its own
look-before-recreate loop in ``vertex.py``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ..core.errors import TRANSIENT_STATUS, TransientError, UpstreamError

T = TypeVar("T")
RETRYABLE_STATUS = TRANSIENT_STATUS


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 8.0
    deadline: float = 30.0

    def delays(self) -> list[float]:
        """Full-jitter delays between attempts."""
        return [random.uniform(0, min(self.max_delay, self.initial_delay * 2**n)) for n in range(self.attempts - 1)]


DEFAULT_POLICY = RetryPolicy()


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, TransientError):
        return True
    return isinstance(exc, UpstreamError) and exc.status_code in RETRYABLE_STATUS


async def retry_async(call: Callable[[], Awaitable[T]], policy: RetryPolicy = DEFAULT_POLICY) -> T:
    started = time.monotonic()
    delays = policy.delays()
    for attempt in range(policy.attempts):
        try:
            return await call()
        except UpstreamError as exc:
            if not is_retryable(exc) or attempt == policy.attempts - 1:
                raise
            delay = delays[attempt]
            if time.monotonic() - started + delay > policy.deadline:
                raise
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")

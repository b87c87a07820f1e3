"""Leases against the in-memory bucket: ambiguous claim writes are settled by reading back, a failed release is
retried until storage recovers, and a renewed lease is not taken over while its holder works."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from litellm_vertex_batch.cloud import leases
from litellm_vertex_batch.cloud.memory import MemoryObjects
from litellm_vertex_batch.cloud.store import Store
from litellm_vertex_batch.core.errors import TransientError

LOCK = "locks/token.finalize"


def store_with(objects: MemoryObjects) -> Store:
    return Store(objects, offload=False)


def test_a_lost_answer_to_the_claim_write_is_settled_by_reading_it_back(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = MemoryObjects()
    write = objects.write_bytes

    def written_but_answer_lost(*args: Any, **kwargs: Any) -> bool:
        write(*args, **kwargs)
        raise TransientError("Cloud Storage did not answer (timeout)", None, ambiguous=True)

    monkeypatch.setattr(objects, "write_bytes", written_but_answer_lost)
    assert asyncio.run(leases.claim(store_with(objects), LOCK, 60)) is not None
    monkeypatch.setattr(objects, "write_bytes", write)
    assert asyncio.run(leases.claim(store_with(objects), LOCK, 60)) is None  # and it is held: nobody else gets it


def test_a_retry_refused_by_its_own_first_attempt_still_holds_the_claim(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = MemoryObjects()
    write = objects.write_bytes

    def first_attempt_succeeded_retry_got_412(*args: Any, **kwargs: Any) -> bool:
        write(*args, **kwargs)
        return False

    monkeypatch.setattr(objects, "write_bytes", first_attempt_succeeded_retry_got_412)
    assert asyncio.run(leases.claim(store_with(objects), LOCK, 60)) is not None


def test_a_claim_held_by_another_is_not_taken_and_a_lapsed_one_is() -> None:
    objects = MemoryObjects()
    store = store_with(objects)
    first = asyncio.run(leases.claim(store, LOCK, 60))
    assert first is not None and asyncio.run(leases.claim(store, LOCK, 60)) is None
    assert asyncio.run(leases.claim(store, LOCK, 0)) not in (None, first)


def test_a_release_that_fails_is_retried_until_storage_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = MemoryObjects()
    store = store_with(objects)
    delete = objects.delete
    failures = {"left": 3}

    def failing_delete(name: str) -> bool:
        if failures["left"]:
            failures["left"] -= 1
            raise TransientError("Cloud Storage answered 503: backend unavailable", 503)
        return delete(name)

    monkeypatch.setattr(leases, "RELEASE_RETRY_SECONDS", 0.05)
    monkeypatch.setattr(objects, "delete", failing_delete)

    async def scenario() -> tuple[bool, float]:
        holder = await leases.claim(store, LOCK, 3600)
        assert holder is not None
        await leases.release(store, LOCK, holder)  # fails now; the lease would hold for an hour
        assert await leases.claim(store, LOCK, 3600) is None
        loop = asyncio.get_running_loop()
        started = loop.time()
        while LOCK in objects.names() and loop.time() - started < 5:
            await asyncio.sleep(0.02)
        return await leases.claim(store, LOCK, 3600) is not None, loop.time() - started

    taken, waited = asyncio.run(scenario())
    assert taken and waited < 2 and failures["left"] == 0


def test_a_renewed_lease_is_not_taken_over_while_its_holder_works() -> None:
    objects = MemoryObjects()
    store = store_with(objects)

    async def scenario() -> tuple[list[Any], Any]:
        holder = await leases.claim(store, LOCK, 0.3)
        assert holder is not None
        attempts = []
        async with leases.holding(store, LOCK, holder, 0.3):
            for _ in range(10):  # 1 s of work: three times the lease
                await asyncio.sleep(0.1)
                attempts.append(await leases.claim(store, LOCK, 0.3))
        await asyncio.sleep(0.4)  # no longer renewed: lapses
        return attempts, await leases.claim(store, LOCK, 0.3)

    attempts, after = asyncio.run(scenario())
    assert attempts == [None] * 10 and after is not None


def test_a_late_background_release_never_deletes_another_holders_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = MemoryObjects()
    store = store_with(objects)
    delete = objects.delete
    broken = {"on": True}

    def failing_delete(name: str) -> bool:
        if broken["on"]:
            raise TransientError("Cloud Storage answered 503: backend unavailable", 503)
        return delete(name)

    monkeypatch.setattr(leases, "RELEASE_RETRY_SECONDS", 0.05)
    monkeypatch.setattr(objects, "delete", failing_delete)

    async def scenario() -> tuple[str | None, list[str]]:
        first = await leases.claim(store, LOCK, 0.1)
        assert first is not None
        await leases.release(store, LOCK, first)  # fails; retried in the background
        await asyncio.sleep(0.15)  # the lease lapses and another replica takes it over
        second = await leases.claim(store, LOCK, 0.1)
        assert second not in (None, first)
        broken["on"] = False
        await asyncio.sleep(0.3)  # the background retry runs now that storage answers
        return second, objects.names()

    second, names = asyncio.run(scenario())
    assert names == [LOCK]
    assert json.loads(objects.read_bytes(LOCK)[0])["holder"] == second


# --- claims end with the work they guard ------------------------------------------------------------------------

def test_a_charge_releases_its_claim_once_its_record_is_written() -> None:
    from litellm_vertex_batch.services import charges

    objects = MemoryObjects()
    store = store_with(objects)
    logged: list[str] = []

    async def log_cost(charge_id: str) -> float:
        logged.append(charge_id)
        return 1.5

    assert asyncio.run(charges.once(store, "charges/t.json", "locks/t.charge", "id-1", log_cost, 60)) is True
    assert objects.read_bytes("charges/t.json") is not None and objects.read_bytes("locks/t.charge") is None
    assert asyncio.run(charges.once(store, "charges/t.json", "locks/t.charge", "id-1", log_cost, 60)) is False
    assert logged == ["id-1"]


def test_a_claimer_that_read_before_another_replica_finished_does_not_charge_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Replica B reads "not charged", replica A then charges, writes the record and releases its claim, B claims:
    B reads the record again after claiming and logs nothing."""
    from litellm_vertex_batch.services import charges

    objects = MemoryObjects()
    store = store_with(objects)
    logged: list[str] = []
    real_claim = leases.claim

    async def claim_after_a_finished(*args: Any, **kwargs: Any) -> Any:
        objects.write_bytes("charges/t.json", json.dumps({"charge_id": "id-1"}).encode())  # A's record
        return await real_claim(*args, **kwargs)

    monkeypatch.setattr(charges.leases, "claim", claim_after_a_finished)

    async def log_cost(charge_id: str) -> float:
        logged.append(charge_id)
        return 1.0

    assert asyncio.run(charges.once(store, "charges/t.json", "locks/t.charge", "id-1", log_cost, 60)) is False
    assert logged == [] and objects.read_bytes("locks/t.charge") is None

"""Webhooks (payload, Standard Webhooks signature checked by the openai SDK's own ``webhooks.unwrap``, outbox with
retries and backoff, per-team endpoints) and expiry (OpenAI's bounds, the time-ordered index, what is deleted),
against the in-memory bucket and ``httpx.MockTransport``."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import httpx
import openai
import pytest

from litellm_vertex_batch.cloud.memory import MemoryObjects
from litellm_vertex_batch.cloud.store import Store
from litellm_vertex_batch.core import expiry, layout, webhooks
from litellm_vertex_batch.core.errors import InvalidRequest
from litellm_vertex_batch.core.settings import resolve
from litellm_vertex_batch.services import expiring
from litellm_vertex_batch.services import webhooks as outbox

SETTINGS = resolve({}, {"gcs_bucket_name": "memory-bucket", "vertex_project": "p", "vertex_location": "l"})
SECRET = "whsec_" + base64.b64encode(b"a secret of thirty-two bytes!!!!").decode()
BATCH = {"id": "batch_vb123", "status": "completed", "completed_at": 1_760_000_000}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_signed_event_is_verified_and_parsed_by_the_openai_sdk_and_a_wrong_secret_is_refused() -> None:
    event = webhooks.batch_event(BATCH, now=1)
    assert event is not None and event["type"] == "batch.completed" and event["created_at"] == BATCH["completed_at"]
    payload = webhooks.body(event)
    headers = webhooks.signed_headers("wh_1", payload, SECRET, int(time.time()))
    parsed = openai.OpenAI(api_key="unused", webhook_secret=SECRET).webhooks.unwrap(payload, headers)
    assert type(parsed).__name__ == "BatchCompletedWebhookEvent"
    assert parsed.id == event["id"] and parsed.data.id == "batch_vb123" and parsed.object == "event"
    wrong = "whsec_" + base64.b64encode(b"another secret of 32 bytes!!!!!!").decode()
    with pytest.raises(openai.InvalidWebhookSignatureError):
        openai.OpenAI(api_key="unused", webhook_secret=wrong).webhooks.unwrap(payload, headers)


def test_every_final_status_has_its_event_and_ids_are_stable() -> None:
    for status, kind in webhooks.EVENT_TYPES.items():
        event = webhooks.batch_event({"id": "batch_vbX", "status": status}, now=5)
        assert event is not None and event["type"] == kind and event["created_at"] == 5
        again = webhooks.batch_event({"id": "batch_vbX", "status": status}, now=99)
        assert again is not None and again["id"] == event["id"], "the same event whoever builds it, whenever"
    assert webhooks.batch_event({"id": "batch_vbX", "status": "in_progress"}, now=5) is None
    assert [webhooks.next_attempt_in(n) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert webhooks.next_attempt_in(40) == webhooks.MAX_BACKOFF_SECONDS


def test_endpoints_are_read_from_the_setting_and_bad_entries_refused() -> None:
    found, refused = webhooks.endpoints_from([{"url": "https://a.example/hook", "secret": SECRET},
                                              {"url": "ftp://x", "secret": "s"},
                                              {"url": "https://b.example", "secret": SECRET, "team_id": "team-a"}])
    assert [e.url for e in found] == ["https://a.example/hook", "https://b.example"] and len(refused) == 1
    assert found[1].wants({"owner_team_id": "team-a"}) and not found[1].wants({"owner_team_id": "team-b"})
    assert webhooks.endpoints_from(json.dumps([{"url": "http://c", "secret": "x"}]))[0][0].url == "http://c"


class Receiver:
    """Answers the statuses given in turn (then 200), recording each request."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)


def test_the_outbox_retries_with_backoff_keeps_its_ids_and_sends_each_team_its_own() -> None:
    store = Store(MemoryObjects(), offload=False)
    everyone = webhooks.Endpoint("https://all.example/hook", SECRET)
    team_b = webhooks.Endpoint("https://b.example/hook", SECRET, team_id="team-b")
    receiver = Receiver(500)
    http = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    owner = {"owner_team_id": "team-a"}
    assert run(outbox.enqueue(store, SETTINGS, [everyone, team_b], owner, BATCH, now=100)) == 1
    assert run(outbox.enqueue(store, SETTINGS, [everyone, team_b], owner, BATCH, now=101)) == 0, "queued once"

    assert run(outbox.deliver_due(store, SETTINGS, [everyone, team_b], http, now=100)) == 0  # answered 500
    assert run(outbox.deliver_due(store, SETTINGS, [everyone, team_b], http, now=101)) == 0  # backing off
    assert len(receiver.requests) == 1
    assert run(outbox.deliver_due(store, SETTINGS, [everyone, team_b], http, now=106)) == 1
    first, second = receiver.requests
    assert str(first.url) == everyone.url and first.headers["webhook-id"] == second.headers["webhook-id"]
    assert json.loads(first.content)["id"] == json.loads(second.content)["id"]
    parsed = openai.OpenAI(api_key="unused").webhooks.unwrap(second.content, dict(second.headers), secret=SECRET)
    assert parsed.data.id == BATCH["id"]
    assert list(store.objects.list(outbox.outbox_prefix(SETTINGS))) == []


def test_the_outbox_gives_up_after_three_days_and_drops_an_endpoint_no_longer_configured() -> None:
    store = Store(MemoryObjects(), offload=False)
    endpoint = webhooks.Endpoint("https://down.example/hook", SECRET)
    http = httpx.AsyncClient(transport=httpx.MockTransport(Receiver(*[503] * 10)))
    run(outbox.enqueue(store, SETTINGS, [endpoint], {}, BATCH, now=0))
    run(outbox.deliver_due(store, SETTINGS, [endpoint], http, now=0))
    assert len(list(store.objects.list(outbox.outbox_prefix(SETTINGS)))) == 1
    run(outbox.deliver_due(store, SETTINGS, [endpoint], http, now=webhooks.GIVE_UP_SECONDS + 10))
    assert list(store.objects.list(outbox.outbox_prefix(SETTINGS))) == []
    run(outbox.enqueue(store, SETTINGS, [endpoint], {}, {**BATCH, "id": "batch_vb456"}, now=0))
    run(outbox.deliver_due(store, SETTINGS, [], http, now=1))
    assert list(store.objects.list(outbox.outbox_prefix(SETTINGS))) == []


@pytest.mark.parametrize(("value", "problem"), [
    ({"anchor": "created_at", "seconds": 3599}, "below minimum"),
    ({"anchor": "created_at", "seconds": 2_592_001}, "above maximum"),
    ({"anchor": "last_active_at", "seconds": 3600}, "anchor"),
    ({"anchor": "created_at", "seconds": "soon"}, "integer"),
    ("3600", "expected an object"),
])
def test_expires_after_outside_openais_bounds_is_a_400_naming_the_field(value: Any, problem: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        expiry.expires_after_seconds(value, "expires_after")
    assert "expires_after" in refused.value.message and problem in refused.value.message


def test_expires_after_within_bounds() -> None:
    assert expiry.expires_after_seconds(None, "expires_after") is None
    assert expiry.expires_after_seconds({"anchor": "created_at", "seconds": 3600}, "x") == 3600
    assert expiry.expires_after_seconds({"anchor": "created_at", "seconds": "2592000"}, "x") == 2_592_000


def _object(store: Store, name: str, metadata: dict[str, str] | None = None) -> None:
    store.objects.write_bytes(name, b"x", metadata, "application/json", None)


def test_the_expiry_pass_deletes_what_expired_in_time_order_and_nothing_else() -> None:
    store = Store(MemoryObjects(), offload=False)
    s = SETTINGS
    _object(store, layout.file_object(s, "aaa"), {"expires_at": "100"})
    _object(store, layout.vertex_input(s, "aaa"))
    _object(store, layout.file_object(s, "bbb"), {"expires_at": "500"})  # its entry is still in the future
    _object(store, layout.file_object(s, "ccc"))  # its metadata says it never expires: an entry cannot remove it
    _object(store, layout.batch_result(s, "batch1"))
    _object(store, layout.vertex_output_prefix(s, "batch1") + "prediction/predictions.jsonl")
    _object(store, layout.batch_input(s, "batch1"))
    _object(store, layout.vertex_output_prefix(s, "batch2") + "prediction/predictions.jsonl")  # no result yet
    for at, kind, token in ((100, expiry.FILE, "aaa"), (500, expiry.FILE, "bbb"), (90, expiry.FILE, "ccc"),
                            (95, expiry.RAW, "batch1"), (96, expiry.RAW, "batch2")):
        _object(store, expiry.entry_name(s, at, kind, token))

    removed = run(expiring.expire(store, s, now=200))
    assert sorted(removed) == sorted([layout.file_object(s, "aaa"), layout.vertex_input(s, "aaa"),
                                      layout.vertex_output_prefix(s, "batch1") + "prediction/predictions.jsonl",
                                      layout.batch_input(s, "batch1")])
    left = {info.name for info in store.objects.list(expiry.expiry_prefix(s))}
    assert left == {expiry.entry_name(s, 500, expiry.FILE, "bbb"), expiry.entry_name(s, 96, expiry.RAW, "batch2")}
    assert store.objects.info(layout.file_object(s, "ccc")) is not None
    assert store.objects.info(layout.file_object(s, "bbb")) is not None

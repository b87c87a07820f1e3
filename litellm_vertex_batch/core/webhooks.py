"""Batch webhooks as OpenAI sends them: the event payload, the Standard Webhooks signature, the retry schedule.

Payload (OpenAI's webhook events): ``{"id": "evt_...", "object": "event", "created_at", "type": "batch.completed",
"data": {"id": "batch_..."}}``. Headers (Standard Webhooks, which OpenAI uses and ``client.webhooks.unwrap``
verifies): ``webhook-id``, ``webhook-timestamp`` (Unix seconds at sending), ``webhook-signature`` =
``v1,`` + base64(HMAC-SHA256(secret, "<id>.<timestamp>.<body>")), the secret being the base64 after ``whsec_``.
The event id and the webhook id are derived from the batch (and the endpoint), so every retry and every replica
sends the same ones: receivers deduplicate on them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the batch statuses that have an event, and its type
EVENT_TYPES = {"completed": "batch.completed", "failed": "batch.failed", "cancelled": "batch.cancelled",
               "expired": "batch.expired"}
_EVENT_TIMES = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at",
                "expired": "expired_at"}
#: first retry after this, doubling up to MAX_BACKOFF_SECONDS; given up GIVE_UP_SECONDS after the first attempt
FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS, GIVE_UP_SECONDS = 5.0, 3600.0, 72 * 3600.0


@dataclass(frozen=True)
class Endpoint:
    """One operator-configured receiver; ``team_id`` limits it to that team's batches."""

    url: str
    secret: str
    team_id: str | None = None

    @property
    def key(self) -> str:
        """Names the endpoint in the outbox without its secret."""
        return hashlib.sha256(self.url.encode()).hexdigest()[:16]

    def wants(self, owner: Mapping[str, Any]) -> bool:
        return self.team_id is None or owner.get("owner_team_id") == self.team_id


def _digest(text: str, length: int = 32) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def batch_event(batch: Mapping[str, Any], now: int) -> dict[str, Any] | None:
    """The event for a batch in a final status, or None when it has none."""
    status = batch.get("status")
    event_type = EVENT_TYPES.get(str(status))
    if event_type is None:
        return None
    created = batch.get(_EVENT_TIMES[str(status)]) or now
    return {"id": "evt_" + _digest(f"{batch['id']}:{event_type}"), "object": "event", "created_at": int(created),
            "type": event_type, "data": {"id": batch["id"]}}


def webhook_id(event_id: str, endpoint: Endpoint) -> str:
    return "wh_" + _digest(f"{event_id}:{endpoint.key}")


def body(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode("utf-8")


def signed_headers(message_id: str, payload: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The Standard Webhooks headers for one delivery attempt."""
    key = base64.b64decode(secret[len("whsec_"):]) if secret.startswith("whsec_") else secret.encode()
    signed = f"{message_id}.{timestamp}.".encode() + payload
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{signature}",
            "content-type": "application/json"}


def next_attempt_in(attempts: int) -> float:
    """Seconds to wait after ``attempts`` failed deliveries."""
    return min(FIRST_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


def endpoints_from(config: Any) -> tuple[list[Endpoint], list[str]]:
    """The endpoints of the ``webhooks`` setting (a list of ``{url, secret, team_id?}``), and what was refused."""
    if config in (None, ""):
        return [], []
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            return [], ["webhooks must be a list of {url, secret, team_id} entries (JSON in the variable)"]
    if not isinstance(config, list):
        return [], ["webhooks must be a list of {url, secret, team_id} entries"]
    found, refused = [], []
    for index, entry in enumerate(config):
        url = entry.get("url") if isinstance(entry, Mapping) else None
        secret = entry.get("secret") if isinstance(entry, Mapping) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not isinstance(secret, str) \
                or not secret:
            refused.append(f"webhooks entry {index}: needs an http(s) url and a secret")
            continue
        team = entry.get("team_id")
        found.append(Endpoint(url, secret, str(team) if team not in (None, "") else None))
    return found, refused

"""Discord Webhook Events: the queue the fake fills (installs, revocations) and the driver that
delivers events to the app's events URL, signed like interactions.

A PING is `{"version":1,"application_id":…,"type":0}` and expects 204 with an empty body; an
event is `type: 1` with `event.type`, a timestamp without offset and `data`. Discord wants 204
within 3 s, retries a failed delivery several times, and after too many failures disables the
URL (`event_webhooks_status` 3); the driver counts failures and does the same.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.fakes.discord_model import World
from tests.fakes.discord_signing import Delivery, SigningKey, post_signed

EVENTS_DISABLED = 1
EVENTS_ENABLED = 2
EVENTS_DISABLED_BY_DISCORD = 3
RESPONSE_DEADLINE_S = 3.0


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    application_id: str
    type: str
    data: dict[str, Any]
    timestamp: str

    def payload(self) -> dict[str, Any]:
        return {
            "version": 1,
            "application_id": self.application_id,
            "type": 1,
            "event": {"type": self.type, "timestamp": self.timestamp, "data": self.data},
        }


def event_timestamp() -> str:
    """Now as Discord writes event timestamps: ISO 8601, microseconds, no offset (UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


class WebhookEventQueue:
    """Events the fake owes the app, and the app's `event_webhooks_status`."""

    def __init__(self, world: World, lock: threading.RLock) -> None:
        self._world = world
        self._lock = lock
        self._pending: deque[QueuedEvent] = deque()
        self._failures = 0
        self.status = EVENTS_ENABLED

    def queue(self, application_id: str, event_type: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            self._pending.append(
                QueuedEvent(application_id, event_type, dict(data), event_timestamp())
            )

    @property
    def pending(self) -> tuple[QueuedEvent, ...]:
        with self._lock:
            return tuple(self._pending)

    def take(self) -> list[QueuedEvent]:
        with self._lock:
            taken = list(self._pending)
            self._pending.clear()
            return taken

    @property
    def failures(self) -> int:
        with self._lock:
            return self._failures

    def record(self, ok: bool) -> None:
        """Count a failed delivery; past the configured limit Discord disables the URL."""
        with self._lock:
            if ok:
                return
            self._failures += 1
            if self._failures >= self._world.config.webhook_events_failure_limit:
                self.status = EVENTS_DISABLED_BY_DISCORD


def delivered(delivery: Delivery) -> bool:
    """Discord's success rule: 204, empty body, within 3 s."""
    return (
        delivery.status == 204 and not delivery.body and delivery.latency_s <= RESPONSE_DEADLINE_S
    )


class WebhookEventsDriver:
    """Sends signed Webhook Events to the app under test, as Discord would."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        application_id: str,
        key: SigningKey | None = None,
        queue: WebhookEventQueue | None = None,
    ) -> None:
        self._client = client
        self._url = url
        self._application_id = application_id
        self._key = key or SigningKey()
        self._queue = queue
        self.deliveries: list[Delivery] = []

    async def send(self, body: bytes, *, bad_signature: bool = False) -> Delivery:
        """POST one raw body, signed (or with a flipped signature byte), and record the answer."""
        delivery = await post_signed(
            self._client, self._url, body, self._key, bad_signature=bad_signature
        )
        self.deliveries.append(delivery)
        if self._queue is not None and not bad_signature:
            self._queue.record(delivered(delivery))
        return delivery

    async def ping(self) -> Delivery:
        return await self.send(self.ping_body())

    def ping_body(self) -> bytes:
        return _encode({"version": 1, "application_id": self._application_id, "type": 0})

    def event_body(self, event_type: str, data: Mapping[str, Any]) -> bytes:
        event = QueuedEvent(self._application_id, event_type, dict(data), event_timestamp())
        return _encode(event.payload())

    async def application_authorized(
        self,
        *,
        user: Mapping[str, Any],
        guild: Mapping[str, Any],
        scopes: tuple[str, ...] = ("bot", "applications.commands"),
    ) -> Delivery:
        """A server install (integration_type 0) carrying the installing user and the guild."""
        data = {"integration_type": 0, "scopes": list(scopes), "user": user, "guild": guild}
        return await self.send(self.event_body("APPLICATION_AUTHORIZED", data))

    async def application_deauthorized(self, *, user: Mapping[str, Any]) -> Delivery:
        return await self.send(self.event_body("APPLICATION_DEAUTHORIZED", {"user": user}))

    async def probe_bad_signature(self) -> Delivery:
        """Discord's routine check: a PING whose signature has one byte flipped (expects 401)."""
        return await self.send(self.ping_body(), bad_signature=True)

    async def deliver_pending(self) -> list[Delivery]:
        """Send every event the fake queued (installs, revocations), oldest first."""
        if self._queue is None:
            return []
        return [await self.send(_encode(event.payload())) for event in self._queue.take()]

    async def deliver_with_retries(
        self, body: bytes, *, attempts: int = 3, backoff_s: float = 0.05
    ) -> list[Delivery]:
        """Resend the identical body until it is delivered or `attempts` run out, doubling the
        pause each time (Discord's own schedule is unknown beyond "up to 10 minutes")."""
        tries: list[Delivery] = []
        for attempt in range(attempts):
            delivery = await self.send(body)
            tries.append(delivery)
            if delivered(delivery):
                break
            await asyncio.sleep(backoff_s * 2**attempt)
        return tries


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()

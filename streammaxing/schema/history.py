"""A guild's recent announcements, from ``notification_log`` (the delivery outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class DeliveryRow:
    id: UUID
    broadcaster_id: str | None
    streamer_login: str | None
    streamer_display_name: str | None
    event_id: str
    status: str
    channel_id: str | None
    message_id: str | None
    failure_reason: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    stream_started_at: datetime | None
    latency_seconds: float | None


# Newest first. Latency runs from the stream's start (EventSub `started_at`) to Discord's answer;
# it is NULL until the announcement was delivered. `streamer_id` is nullable in the seed, hence
# the LEFT JOIN.
_HISTORY = """
SELECT nl.id, s.twitch_broadcaster_id AS broadcaster_id, s.twitch_login AS streamer_login,
       s.twitch_display_name AS streamer_display_name, nl.event_id, nl.status, nl.channel_id,
       nl.message_id, nl.failure_reason, nl.sent_at, nl.delivered_at, nl.stream_started_at,
       EXTRACT(EPOCH FROM nl.delivered_at - nl.stream_started_at)::float8 AS latency_seconds
FROM notification_log nl
LEFT JOIN streamers s ON s.id = nl.streamer_id
WHERE nl.guild_id = %s
ORDER BY nl.sent_at DESC NULLS LAST, nl.id DESC
LIMIT %s
"""


async def guild_history(
    conn: AsyncConnection[Any], guild_id: str, *, limit: int
) -> list[DeliveryRow]:
    async with conn.cursor(row_factory=class_row(DeliveryRow)) as cur:
        await cur.execute(_HISTORY, (guild_id, limit))
        return await cur.fetchall()

"""The delivery outbox: pending announcements and DMs, and recording how each one ended."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class PendingAnnouncement:
    id: UUID
    guild_id: str
    streamer_id: UUID
    event_id: str
    channel_id: str
    payload: dict[str, Any] | None
    attempts: int
    stream_started_at: datetime | None
    first_attempt_at: datetime | None
    due: bool
    abandoned: bool
    # Round-robin turn between the shard's streams: the row's place among its stream's pending
    # rows in the shard, raised to the turn of any earlier row of its channel (channel order).
    turn: int
    # Pending rows of the row's stream in the shard: a small fan-out's rows are few.
    stream_rows: int


# Round-robin between streams: row k of every stream before row k+1 of any, so a small go-live
# is not queued behind a big one's backlog. A channel's rows keep go-live order (acceptance
# order, the ingest's number; rows without one, from the catch-up poll, after; then oldest stream
# first): a row's turn is never before the turn of an earlier row of its channel, and ties go in
# go-live order, so any prefix of this order holds every earlier row of each of its channels.
_PENDING_ANNOUNCEMENTS = """
SELECT id, guild_id, streamer_id, event_id, channel_id, payload, attempts, stream_started_at,
       first_attempt_at, due, abandoned, turn, stream_rows
FROM (
    SELECT *, max(stream_turn) OVER (
               PARTITION BY channel_id ORDER BY accepted_seq, stream_started_at, id
           ) AS turn
    FROM (
        SELECT id, guild_id, streamer_id, event_id, channel_id, payload, attempts,
               stream_started_at, first_attempt_at, accepted_seq,
               (payload IS NOT NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now()))
                   AS due,
               (payload IS NULL AND sent_at < now() - make_interval(secs => %s)) AS abandoned,
               (row_number() OVER (
                    PARTITION BY event_id ORDER BY accepted_seq, stream_started_at, id
               ))::int - 1 AS stream_turn,
               (count(*) OVER (PARTITION BY event_id))::int AS stream_rows
        FROM notification_log
        WHERE status = 'pending' AND shard = %s
    ) AS pending
) AS ranked
ORDER BY turn, accepted_seq, stream_started_at, id
LIMIT %s
"""


# A claim whose fan-out never rendered it (its job gave up) stops blocking its channel after this.
UNRENDERED_TIMEOUT_SECONDS = 600


async def pending_announcements(
    conn: AsyncConnection[Any], shard: int, limit: int
) -> list[PendingAnnouncement]:
    """Pending rows of one shard, due or not (a channel's order includes rows still waiting)."""
    async with conn.cursor(row_factory=class_row(PendingAnnouncement)) as cur:
        await cur.execute(_PENDING_ANNOUNCEMENTS, (UNRENDERED_TIMEOUT_SECONDS, shard, limit))
        return await cur.fetchall()


@dataclass(frozen=True)
class SentMark:
    """A pending announcement that reached Discord (or was logged in dry-run)."""

    log_id: UUID
    channel_id: str
    message_id: str | None
    dry_run: bool = False


_MARK_SENT = """
UPDATE notification_log AS n
SET status = m.status, channel_id = m.channel_id, message_id = m.message_id,
    delivered_at = now(), sent_at = now(), attempts = n.attempts + 1,
    first_attempt_at = COALESCE(n.first_attempt_at, now()), next_attempt_at = NULL,
    failure_reason = NULL
FROM unnest(%(ids)s::uuid[], %(statuses)s::text[], %(channel_ids)s::text[], %(message_ids)s::text[])
    AS m(id, status, channel_id, message_id)
-- `n.id = ANY`: without it, the plan psycopg prepares reads every pending row of every shard
-- (a fan-out's worth) to join them with the few rows being marked.
WHERE n.id = ANY(%(ids)s::uuid[]) AND n.id = m.id AND n.status = 'pending'
RETURNING n.id
"""


async def mark_announcements_sent(
    conn: AsyncConnection[Any], marks: Sequence[SentMark]
) -> set[UUID]:
    """Mark pending rows sent (or dry_run) with their message ids; returns the ids it changed."""
    cur = await conn.execute(
        _MARK_SENT,
        {
            "ids": [mark.log_id for mark in marks],
            "statuses": ["dry_run" if mark.dry_run else "sent" for mark in marks],
            "channel_ids": [mark.channel_id for mark in marks],
            "message_ids": [mark.message_id for mark in marks],
        },
    )
    return {row[0] for row in await cur.fetchall()}


async def mark_announcement_sent(
    conn: AsyncConnection[Any],
    log_id: UUID,
    *,
    channel_id: str,
    message_id: str | None,
    dry_run: bool = False,
) -> bool:
    mark = SentMark(log_id, channel_id, message_id, dry_run)
    return log_id in await mark_announcements_sent(conn, [mark])


_MARK_RETRY = """
UPDATE notification_log
SET attempts = attempts + %s, first_attempt_at = COALESCE(first_attempt_at, now()),
    next_attempt_at = now() + make_interval(secs => %s), failure_reason = %s
WHERE id = %s AND status = 'pending'
"""


async def mark_announcement_retry(
    conn: AsyncConnection[Any], log_id: UUID, *, delay: float, reason: str, counts: bool = True
) -> None:
    """Keep the row pending and due again in `delay` seconds (`counts`: an attempt was made)."""
    await conn.execute(_MARK_RETRY, (1 if counts else 0, delay, reason, log_id))


_MARK_FAILED = """
UPDATE notification_log
SET status = 'failed', failure_reason = %s, attempts = attempts + 1, next_attempt_at = NULL,
    first_attempt_at = COALESCE(first_attempt_at, now())
WHERE id = %s AND status = 'pending'
"""


async def mark_announcement_failed(conn: AsyncConnection[Any], log_id: UUID, reason: str) -> None:
    await conn.execute(_MARK_FAILED, (reason, log_id))


_DISABLE_GUILD = """
UPDATE guild_config SET enabled = false, disabled_reason = %s, updated_at = now()
WHERE guild_id = %s
"""
_FAIL_GUILD_PENDING = """
UPDATE notification_log SET status = 'failed', failure_reason = %s, next_attempt_at = NULL
WHERE guild_id = %s AND status = 'pending'
"""


async def disable_guild_delivery(conn: AsyncConnection[Any], guild_id: str, reason: str) -> None:
    """Stop attempting a guild Discord refuses permanently (channel gone, no access, …)."""
    await conn.execute(_DISABLE_GUILD, (reason, guild_id))
    await conn.execute(_FAIL_GUILD_PENDING, (f"guild disabled: {reason}", guild_id))


# A channel's rows go out in order, so a channel is due when its oldest pending row is. A head
# still waiting for its payload is woken by the fan-out that renders it, not by a follow-up.
_NEXT_DUE = """
SELECT min(COALESCE(head.next_attempt_at, now())) FROM (
    SELECT DISTINCT ON (channel_id) next_attempt_at, payload IS NOT NULL AS rendered
    FROM notification_log
    WHERE status = 'pending' AND shard = %s
    ORDER BY channel_id, accepted_seq, stream_started_at, id
) AS head
WHERE head.rendered
"""


async def next_announcement_due(conn: AsyncConnection[Any], shard: int) -> datetime | None:
    """When the shard's earliest pending row is due (None: nothing pending)."""
    cur = await conn.execute(_NEXT_DUE, (shard,))
    row = await cur.fetchone()
    return row[0] if row else None


# --- DMs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PendingDm:
    id: UUID
    user_id: str
    event_id: str
    guild_id: str | None
    payload: dict[str, Any]
    attempts: int
    dm_channel_id: str | None


_PENDING_DMS = """
SELECT d.id, d.user_id, d.event_id, d.guild_id, d.payload, d.attempts, u.dm_channel_id
FROM dm_log d JOIN users u ON u.user_id = d.user_id
WHERE d.status = 'pending' AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now())
ORDER BY d.sent_at, d.id
LIMIT %s
"""


async def pending_dms(conn: AsyncConnection[Any], limit: int) -> list[PendingDm]:
    async with conn.cursor(row_factory=class_row(PendingDm)) as cur:
        await cur.execute(_PENDING_DMS, (limit,))
        return await cur.fetchall()


# Oldest first, a bounded batch per statement; rows the DM lane is marking are left alone.
_EXPIRE_STALE_DMS = """
WITH stale AS (
    SELECT id FROM dm_log
    WHERE status = 'pending' AND sent_at < now() - make_interval(secs => %(max_age)s)
    ORDER BY sent_at, id
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
UPDATE dm_log d SET status = 'failed', failure_reason = 'stale', next_attempt_at = NULL
FROM stale WHERE d.id = stale.id
"""


async def expire_stale_dms(
    conn: AsyncConnection[Any], *, max_age_seconds: float, batch: int
) -> int:
    """Fail up to `batch` pending DMs claimed more than `max_age_seconds` ago (reason 'stale');
    returns how many."""
    cur = await conn.execute(_EXPIRE_STALE_DMS, {"max_age": max_age_seconds, "batch": batch})
    return cur.rowcount


_CACHE_DM_CHANNEL = "UPDATE users SET dm_channel_id = %s WHERE user_id = %s"


async def cache_dm_channel(conn: AsyncConnection[Any], user_id: str, channel_id: str) -> None:
    await conn.execute(_CACHE_DM_CHANNEL, (channel_id, user_id))


_MARK_DM = """
UPDATE dm_log
SET status = %s, channel_id = %s, message_id = %s, failure_reason = %s, delivered_at = now(),
    attempts = attempts + 1, first_attempt_at = COALESCE(first_attempt_at, now()),
    next_attempt_at = NULL
WHERE id = %s AND status = 'pending'
"""


async def mark_dm_done(
    conn: AsyncConnection[Any],
    dm_id: UUID,
    *,
    status: str,
    channel_id: str | None,
    message_id: str | None,
    failure_reason: str | None = None,
) -> None:
    await conn.execute(_MARK_DM, (status, channel_id, message_id, failure_reason, dm_id))


_RETRY_DM = """
UPDATE dm_log
SET attempts = attempts + %s, first_attempt_at = COALESCE(first_attempt_at, now()),
    next_attempt_at = now() + make_interval(secs => %s), failure_reason = %s
WHERE id = %s AND status = 'pending'
"""


async def mark_dm_retry(
    conn: AsyncConnection[Any], dm_id: UUID, *, delay: float, reason: str, counts: bool = True
) -> None:
    await conn.execute(_RETRY_DM, (1 if counts else 0, delay, reason, dm_id))


_DISABLE_USER_DMS = "UPDATE users SET dm_disabled_reason = %s WHERE user_id = %s"


async def disable_user_dms(conn: AsyncConnection[Any], user_id: str, reason: str) -> None:
    """Stop DMing a user Discord refuses (DMs closed, no mutual guild, unknown user)."""
    await conn.execute(_DISABLE_USER_DMS, (reason, user_id))


# min(COALESCE(next_attempt_at, now())) over pending rows, as two probes of
# idx_dm_log_pending_due instead of a read of every pending row (358,000 after one big go-live).
_NEXT_DM_DUE = """
SELECT least(
    (SELECT min(next_attempt_at) FROM dm_log WHERE status = 'pending'),
    (SELECT now() WHERE EXISTS (
        SELECT 1 FROM dm_log WHERE status = 'pending' AND next_attempt_at IS NULL
    ))
)
"""


async def next_dm_due(conn: AsyncConnection[Any]) -> datetime | None:
    cur = await conn.execute(_NEXT_DM_DUE)
    row = await cur.fetchone()
    return row[0] if row else None


# DISTINCT shard over pending rows, as a loose scan of idx_notification_log_pending: one index
# probe per shard with work instead of a read of every pending row.
_SHARDS_WITH_WORK = """
WITH RECURSIVE s(shard) AS (
    (SELECT shard FROM notification_log WHERE status = 'pending' ORDER BY shard LIMIT 1)
    UNION ALL
    SELECT (
        SELECT n.shard FROM notification_log n
        WHERE n.status = 'pending' AND n.shard > s.shard
        ORDER BY n.shard LIMIT 1
    )
    FROM s WHERE s.shard IS NOT NULL
)
SELECT shard FROM s WHERE shard IS NOT NULL ORDER BY shard
"""
_ANY_DM_PENDING = "SELECT EXISTS (SELECT 1 FROM dm_log WHERE status = 'pending')"


async def shards_with_pending(conn: AsyncConnection[Any]) -> list[int]:
    cur = await conn.execute(_SHARDS_WITH_WORK)
    return [int(row[0]) for row in await cur.fetchall()]


async def dms_pending(conn: AsyncConnection[Any]) -> bool:
    cur = await conn.execute(_ANY_DM_PENDING)
    row = await cur.fetchone()
    return bool(row and row[0])

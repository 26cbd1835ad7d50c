"""Stream lifecycle queries: streams, restarts in the cooldown, offline, channel updates, edits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class StreamRecord:
    inserted: bool
    previously_ended: bool


# Remember the stream (a repeated stream.online for the same id re-opens it: Twitch flaps
# online/offline/online with one stream id).
_RECORD_STREAM = """
WITH previous AS (SELECT ended_at FROM streams WHERE stream_id = %(stream_id)s)
INSERT INTO streams (stream_id, streamer_id, started_at)
VALUES (%(stream_id)s, %(streamer_id)s, %(started_at)s)
ON CONFLICT (stream_id) DO UPDATE SET offline_at = NULL, ended_at = NULL
RETURNING NOT EXISTS (SELECT 1 FROM previous) AS inserted,
          EXISTS (SELECT 1 FROM previous WHERE ended_at IS NOT NULL) AS previously_ended
"""


async def record_stream(
    conn: AsyncConnection[Any], *, stream_id: str, streamer_id: UUID, started_at: datetime
) -> StreamRecord:
    async with conn.cursor(row_factory=class_row(StreamRecord)) as cur:
        await cur.execute(
            _RECORD_STREAM,
            {"stream_id": stream_id, "streamer_id": streamer_id, "started_at": started_at},
        )
        row = await cur.fetchone()
        if row is None:
            raise RuntimeError("recording a stream returned no row")
        return row


_SET_SNAPSHOT = "UPDATE streams SET snapshot = %s WHERE stream_id = %s"


async def set_stream_snapshot(
    conn: AsyncConnection[Any], stream_id: str, snapshot: dict[str, Any]
) -> None:
    await conn.execute(_SET_SNAPSHOT, (Jsonb(snapshot), stream_id))


@dataclass(frozen=True)
class ResumeTarget:
    guild_id: str
    channel_id: str
    message_id: str
    event_id: str
    shard: int


# The streamer's previous stream, if it went offline less than the longest cooldown any guild
# applies ago (or never said so). Most go-lives find none, and then no delivery row of the
# previous stream is read (98,000 for a streamer tracked by 98,000 guilds). The longest cooldown
# is one probe of a partial index (migration 021).
_RECENT_PREVIOUS_STREAM = """
SELECT stream_id
FROM (
    SELECT stream_id, offline_at FROM streams
    WHERE streamer_id = %(streamer_id)s AND stream_id <> %(stream_id)s
    ORDER BY created_at DESC
    LIMIT 1
) AS previous
WHERE offline_at IS NULL
   OR now() - offline_at < make_interval(secs => GREATEST(
          %(cooldown)s, (SELECT max(restart_cooldown_seconds) FROM guild_config)))
"""

# That stream's messages in the guilds that still announce the streamer in the same channel
# (the fan-out's targets, `schema.fanout.guilds_tracking`) and whose own cooldown has not run
# out: each is re-used instead of posting a new announcement.
_RESUME_TARGETS = """
SELECT n.guild_id, n.channel_id, n.message_id, n.event_id, n.shard
FROM streams p
JOIN notification_log n ON n.event_id = p.stream_id AND n.streamer_id = p.streamer_id
JOIN guild_config gc ON gc.guild_id = n.guild_id AND gc.channel_id = n.channel_id
JOIN guild_streamers gs ON gs.guild_id = n.guild_id AND gs.streamer_id = p.streamer_id
WHERE p.stream_id = %(previous)s
  AND n.status IN ('sent', 'resumed')
  AND n.message_id IS NOT NULL
  AND gc.enabled AND gs.enabled
  AND now() - COALESCE(p.offline_at, now())
      < make_interval(secs => COALESCE(gc.restart_cooldown_seconds, %(cooldown)s))
"""


async def resume_targets(
    conn: AsyncConnection[Any],
    *,
    streamer_id: UUID,
    stream_id: str,
    default_cooldown: int,
) -> list[ResumeTarget]:
    """The messages of the streamer's previous stream that `stream_id` re-uses: in the guilds
    tracking the streamer whose restart cooldown has not run out since that stream ended."""
    cursor = await conn.execute(
        _RECENT_PREVIOUS_STREAM,
        {"streamer_id": streamer_id, "stream_id": stream_id, "cooldown": default_cooldown},
    )
    recent = await cursor.fetchone()
    if recent is None:
        return []
    async with conn.cursor(row_factory=class_row(ResumeTarget)) as cur:
        await cur.execute(
            _RESUME_TARGETS,
            {"previous": recent[0], "cooldown": default_cooldown},
            # As the fan-out's queries: sizes vary by streamer, so never a generic plan.
            prepare=False,
        )
        return await cur.fetchall()


# Claim (guild, new stream) as 'resumed', pointing at the previous stream's message: the key is
# taken (exactly once still holds) and later edits of this stream go to that message.
_CLAIM_RESUMED = """
INSERT INTO notification_log (guild_id, streamer_id, event_id, channel_id, message_id,
                              shard, stream_started_at, status, resumed_from, delivered_at)
SELECT t.guild_id, %(streamer_id)s, %(event_id)s, t.channel_id, t.message_id, t.shard,
       %(started_at)s, 'resumed', t.previous, now()
FROM unnest(%(guild_ids)s::text[], %(channel_ids)s::text[], %(message_ids)s::text[],
            %(shards)s::smallint[], %(previous)s::text[])
    AS t(guild_id, channel_id, message_id, shard, previous)
ON CONFLICT (guild_id, event_id) DO NOTHING
RETURNING guild_id
"""


async def claim_resumed(
    conn: AsyncConnection[Any],
    *,
    streamer_id: UUID,
    event_id: str,
    started_at: datetime,
    targets: Sequence[ResumeTarget],
) -> list[str]:
    if not targets:
        return []
    cur = await conn.execute(
        _CLAIM_RESUMED,
        {
            "streamer_id": streamer_id,
            "event_id": event_id,
            "started_at": started_at,
            "guild_ids": [t.guild_id for t in targets],
            "channel_ids": [t.channel_id for t in targets],
            "message_ids": [t.message_id for t in targets],
            "shards": [t.shard for t in targets],
            "previous": [t.event_id for t in targets],
        },
    )
    return [str(row[0]) for row in await cur.fetchall()]


_MARK_OFFLINE = """
UPDATE streams SET offline_at = now()
WHERE stream_id = (
    SELECT s.stream_id FROM streams s JOIN streamers st ON st.id = s.streamer_id
    WHERE st.twitch_broadcaster_id = %s AND s.offline_at IS NULL AND s.ended_at IS NULL
    ORDER BY s.created_at DESC
    LIMIT 1
)
RETURNING stream_id
"""


async def mark_stream_offline(conn: AsyncConnection[Any], broadcaster_id: str) -> str | None:
    """Note that the broadcaster's live stream went offline; return its id (None: none live)."""
    cur = await conn.execute(_MARK_OFFLINE, (broadcaster_id,))
    row = await cur.fetchone()
    return str(row[0]) if row else None


@dataclass(frozen=True)
class StreamRow:
    stream_id: str
    streamer_id: UUID
    started_at: datetime
    snapshot: dict[str, Any] | None
    offline_at: datetime | None
    ended_at: datetime | None


_STREAM_COLUMNS = "s.stream_id, s.streamer_id, s.started_at, s.snapshot, s.offline_at, s.ended_at"

# Lock the stream and check it is still to be ended: offline, not ended, and no stream of the
# same streamer recorded since it went offline (a restart within the grace period cancels it).
_TO_FINISH = f"""
SELECT {_STREAM_COLUMNS} FROM streams s
WHERE s.stream_id = %s AND s.offline_at IS NOT NULL AND s.ended_at IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM streams later
      WHERE later.streamer_id = s.streamer_id AND later.stream_id <> s.stream_id
        AND later.created_at >= s.offline_at
  )
FOR UPDATE
"""
_MARK_ENDED = "UPDATE streams SET ended_at = now() WHERE stream_id = %s"


async def claim_stream_end(conn: AsyncConnection[Any], stream_id: str) -> StreamRow | None:
    """In the caller's transaction: mark the stream ended if it still should be; return it."""
    async with conn.cursor(row_factory=class_row(StreamRow)) as cur:
        await cur.execute(_TO_FINISH, (stream_id,))
        row = await cur.fetchone()
    if row is not None:
        await conn.execute(_MARK_ENDED, (stream_id,))
    return row


_BY_ID = f"SELECT {_STREAM_COLUMNS} FROM streams s WHERE s.stream_id = %s"


async def stream_by_id(conn: AsyncConnection[Any], stream_id: str) -> StreamRow | None:
    async with conn.cursor(row_factory=class_row(StreamRow)) as cur:
        await cur.execute(_BY_ID, (stream_id,))
        return await cur.fetchone()


_CHANNEL_UPDATE = """
UPDATE streamers
SET last_title = %(title)s, last_category_id = %(category_id)s,
    last_category_name = %(category_name)s, channel_updated_at = now()
WHERE twitch_broadcaster_id = %(broadcaster_id)s
RETURNING id
"""
_LIVE_STREAM = f"""
SELECT {_STREAM_COLUMNS} FROM streams s
WHERE s.streamer_id = %s AND s.offline_at IS NULL AND s.ended_at IS NULL
ORDER BY s.created_at DESC
LIMIT 1
"""


async def record_channel_update(
    conn: AsyncConnection[Any],
    *,
    broadcaster_id: str,
    title: str,
    category_id: str,
    category_name: str,
) -> StreamRow | None:
    """Remember the channel's latest title/category; return its live stream, if any."""
    cur = await conn.execute(
        _CHANNEL_UPDATE,
        {
            "broadcaster_id": broadcaster_id,
            "title": title,
            "category_id": category_id,
            "category_name": category_name,
        },
    )
    row = await cur.fetchone()
    if row is None:
        return None
    async with conn.cursor(row_factory=class_row(StreamRow)) as stream_cur:
        await stream_cur.execute(_LIVE_STREAM, (row[0],))
        return await stream_cur.fetchone()


@dataclass(frozen=True)
class EditTarget:
    id: UUID
    guild_id: str
    channel_id: str
    message_id: str | None
    status: str
    payload: dict[str, Any] | None
    message_template: dict[str, Any]
    mention_role_id: str | None
    offline_template: dict[str, Any] | None
    custom_content: str | None


_EDIT_TARGETS = """
SELECT n.id, n.guild_id, n.channel_id, n.message_id, n.status, n.payload,
       gc.message_template, gc.mention_role_id, gc.offline_template, gs.custom_content
FROM notification_log n JOIN guild_config gc ON gc.guild_id = n.guild_id
LEFT JOIN guild_streamers gs ON gs.guild_id = n.guild_id AND gs.streamer_id = n.streamer_id
WHERE n.event_id = %s AND n.status = ANY(%s::text[])
ORDER BY n.channel_id, n.id
"""


async def edit_targets(
    conn: AsyncConnection[Any], stream_id: str, statuses: Sequence[str]
) -> list[EditTarget]:
    """This stream's announcements in the given states, with each guild's templates and its
    message for the streamer (None once untracked)."""
    async with conn.cursor(row_factory=class_row(EditTarget)) as cur:
        # Sizes vary by stream (1 to 100,000 rows): never a generic plan.
        await cur.execute(_EDIT_TARGETS, (stream_id, list(statuses)), prepare=False)
        return await cur.fetchall()


_REPLACE_PENDING_PAYLOAD = """
UPDATE notification_log SET payload = %s
WHERE id = %s AND status = 'pending' AND payload IS NOT NULL
"""


async def replace_pending_payload(
    conn: AsyncConnection[Any], log_id: UUID, payload: dict[str, Any]
) -> None:
    """A not-yet-sent announcement picks up the newer render (e.g. a changed title)."""
    await conn.execute(_REPLACE_PENDING_PAYLOAD, (Jsonb(payload), log_id))

"""Fan-out queries: who gets a go-live, and claiming their idempotency keys in bulk."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from time import perf_counter_ns
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from streammaxing.slow_queries import slow_queries_of_connection

# The statements below run with `prepare=False`: never as a server-side prepared statement, so
# always planned for their actual parameters. Their row counts range from 1 to 100,000 by
# streamer, and the generic plan a reused prepared statement can switch to after serving small
# streamers was measured 3x slower for the largest (`dm_recipients` over 10,000 guilds: 610 ms
# against 210 ms of server CPU, bench/scale.py); planning costs about a millisecond.


@dataclass(frozen=True)
class GuildTarget:
    guild_id: str
    name: str
    channel_id: str
    #: Targets with the same template share one dict: read it, never change it.
    message_template: dict[str, Any]
    mention_role_id: str | None
    custom_content: str | None


# The seed's "guilds tracking a streamer", as written, plus the role to ping and the guild's
# own message for this streamer. The template comes as text and is parsed once per distinct
# text (most guilds share a few templates): reading 98,000 targets took 2.0 s with a jsonb
# template parsed per row, 0.6 s so (bench/scale_fanout.py seed).
_GUILDS_TRACKING = """
SELECT g.guild_id, g.name, gc.channel_id, gc.message_template::text, gc.mention_role_id,
       gs.custom_content
FROM guilds g
JOIN guild_streamers gs ON g.guild_id = gs.guild_id
JOIN guild_config gc ON g.guild_id = gc.guild_id
WHERE gs.streamer_id = %s
  AND gs.enabled = true
  AND gc.enabled = true
"""


async def guilds_tracking(conn: AsyncConnection[Any], streamer_id: UUID) -> list[GuildTarget]:
    cur = await conn.execute(_GUILDS_TRACKING, (streamer_id,), prepare=False)
    return _targets(await cur.fetchall(), {})


async def guilds_tracking_pages(
    conn: AsyncConnection[Any], streamer_id: UUID, *, first: int, then: int
) -> AsyncGenerator[list[GuildTarget], None]:
    """The same targets through a server-side cursor: `first` of them, then `then` at a time.

    The first page comes before the rest is read (at 98,000 guilds: ~20 ms against ~0.9 s for
    all of them), so its rows can be claimed meanwhile. `conn` must be in a transaction, held
    until the pages are read: close the iterator (`contextlib.aclosing`) when stopping early.
    """
    templates: dict[str, dict[str, Any]] = {}
    # A server-side cursor's statements are not the pool's cursor class: time each page here.
    slow = slow_queries_of_connection(conn)
    async with conn.cursor(name="guilds_tracking") as cur:
        await cur.execute(_GUILDS_TRACKING, (streamer_id,))
        size = first
        while True:
            started = perf_counter_ns()
            rows = await cur.fetchmany(size)
            if slow is not None:
                slow.report_since(started, len(rows))
            if not rows:
                return
            yield _targets(rows, templates)
            size = then


def _targets(
    rows: Sequence[tuple[Any, ...]], templates: dict[str, dict[str, Any]]
) -> list[GuildTarget]:
    """Targets of `_GUILDS_TRACKING` rows; `templates` holds the dicts parsed so far by text."""
    targets = []
    for guild_id, name, channel_id, template_text, role_id, custom in rows:
        template = templates.get(template_text)
        if template is None:
            template = templates[template_text] = json.loads(template_text)
        targets.append(GuildTarget(guild_id, name, channel_id, template, role_id, custom))
    return targets


@dataclass(frozen=True)
class AnnouncementClaim:
    guild_id: str
    channel_id: str
    shard: int
    #: Index of the guild's rendered payload in the claim's `payloads`; None claims the row with
    #: no payload yet.
    payload_index: int | None = None


# The seed's idempotency INSERT … ON CONFLICT (guild_id, event_id) RETURNING, for a batch of a
# fan-out in one statement; only the rows returned are new (or newly filled). The distinct
# payloads travel as one jsonb array, and each guild as (guild id, index into it): a batch sends
# its distinct payloads once and short tuples instead of every guild's rendered payload. `->`
# picks an array element by position without scanning the array (a join with
# jsonb_array_elements was planned as a nested loop: 9,800 rows × 2,000 payloads took 6.8 s of
# server CPU). A row claimed earlier without a payload (a fan-out that died before rendering)
# gets this one's; a row that has one, or is no longer pending, is left alone and not returned.
# Delivery waits for a row's payload before sending it or anything after it in its channel.
_CLAIM_ANNOUNCEMENTS = """
INSERT INTO notification_log
    (guild_id, streamer_id, event_id, channel_id, shard, stream_started_at, accepted_seq, status,
     payload)
SELECT t.guild_id, %(streamer_id)s, %(event_id)s, t.channel_id, t.shard, %(started_at)s,
       %(accepted_seq)s, 'pending', %(payloads)s::jsonb -> t.k
FROM unnest(%(guild_ids)s::text[], %(channel_ids)s::text[], %(shards)s::smallint[],
            %(indexes)s::int[])
    AS t(guild_id, channel_id, shard, k)
ON CONFLICT (guild_id, event_id) DO UPDATE SET payload = EXCLUDED.payload
    WHERE notification_log.status = 'pending' AND notification_log.payload IS NULL
      AND EXCLUDED.payload IS NOT NULL
RETURNING shard
"""


async def claim_announcements(
    conn: AsyncConnection[Any],
    *,
    streamer_id: UUID,
    event_id: str,
    started_at: datetime,
    claims: Sequence[AnnouncementClaim],
    payloads: Sequence[dict[str, Any]] = (),
    accepted_seq: int | None = None,
) -> list[int]:
    """Insert pending announcements (in their channel's order by `accepted_seq`, the ingest's
    acceptance number) with their payload (`payloads[claim.payload_index]`), or give an
    existing pending row without one its payload; return the shard of each such row.

    Idempotent: a retried or duplicate fan-out claims and fills nothing twice. The guild ids of
    one call must be distinct.
    """
    if not claims:
        return []
    cur = await conn.execute(
        _CLAIM_ANNOUNCEMENTS,
        {
            "streamer_id": streamer_id,
            "event_id": event_id,
            "started_at": started_at,
            "accepted_seq": accepted_seq,
            "payloads": Jsonb(list(payloads)),
            "guild_ids": [c.guild_id for c in claims],
            "channel_ids": [c.channel_id for c in claims],
            "shards": [c.shard for c in claims],
            "indexes": [c.payload_index for c in claims],
        },
        prepare=False,
    )
    return [int(row[0]) for row in await cur.fetchall()]


@dataclass(frozen=True)
class DmRecipient:
    user_id: str
    guild_id: str


# DM recipients: members subscribed to personal alerts in a guild that announces this stream and
# allows DMs, minus those who muted the streamer in that guild (the seed's opt-out query, as an
# anti-join), minus users Discord refused before. One row per user (their first such guild).
# Beyond `limit`, a sample: ordered by a hash of (user, stream), so each stream DMs different
# members.
_DM_RECIPIENTS = """
SELECT r.user_id, r.guild_id FROM (
SELECT DISTINCT ON (ds.user_id) ds.user_id, ds.guild_id
FROM dm_subscribers ds
JOIN guild_config gc ON gc.guild_id = ds.guild_id
JOIN users u ON u.user_id = ds.user_id
WHERE ds.guild_id = ANY(%(guild_ids)s::text[])
  AND gc.dm_enabled
  AND u.dm_disabled_reason IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM user_preferences up
      WHERE up.user_id = ds.user_id
        AND up.guild_id = ds.guild_id
        AND up.streamer_id = %(streamer_id)s
        AND up.notifications_enabled = false
  )
ORDER BY ds.user_id, ds.guild_id
) AS r
ORDER BY md5(r.user_id || %(sample_key)s), r.user_id
LIMIT %(limit)s
"""


async def dm_recipients(
    conn: AsyncConnection[Any],
    streamer_id: UUID,
    guild_ids: Sequence[str],
    *,
    limit: int,
    sample_key: str,
) -> list[DmRecipient]:
    """Who gets a DM; when more than `limit` qualify, `limit` of them, a pseudo-random sample
    that differs with `sample_key` (the stream id)."""
    async with conn.cursor(row_factory=class_row(DmRecipient)) as cur:
        await cur.execute(
            _DM_RECIPIENTS,
            {
                "guild_ids": list(guild_ids),
                "streamer_id": streamer_id,
                "limit": limit,
                "sample_key": sample_key,
            },
            prepare=False,
        )
        return await cur.fetchall()


# At most one DM per user per stream, however many guilds qualify: UNIQUE (user_id, event_id).
_CLAIM_DMS = """
INSERT INTO dm_log (user_id, event_id, streamer_id, guild_id, payload, status)
SELECT t.user_id, %(event_id)s, %(streamer_id)s, t.guild_id, %(payload)s, 'pending'
FROM unnest(%(user_ids)s::text[], %(guild_ids)s::text[]) AS t(user_id, guild_id)
ON CONFLICT (user_id, event_id) DO NOTHING
"""


async def claim_dms(
    conn: AsyncConnection[Any],
    *,
    streamer_id: UUID,
    event_id: str,
    payload: dict[str, Any],
    recipients: Sequence[DmRecipient],
) -> int:
    """Insert pending DMs; return how many were new."""
    if not recipients:
        return 0
    cur = await conn.execute(
        _CLAIM_DMS,
        {
            "event_id": event_id,
            "streamer_id": streamer_id,
            "payload": Jsonb(payload),
            "user_ids": [r.user_id for r in recipients],
            "guild_ids": [r.guild_id for r in recipients],
        },
        prepare=False,
    )
    return cur.rowcount


async def analyze_notification_log(conn: AsyncConnection[Any]) -> None:
    """Refresh the planner's statistics of the announcements (after a large claim)."""
    await conn.execute("ANALYZE notification_log")


async def analyze_dm_log(conn: AsyncConnection[Any]) -> None:
    """Refresh the planner's statistics of the DMs (after a large claim)."""
    await conn.execute("ANALYZE dm_log")

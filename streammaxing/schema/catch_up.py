"""Catch-up queries: which streamers would announce a go-live, which streams never were."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from psycopg import AsyncConnection

# Streamers at least one guild would announce right now: the seed's "guilds tracking a
# streamer" conditions (link enabled, guild config enabled), as a semi-join.
_ANNOUNCEABLE = """
SELECT s.twitch_broadcaster_id FROM streamers s
WHERE EXISTS (
    SELECT 1 FROM guild_streamers gs JOIN guild_config gc ON gc.guild_id = gs.guild_id
    WHERE gs.streamer_id = s.id AND gs.enabled = true AND gc.enabled = true
)
ORDER BY s.twitch_broadcaster_id
"""


async def announceable_broadcasters(conn: AsyncConnection[Any]) -> list[str]:
    """Broadcaster ids of every streamer a guild would announce."""
    cur = await conn.execute(_ANNOUNCEABLE)
    return [str(row[0]) for row in await cur.fetchall()]


# `notification_log.event_id` is the stream id (the idempotency key's second half); any row,
# whatever its delivery status, means the stream's fan-out already happened.
_UNANNOUNCED = """
SELECT t.event_id FROM unnest(%s::text[]) AS t(event_id)
WHERE NOT EXISTS (SELECT 1 FROM notification_log n WHERE n.event_id = t.event_id)
"""


async def unannounced_streams(conn: AsyncConnection[Any], stream_ids: Collection[str]) -> set[str]:
    """Those of `stream_ids` no guild has an announcement (of any status) for."""
    if not stream_ids:
        return set()
    cur = await conn.execute(_UNANNOUNCED, (list(stream_ids),))
    return {str(row[0]) for row in await cur.fetchall()}

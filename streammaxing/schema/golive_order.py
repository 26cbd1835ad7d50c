"""Go-live acceptance order: which accepted go-lives have not claimed their outbox rows yet, and
whether one of them shares a guild with a later go-live.

The ingest's accept statement (`schema.webhooks`) numbers each new `stream_online` job and
records the number with the go-live's broadcaster here; the fan-out waits while an earlier
number that shares a guild with it is left, then claims its rows, and forgets its own number once
all of them are claimed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

# The broadcasters of the go-lives accepted before `seq`, less than the patience ago, that have
# not claimed all their rows yet (NULL: accepted before the broadcaster was recorded). The table
# holds only the go-lives still claiming: a handful of rows.
_EARLIER_UNCLAIMED = """
SELECT DISTINCT broadcaster_id FROM golive_acceptances
WHERE seq < %s AND accepted_at > now() - make_interval(secs => %s)
"""

_STREAMER_IDS = """
SELECT id FROM streamers WHERE twitch_broadcaster_id = ANY(%s::text[])
"""

# Whether a guild tracks both `mine` and one of `theirs`. Planned for the actual ids
# (`prepare=False`): the statistics of `guild_streamers.streamer_id` then put the streamer with
# fewer guilds on the outside and probe the other side through the primary key (guild_id,
# streamer_id), so a one-guild go-live checks one key against a 100,000-guild one.
_SHARE_A_GUILD = """
SELECT EXISTS (
    SELECT 1 FROM guild_streamers m
    JOIN guild_streamers t ON t.guild_id = m.guild_id
    WHERE m.streamer_id = %s AND t.streamer_id = ANY(%s::uuid[])
)
"""


async def _streamer_ids(conn: AsyncConnection[Any], broadcaster_ids: Sequence[str]) -> list[UUID]:
    cur = await conn.execute(_STREAMER_IDS, (list(broadcaster_ids),))
    return [row[0] for row in await cur.fetchall()]


async def earlier_overlapping_go_live(
    conn: AsyncConnection[Any], seq: int, broadcaster_id: str, patience_seconds: float
) -> bool:
    """Whether a go-live accepted before `seq`, less than `patience_seconds` ago, has not
    claimed all its rows yet and may have a row in one of this go-live's channels: it shares a
    guild with `broadcaster_id` (a guild announces every streamer it tracks in its one channel),
    is the same broadcaster, or has no recorded broadcaster."""
    cur = await conn.execute(_EARLIER_UNCLAIMED, (seq, patience_seconds))
    earlier = [row[0] for row in await cur.fetchall()]
    if not earlier:
        return False
    if any(b is None or b == broadcaster_id for b in earlier):
        return True
    mine = await _streamer_ids(conn, [broadcaster_id])
    if not mine:
        return False  # A streamer not known yet is tracked by no guild.
    theirs = await _streamer_ids(conn, earlier)
    if not theirs:
        return False
    cur = await conn.execute(_SHARE_A_GUILD, (mine[0], theirs), prepare=False)
    row = await cur.fetchone()
    return bool(row and row[0])


async def forget_acceptance(conn: AsyncConnection[Any], seq: int) -> None:
    """This go-live's rows are claimed (or it has none): later go-lives need not wait for it."""
    await conn.execute("DELETE FROM golive_acceptances WHERE seq = %s", (seq,))

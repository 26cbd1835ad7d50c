"""Streamer rows: upsert display fields, find and delete streamers no guild tracks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class StreamerRow:
    id: UUID
    twitch_broadcaster_id: str
    twitch_login: str
    twitch_display_name: str | None
    twitch_avatar_url: str | None
    last_title: str | None = None
    last_category_name: str | None = None


_COLUMNS = (
    "id, twitch_broadcaster_id, twitch_login, twitch_display_name, twitch_avatar_url,"
    " last_title, last_category_name"
)


_UPSERT = f"""
INSERT INTO streamers (twitch_broadcaster_id, twitch_login, twitch_display_name, twitch_avatar_url)
VALUES (%(broadcaster_id)s, %(login)s, %(display_name)s, %(avatar_url)s)
ON CONFLICT (twitch_broadcaster_id) DO UPDATE SET
    twitch_login = EXCLUDED.twitch_login,
    twitch_display_name = COALESCE(EXCLUDED.twitch_display_name, streamers.twitch_display_name),
    twitch_avatar_url = COALESCE(EXCLUDED.twitch_avatar_url, streamers.twitch_avatar_url)
RETURNING {_COLUMNS}
"""


async def upsert_streamer(
    conn: AsyncConnection[Any],
    *,
    broadcaster_id: str,
    login: str,
    display_name: str | None,
    avatar_url: str | None,
) -> StreamerRow:
    """Insert the streamer or refresh its display fields (a None never erases a known value)."""
    async with conn.cursor(row_factory=class_row(StreamerRow)) as cur:
        await cur.execute(
            _UPSERT,
            {
                "broadcaster_id": broadcaster_id,
                "login": login,
                "display_name": display_name,
                "avatar_url": avatar_url,
            },
        )
        row = await cur.fetchone()
        if row is None:
            raise RuntimeError("upsert returned no row")
        return row


# The seed's cleanup query used `id NOT IN (SELECT streamer_id FROM guild_streamers)`, which
# matches nothing as soon as one streamer_id is NULL; NOT EXISTS is correct with NULLs.
_ORPHANS = f"""
SELECT {_COLUMNS} FROM streamers s
WHERE NOT EXISTS (SELECT 1 FROM guild_streamers gs WHERE gs.streamer_id = s.id)
ORDER BY s.twitch_broadcaster_id
"""


async def orphaned_streamers(conn: AsyncConnection[Any]) -> list[StreamerRow]:
    async with conn.cursor(row_factory=class_row(StreamerRow)) as cur:
        await cur.execute(_ORPHANS)
        return await cur.fetchall()


_DELETE_ORPHAN = """
DELETE FROM streamers s
WHERE s.id = %s
  AND NOT EXISTS (SELECT 1 FROM guild_streamers gs WHERE gs.streamer_id = s.id)
"""


async def delete_streamer_if_orphaned(conn: AsyncConnection[Any], streamer_id: UUID) -> bool:
    """Delete the streamer unless a guild started tracking it meanwhile."""
    cur = await conn.execute(_DELETE_ORPHAN, (streamer_id,))
    return cur.rowcount == 1


_DELETE_ALL_ORPHANS = """
DELETE FROM streamers s
WHERE NOT EXISTS (SELECT 1 FROM guild_streamers gs WHERE gs.streamer_id = s.id)
"""


async def delete_orphaned_streamers(conn: AsyncConnection[Any]) -> int:
    """The seed's "cleanup orphaned streamers", with NOT EXISTS; returns rows deleted."""
    cur = await conn.execute(_DELETE_ALL_ORPHANS)
    return cur.rowcount

"""Queries on the streamers a guild tracks (``guild_streamers`` joined with ``streamers``).

A tracked streamer is named by its Twitch broadcaster id or its login ("ref"); an id match wins
over a login match, so a numeric login can never shadow another streamer's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class GuildStreamerRow:
    streamer_id: UUID
    broadcaster_id: str
    login: str
    display_name: str | None
    avatar_url: str | None
    enabled: bool
    added_by: str | None
    added_at: datetime | None
    custom_content: str | None = None


_SELECT = """
SELECT s.id AS streamer_id, s.twitch_broadcaster_id AS broadcaster_id, s.twitch_login AS login,
       s.twitch_display_name AS display_name, s.twitch_avatar_url AS avatar_url,
       COALESCE(gs.enabled, true) AS enabled, gs.added_by, gs.added_at,
       gs.custom_content
FROM guild_streamers gs
JOIN streamers s ON s.id = gs.streamer_id
"""

_BY_REF = (
    _SELECT
    + """
WHERE gs.guild_id = %(guild_id)s
  AND (s.twitch_broadcaster_id = %(ref)s OR s.twitch_login = lower(%(ref)s))
ORDER BY (s.twitch_broadcaster_id = %(ref)s) DESC
LIMIT 1
"""
)


async def guild_streamer(
    conn: AsyncConnection[Any], guild_id: str, ref: str
) -> GuildStreamerRow | None:
    """The guild's link to the streamer with broadcaster id or login ``ref``, if it tracks it."""
    async with conn.cursor(row_factory=class_row(GuildStreamerRow)) as cur:
        await cur.execute(_BY_REF, {"guild_id": guild_id, "ref": ref})
        return await cur.fetchone()


_LIST = (
    _SELECT
    + """
WHERE gs.guild_id = %s
ORDER BY s.twitch_login, s.twitch_broadcaster_id
"""
)


async def guild_streamers(conn: AsyncConnection[Any], guild_id: str) -> list[GuildStreamerRow]:
    async with conn.cursor(row_factory=class_row(GuildStreamerRow)) as cur:
        await cur.execute(_LIST, (guild_id,))
        return await cur.fetchall()


@dataclass(frozen=True)
class GuildHeading:
    """What a page about the guild's streamers needs of the guild itself."""

    guild_id: str
    name: str
    icon: str | None
    streamer_count: int


async def guild_heading(conn: AsyncConnection[Any], guild_id: str) -> GuildHeading | None:
    async with conn.cursor(row_factory=class_row(GuildHeading)) as cur:
        await cur.execute(
            "SELECT g.guild_id, g.name, g.icon,"
            " (SELECT count(*) FROM guild_streamers gs WHERE gs.guild_id = g.guild_id)"
            " AS streamer_count FROM guilds g WHERE g.guild_id = %s",
            (guild_id,),
        )
        return await cur.fetchone()


_PAGE = (
    _SELECT
    + """
WHERE gs.guild_id = %(guild_id)s
ORDER BY s.twitch_login, s.twitch_broadcaster_id
OFFSET %(offset)s LIMIT %(limit)s
"""
)


async def guild_streamer_page(
    conn: AsyncConnection[Any], guild_id: str, *, offset: int, limit: int
) -> list[GuildStreamerRow]:
    """``limit`` of the guild's streamers from position ``offset`` of `guild_streamers`'s order."""
    async with conn.cursor(row_factory=class_row(GuildStreamerRow)) as cur:
        await cur.execute(_PAGE, {"guild_id": guild_id, "offset": offset, "limit": limit})
        return await cur.fetchall()


# How many of the guild's streamers come before the one named ``ref`` in the listing order.
_POSITION = """
WITH wanted AS (
    SELECT s.twitch_login, s.twitch_broadcaster_id
    FROM guild_streamers gs JOIN streamers s ON s.id = gs.streamer_id
    WHERE gs.guild_id = %(guild_id)s
      AND (s.twitch_broadcaster_id = %(ref)s OR s.twitch_login = lower(%(ref)s))
    ORDER BY (s.twitch_broadcaster_id = %(ref)s) DESC
    LIMIT 1
)
SELECT (SELECT count(*)
        FROM guild_streamers gs JOIN streamers s ON s.id = gs.streamer_id
        WHERE gs.guild_id = %(guild_id)s
          AND (s.twitch_login, s.twitch_broadcaster_id)
              < (w.twitch_login, w.twitch_broadcaster_id))
FROM wanted w
"""


async def guild_streamer_position(
    conn: AsyncConnection[Any], guild_id: str, ref: str
) -> int | None:
    """The 0-based position of the streamer ``ref`` in the guild's listing; None when the
    guild does not track it."""
    cur = await conn.execute(_POSITION, {"guild_id": guild_id, "ref": ref})
    row = await cur.fetchone()
    return int(row[0]) if row else None


_LINK = """
INSERT INTO guild_streamers (guild_id, streamer_id, added_by)
VALUES (%s, %s, %s)
ON CONFLICT (guild_id, streamer_id) DO NOTHING
RETURNING 1
"""


async def link_streamer(
    conn: AsyncConnection[Any], guild_id: str, streamer_id: UUID, *, added_by: str | None
) -> bool:
    """Start tracking; False (and nothing changed) when the guild already tracks it."""
    cur = await conn.execute(_LINK, (guild_id, streamer_id, added_by))
    return await cur.fetchone() is not None


async def set_link_enabled(
    conn: AsyncConnection[Any], guild_id: str, streamer_id: UUID, *, enabled: bool
) -> bool:
    cur = await conn.execute(
        "UPDATE guild_streamers SET enabled = %s WHERE guild_id = %s AND streamer_id = %s",
        (enabled, guild_id, streamer_id),
    )
    return cur.rowcount == 1


async def unlink_streamer(conn: AsyncConnection[Any], guild_id: str, streamer_id: UUID) -> bool:
    """Stop tracking. The streamer row stays: the cleanup job removes streamers nobody tracks
    (after deleting their EventSub subscriptions)."""
    cur = await conn.execute(
        "DELETE FROM guild_streamers WHERE guild_id = %s AND streamer_id = %s",
        (guild_id, streamer_id),
    )
    return cur.rowcount == 1


_SUGGEST = (
    _SELECT
    + """
WHERE gs.guild_id = %(guild_id)s
  AND (s.twitch_login LIKE %(prefix)s OR lower(s.twitch_display_name) LIKE %(prefix)s
       OR s.twitch_login LIKE %(anywhere)s)
ORDER BY (s.twitch_login LIKE %(prefix)s) DESC, s.twitch_login
LIMIT %(limit)s
"""
)


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def suggest_guild_streamers(
    conn: AsyncConnection[Any], guild_id: str, typed: str, *, limit: int
) -> list[GuildStreamerRow]:
    """At most ``limit`` streamers the guild tracks whose login or display name starts with
    ``typed`` (case-insensitive), then those whose login contains it; prefix matches first."""
    needle = _like_escaped(typed.strip().lower())
    params = {
        "guild_id": guild_id,
        "prefix": f"{needle}%",
        "anywhere": f"%{needle}%",
        "limit": limit,
    }
    async with conn.cursor(row_factory=class_row(GuildStreamerRow)) as cur:
        await cur.execute(_SUGGEST, params)
        return await cur.fetchall()


_LIVE = """
SELECT DISTINCT gs.streamer_id
FROM guild_streamers gs
JOIN streams st ON st.streamer_id = gs.streamer_id
WHERE gs.guild_id = %s AND st.offline_at IS NULL AND st.ended_at IS NULL
"""


async def live_streamer_ids(conn: AsyncConnection[Any], guild_id: str) -> set[UUID]:
    """The guild's tracked streamers with a stream that has not gone offline."""
    async with conn.cursor() as cur:
        await cur.execute(_LIVE, (guild_id,))
        return {row[0] for row in await cur.fetchall()}


async def set_custom_content(
    conn: AsyncConnection[Any], guild_id: str, streamer_id: UUID, content: str | None
) -> bool:
    cur = await conn.execute(
        "UPDATE guild_streamers SET custom_content = %s WHERE guild_id = %s AND streamer_id = %s",
        (content, guild_id, streamer_id),
    )
    return cur.rowcount == 1

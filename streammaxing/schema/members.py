"""Queries on members: users, personal-alert (DM) subscriptions, preferences, erasure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row

# -- users -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserRow:
    user_id: str
    username: str
    avatar: str | None
    created_at: datetime | None
    last_login: datetime | None
    dm_disabled_reason: str | None


_USER_COLUMNS = "user_id, username, avatar, created_at, last_login, dm_disabled_reason"


async def get_user(conn: AsyncConnection[Any], user_id: str) -> UserRow | None:
    async with conn.cursor(row_factory=class_row(UserRow)) as cur:
        await cur.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = %s", (user_id,))
        return await cur.fetchone()


@dataclass(frozen=True)
class UpsertedUser:
    user: UserRow
    created: bool


_UPSERT_USER = f"""
INSERT INTO users (user_id, username, avatar)
VALUES (%(user_id)s, %(username)s, %(avatar)s)
ON CONFLICT (user_id) DO UPDATE SET username = EXCLUDED.username, avatar = EXCLUDED.avatar
RETURNING {_USER_COLUMNS}, (xmax = 0) AS created
"""


async def upsert_user(
    conn: AsyncConnection[Any], user_id: str, *, username: str, avatar: str | None
) -> UpsertedUser:
    """Insert the user or refresh its name and avatar (``created``: it was inserted)."""
    cur = await conn.execute(
        _UPSERT_USER, {"user_id": user_id, "username": username, "avatar": avatar}
    )
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("users upsert returned no row")
    return UpsertedUser(user=UserRow(*row[:-1]), created=bool(row[-1]))


async def lock_user(conn: AsyncConnection[Any], user_id: str) -> bool:
    """True if the user exists; it then cannot be erased until this transaction ends."""
    cur = await conn.execute("SELECT 1 FROM users WHERE user_id = %s FOR KEY SHARE", (user_id,))
    return await cur.fetchone() is not None


# The seed's GDPR item. Rows that merely mention the user without a cascading foreign key are
# detached first (who added a streamer, who owns a guild); the users row then cascades to
# preferences, DM subscriptions and DM log rows, and dm_log is also cleared explicitly so the
# erasure does not depend on that cascade.
_ERASE = (
    "UPDATE guild_streamers SET added_by = NULL WHERE added_by = %(user_id)s",
    "UPDATE guilds SET owner_id = NULL WHERE owner_id = %(user_id)s",
    "UPDATE streamer_invites SET created_by = NULL WHERE created_by = %(user_id)s",
    "UPDATE streamers SET linked_by = NULL WHERE linked_by = %(user_id)s",
    "DELETE FROM twitch_oauth_states WHERE discord_user_id = %(user_id)s",
    "DELETE FROM dm_log WHERE user_id = %(user_id)s",
)


async def erase_user(conn: AsyncConnection[Any], user_id: str) -> bool:
    """Delete everything stored about the user; False when there was no such user."""
    for statement in _ERASE:
        await conn.execute(statement, {"user_id": user_id})
    cur = await conn.execute("DELETE FROM users WHERE user_id = %s", (user_id,))
    return cur.rowcount == 1


# -- DM subscribers --------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriberRow:
    guild_id: str
    user_id: str
    username: str
    subscribed_at: datetime


_SUBSCRIBER_SELECT = """
SELECT d.guild_id, d.user_id, u.username, d.subscribed_at
FROM dm_subscribers d
JOIN users u ON u.user_id = d.user_id
"""


async def subscribe(conn: AsyncConnection[Any], guild_id: str, user_id: str) -> bool:
    """Opt the user in to the guild's personal alerts; False if already subscribed."""
    cur = await conn.execute(
        "INSERT INTO dm_subscribers (guild_id, user_id) VALUES (%s, %s)"
        " ON CONFLICT (guild_id, user_id) DO NOTHING RETURNING 1",
        (guild_id, user_id),
    )
    return await cur.fetchone() is not None


async def get_subscriber(
    conn: AsyncConnection[Any], guild_id: str, user_id: str
) -> SubscriberRow | None:
    async with conn.cursor(row_factory=class_row(SubscriberRow)) as cur:
        await cur.execute(
            _SUBSCRIBER_SELECT + " WHERE d.guild_id = %s AND d.user_id = %s", (guild_id, user_id)
        )
        return await cur.fetchone()


async def unsubscribe(conn: AsyncConnection[Any], guild_id: str, user_id: str) -> bool:
    cur = await conn.execute(
        "DELETE FROM dm_subscribers WHERE guild_id = %s AND user_id = %s", (guild_id, user_id)
    )
    return cur.rowcount == 1


_LIST_SUBSCRIBERS = (
    _SUBSCRIBER_SELECT
    + """
WHERE d.guild_id = %(guild_id)s AND (%(after)s::text IS NULL OR d.user_id > %(after)s)
ORDER BY d.user_id
LIMIT %(limit)s
"""
)


async def list_subscribers(
    conn: AsyncConnection[Any], guild_id: str, *, after: str | None, limit: int
) -> list[SubscriberRow]:
    """One page of the guild's subscribers in user id order, after the id ``after``."""
    async with conn.cursor(row_factory=class_row(SubscriberRow)) as cur:
        await cur.execute(_LIST_SUBSCRIBERS, {"guild_id": guild_id, "after": after, "limit": limit})
        return await cur.fetchall()


# -- preferences -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreferenceRow:
    guild_id: str
    guild_name: str
    broadcaster_id: str
    streamer_login: str
    streamer_display_name: str | None
    enabled: bool
    explicit: bool


# The seed's "user's guilds with notification preferences", with dm_subscribers as the real
# user_guilds. Added: the streamer's broadcaster id and login (to name it in a follow-up call),
# whether a preference row exists, and tie-breakers that make the order total.
_PREFERENCE_ROWS = """
SELECT g.guild_id, g.name AS guild_name, s.twitch_broadcaster_id AS broadcaster_id,
       s.twitch_login AS streamer_login, s.twitch_display_name AS streamer_display_name,
       COALESCE(up.notifications_enabled, true) AS enabled,
       up.user_id IS NOT NULL AS explicit
FROM guilds g
JOIN guild_streamers gs ON g.guild_id = gs.guild_id
JOIN streamers s ON gs.streamer_id = s.id
LEFT JOIN user_preferences up ON up.guild_id = g.guild_id
                              AND up.streamer_id = s.id
                              AND up.user_id = %(user_id)s
"""
_PREFERENCE_ORDER = "ORDER BY g.name, s.twitch_display_name, g.guild_id, s.twitch_broadcaster_id"
_USER_PREFERENCES = (
    _PREFERENCE_ROWS
    + "WHERE g.guild_id IN (SELECT guild_id FROM dm_subscribers WHERE user_id = %(user_id)s)\n"
    + _PREFERENCE_ORDER
)


async def user_preferences(conn: AsyncConnection[Any], user_id: str) -> list[PreferenceRow]:
    async with conn.cursor(row_factory=class_row(PreferenceRow)) as cur:
        await cur.execute(_USER_PREFERENCES, {"user_id": user_id})
        return await cur.fetchall()


_SET_PREFERENCE = """
INSERT INTO user_preferences (user_id, guild_id, streamer_id, notifications_enabled)
VALUES (%s, %s, %s, %s)
ON CONFLICT (user_id, guild_id, streamer_id) DO UPDATE SET
    notifications_enabled = EXCLUDED.notifications_enabled, updated_at = now()
"""


async def set_preference(
    conn: AsyncConnection[Any], user_id: str, guild_id: str, streamer_id: UUID, *, enabled: bool
) -> None:
    await conn.execute(_SET_PREFERENCE, (user_id, guild_id, streamer_id, enabled))


async def clear_preference(
    conn: AsyncConnection[Any], user_id: str, guild_id: str, streamer_id: UUID
) -> bool:
    """Back to the default (on); False when no preference was set."""
    cur = await conn.execute(
        "DELETE FROM user_preferences WHERE user_id = %s AND guild_id = %s AND streamer_id = %s",
        (user_id, guild_id, streamer_id),
    )
    return cur.rowcount == 1


# -- the dashboard's member view -------------------------------------------------------------


async def record_login(conn: AsyncConnection[Any], user_id: str) -> None:
    """``last_login = now()``: the seed's "updated on each login"."""
    await conn.execute("UPDATE users SET last_login = now() WHERE user_id = %s", (user_id,))


class MemberGuildRow(NamedTuple):
    guild_id: str
    name: str
    icon: str | None
    dm_subscribed: bool
    streamer_count: int


_MEMBER_GUILDS = """
SELECT g.guild_id, g.name, g.icon,
       EXISTS (SELECT 1 FROM dm_subscribers d
               WHERE d.guild_id = g.guild_id AND d.user_id = %(user_id)s) AS dm_subscribed,
       (SELECT count(*) FROM guild_streamers gs WHERE gs.guild_id = g.guild_id)
           AS streamer_count,
       count(*) OVER () AS total
FROM guilds g WHERE g.guild_id = ANY(%(guild_ids)s)
ORDER BY lower(g.name), g.guild_id
OFFSET %(offset)s LIMIT %(limit)s
"""


async def member_guilds(
    conn: AsyncConnection[Any], user_id: str, guild_ids: list[str], *, offset: int, limit: int
) -> tuple[list[MemberGuildRow], int | None]:
    """A page of the guilds among ``guild_ids`` that have the bot, by name, with the user's DM
    opt-in and how many streamers each tracks; and how many such guilds there are in all
    (None when the page is past the end: the count comes with the rows)."""
    cur = await conn.execute(
        _MEMBER_GUILDS,
        {"user_id": user_id, "guild_ids": guild_ids, "offset": offset, "limit": limit},
    )
    rows = await cur.fetchall()
    total = int(rows[0][-1]) if rows else (0 if offset == 0 else None)
    return [MemberGuildRow(*row[:-1]) for row in rows], total


async def subscribed_guild_ids(conn: AsyncConnection[Any], user_id: str) -> list[str]:
    """The guilds the user opted in to DMs from."""
    cur = await conn.execute("SELECT guild_id FROM dm_subscribers WHERE user_id = %s", (user_id,))
    return [row[0] for row in await cur.fetchall()]


class MemberStreamerRow(NamedTuple):
    guild_id: str
    broadcaster_id: str
    streamer_login: str
    streamer_display_name: str | None
    enabled: bool
    explicit: bool


# The seed's "user's guilds with notification preferences", one page of streamers per guild:
# for each (guild, rows to skip), `limit` of its streamers in display-name order with the
# user's effective choice (no row: on).
_MEMBER_STREAMERS = """
SELECT w.guild_id, s.twitch_broadcaster_id, s.twitch_login, s.twitch_display_name,
       COALESCE(up.notifications_enabled, true) AS enabled, up.user_id IS NOT NULL AS explicit
FROM unnest(%(guild_ids)s::text[], %(skips)s::int[]) AS w(guild_id, skip)
CROSS JOIN LATERAL (
    SELECT s.id, s.twitch_broadcaster_id, s.twitch_login, s.twitch_display_name
    FROM guild_streamers gs JOIN streamers s ON s.id = gs.streamer_id
    WHERE gs.guild_id = w.guild_id
    ORDER BY s.twitch_display_name, s.twitch_broadcaster_id
    OFFSET w.skip LIMIT %(limit)s
) s
LEFT JOIN user_preferences up ON up.user_id = %(user_id)s
                              AND up.guild_id = w.guild_id
                              AND up.streamer_id = s.id
ORDER BY w.guild_id, s.twitch_display_name, s.twitch_broadcaster_id
"""


async def member_streamers(
    conn: AsyncConnection[Any], user_id: str, skips: dict[str, int], *, limit: int
) -> list[MemberStreamerRow]:
    """For each guild of ``skips`` (guild id: rows to skip), one page of its streamers with
    the user's choice."""
    cur = await conn.execute(
        _MEMBER_STREAMERS,
        {
            "user_id": user_id,
            "guild_ids": list(skips),
            "skips": list(skips.values()),
            "limit": limit,
        },
    )
    return [MemberStreamerRow(*row) for row in await cur.fetchall()]

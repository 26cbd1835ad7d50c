"""Queries on the cache of users' Discord guild lists (`user_guild_lists`, `user_guilds`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class UserGuildRow:
    """One guild of a user's list, with whether the bot is installed there (a guilds row)."""

    guild_id: str
    name: str
    icon: str | None
    owner: bool
    permissions: str | None
    installed: bool


@dataclass(frozen=True)
class CachedGuild:
    guild_id: str
    name: str
    icon: str | None
    owner: bool
    permissions: str | None


async def replace_guild_list(
    conn: AsyncConnection[Any], user_id: str, guilds: Sequence[CachedGuild]
) -> None:
    """Store the user's whole list as read now (the previous copy is replaced)."""
    await conn.execute(
        """
        INSERT INTO user_guild_lists (user_id, fetched_at) VALUES (%s, now())
        ON CONFLICT (user_id) DO UPDATE SET fetched_at = now()
        """,
        (user_id,),
    )
    await conn.execute("DELETE FROM user_guilds WHERE user_id = %s", (user_id,))
    async with conn.cursor() as cur:
        await cur.executemany(
            """
            INSERT INTO user_guilds (user_id, guild_id, name, icon, owner, permissions)
            VALUES (%s, %s, %s, %s, %s, %s)
            """,
            [(user_id, g.guild_id, g.name, g.icon, g.owner, g.permissions) for g in guilds],
        )


async def guild_list_fetched_at(conn: AsyncConnection[Any], user_id: str) -> datetime | None:
    cur = await conn.execute(
        "SELECT fetched_at FROM user_guild_lists WHERE user_id = %s", (user_id,)
    )
    row = await cur.fetchone()
    return None if row is None else row[0]


async def user_guilds(conn: AsyncConnection[Any], user_id: str) -> list[UserGuildRow]:
    """The cached list, by name."""
    async with conn.cursor(row_factory=class_row(UserGuildRow)) as cur:
        await cur.execute(
            """
            SELECT ug.guild_id, ug.name, ug.icon, ug.owner, ug.permissions,
                   (g.guild_id IS NOT NULL) AS installed
            FROM user_guilds ug LEFT JOIN guilds g ON g.guild_id = ug.guild_id
            WHERE ug.user_id = %s
            ORDER BY lower(ug.name), ug.guild_id
            """,
            (user_id,),
        )
        return await cur.fetchall()

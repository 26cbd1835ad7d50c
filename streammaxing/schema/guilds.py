"""Queries on guilds and their config; tracked streamers and members have their own modules.

The existence checks lock the row they find (``FOR KEY SHARE``) so that, until the caller's
transaction ends, nobody can delete it underneath the rows about to reference it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb


@dataclass(frozen=True)
class GuildRow:
    guild_id: str
    name: str
    icon: str | None
    owner_id: str | None
    created_at: datetime | None
    configured: bool
    streamer_count: int
    dm_subscriber_count: int


_GUILD_SELECT = """
SELECT g.guild_id, g.name, g.icon, g.owner_id, g.created_at,
       EXISTS (SELECT 1 FROM guild_config gc WHERE gc.guild_id = g.guild_id) AS configured,
       (SELECT count(*) FROM guild_streamers gs WHERE gs.guild_id = g.guild_id) AS streamer_count,
       (SELECT count(*) FROM dm_subscribers d WHERE d.guild_id = g.guild_id)
           AS dm_subscriber_count
FROM guilds g
"""


async def get_guild(conn: AsyncConnection[Any], guild_id: str) -> GuildRow | None:
    async with conn.cursor(row_factory=class_row(GuildRow)) as cur:
        await cur.execute(_GUILD_SELECT + " WHERE g.guild_id = %s", (guild_id,))
        return await cur.fetchone()


_LIST_GUILDS = (
    _GUILD_SELECT
    + """
WHERE %(after)s::text IS NULL OR g.guild_id > %(after)s
ORDER BY g.guild_id
LIMIT %(limit)s
"""
)


async def list_guilds(
    conn: AsyncConnection[Any], *, after: str | None, limit: int
) -> list[GuildRow]:
    """One page of guilds in id order, starting after the id ``after`` (keyset pagination)."""
    async with conn.cursor(row_factory=class_row(GuildRow)) as cur:
        await cur.execute(_LIST_GUILDS, {"after": after, "limit": limit})
        return await cur.fetchall()


# `xmax = 0` holds only for a row this statement inserted (an updated row carries our xid).
_UPSERT_GUILD = """
INSERT INTO guilds (guild_id, name, icon, owner_id)
VALUES (%(guild_id)s, %(name)s, %(icon)s, %(owner_id)s)
ON CONFLICT (guild_id) DO UPDATE SET
    name = EXCLUDED.name, icon = EXCLUDED.icon, owner_id = EXCLUDED.owner_id
RETURNING (xmax = 0) AS created
"""


async def upsert_guild(
    conn: AsyncConnection[Any],
    guild_id: str,
    *,
    name: str,
    icon: str | None,
    owner_id: str | None,
) -> bool:
    """Insert the guild or replace its name, icon and owner; True when it was inserted."""
    cur = await conn.execute(
        _UPSERT_GUILD, {"guild_id": guild_id, "name": name, "icon": icon, "owner_id": owner_id}
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def lock_guild(conn: AsyncConnection[Any], guild_id: str) -> bool:
    """True if the guild exists; it then cannot be deleted until this transaction ends."""
    cur = await conn.execute("SELECT 1 FROM guilds WHERE guild_id = %s FOR KEY SHARE", (guild_id,))
    return await cur.fetchone() is not None


async def delete_guild(conn: AsyncConnection[Any], guild_id: str) -> bool:
    """Delete the guild; config, links, preferences, subscribers and logs cascade."""
    cur = await conn.execute("DELETE FROM guilds WHERE guild_id = %s", (guild_id,))
    return cur.rowcount == 1


@dataclass(frozen=True)
class GuildConfigValues:
    """The columns of a guild's config that are written as a whole by `put_config`.

    ``restart_cooldown_seconds`` NULL means the service-wide setting, ``offline_template`` NULL
    the default "ended" form (migration 007).
    """

    channel_id: str
    mention_role_id: str | None
    message_template: dict[str, Any]
    enabled: bool
    dm_enabled: bool
    disabled_reason: str | None
    restart_cooldown_seconds: int | None
    offline_template: dict[str, Any] | None


@dataclass(frozen=True)
class GuildConfigRow(GuildConfigValues):
    guild_id: str
    updated_at: datetime | None


# The seed leaves `enabled` nullable; NULL has always meant the default, true.
_CONFIG_COLUMNS = """
guild_id, channel_id, mention_role_id, message_template, COALESCE(enabled, true) AS enabled,
dm_enabled, disabled_reason, restart_cooldown_seconds, offline_template, updated_at
"""


async def get_config(
    conn: AsyncConnection[Any], guild_id: str, *, for_update: bool = False
) -> GuildConfigRow | None:
    """The guild's config; ``for_update`` locks it for a read-modify-write."""
    query = f"SELECT {_CONFIG_COLUMNS} FROM guild_config WHERE guild_id = %s"
    if for_update:
        query += " FOR UPDATE"
    async with conn.cursor(row_factory=class_row(GuildConfigRow)) as cur:
        await cur.execute(query, (guild_id,))
        return await cur.fetchone()


_PUT_CONFIG = f"""
INSERT INTO guild_config
    (guild_id, channel_id, mention_role_id, message_template, enabled, dm_enabled,
     disabled_reason, restart_cooldown_seconds, offline_template, updated_at)
VALUES (%(guild_id)s, %(channel_id)s, %(mention_role_id)s, %(message_template)s, %(enabled)s,
        %(dm_enabled)s, %(disabled_reason)s, %(restart_cooldown_seconds)s,
        %(offline_template)s, now())
ON CONFLICT (guild_id) DO UPDATE SET
    channel_id = EXCLUDED.channel_id,
    mention_role_id = EXCLUDED.mention_role_id,
    message_template = EXCLUDED.message_template,
    enabled = EXCLUDED.enabled,
    dm_enabled = EXCLUDED.dm_enabled,
    disabled_reason = EXCLUDED.disabled_reason,
    restart_cooldown_seconds = EXCLUDED.restart_cooldown_seconds,
    offline_template = EXCLUDED.offline_template,
    updated_at = now()
RETURNING {_CONFIG_COLUMNS}
"""


async def put_config(
    conn: AsyncConnection[Any], guild_id: str, values: GuildConfigValues
) -> GuildConfigRow:
    """Write the whole config row (insert or replace) and return it."""
    offline = values.offline_template
    async with conn.cursor(row_factory=class_row(GuildConfigRow)) as cur:
        await cur.execute(
            _PUT_CONFIG,
            {
                "guild_id": guild_id,
                "channel_id": values.channel_id,
                "mention_role_id": values.mention_role_id,
                "message_template": Jsonb(values.message_template),
                "enabled": values.enabled,
                "dm_enabled": values.dm_enabled,
                "disabled_reason": values.disabled_reason,
                "restart_cooldown_seconds": values.restart_cooldown_seconds,
                "offline_template": Jsonb(offline) if offline is not None else None,
            },
        )
        row = await cur.fetchone()
        if row is None:
            raise RuntimeError("guild_config upsert returned no row")
        return row

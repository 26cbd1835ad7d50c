"""Streamer invites (``streamer_invites``): create, list with use counts, revoke, and use one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class InviteRow:
    token: str
    guild_id: str
    created_by: str | None
    created_at: datetime
    expires_at: datetime
    max_uses: int
    uses: int
    revoked_at: datetime | None


_COLUMNS = "token, guild_id, created_by, created_at, expires_at, max_uses, uses, revoked_at"

_INSERT = f"""
INSERT INTO streamer_invites (token, guild_id, created_by, expires_at, max_uses)
VALUES (%(token)s, %(guild_id)s, %(created_by)s,
        now() + make_interval(secs => %(lifetime_s)s), %(max_uses)s)
RETURNING {_COLUMNS}
"""


async def insert_invite(
    conn: AsyncConnection[Any],
    *,
    token: str,
    guild_id: str,
    created_by: str | None,
    lifetime_s: int,
    max_uses: int,
) -> InviteRow:
    async with conn.cursor(row_factory=class_row(InviteRow)) as cur:
        await cur.execute(
            _INSERT,
            {
                "token": token,
                "guild_id": guild_id,
                "created_by": created_by,
                "lifetime_s": lifetime_s,
                "max_uses": max_uses,
            },
        )
        row = await cur.fetchone()
        if row is None:
            raise RuntimeError("insert returned no row")
        return row


async def guild_invites(conn: AsyncConnection[Any], guild_id: str) -> list[InviteRow]:
    """The guild's invites, newest first (revoked and expired ones included)."""
    async with conn.cursor(row_factory=class_row(InviteRow)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM streamer_invites WHERE guild_id = %s"
            " ORDER BY created_at DESC, token",
            (guild_id,),
        )
        return await cur.fetchall()


async def invite(conn: AsyncConnection[Any], token: str) -> InviteRow | None:
    async with conn.cursor(row_factory=class_row(InviteRow)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM streamer_invites WHERE token = %s", (token,))
        return await cur.fetchone()


async def lock_invite(conn: AsyncConnection[Any], token: str) -> InviteRow | None:
    """The invite, locked until the transaction ends (its use count is about to change)."""
    async with conn.cursor(row_factory=class_row(InviteRow)) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} FROM streamer_invites WHERE token = %s FOR UPDATE", (token,)
        )
        return await cur.fetchone()


async def revoke_invite(conn: AsyncConnection[Any], guild_id: str, token: str) -> bool:
    """Mark the guild's invite revoked (a second revoke changes nothing); False if no such
    invite of that guild."""
    cur = await conn.execute(
        "UPDATE streamer_invites SET revoked_at = COALESCE(revoked_at, now())"
        " WHERE guild_id = %s AND token = %s",
        (guild_id, token),
    )
    return cur.rowcount == 1


async def count_use(conn: AsyncConnection[Any], token: str) -> None:
    await conn.execute("UPDATE streamer_invites SET uses = uses + 1 WHERE token = %s", (token,))

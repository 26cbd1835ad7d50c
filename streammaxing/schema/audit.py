"""The audit trail (``audit_log``): one row per write operation, read per guild newest first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

ActorKind = Literal["operator", "user"]


@dataclass(frozen=True)
class AuditEntry:
    """What one audit row records, before it has an id and a time."""

    actor_kind: ActorKind
    actor_user_id: str | None
    surface: str
    guild_id: str | None
    subject_user_id: str | None
    action: str
    detail: Mapping[str, Any]


@dataclass(frozen=True)
class AuditRow:
    id: int
    occurred_at: datetime
    actor_kind: str
    actor_user_id: str | None
    surface: str
    guild_id: str | None
    subject_user_id: str | None
    action: str
    detail: dict[str, Any]
    #: The acting user's Discord username as last seen at sign-in; None for the operator, for
    #: an erased user, and for a user who never signed in (a slash command only).
    actor_name: str | None = None


_INSERT = """
INSERT INTO audit_log
    (actor_kind, actor_user_id, surface, guild_id, subject_user_id, action, detail)
VALUES (%(actor_kind)s, %(actor_user_id)s, %(surface)s, %(guild_id)s, %(subject_user_id)s,
        %(action)s, %(detail)s)
RETURNING id
"""


async def insert_entry(conn: AsyncConnection[Any], entry: AuditEntry) -> int:
    """Append one row; its id."""
    cur = await conn.execute(
        _INSERT,
        {
            "actor_kind": entry.actor_kind,
            "actor_user_id": entry.actor_user_id,
            "surface": entry.surface,
            "guild_id": entry.guild_id,
            "subject_user_id": entry.subject_user_id,
            "action": entry.action,
            "detail": Jsonb(dict(entry.detail)),
        },
    )
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("audit_log insert returned no row")
    return int(row[0])


_GUILD_TRAIL = """
SELECT a.id, a.occurred_at, a.actor_kind, a.actor_user_id, a.surface, a.guild_id,
       a.subject_user_id, a.action, a.detail, u.username AS actor_name
FROM audit_log a
LEFT JOIN users u ON u.user_id = a.actor_user_id
WHERE a.guild_id = %(guild_id)s AND (%(before)s::bigint IS NULL OR a.id < %(before)s)
ORDER BY a.id DESC
LIMIT %(limit)s
"""


async def guild_trail(
    conn: AsyncConnection[Any], guild_id: str, *, before: int | None, limit: int
) -> list[AuditRow]:
    """One page of the guild's trail, newest first, starting below the id ``before``."""
    async with conn.cursor(row_factory=class_row(AuditRow)) as cur:
        await cur.execute(_GUILD_TRAIL, {"guild_id": guild_id, "before": before, "limit": limit})
        return await cur.fetchall()


_FORGET_USER = """
UPDATE audit_log SET
    actor_user_id = CASE WHEN actor_user_id = %(user_id)s THEN NULL ELSE actor_user_id END,
    subject_user_id = CASE WHEN subject_user_id = %(user_id)s THEN NULL ELSE subject_user_id END
WHERE actor_user_id = %(user_id)s OR subject_user_id = %(user_id)s
"""


async def forget_user(conn: AsyncConnection[Any], user_id: str) -> int:
    """Clear the user's id from every row that names them (as actor or as subject); the rows
    stay, so a guild's trail still shows that something was done, but no longer by whom."""
    cur = await conn.execute(_FORGET_USER, {"user_id": user_id})
    return cur.rowcount

"""Queries on the dashboard's server-side sessions (`web_sessions`).

A session is found by the SHA-256 of its cookie id. Expiry is decided in SQL against the
database clock: a session idle longer than ``idle`` or older than ``absolute`` is not returned
(and is deleted by `delete_expired`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class SessionRow:
    id_hash: bytes
    user_id: str | None
    operator: bool
    csrf_token: str
    oauth_state: str | None
    oauth_verifier: str | None
    access_token: str | None
    access_expires_at: datetime | None
    created_at: datetime
    last_seen_at: datetime


_COLUMNS = (
    "id_hash, user_id, operator, csrf_token, oauth_state, oauth_verifier, access_token, "
    "access_expires_at, created_at, last_seen_at"
)


@dataclass(frozen=True)
class NewSession:
    id_hash: bytes
    csrf_token: str
    user_id: str | None = None
    operator: bool = False
    oauth_state: str | None = None
    oauth_verifier: str | None = None
    access_token: str | None = None
    access_expires_at: datetime | None = None


async def insert_session(conn: AsyncConnection[Any], new: NewSession) -> None:
    await conn.execute(
        """
        INSERT INTO web_sessions (id_hash, csrf_token, user_id, operator, oauth_state,
                                  oauth_verifier, access_token, access_expires_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        """,
        (
            new.id_hash,
            new.csrf_token,
            new.user_id,
            new.operator,
            new.oauth_state,
            new.oauth_verifier,
            new.access_token,
            new.access_expires_at,
        ),
    )


async def touch_session(
    conn: AsyncConnection[Any], id_hash: bytes, *, idle: timedelta, absolute: timedelta
) -> SessionRow | None:
    """The live session with this id, its ``last_seen_at`` moved to now; None when it does not
    exist or has expired."""
    async with conn.cursor(row_factory=class_row(SessionRow)) as cur:
        await cur.execute(
            f"""
            UPDATE web_sessions SET last_seen_at = now()
            WHERE id_hash = %s AND last_seen_at > now() - %s AND created_at > now() - %s
            RETURNING {_COLUMNS}
            """,
            (id_hash, idle, absolute),
        )
        return await cur.fetchone()


async def take_session(conn: AsyncConnection[Any], id_hash: bytes) -> SessionRow | None:
    """Delete the session and return what it held (rotation and logout)."""
    async with conn.cursor(row_factory=class_row(SessionRow)) as cur:
        await cur.execute(
            f"DELETE FROM web_sessions WHERE id_hash = %s RETURNING {_COLUMNS}", (id_hash,)
        )
        return await cur.fetchone()


async def delete_session(conn: AsyncConnection[Any], id_hash: bytes) -> bool:
    cur = await conn.execute("DELETE FROM web_sessions WHERE id_hash = %s", (id_hash,))
    return cur.rowcount > 0


async def set_access_token(
    conn: AsyncConnection[Any], id_hash: bytes, sealed: str | None, expires_at: datetime | None
) -> None:
    await conn.execute(
        "UPDATE web_sessions SET access_token = %s, access_expires_at = %s WHERE id_hash = %s",
        (sealed, expires_at, id_hash),
    )


async def delete_expired(
    conn: AsyncConnection[Any], *, idle: timedelta, absolute: timedelta
) -> int:
    cur = await conn.execute(
        "DELETE FROM web_sessions WHERE last_seen_at <= now() - %s OR created_at <= now() - %s",
        (idle, absolute),
    )
    return cur.rowcount


async def set_oauth_state(
    conn: AsyncConnection[Any], id_hash: bytes, state: str | None, verifier: str | None = None
) -> None:
    """Bind (or clear) an OAuth ``state`` to the session, e.g. for a bot install."""
    await conn.execute(
        "UPDATE web_sessions SET oauth_state = %s, oauth_verifier = %s WHERE id_hash = %s",
        (state, verifier, id_hash),
    )

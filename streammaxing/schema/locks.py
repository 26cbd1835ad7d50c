"""Session-level advisory locks: one holder at a time across every process on the database.

The lock lives as long as the connection holds it, so a crashed holder never leaves it behind;
`try_session_lock` releases it before the connection goes back to its pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection


@asynccontextmanager
async def try_session_lock(conn: AsyncConnection[Any], key: int) -> AsyncIterator[bool]:
    """Take lock `key` if nobody holds it; yields whether it was taken (never waits)."""
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
    row = await cur.fetchone()
    held = bool(row and row[0])
    try:
        yield held
    finally:
        if held:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

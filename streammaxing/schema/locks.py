"""Transaction-scoped advisory locks: one holder at a time across every process on the database.

The lock lives as long as the transaction that took it, so it is correct through a
transaction-mode pooler (PgBouncer), where a session-level lock would be taken and released on
whichever server connection each statement happened to run: a crashed holder's transaction is
rolled back and the lock goes with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection


@asynccontextmanager
async def try_transaction_lock(conn: AsyncConnection[Any], key: int) -> AsyncIterator[bool]:
    """Open a transaction on `conn` and take lock `key` in it if nobody holds it; yields whether
    it was taken (never waits). The lock is released when the block ends and the transaction
    commits (or rolls back on an exception)."""
    async with conn.transaction():
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,))
        row = await cur.fetchone()
        yield bool(row and row[0])


async def wait_transaction_lock(conn: AsyncConnection[Any], key: int) -> None:
    """Take lock `key` in the transaction open on `conn`, waiting for its holder to finish."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))

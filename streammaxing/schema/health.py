"""Readiness: does the database answer?"""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


async def database_answers(pool: AsyncConnectionPool[AsyncConnection[object]]) -> bool:
    """True when a connection can be had within a second and answers `SELECT 1`."""
    try:
        async with pool.connection(timeout=1.0) as conn:
            await conn.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means "not ready"; the caller only needs a bool
        return False
    return True

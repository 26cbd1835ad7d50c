"""Queue statistics for metrics."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

_DEPTH = """
SELECT queue_name, count(*) FROM procrastinate_jobs
WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())
GROUP BY queue_name
"""


async def queue_depths(conn: AsyncConnection[Any]) -> dict[str, int]:
    """Jobs waiting to run now, per queue (scheduled ones not yet due are not counted)."""
    cur = await conn.execute(_DEPTH)
    return {str(name): int(count) for name, count in await cur.fetchall()}

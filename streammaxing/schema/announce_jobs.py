"""Queued delivery jobs, as a running delivery job of the same shard sees them."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

# Fresh `announce` jobs (priority 0; follow-ups run at -1) wait while their shard's job runs:
# each one is a fan-out whose rows are ready. Only jobs queued after `after` (a job id).
_FRESH_ANNOUNCE_JOBS = """
SELECT max(id), array_agg(DISTINCT (args->>'shard')::int)
FROM procrastinate_jobs
WHERE id > %(after)s AND status = 'todo' AND queue_name = %(queue)s AND task_name = %(task)s
  AND priority = 0
"""


async def fresh_announce_shards(
    conn: AsyncConnection[Any], *, after: int, queue: str, task: str
) -> tuple[int, list[int]]:
    """The shards of fresh delivery jobs queued after job `after`, and the newest job's id
    (`after` when there is none)."""
    cur = await conn.execute(_FRESH_ANNOUNCE_JOBS, {"after": after, "queue": queue, "task": task})
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return after, []
    return int(row[0]), [int(shard) for shard in row[1]]

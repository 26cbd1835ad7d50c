"""What the Discord limiter's shared state says right now, for metrics: halts in force and the
invalid requests the breaker is counting."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

_HALTS = """
SELECT reason, count(*) FROM discord_rl_halts
WHERE halted_until IS NULL OR halted_until > clock_timestamp()
GROUP BY reason
"""

# The breaker's window: the current minute and the nine before it (the limiter's own sum).
_INVALID = """
SELECT coalesce(max(hits), 0) FROM (
    SELECT sum(hits) AS hits FROM discord_rl_invalid
    WHERE minute > date_trunc('minute', clock_timestamp()) - interval '10 minutes'
    GROUP BY token_key
) AS per_token
"""


async def active_halts(conn: AsyncConnection[Any]) -> dict[str, int]:
    """Bot tokens whose sending is halted now, per halt reason."""
    cur = await conn.execute(_HALTS)
    return {str(reason): int(count) for reason, count in await cur.fetchall()}


async def invalid_requests_in_window(conn: AsyncConnection[Any]) -> int:
    """Invalid requests (401, 403, non-shared 429) in the breaker's 10-minute window, for the
    token with the most."""
    cur = await conn.execute(_INVALID)
    row = await cur.fetchone()
    return int(row[0]) if row else 0

"""Guilds with no announcement delivered for a number of days: reported, never deleted.

A guild's last delivery is the later of `guilds.last_delivery_at` (what `prune` kept of the
log rows it deleted) and its delivered rows still in `notification_log`. A guild added within
the window is not inactive. The filter reads the guilds table first (an index on the guild's
last known activity), then looks in the log only for those candidates: a guild with nothing
recent has few log rows, so the check is cheap as long as the window is at least the log's
retention (RETENTION_DAYS, 30 by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from psycopg import AsyncConnection
from psycopg.rows import class_row

#: The notification_log statuses that mean the guild's channel got (or, in dry-run, would have
#: got) the announcement.
DELIVERED_STATUSES: Final = ["sent", "resumed", "dry_run"]


@dataclass(frozen=True)
class InactiveGuild:
    guild_id: str
    name: str
    last_delivery_at: datetime | None
    created_at: datetime | None


_INACTIVE = """
FROM guilds g
WHERE coalesce(g.last_delivery_at, g.created_at, '-infinity'::timestamptz)
        < now() - make_interval(days => %(days)s)
  AND NOT EXISTS (
      SELECT 1 FROM notification_log n
      WHERE n.guild_id = g.guild_id AND n.status = ANY(%(delivered)s)
        AND n.sent_at >= now() - make_interval(days => %(days)s)
  )
"""

_LIST = f"""
SELECT g.guild_id, g.name, g.created_at,
       greatest(g.last_delivery_at, (
           SELECT max(n.sent_at) FROM notification_log n
           WHERE n.guild_id = g.guild_id AND n.status = ANY(%(delivered)s)
       )) AS last_delivery_at
{_INACTIVE}
ORDER BY last_delivery_at NULLS FIRST, g.guild_id
"""

_COUNT = f"SELECT count(*) {_INACTIVE}"


def _params(days: int) -> dict[str, Any]:
    return {"days": days, "delivered": DELIVERED_STATUSES}


async def inactive_guilds(conn: AsyncConnection[Any], days: int) -> list[InactiveGuild]:
    """Guilds with no delivery in `days` days, the longest inactive (or never) first."""
    async with conn.cursor(row_factory=class_row(InactiveGuild)) as cur:
        await cur.execute(_LIST, _params(days))
        return await cur.fetchall()


async def count_inactive_guilds(conn: AsyncConnection[Any], days: int) -> int:
    """How many guilds `inactive_guilds` would list."""
    cur = await conn.execute(_COUNT, _params(days))
    row = await cur.fetchone()
    return int(row[0]) if row else 0

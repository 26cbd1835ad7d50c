"""Retention queries: forget delivery logs older than the retention window (remembering, per
guild, the last delivery among the announcements forgotten)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from streammaxing.schema.inactive_guilds import DELIVERED_STATUSES

_PRUNE_NOTIFICATIONS = """
WITH gone AS (
    DELETE FROM notification_log WHERE sent_at < now() - make_interval(days => %(days)s)
    RETURNING guild_id, sent_at, status
), latest AS (
    SELECT guild_id, max(sent_at) AS last FROM gone
    WHERE status = ANY(%(delivered)s) GROUP BY guild_id
), remembered AS (
    UPDATE guilds g SET last_delivery_at = latest.last
    FROM latest
    WHERE g.guild_id = latest.guild_id
      AND (g.last_delivery_at IS NULL OR g.last_delivery_at < latest.last)
)
SELECT count(*) FROM gone
"""
_PRUNE_DMS = "DELETE FROM dm_log WHERE sent_at < now() - make_interval(days => %s)"


async def prune_notification_log(conn: AsyncConnection[Any], days: int) -> int:
    """Delete announcements older than `days` days; each guild's latest delivery among them is
    kept in `guilds.last_delivery_at`, in the same statement. Returns the rows deleted."""
    cur = await conn.execute(_PRUNE_NOTIFICATIONS, {"days": days, "delivered": DELIVERED_STATUSES})
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def prune_dm_log(conn: AsyncConnection[Any], days: int) -> int:
    cur = await conn.execute(_PRUNE_DMS, (days,))
    return cur.rowcount

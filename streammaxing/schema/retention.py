"""Retention queries: forget delivery logs older than the retention window (remembering, per
guild, the last delivery among the announcements forgotten), a bounded batch per statement."""

from __future__ import annotations

from typing import Any, Final

from psycopg import AsyncConnection

from streammaxing.schema.inactive_guilds import DELIVERED_STATUSES

#: Rows deleted per statement: each batch is its own short transaction (on 10M rows, one
#: unbatched DELETE of a day's 160,000 rows held its locks for tens of seconds).
PRUNE_BATCH: Final = 5000

# The oldest rows first, through idx_notification_log_sent_at; rows another transaction has
# locked (a delivery marking them) are left for the next batch.
_PRUNE_NOTIFICATIONS = """
WITH batch AS (
    SELECT id FROM notification_log
    WHERE sent_at < now() - make_interval(days => %(days)s)
    ORDER BY sent_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM notification_log n USING batch WHERE n.id = batch.id
    RETURNING n.guild_id, n.sent_at, n.status
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
_PRUNE_DMS = """
WITH batch AS (
    SELECT id FROM dm_log
    WHERE sent_at < now() - make_interval(days => %(days)s)
    ORDER BY sent_at
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
DELETE FROM dm_log d USING batch WHERE d.id = batch.id
"""


async def prune_notification_log(
    conn: AsyncConnection[Any], days: int, *, batch: int = PRUNE_BATCH
) -> int:
    """Delete up to `batch` of the announcements older than `days` days, oldest first; each
    guild's latest delivery among them is kept in `guilds.last_delivery_at`, in the same
    statement. Returns the rows deleted (fewer than `batch`: nothing older is left)."""
    cur = await conn.execute(
        _PRUNE_NOTIFICATIONS, {"days": days, "delivered": DELIVERED_STATUSES, "batch": batch}
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def prune_dm_log(conn: AsyncConnection[Any], days: int, *, batch: int = PRUNE_BATCH) -> int:
    """Delete up to `batch` of the DMs older than `days` days, oldest first."""
    cur = await conn.execute(_PRUNE_DMS, {"days": days, "batch": batch})
    return cur.rowcount

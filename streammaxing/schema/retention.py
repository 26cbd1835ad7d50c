"""Retention queries: forget delivery logs older than the retention window."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

_PRUNE_NOTIFICATIONS = (
    "DELETE FROM notification_log WHERE sent_at < now() - make_interval(days => %s)"
)
_PRUNE_DMS = "DELETE FROM dm_log WHERE sent_at < now() - make_interval(days => %s)"


async def prune_notification_log(conn: AsyncConnection[Any], days: int) -> int:
    cur = await conn.execute(_PRUNE_NOTIFICATIONS, (days,))
    return cur.rowcount


async def prune_dm_log(conn: AsyncConnection[Any], days: int) -> int:
    cur = await conn.execute(_PRUNE_DMS, (days,))
    return cur.rowcount

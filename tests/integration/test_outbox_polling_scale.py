"""The polling and retention queries rewritten for large tables keep their meaning:
`next_dm_due` (two index probes), `shards_with_pending` (a loose index scan) and the batched
prunes (bounded, oldest first, each guild's latest delivery remembered across batches)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from streammaxing.schema.outbox import next_dm_due, shards_with_pending
from streammaxing.schema.retention import prune_dm_log, prune_notification_log

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]


async def _dm(conn: psycopg.AsyncConnection[Any], event_id: str, **columns: Any) -> None:
    await conn.execute(
        "INSERT INTO users (user_id, username) VALUES ('u', 'u') ON CONFLICT DO NOTHING"
    )
    names = ", ".join(["user_id", "event_id", *columns])
    marks = ", ".join(["%s"] * (2 + len(columns)))
    await conn.execute(
        f"INSERT INTO dm_log ({names}) VALUES ({marks})",  # noqa: S608 - test's own columns
        ("u", event_id, *columns.values()),
    )


async def test_next_dm_due_is_the_earliest_pending_retry_or_now(pool: Pool) -> None:
    now = datetime.now(UTC)
    async with pool.connection() as conn:
        assert await next_dm_due(conn) is None
        await _dm(conn, "later", next_attempt_at=now + timedelta(minutes=5))
        await _dm(conn, "done", status="sent", next_attempt_at=now - timedelta(hours=1))
        due = await next_dm_due(conn)
        assert due is not None
        assert abs(due - (now + timedelta(minutes=5))) < timedelta(seconds=1)
        await _dm(conn, "fresh")  # no retry time: due now
        due = await next_dm_due(conn)
        assert due is not None
        assert abs(due - datetime.now(UTC)) < timedelta(minutes=1)
        await _dm(conn, "overdue", next_attempt_at=now - timedelta(minutes=3))
        due = await next_dm_due(conn)
        assert due is not None
        assert abs(due - (now - timedelta(minutes=3))) < timedelta(seconds=1)


async def test_shards_with_pending_lists_each_shard_with_pending_rows_once(pool: Pool) -> None:
    async with pool.connection() as conn:
        assert await shards_with_pending(conn) == []
        for event_id, shard, status in (
            ("a", 40, "pending"),
            ("b", 3, "pending"),
            ("c", 40, "pending"),
            ("d", 7, "sent"),
            ("e", 63, "pending"),
            ("f", 0, "failed"),
        ):
            await conn.execute(
                "INSERT INTO notification_log (event_id, shard, status) VALUES (%s, %s, %s)",
                (event_id, shard, status),
            )
        assert await shards_with_pending(conn) == [3, 40, 63]


async def test_prunes_delete_a_bounded_batch_oldest_first(pool: Pool) -> None:
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO guilds (guild_id, name) VALUES ('g', 'g')")
        await conn.execute(
            "INSERT INTO notification_log (guild_id, event_id, status, sent_at)"
            " SELECT 'g', 'e' || i, 'sent', now() - make_interval(days => 30 + i)"
            " FROM generate_series(1, 5) AS i"
        )
        await conn.execute(
            "INSERT INTO notification_log (guild_id, event_id, status, sent_at)"
            " VALUES ('g', 'young', 'sent', now() - interval '1 day')"
        )
        await conn.execute("INSERT INTO users (user_id, username) VALUES ('u', 'u')")
        await conn.execute(
            "INSERT INTO dm_log (user_id, event_id, sent_at)"
            " SELECT 'u', 'e' || i, now() - make_interval(days => 30 + i)"
            " FROM generate_series(1, 3) AS i"
        )

        assert await prune_notification_log(conn, 30, batch=2) == 2
        cur = await conn.execute("SELECT event_id FROM notification_log ORDER BY event_id")
        assert [row[0] for row in await cur.fetchall()] == ["e1", "e2", "e3", "young"]
        cur = await conn.execute(
            "SELECT round(EXTRACT(EPOCH FROM now() - last_delivery_at) / 86400) FROM guilds"
        )
        assert await cur.fetchone() == (34,)
        assert await prune_notification_log(conn, 30, batch=2) == 2
        assert await prune_notification_log(conn, 30, batch=2) == 1
        assert await prune_notification_log(conn, 30, batch=2) == 0
        cur = await conn.execute(
            "SELECT round(EXTRACT(EPOCH FROM now() - last_delivery_at) / 86400) FROM guilds"
        )
        assert await cur.fetchone() == (31,)

        assert await prune_dm_log(conn, 30, batch=2) == 2
        assert await prune_dm_log(conn, 30, batch=2) == 1
        cur = await conn.execute("SELECT count(*) FROM dm_log")
        assert await cur.fetchone() == (0,)

"""The seed document's behaviours hold on the migrated database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from streammaxing.schema.fanout import AnnouncementClaim, claim_announcements
from streammaxing.schema.streamers import (
    delete_orphaned_streamers,
    orphaned_streamers,
    upsert_streamer,
)

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]


async def _guild_with_everything(conn: psycopg.AsyncConnection[Any]) -> Any:
    await conn.execute("INSERT INTO users (user_id, username) VALUES ('u1', 'alice')")
    await conn.execute("INSERT INTO guilds (guild_id, name) VALUES ('g1', 'Guild One')")
    await conn.execute(
        "INSERT INTO guild_config (guild_id, channel_id, message_template)"
        " VALUES ('g1', 'c1', '{}')"
    )
    streamer = await upsert_streamer(
        conn, broadcaster_id="1337", login="cool_user", display_name="Cool_User", avatar_url=None
    )
    await conn.execute(
        "INSERT INTO guild_streamers (guild_id, streamer_id, added_by) VALUES ('g1', %s, 'u1')",
        (streamer.id,),
    )
    await conn.execute(
        "INSERT INTO user_preferences (user_id, guild_id, streamer_id, notifications_enabled)"
        " VALUES ('u1', 'g1', %s, false)",
        (streamer.id,),
    )
    await conn.execute("INSERT INTO dm_subscribers (guild_id, user_id) VALUES ('g1', 'u1')")
    return streamer


async def claim_announcement(
    conn: psycopg.AsyncConnection[Any], guild_id: str, streamer_id: Any, event_id: str
) -> bool:
    """Claim one (guild, stream) key the way the fan-out claims them; True if it was new."""
    shards = await claim_announcements(
        conn,
        streamer_id=streamer_id,
        event_id=event_id,
        started_at=datetime.now(UTC),
        claims=[AnnouncementClaim(guild_id, "c1", 0)],
    )
    return bool(shards)


async def announcement_exists(
    conn: psycopg.AsyncConnection[Any], guild_id: str, event_id: str
) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM notification_log WHERE guild_id = %s AND event_id = %s", (guild_id, event_id)
    )
    return await cur.fetchone() is not None


class TestIdempotencyKey:
    async def test_claim_returns_a_row_once(self, pool: Pool) -> None:
        """INSERT … ON CONFLICT (guild_id, event_id) DO NOTHING RETURNING id: a row once only."""
        async with pool.connection() as conn:
            streamer = await _guild_with_everything(conn)
            first = await claim_announcement(conn, "g1", streamer.id, "9001")
            second = await claim_announcement(conn, "g1", streamer.id, "9001")
            assert first
            assert not second
            assert await announcement_exists(conn, "g1", "9001")
            assert not await announcement_exists(conn, "g1", "9002")

    async def test_uncommitted_claim_is_released_by_rollback(self, pool: Pool) -> None:
        """A claim in a transaction that rolls back (a crash mid-send) can be claimed again."""
        async with pool.connection() as conn:
            streamer = await _guild_with_everything(conn)
        async with pool.connection() as conn:
            try:
                async with conn.transaction():
                    assert await claim_announcement(conn, "g1", streamer.id, "77")
                    raise RuntimeError("worker died before commit")
            except RuntimeError:
                pass
            assert await claim_announcement(conn, "g1", streamer.id, "77")


class TestCascades:
    async def test_deleting_a_guild_cascades(self, pool: Pool) -> None:
        """Deleting a guild removes its config, links, preferences, DM subscribers and log."""
        async with pool.connection() as conn:
            streamer = await _guild_with_everything(conn)
            await claim_announcement(conn, "g1", streamer.id, "9001")
            await conn.execute("DELETE FROM guilds WHERE guild_id = 'g1'")
            for table in (
                "guild_config",
                "guild_streamers",
                "user_preferences",
                "notification_log",
                "dm_subscribers",
            ):
                cur = await conn.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
                row = await cur.fetchone()
                assert row == (0,), table
            cur = await conn.execute("SELECT count(*) FROM streamers")
            row = await cur.fetchone()
            assert row == (1,)


class TestOrphans:
    async def test_not_exists_is_correct_with_nulls(self, pool: Pool) -> None:
        """A NULL streamer_id in guild_streamers does not hide orphans (the seed's NOT IN would)."""
        async with pool.connection() as conn:
            tracked = await _guild_with_everything(conn)
            orphan = await upsert_streamer(
                conn, broadcaster_id="42", login="lonely", display_name=None, avatar_url=None
            )
            await conn.execute("INSERT INTO guilds (guild_id, name) VALUES ('g2', 'Two');")
            # NULLs can't reach guild_streamers through its primary key; relax it on this
            # throwaway database to show why the query must not rely on that.
            await conn.execute(
                "ALTER TABLE guild_streamers DROP CONSTRAINT guild_streamers_pkey,"
                " ALTER COLUMN streamer_id DROP NOT NULL"
            )
            await conn.execute(
                "INSERT INTO guild_streamers (guild_id, streamer_id) VALUES ('g2', NULL)"
            )
            cur = await conn.execute(
                "SELECT count(*) FROM streamers"
                " WHERE id NOT IN (SELECT DISTINCT streamer_id FROM guild_streamers)"
            )
            row = await cur.fetchone()
            assert row == (0,)  # the seed's pitfall, demonstrated
            assert [s.id for s in await orphaned_streamers(conn)] == [orphan.id]
            assert await delete_orphaned_streamers(conn) == 1
            assert [s.id for s in await orphaned_streamers(conn)] == []
            cur = await conn.execute("SELECT id FROM streamers")
            assert [r[0] for r in await cur.fetchall()] == [tracked.id]

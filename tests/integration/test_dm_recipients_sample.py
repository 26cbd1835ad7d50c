"""A stream DMs at most its cap of subscribers: a sample that differs between streams."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from streammaxing.schema.fanout import dm_recipients
from streammaxing.templating import DEFAULT_TEMPLATE

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]


async def test_beyond_the_limit_each_stream_dms_its_own_sample(pool: Pool) -> None:
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO guilds (guild_id, name) VALUES ('g', 'g')")
        await conn.execute(
            "INSERT INTO guild_config (guild_id, channel_id, message_template)"
            " VALUES ('g', 'c', %s)",
            (Jsonb(dict(DEFAULT_TEMPLATE)),),
        )
        cur = await conn.execute(
            "INSERT INTO streamers (twitch_broadcaster_id, twitch_login) VALUES ('1', 's')"
            " RETURNING id"
        )
        row = await cur.fetchone()
        assert row is not None
        streamer = row[0]
        await conn.execute(
            "INSERT INTO users (user_id, username)"
            " SELECT 'u' || i, 'u' FROM generate_series(1, 20) i"
        )
        await conn.execute(
            "INSERT INTO dm_subscribers (guild_id, user_id)"
            " SELECT 'g', 'u' || i FROM generate_series(1, 20) i"
        )

        everyone = await dm_recipients(conn, streamer, ["g"], limit=100, sample_key="s1")
        samples = [
            {r.user_id for r in await dm_recipients(conn, streamer, ["g"], limit=5, sample_key=k)}
            for k in ("s1", "s2", "s3")
        ]
        again = await dm_recipients(conn, streamer, ["g"], limit=5, sample_key="s1")

    assert {r.user_id for r in everyone} == {f"u{i}" for i in range(1, 21)}
    assert [len(sample) for sample in samples] == [5, 5, 5]
    assert all(sample <= {r.user_id for r in everyone} for sample in samples)
    assert len(samples[0] | samples[1] | samples[2]) > 5
    assert {r.user_id for r in again} == samples[0]

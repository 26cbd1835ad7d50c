"""Claiming announcements with distinct payloads: each guild gets the payload its index points
at, once; a row claimed without one gets it from a later claim."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from streammaxing.schema.fanout import AnnouncementClaim, claim_announcements

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]


async def test_each_guild_gets_the_payload_at_its_index_once(pool: Pool) -> None:
    async with pool.connection() as conn:
        for guild in ("g1", "g2", "g3", "g4"):
            await conn.execute(
                "INSERT INTO guilds (guild_id, name) VALUES (%s, %s)", (guild, guild)
            )
        cur = await conn.execute(
            "INSERT INTO streamers (twitch_broadcaster_id, twitch_login) VALUES ('1', 's')"
            " RETURNING id"
        )
        row = await cur.fetchone()
        assert row is not None
        payloads = [{"content": "plain"}, {"content": "<@&1> ping"}]
        indexes = {"g1": 0, "g2": 1, "g3": 0, "g4": None}
        claims = [
            AnnouncementClaim(g, f"c-{g}", n, indexes[g])
            for n, g in enumerate(("g1", "g2", "g3", "g4"))
        ]

        shards = await claim_announcements(
            conn,
            streamer_id=row[0],
            event_id="s1",
            started_at=datetime.now(UTC),
            claims=claims,
            payloads=payloads,
        )

        assert sorted(shards) == [0, 1, 2, 3]
        cur = await conn.execute(
            "SELECT guild_id, payload FROM notification_log WHERE event_id = 's1' ORDER BY 1"
        )
        assert await cur.fetchall() == [
            ("g1", {"content": "plain"}),
            ("g2", {"content": "<@&1> ping"}),
            ("g3", {"content": "plain"}),
            ("g4", None),
        ]
        again = await claim_announcements(
            conn,
            streamer_id=row[0],
            event_id="s1",
            started_at=datetime.now(UTC),
            claims=[AnnouncementClaim("g1", "c-g1", 0, 0), AnnouncementClaim("g4", "c-g4", 3, 0)],
            payloads=[{"content": "other"}],
        )
        assert again == [3]
        cur = await conn.execute(
            "SELECT payload FROM notification_log WHERE event_id = 's1' AND guild_id = 'g1'"
        )
        assert await cur.fetchone() == ({"content": "plain"},)

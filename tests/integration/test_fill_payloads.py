"""Filling claimed announcements from distinct payloads: each guild gets the payload its index
points at, once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from streammaxing.schema.fanout import (
    AnnouncementClaim,
    claim_announcements,
    fill_announcement_payloads,
)

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
        claims = [AnnouncementClaim(g, f"c-{g}", n) for n, g in enumerate(("g1", "g2", "g3", "g4"))]
        await claim_announcements(
            conn, streamer_id=row[0], event_id="s1", started_at=datetime.now(UTC), claims=claims
        )
        payloads = [{"content": "plain"}, {"content": "<@&1> ping"}]

        shards = await fill_announcement_payloads(
            conn, event_id="s1", payloads=payloads, payload_of={"g1": 0, "g2": 1, "g3": 0}
        )

        assert sorted(shards) == [0, 1, 2]
        cur = await conn.execute(
            "SELECT guild_id, payload FROM notification_log WHERE event_id = 's1' ORDER BY 1"
        )
        assert await cur.fetchall() == [
            ("g1", {"content": "plain"}),
            ("g2", {"content": "<@&1> ping"}),
            ("g3", {"content": "plain"}),
            ("g4", None),
        ]
        again = await fill_announcement_payloads(
            conn, event_id="s1", payloads=[{"content": "other"}], payload_of={"g1": 0, "g4": 0}
        )
        assert again == [3]
        cur = await conn.execute(
            "SELECT payload FROM notification_log WHERE event_id = 's1' AND guild_id = 'g1'"
        )
        assert await cur.fetchone() == ({"content": "plain"},)

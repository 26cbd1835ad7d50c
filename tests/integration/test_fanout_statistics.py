"""A fan-out that claims many rows refreshes the planner's statistics of the outbox tables
right away (on statistics from before the claim, the delivery lanes' statements read every
pending row); a small one leaves that to autovacuum."""

from __future__ import annotations

import pytest

from streammaxing.runtime import Runtime
from streammaxing.workers import fanout
from streammaxing.workers.fanout import fan_out
from tests.fakes.twitch_fake import TwitchFakeState
from tests.integration.jobs_harness import (  # noqa: F401 - fixtures
    fake_fixture,
    runtime_fixture,
    track,
    twitch_server_fixture,
)

EVENT = {
    "id": "88001",
    "broadcaster_user_id": "6101",
    "broadcaster_user_login": "popular",
    "broadcaster_user_name": "Popular",
    "type": "live",
    "started_at": "2024-05-04T18:22:29Z",
}


async def _analyzed_rows(runtime: Runtime) -> dict[str, float]:
    """pg_class.reltuples per outbox table: -1 until the table is first analyzed."""
    async with runtime.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT relname, reltuples FROM pg_class"
            " WHERE relname IN ('notification_log', 'dm_log') ORDER BY relname"
        )
        return {str(row[0]): float(row[1]) for row in await cur.fetchall()}


async def _three_guilds_and_subscribers(runtime: Runtime) -> None:
    for guild in ("g1", "g2", "g3"):
        await track(runtime, "6101", guild_id=guild)
    async with runtime.pool.connection() as conn:
        for user in ("u1", "u2", "u3"):
            await conn.execute(
                "INSERT INTO users (user_id, username) VALUES (%s, %s)", (user, user)
            )
            await conn.execute(
                "INSERT INTO dm_subscribers (guild_id, user_id) VALUES ('g1', %s)", (user,)
            )


async def test_a_large_claim_analyzes_the_outbox_tables(
    runtime: Runtime, fake: TwitchFakeState, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _three_guilds_and_subscribers(runtime)
    fake.add_stream("6101", "popular", id="88001")
    assert await _analyzed_rows(runtime) == {"dm_log": -1, "notification_log": -1}
    monkeypatch.setattr(fanout, "ANALYZE_AFTER_ROWS", 3)

    result = await fan_out(runtime, EVENT)

    assert (result.announcements_claimed, result.dms_claimed) == (3, 3)
    assert await _analyzed_rows(runtime) == {"dm_log": 3, "notification_log": 3}


async def test_a_small_claim_leaves_statistics_to_autovacuum(
    runtime: Runtime, fake: TwitchFakeState
) -> None:
    await _three_guilds_and_subscribers(runtime)
    fake.add_stream("6101", "popular", id="88001")

    result = await fan_out(runtime, EVENT)

    assert (result.announcements_claimed, result.dms_claimed) == (3, 3)
    assert await _analyzed_rows(runtime) == {"dm_log": -1, "notification_log": -1}

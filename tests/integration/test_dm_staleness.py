"""The DM lane drops DMs still pending 30 minutes after their go-live (failed, reason
'stale', counted), oldest first in bounded batches, and delivers the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streammaxing.runtime import Runtime
from streammaxing.schema.outbox import expire_stale_dms
from streammaxing.workers.dm import DM_MAX_AGE_SECONDS, DmDelivery
from tests.integration.jobs_harness import (  # noqa: F401 - fixtures
    fake_fixture,
    runtime_fixture,
    twitch_server_fixture,
)


async def _pending_dm(runtime: Runtime, user: str, event_id: str, age: timedelta) -> None:
    async with runtime.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO users (user_id, username) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (user, user),
        )
        await conn.execute(
            "INSERT INTO dm_log (user_id, event_id, payload, sent_at) VALUES (%s, %s, %s, %s)",
            (user, event_id, '{"content": "live"}', datetime.now(UTC) - age),
        )


async def _statuses(runtime: Runtime) -> dict[str, tuple[str, str | None]]:
    async with runtime.pool.connection() as conn:
        cur = await conn.execute("SELECT user_id, status, failure_reason FROM dm_log")
        return {str(r[0]): (str(r[1]), r[2]) for r in await cur.fetchall()}


async def test_the_lane_drops_stale_dms_and_delivers_the_rest(runtime: Runtime) -> None:
    max_age = timedelta(seconds=DM_MAX_AGE_SECONDS)
    await _pending_dm(runtime, "old1", "s1", max_age + timedelta(minutes=5))
    await _pending_dm(runtime, "old2", "s1", max_age + timedelta(minutes=1))
    await _pending_dm(runtime, "young", "s2", max_age - timedelta(minutes=5))

    await DmDelivery(runtime).run()

    assert await _statuses(runtime) == {
        "old1": ("failed", "stale"),
        "old2": ("failed", "stale"),
        "young": ("dry_run", None),
    }
    assert runtime.metrics.registry.get_sample_value("dms_dropped_stale_total") == 2


async def test_expiry_is_bounded_and_oldest_first(runtime: Runtime) -> None:
    for n, minutes in enumerate((50, 40, 45)):
        await _pending_dm(runtime, f"u{n}", "s1", timedelta(minutes=minutes))
    async with runtime.pool.connection() as conn:
        assert await expire_stale_dms(conn, max_age_seconds=1800, batch=2) == 2
        assert await _statuses(runtime) == {
            "u0": ("failed", "stale"),
            "u1": ("pending", None),
            "u2": ("failed", "stale"),
        }
        assert await expire_stale_dms(conn, max_age_seconds=1800, batch=2) == 1
        assert await expire_stale_dms(conn, max_age_seconds=1800, batch=2) == 0

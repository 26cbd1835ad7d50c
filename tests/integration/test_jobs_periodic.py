"""The other periodic jobs against the Twitch fake and a real database: `catch_up_live`,
`cleanup_orphans`, `prune`, and how the jobs are registered (SPEC §5.5)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from streammaxing.bootstrap import task_app
from streammaxing.jobs.catch_up import catch_up_live
from streammaxing.jobs.cleanup import cleanup_orphans
from streammaxing.jobs.eventsub.subscribe import subscribe_streamer
from streammaxing.jobs.retention import prune
from streammaxing.jobs.tasks import PERIODIC_JOBS
from streammaxing.queues import Queue, Task
from streammaxing.runtime import Runtime
from streammaxing.workers.fanout import fan_out
from tests.fakes.twitch_fake import TwitchFakeState
from tests.integration.jobs_harness import (  # noqa: F401 - fixtures
    CALLBACK,
    SUBS,
    fake_fixture,
    ours,
    run_worker_until_idle,
    runtime_fixture,
    stored,
    track,
    twitch_server_fixture,
    untrack,
)


async def announcements(runtime: Runtime) -> list[tuple[str, str]]:
    async with runtime.pool.connection() as conn:
        cur = await conn.execute("SELECT guild_id, event_id FROM notification_log ORDER BY 1, 2")
        return [(row[0], row[1]) for row in await cur.fetchall()]


async def streamer_exists(runtime: Runtime, broadcaster_id: str) -> bool:
    async with runtime.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM streamers WHERE twitch_broadcaster_id = %s", (broadcaster_id,)
        )
        return await cur.fetchone() is not None


class TestCatchUpLive:
    async def test_announces_a_stream_whose_webhook_never_arrived(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """A tracked streamer is live but no stream.online came: a `stream_online` job is
        queued like the ingest's, and the workers fan it out with the stream id as the
        idempotency key to every tracking guild."""
        await track(runtime, "5001", guild_id="g1")
        await track(runtime, "5001", guild_id="g2")
        stream = fake.add_stream("5001", "caught", id="77001", title="Hello")

        result = await catch_up_live(runtime)
        assert (result.live, result.announced) == (1, 1)
        assert await announcements(runtime) == []

        await run_worker_until_idle(runtime, Queue.EVENTS)
        assert await announcements(runtime) == [("g1", stream.id), ("g2", stream.id)]

    async def test_a_missed_stream_is_queued_once_while_its_job_waits(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Two catch-up runs before a worker picks the job up queue one `stream_online` job."""
        await track(runtime, "5051")
        fake.add_stream("5051", "waiting", id="77051")

        first = await catch_up_live(runtime)
        second = await catch_up_live(runtime)

        assert (first.announced, second.announced) == (1, 0)
        async with runtime.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s",
                (Task.STREAM_ONLINE,),
            )
            assert await cur.fetchone() == (1,)

    async def test_never_announces_twice(self, runtime: Runtime, fake: TwitchFakeState) -> None:
        """A stream already announced (the webhook did arrive, or an earlier catch-up) is left
        alone: no second fan-out, no new job."""
        await track(runtime, "5101")
        fake.add_stream("5101", "seen", id="77101")
        await fan_out(
            runtime,
            {
                "id": "77101",
                "broadcaster_user_id": "5101",
                "broadcaster_user_login": "seen",
                "broadcaster_user_name": "Seen",
                "type": "live",
                "started_at": "2024-05-04T18:22:29Z",
            },
        )
        before = await announcements(runtime)

        first = await catch_up_live(runtime)
        second = await catch_up_live(runtime)

        assert (first.announced, second.announced) == (0, 0)
        assert await announcements(runtime) == before == [("g1", "77101")]

    async def test_only_plain_live_streams_count(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """A stream whose type is not `live` (Helix sends "" on error) is not announced."""
        await track(runtime, "5201")
        fake.add_stream("5201", "odd", id="77201", type="")
        result = await catch_up_live(runtime)
        assert (result.live, result.announced) == (0, 0)
        assert await announcements(runtime) == []

    async def test_streams_older_than_the_retention_window_are_left_alone(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """A 24/7 stream whose announcement was pruned is not announced again."""
        await track(runtime, "5301")
        started = datetime.now(UTC) - timedelta(days=31)
        fake.add_stream(
            "5301", "always", id="77301", started_at=started.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        result = await catch_up_live(runtime)
        assert (result.too_old, result.announced) == (1, 0)

    async def test_asks_helix_a_hundred_streamers_at_a_time(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """250 tracked streamers → three Get Streams calls."""
        for n in range(250):
            await track(runtime, str(60000 + n))
        result = await catch_up_live(runtime)
        assert result.streamers == 250
        assert fake.count("GET", "/helix/streams") == 3

    async def test_disabled_guilds_are_not_checked(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Only streamers some guild would announce are asked about."""
        await track(runtime, "5401")
        async with runtime.pool.connection() as conn:
            await conn.execute("UPDATE guild_config SET enabled = false")
        result = await catch_up_live(runtime)
        assert result.streamers == 0
        assert fake.count("GET", "/helix/streams") == 0

    async def test_without_twitch_credentials_warns_once(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Dry-run: one warning, a result saying why, no crash."""
        with capture_logs() as logs:
            result = await catch_up_live(dataclasses.replace(runtime, helix=None))
        assert result.skipped is not None
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
            "job_skipped_without_twitch"
        ]


class TestCleanupOrphans:
    async def test_deletes_twitch_subscriptions_then_the_streamer(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """An orphan's subscriptions are deleted at Twitch, then its row (and its rows)."""
        orphan = await track(runtime, "7001")
        await track(runtime, "7002")
        await subscribe_streamer(runtime, orphan)
        await untrack(runtime, "7001")

        result = await cleanup_orphans(runtime)

        assert (result.orphans, result.subscriptions_deleted, result.streamers_deleted) == (1, 3, 1)
        assert ours(fake, "7001") == []
        assert not await streamer_exists(runtime, "7001")
        assert await streamer_exists(runtime, "7002")
        assert await stored(runtime) == {}

    async def test_a_failed_twitch_deletion_keeps_the_row_for_the_next_run(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Rows are deleted only after Twitch's subscriptions: a 5xx keeps the streamer (and
        the record of its subscriptions) so the next run finishes the job."""
        orphan = await track(runtime, "7101")
        await subscribe_streamer(runtime, orphan)
        await untrack(runtime, "7101")
        fake.add_fault("DELETE", SUBS, status=500)

        first = await cleanup_orphans(runtime)
        assert (first.failures, first.streamers_deleted, first.retry_later) == (1, 0, True)
        assert await streamer_exists(runtime, "7101")
        assert len(await stored(runtime)) == 3

        second = await cleanup_orphans(runtime)
        assert (second.failures, second.streamers_deleted) == (0, 1)
        assert ours(fake, "7101") == []
        assert not await streamer_exists(runtime, "7101")

    async def test_only_our_subscriptions_are_deleted(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Another deployment's subscription for the same broadcaster stays."""
        await track(runtime, "7201")
        await untrack(runtime, "7201")
        mine = fake.add_subscription("7201", callback=CALLBACK)
        theirs = fake.add_subscription("7201", callback="https://other.example/webhooks/twitch")

        await cleanup_orphans(runtime)

        assert fake.subscription(mine.id) is None
        assert fake.subscription(theirs.id) is not None


class TestPrune:
    async def test_keeps_what_is_younger_than_the_windows(self, runtime: Runtime) -> None:
        """Delivery logs older than RETENTION_DAYS, message ids older than a day and finished
        jobs older than a day go; anything younger, and unfinished jobs, stay."""
        streamer_id = await track(runtime, "8001")
        now = datetime.now(UTC)
        async with runtime.pool.connection() as conn:
            for event_id, age in (("old", 31), ("young", 29)):
                sent = now - timedelta(days=age)
                await conn.execute(
                    "INSERT INTO notification_log (guild_id, streamer_id, event_id, sent_at)"
                    " VALUES ('g1', %s, %s, %s)",
                    (streamer_id, event_id, sent),
                )
                await conn.execute(
                    "INSERT INTO users (user_id, username) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (f"u-{event_id}", event_id),
                )
                await conn.execute(
                    "INSERT INTO dm_log (user_id, event_id, sent_at) VALUES (%s, %s, %s)",
                    (f"u-{event_id}", event_id, sent),
                )
            for message_id, hours in (("m-old", 25), ("m-young", 1)):
                await conn.execute(
                    "INSERT INTO eventsub_messages (message_id, received_at) VALUES (%s, %s)",
                    (message_id, now - timedelta(hours=hours)),
                )
        jobs = {}
        for name in ("done-old", "done-young", "waiting"):
            jobs[name] = await runtime.app.configure_task("prune", queue="test").defer_async(
                timestamp=0
            )
        async with runtime.pool.connection() as conn:
            for name in ("done-old", "done-young"):
                await conn.execute(
                    "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (jobs[name],)
                )
                await conn.execute(
                    "UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = %s",
                    (jobs[name],),
                )
            await conn.execute(
                "UPDATE procrastinate_events SET at = now() - interval '2 days' WHERE job_id = %s",
                (jobs["done-old"],),
            )

        result = await prune(runtime)

        assert (result.notifications, result.dms, result.message_ids) == (1, 1, 1)
        async with runtime.pool.connection() as conn:
            cur = await conn.execute("SELECT event_id FROM notification_log")
            assert [row[0] for row in await cur.fetchall()] == ["young"]
            cur = await conn.execute("SELECT event_id FROM dm_log")
            assert [row[0] for row in await cur.fetchall()] == ["young"]
            cur = await conn.execute("SELECT message_id FROM eventsub_messages")
            assert [row[0] for row in await cur.fetchall()] == ["m-young"]
            cur = await conn.execute("SELECT id FROM procrastinate_jobs ORDER BY id")
            assert [row[0] for row in await cur.fetchall()] == [
                jobs["done-young"],
                jobs["waiting"],
            ]

    async def test_remembers_each_guilds_last_delivery_and_counts_inactive_guilds(
        self, runtime: Runtime
    ) -> None:
        """Pruned announcements leave the latest delivery of each guild in
        `guilds.last_delivery_at` (failed ones do not count, a later one is never overwritten
        by an earlier one), and the `inactive_guilds{days="90"}` gauge counts the guilds with
        no delivery in 90 days."""
        now = datetime.now(UTC)
        async with runtime.pool.connection() as conn:
            for guild_id, created_days, remembered_days in (
                ("a", 400, None),
                ("b", 400, 35),
                ("idle", 400, 200),
            ):
                await conn.execute(
                    "INSERT INTO guilds (guild_id, name, created_at, last_delivery_at)"
                    " VALUES (%s, %s, %s, %s)",
                    (
                        guild_id,
                        guild_id,
                        now - timedelta(days=created_days),
                        None if remembered_days is None else now - timedelta(days=remembered_days),
                    ),
                )
            for guild_id, event_id, status, age in (
                ("a", "a-sent", "sent", 40),
                ("a", "a-newer", "sent", 35),
                ("a", "a-failed", "failed", 31),
                ("b", "b-older", "sent", 45),
            ):
                await conn.execute(
                    "INSERT INTO notification_log (guild_id, event_id, status, sent_at)"
                    " VALUES (%s, %s, %s, %s)",
                    (guild_id, event_id, status, now - timedelta(days=age)),
                )

        result = await prune(runtime)

        assert result.notifications == 4
        async with runtime.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT guild_id, round(EXTRACT(EPOCH FROM now() - last_delivery_at) / 86400)"
                " FROM guilds ORDER BY guild_id"
            )
            assert await cur.fetchall() == [("a", 35), ("b", 35), ("idle", 200)]
        assert result.inactive_guilds == 1
        gauge = runtime.metrics.registry.get_sample_value("inactive_guilds", {"days": "90"})
        assert gauge == 1

    async def test_the_periodic_prune_forgets_idle_rate_limit_buckets(
        self, runtime: Runtime
    ) -> None:
        """The scheduled `prune` job, run by a worker, deletes Discord rate-limit buckets idle
        for over an hour and keeps recent ones and any that still hold a block."""
        async with runtime.pool.connection() as conn:
            for key, idle, blocked in (
                ("idle", "2 hours", None),
                ("recent", "1 minute", None),
                ("blocked", "2 hours", "1 hour"),
            ):
                await conn.execute(
                    "INSERT INTO discord_rl_buckets (token_key, bucket_key, touched_at,"
                    " blocked_until) VALUES ('t', %s, now() - %s::interval,"
                    " now() + %s::interval)",
                    (key, idle, blocked),
                )
        await runtime.app.configure_task(Task.PRUNE, queue=Queue.MAINTENANCE).defer_async(
            timestamp=0
        )

        await run_worker_until_idle(runtime, Queue.MAINTENANCE)

        async with runtime.pool.connection() as conn:
            cur = await conn.execute("SELECT bucket_key FROM discord_rl_buckets ORDER BY 1")
            assert [row[0] for row in await cur.fetchall()] == ["blocked", "recent"]
        assert PERIODIC_JOBS[Task.PRUNE][0] == "17 3 * * *"


class TestRegistration:
    def test_every_job_is_registered_under_its_name(self) -> None:
        """The periodic jobs run-job knows, and the two deferred by name, with their queues."""
        app = task_app()
        assert set(PERIODIC_JOBS) == {
            "reconcile_subscriptions",
            "catch_up_live",
            "cleanup_orphans",
            "prune",
            "retry_stalled_jobs",
            "maintain_twitch_tokens",
        }
        queues = {name: task.queue for name, task in app.tasks.items() if task.queue != "builtin"}
        assert {name: queues[name] for name in [*PERIODIC_JOBS, "subscribe_streamer"]} == {
            **dict.fromkeys(PERIODIC_JOBS, "maintenance"),
            "subscribe_streamer": "maintenance",
        }
        assert queues["subscription_revoked"] == "events"
        schedules = {
            task.task.name: task.cron for task in app.periodic_registry.periodic_tasks.values()
        }
        assert schedules == {
            **{name: cron for name, (cron, _) in PERIODIC_JOBS.items()},
            "sweep_outbox": "*/5 * * * *",
        }
        assert schedules["reconcile_subscriptions"] == "*/10 * * * *"
        assert schedules["catch_up_live"] == "*/5 * * * *"

"""Self-healing EventSub subscriptions against the Twitch fake and a real database:
`subscribe_streamer`, `reconcile_subscriptions` and their rows (SPEC §5.5, reference §1.9/§3.5)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from structlog.testing import capture_logs

from streammaxing.jobs.eventsub.reconcile import ReconcileResult, reconcile_subscriptions
from streammaxing.jobs.eventsub.subscribe import subscribe_streamer
from streammaxing.runtime import Runtime
from streammaxing.twitch.errors import TwitchTransientError
from tests.fakes.twitch_fake import TwitchFakeState
from tests.integration.jobs_harness import (  # noqa: F401 - fixtures
    CALLBACK,
    SECRET,
    SUBS,
    TOPICS,
    fake_fixture,
    give_full_set,
    make_settings,
    mutations,
    ours,
    run_worker_until_idle,
    runtime_fixture,
    stored,
    topics,
    track,
    twitch_server_fixture,
    untrack,
)


class TestSubscribeStreamer:
    async def test_tracked_streamer_gets_its_three_subscriptions_within_seconds(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Deferred by name as the admin API does, the job creates stream.online v1,
        stream.offline v1 and channel.update v2 to our callback, signed with the first secret,
        and records them."""
        streamer_id = await track(runtime, "1001")
        started = time.monotonic()
        await runtime.app.configure_task("subscribe_streamer", queue="maintenance").defer_async(
            streamer_id=str(streamer_id)
        )
        await run_worker_until_idle(runtime, "maintenance")
        elapsed = time.monotonic() - started

        subs = ours(fake, "1001")
        assert topics(subs) == TOPICS
        assert len(subs) == 3
        assert {s.secret for s in subs} == {SECRET}
        assert elapsed < 5
        rows = await stored(runtime)
        assert set(rows) == {s.id for s in subs}
        assert {(b, t) for b, t, _ in rows.values()} == {
            ("1001", "stream.online"),
            ("1001", "stream.offline"),
            ("1001", "channel.update"),
        }
        assert {status for *_, status in rows.values()} == {"webhook_callback_verification_pending"}

    async def test_second_run_changes_nothing(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Pending subscriptions are in flight: a repeated job creates no duplicates."""
        streamer_id = await track(runtime, "1002")
        first = await subscribe_streamer(runtime, streamer_id)
        before = mutations(fake)
        second = await subscribe_streamer(runtime, streamer_id)
        assert (first.counts.created, second.counts.created, second.counts.deleted) == (3, 0, 0)
        assert mutations(fake) == before
        assert len(ours(fake, "1002")) == 3

    async def test_conflict_adopts_the_existing_subscription(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """A 409 (created meanwhile by someone else) means "exists": it is listed again and
        adopted, never duplicated."""
        streamer_id = await track(runtime, "1003")
        give_full_set(fake, "1003")
        existing = {s.id for s in ours(fake, "1003")}
        empty = {"data": [], "total": 0, "total_cost": 3, "max_total_cost": 10000, "pagination": {}}
        fake.add_fault("GET", SUBS, status=200, body=empty)  # a listing from before they existed

        result = await subscribe_streamer(runtime, streamer_id)

        assert [r.status for r in fake.requests("POST", SUBS)] == [409, 409, 409]
        assert {s.id for s in ours(fake, "1003")} == existing
        assert set(await stored(runtime)) == existing
        assert (result.counts.created, result.counts.failures, result.counts.refused) == (3, 0, 0)

    async def test_untracked_streamer_is_not_subscribed(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """A streamer no guild tracks (any more) gets nothing."""
        streamer_id = await track(runtime, "1004")
        await untrack(runtime, "1004")
        result = await subscribe_streamer(runtime, streamer_id)
        assert result.skipped is not None
        assert fake.subscriptions() == []

    async def test_without_public_url_warns_once_and_does_nothing(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Dry-run (no PUBLIC_URL): one warning naming what is missing, no Twitch call."""
        streamer_id = await track(runtime, "1005")
        dry = dataclasses.replace(runtime, settings=make_settings(public_url=None))
        with capture_logs() as logs:
            result = await subscribe_streamer(dry, streamer_id)
        assert result.skipped is not None
        assert "PUBLIC_URL" in result.skipped
        assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
            "job_skipped_without_twitch"
        ]
        assert fake.requests() == []


class TestReconcileRepairsDrift:
    async def test_creates_what_is_missing_and_a_second_run_changes_nothing(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Tracked streamers without subscriptions get theirs; a run right after changes
        nothing at Twitch and only re-verifies the rows."""
        for broadcaster in ("2001", "2002"):
            await track(runtime, broadcaster)
        give_full_set(fake, "2001")

        first = await reconcile_subscriptions(runtime)
        assert (first.counts.kept, first.counts.created, first.counts.deleted) == (3, 3, 0)
        assert topics(ours(fake, "2002")) == TOPICS
        rows_after_first = await stored(runtime)
        assert set(rows_after_first) == {s.id for s in ours(fake)}

        before = mutations(fake)
        second = await reconcile_subscriptions(runtime)
        assert (
            second.counts.kept,
            second.counts.created,
            second.counts.deleted,
            second.counts.failures,
        ) == (6, 0, 0, 0)
        assert mutations(fake) == before
        assert await stored(runtime) == rows_after_first

    async def test_deletes_what_nobody_tracks_and_never_touches_other_callbacks(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Ours for an untracked streamer are deleted; another deployment's are left alone."""
        await track(runtime, "2101")
        give_full_set(fake, "2101")
        give_full_set(fake, "2199")
        foreign = fake.add_subscription("2199", callback="https://other.example/webhooks/twitch")

        result = await reconcile_subscriptions(runtime)

        assert result.counts.deleted == 3
        assert ours(fake, "2199") == []
        assert fake.subscription(foreign.id) is not None
        assert topics(ours(fake, "2101")) == TOPICS

    @pytest.mark.parametrize(
        "status",
        [
            "notification_failures_exceeded",
            "webhook_callback_verification_failed",
            "authorization_revoked",
            "some_status_twitch_adds_later",
        ],
    )
    async def test_failed_and_revoked_subscriptions_are_recreated(
        self, runtime: Runtime, fake: TwitchFakeState, status: str
    ) -> None:
        """A dead subscription is deleted first (it would linger 10 days), then replaced."""
        await track(runtime, "2201")
        give_full_set(fake, "2201")
        dead = next(s for s in ours(fake, "2201") if s.type == "stream.online")
        fake.set_subscription_status(dead.id, status)

        result = await reconcile_subscriptions(runtime)

        assert (result.counts.deleted, result.counts.created) == (1, 1)
        assert fake.subscription(dead.id) is None
        assert topics(ours(fake, "2201")) == TOPICS
        assert all(s.status != status for s in ours(fake))
        rows = await stored(runtime)
        assert dead.id not in rows
        assert set(rows) == {s.id for s in ours(fake)}
        deletes = fake.requests("DELETE", SUBS)
        creates = fake.requests("POST", SUBS)
        assert deletes[0].at <= creates[0].at

    async def test_user_removed_is_dropped_and_not_recreated(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """user_removed: the dead subscription is deleted, its row stays as a tombstone, and
        later runs do not try to recreate it."""
        await track(runtime, "2301")
        give_full_set(fake, "2301")
        gone = next(s for s in ours(fake, "2301") if s.type == "stream.offline")
        fake.set_subscription_status(gone.id, "user_removed")

        first = await reconcile_subscriptions(runtime)
        second = await reconcile_subscriptions(runtime)

        assert (first.counts.deleted, first.counts.created, first.counts.suppressed) == (1, 0, 1)
        assert (second.counts.deleted, second.counts.created, second.counts.suppressed) == (0, 0, 1)
        assert fake.subscription(gone.id) is None
        assert topics(ours(fake, "2301")) == TOPICS - {("stream.offline", "1")}
        assert (await stored(runtime))[gone.id] == ("2301", "stream.offline", "user_removed")

    async def test_outdated_version_is_upgraded(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """channel.update v1 (deprecated) is replaced by v2."""
        await track(runtime, "2401")
        fake.add_subscription("2401", type="stream.online", callback=CALLBACK)
        fake.add_subscription("2401", type="stream.offline", callback=CALLBACK)
        old = fake.add_subscription("2401", type="channel.update", version="1", callback=CALLBACK)

        await reconcile_subscriptions(runtime)

        assert fake.subscription(old.id) is None
        assert topics(ours(fake, "2401")) == TOPICS

    async def test_rows_follow_twitch_status_and_last_verified(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Once Twitch reports a subscription enabled, the next run writes that down."""
        await track(runtime, "2501")
        await reconcile_subscriptions(runtime)
        async with runtime.pool.connection() as conn:
            cur = await conn.execute("SELECT max(last_verified) FROM eventsub_subscriptions")
            before = (await cur.fetchone())[0]  # type: ignore[index]
        for sub in ours(fake):
            fake.set_subscription_status(sub.id, "enabled")

        await reconcile_subscriptions(runtime)

        rows = await stored(runtime)
        assert {status for *_, status in rows.values()} == {"enabled"}
        async with runtime.pool.connection() as conn:
            cur = await conn.execute("SELECT min(last_verified) FROM eventsub_subscriptions")
            after = (await cur.fetchone())[0]  # type: ignore[index]
        assert after > before


class TestReconcileConcurrencyAndFaults:
    async def test_two_runs_at_once_create_no_duplicates(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Two workers reconciling at the same time: one holds the lock, the other returns."""
        for n in range(20):
            await track(runtime, str(3000 + n))

        results = await asyncio.gather(
            reconcile_subscriptions(runtime), reconcile_subscriptions(runtime)
        )

        assert len(ours(fake)) == 60
        assert sum(r.counts.created for r in results) == 60
        assert sorted(r.skipped or "" for r in results) == ["", "another reconcile is running"]

    async def test_listing_failure_changes_nothing_and_the_next_run_repairs(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """A 5xx while paging through the listing aborts before any change (a partial listing
        must never be acted on); the retry does the work."""
        await track(runtime, "3101")
        give_full_set(fake, "3199")
        fake.configure(subscription_page_size=2)
        fake.add_fault("GET", SUBS, status=502)

        with pytest.raises(TwitchTransientError):
            await reconcile_subscriptions(runtime)
        assert mutations(fake) == 0
        assert await stored(runtime) == {}

        result = await reconcile_subscriptions(runtime)
        assert (result.counts.created, result.counts.deleted, result.counts.failures) == (3, 3, 0)

    async def test_failed_creates_leave_the_run_incomplete_and_lose_nothing(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """5xx on some creates: the rest is done, the run asks to be retried, and the retry
        creates exactly what is missing."""
        for broadcaster in ("3201", "3202"):
            await track(runtime, broadcaster)
        fake.add_fault("POST", SUBS, status=500, times=2)

        first = await reconcile_subscriptions(runtime)
        assert (first.counts.created, first.counts.failures, first.retry_later) == (4, 2, True)
        assert len(ours(fake)) == 4

        second = await reconcile_subscriptions(runtime)
        assert (second.counts.created, second.counts.failures, second.retry_later) == (2, 0, False)
        assert len(ours(fake)) == 6
        assert topics(ours(fake, "3201")) == topics(ours(fake, "3202")) == TOPICS

    async def test_incomplete_periodic_run_is_retried_by_the_queue(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Run by a real worker, an incomplete reconcile fails its attempt and is scheduled
        again (procrastinate retry), instead of succeeding silently."""
        await track(runtime, "3301")
        fake.add_fault("POST", SUBS, status=500)
        job_id = await runtime.app.configure_task(
            "reconcile_subscriptions", queue="maintenance"
        ).defer_async(timestamp=int(time.time()))

        await run_worker_until_idle(runtime, "maintenance")

        async with runtime.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT status, attempts, scheduled_at > now() FROM procrastinate_jobs"
                " WHERE id = %s",
                (job_id,),
            )
            assert await cur.fetchone() == ("todo", 1, True)
        assert len(ours(fake, "3301")) == 2

    async def test_rate_limited_429_waits_for_the_bucket_and_completes(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """A 429 with an empty bucket is waited out (Ratelimit-Reset), not lost."""
        await track(runtime, "3401")
        reset = str(int(time.time()) + 1)
        fake.add_fault(
            "POST",
            SUBS,
            status=429,
            headers={
                "Ratelimit-Limit": "800",
                "Ratelimit-Remaining": "0",
                "Ratelimit-Reset": reset,
            },
        )

        result = await reconcile_subscriptions(runtime)

        assert (result.counts.created, result.counts.failures) == (3, 0)
        assert [r.status for r in fake.requests("POST", SUBS)].count(429) == 1

    async def test_more_calls_than_one_bucket_holds_wait_for_the_refill(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """The bucket (4 points, full again 6 s after running dry: longer than the client
        waits in-line) empties mid-run; the job waits for the reset and finishes."""
        fake.configure(ratelimit_limit=4, ratelimit_window_s=6.0)
        for broadcaster in ("3451", "3452"):
            await track(runtime, broadcaster)

        result = await reconcile_subscriptions(runtime)

        assert (result.counts.created, result.counts.failures) == (6, 0)
        assert len(ours(fake)) == 6

    async def test_per_condition_429_is_a_refusal_not_a_retry(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """A 429 on create while the bucket still has points is a subscription limit: logged
        as an error, not retried in-line, not counted as a transient failure."""
        await track(runtime, "3501")
        fake.add_fault(
            "POST",
            SUBS,
            status=429,
            body={"error": "Too Many Requests", "status": 429, "message": "maximum subscriptions"},
            headers={
                "Ratelimit-Limit": "800",
                "Ratelimit-Remaining": "790",
                "Ratelimit-Reset": "1",
            },
        )
        with capture_logs() as logs:
            result = await reconcile_subscriptions(runtime)
        assert (result.counts.created, result.counts.refused, result.counts.failures) == (2, 1, 0)
        assert fake.count("POST", SUBS) == 3
        assert "eventsub_subscription_limit" in {e["event"] for e in logs}

    async def test_cost_is_exported_and_a_nearly_spent_budget_warns(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """total_cost / max_total_cost become gauges; above 80 % of the budget, a warning."""
        fake.configure(max_total_cost=7)
        for broadcaster in ("3601", "3602"):
            await track(runtime, broadcaster)
        with capture_logs() as logs:
            await reconcile_subscriptions(runtime)
        metrics = runtime.metrics
        assert metrics.twitch_subscription_cost._value.get() == 6
        assert metrics.twitch_subscription_max_cost._value.get() == 7
        assert "eventsub_budget_nearly_spent" in {e["event"] for e in logs}

    async def test_dry_run_without_helix_warns_once(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """No Twitch credentials: one warning, a result that says so, no crash."""
        dry = dataclasses.replace(runtime, helix=None)
        with capture_logs() as logs:
            result = await reconcile_subscriptions(dry)
        assert result == ReconcileResult(skipped=result.skipped)
        assert result.skipped is not None
        assert result.skipped.startswith("dry-run")
        assert len([e for e in logs if e["log_level"] == "warning"]) == 1
        assert fake.requests() == []


async def link(runtime: Runtime, fake: TwitchFakeState, broadcaster_id: str) -> None:
    """The streamer linked their Twitch account: we hold a token, and Twitch knows they
    authorized our client (their subscriptions cost 0)."""
    async with runtime.pool.connection() as conn:
        await conn.execute(
            "UPDATE streamers SET twitch_access_token = 'sealed' WHERE twitch_broadcaster_id = %s",
            (broadcaster_id,),
        )
    fake.oauth.grant(fake.client_id, broadcaster_id, ["user:read:email"])


async def left_out_flags(runtime: Runtime) -> set[str]:
    async with runtime.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT twitch_broadcaster_id FROM streamers WHERE eventsub_left_out_at IS NOT NULL"
        )
        return {row[0] for row in await cur.fetchall()}


class TestReconcileBudget:
    async def test_a_short_budget_goes_to_the_most_tracked_and_says_who_was_left_out(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """max_total_cost 6 covers two unlinked streamers: the ones three and two guilds track
        are subscribed; the one-guild streamer is left out — counted, logged and marked."""
        fake.configure(max_total_cost=6)
        for guild in ("g1", "g2", "g3"):
            await track(runtime, "2001", guild_id=guild)
        for guild in ("g1", "g2"):
            await track(runtime, "2002", guild_id=guild)
        await track(runtime, "2003", guild_id="g1")

        with capture_logs() as logs:
            result = await reconcile_subscriptions(runtime)

        assert (result.tracked, result.left_out, result.counts.created) == (3, 1, 6)
        assert {len(ours(fake, b)) for b in ("2001", "2002")} == {3}
        assert ours(fake, "2003") == []
        assert fake.count("POST", SUBS) == 6  # nothing was tried past the budget
        assert await left_out_flags(runtime) == {"2003"}
        assert runtime.metrics.registry.get_sample_value("eventsub_streamers_left_out") == 1
        (short,) = [e for e in logs if e["event"] == "eventsub_budget_short"]
        assert short["most_tracked"] == [{"broadcaster_id": "2003", "guilds": 1}]

    async def test_a_linked_streamer_costs_nothing_and_fits_a_full_budget(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Once the left-out streamer links Twitch, its subscriptions cost 0: the next run
        subscribes it with the budget still full, and clears its mark."""
        fake.configure(max_total_cost=6)
        for guild in ("g1", "g2"):
            await track(runtime, "2101", guild_id=guild)
            await track(runtime, "2102", guild_id=guild)
        await track(runtime, "2103", guild_id="g1")
        first = await reconcile_subscriptions(runtime)
        assert first.left_out == 1

        await link(runtime, fake, "2103")
        second = await reconcile_subscriptions(runtime)

        assert (second.left_out, second.counts.created) == (0, 3)
        assert [s.cost for s in ours(fake, "2103")] == [0, 0, 0]
        assert await left_out_flags(runtime) == set()
        assert runtime.metrics.registry.get_sample_value("eventsub_streamers_left_out") == 0

    async def test_a_more_tracked_newcomer_takes_the_place_of_the_least_tracked(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """With the budget full, a streamer five guilds track replaces the one-guild streamer:
        its subscriptions are deleted to free the points, and the newcomer's created."""
        fake.configure(max_total_cost=6)
        for guild in ("g1", "g2"):
            await track(runtime, "2201", guild_id=guild)
        await track(runtime, "2202", guild_id="g1")
        await reconcile_subscriptions(runtime)
        assert len(ours(fake, "2202")) == 3

        for guild in ("g1", "g2", "g3", "g4", "g5"):
            await track(runtime, "2203", guild_id=guild)
        result = await reconcile_subscriptions(runtime)

        assert (result.left_out, result.counts.deleted, result.counts.created) == (1, 3, 3)
        assert ours(fake, "2202") == []
        assert len(ours(fake, "2203")) == 3
        assert await left_out_flags(runtime) == {"2202"}

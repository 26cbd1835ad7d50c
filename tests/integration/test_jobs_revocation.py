"""Revocations through the real ingest: signed message → `subscription_revoked` job → action."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from streammaxing.db import create_pool
from streammaxing.ingest.app import create_app
from streammaxing.ingest.enqueue import GroupCommitter
from streammaxing.ingest.state import IngestState
from streammaxing.jobs.eventsub.reconcile import reconcile_subscriptions
from streammaxing.jobs.eventsub.subscribe import subscribe_streamer
from streammaxing.metrics import Metrics
from streammaxing.runtime import Runtime
from streammaxing.twitch.trigger import TriggerOptions, build_message
from tests.fakes.server import ServerThread
from tests.fakes.twitch_fake import FakeSubscription, TwitchFakeState
from tests.integration.jobs_harness import (  # noqa: F401 - fixtures
    CALLBACK,
    SECRET,
    TOPICS,
    fake_fixture,
    ours,
    run_worker_until_idle,
    runtime_fixture,
    stored,
    topics,
    track,
    twitch_server_fixture,
)


@pytest.fixture(name="ingest_url")
def ingest_url_fixture(database_url: str) -> Iterator[str]:
    pool = create_pool(database_url, min_size=1, max_size=4, name="test-ingest")
    state = IngestState(
        pool=pool,
        metrics=Metrics(),
        committer=GroupCommitter(pool),
        eventsub_secrets=[SECRET.encode()],
    )
    with ServerThread(create_app(state), lifespan="on") as server:
        yield server.url


def revoke(ingest_url: str, fake: TwitchFakeState, sub: FakeSubscription, status: str) -> None:
    """Twitch marks the subscription and sends its revocation to our webhook."""
    fake.set_subscription_status(sub.id, status)
    message = build_message(
        TriggerOptions(
            kind="revocation",
            secret=SECRET,
            broadcaster_id=sub.condition["broadcaster_user_id"],
            subscription_id=sub.id,
            subscription_type=sub.type,  # type: ignore[arg-type]
            status=status,
            callback=CALLBACK,
        )
    )
    response = httpx.post(
        f"{ingest_url}/webhooks/twitch", headers=message.headers, content=message.body, timeout=10
    )
    assert response.status_code == 204


async def queued(runtime: Runtime, task: str) -> int:
    async with runtime.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = %s", (task,)
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


class TestRevocationThroughTheIngest:
    @pytest.mark.parametrize(
        "status",
        ["notification_failures_exceeded", "webhook_callback_verification_failed"],
    )
    async def test_failed_subscription_is_recreated(
        self, runtime: Runtime, fake: TwitchFakeState, ingest_url: str, status: str
    ) -> None:
        """The ingest records the status and queues the job; the job schedules
        `subscribe_streamer`, which deletes the dead subscription and creates a new one."""
        streamer_id = await track(runtime, "4001")
        await subscribe_streamer(runtime, streamer_id)
        dead = next(s for s in ours(fake, "4001") if s.type == "stream.online")

        revoke(ingest_url, fake, dead, status)
        assert (await stored(runtime))[dead.id][2] == status
        await run_worker_until_idle(runtime, "events", "maintenance")

        assert fake.subscription(dead.id) is None
        assert topics(ours(fake, "4001")) == TOPICS
        rows = await stored(runtime)
        assert dead.id not in rows
        assert set(rows) == {s.id for s in ours(fake, "4001")}
        assert await queued(runtime, "subscribe_streamer") == 1

    async def test_three_revocations_queue_one_subscribe(
        self, runtime: Runtime, fake: TwitchFakeState, ingest_url: str
    ) -> None:
        """Every topic of a streamer revoked at once → one waiting subscribe job, three new
        subscriptions."""
        streamer_id = await track(runtime, "4101")
        await subscribe_streamer(runtime, streamer_id)
        old = ours(fake, "4101")
        for sub in old:
            revoke(ingest_url, fake, sub, "notification_failures_exceeded")

        await run_worker_until_idle(runtime, "events")
        assert await queued(runtime, "subscribe_streamer") == 1
        await run_worker_until_idle(runtime, "maintenance")

        assert {s.id for s in ours(fake, "4101")}.isdisjoint({s.id for s in old})
        assert topics(ours(fake, "4101")) == TOPICS

    async def test_user_removed_is_recorded_and_not_recreated(
        self, runtime: Runtime, fake: TwitchFakeState, ingest_url: str
    ) -> None:
        """user_removed: no subscribe job; the reconcile then deletes the dead subscription and
        keeps the row as a tombstone, so nothing is recreated."""
        streamer_id = await track(runtime, "4201")
        await subscribe_streamer(runtime, streamer_id)
        gone = next(s for s in ours(fake, "4201") if s.type == "stream.online")

        revoke(ingest_url, fake, gone, "user_removed")
        await run_worker_until_idle(runtime, "events", "maintenance")

        assert await queued(runtime, "subscribe_streamer") == 0
        assert (await stored(runtime))[gone.id] == ("4201", "stream.online", "user_removed")
        result = await reconcile_subscriptions(runtime)
        assert (result.counts.deleted, result.counts.created, result.counts.suppressed) == (1, 0, 1)
        assert fake.subscription(gone.id) is None
        assert (await stored(runtime))[gone.id][2] == "user_removed"

    async def test_revocation_of_an_unknown_subscription_is_recorded(
        self, runtime: Runtime, fake: TwitchFakeState, ingest_url: str
    ) -> None:
        """A revocation can overtake our own bookkeeping: the job stores the row itself."""
        await track(runtime, "4301")
        sub = fake.add_subscription("4301", type="stream.offline", callback=CALLBACK)

        revoke(ingest_url, fake, sub, "authorization_revoked")
        await run_worker_until_idle(runtime, "events")

        assert (await stored(runtime))[sub.id] == (
            "4301",
            "stream.offline",
            "authorization_revoked",
        )
        assert await queued(runtime, "subscribe_streamer") == 1

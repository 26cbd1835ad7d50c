"""`subscribe_streamer` for a streamer who linked after being subscribed: its cost-1
subscriptions are deleted and created again at cost 0, against the Twitch fake's cost model
(0 when the broadcaster authorized the client, fixed at creation)."""

from __future__ import annotations

from uuid import UUID

from streammaxing.jobs.eventsub.subscribe import subscribe_streamer
from streammaxing.runtime import Runtime
from streammaxing.twitch.user_oauth import LINK_SCOPES
from tests.fakes.twitch_fake import TwitchFakeState
from tests.integration.jobs_harness import (  # noqa: F401 - fixtures
    SUBS,
    TOPICS,
    fake_fixture,
    mutations,
    ours,
    runtime_fixture,
    stored,
    topics,
    track,
    twitch_server_fixture,
)

BROADCASTER = "1337"


async def mark_linked(runtime: Runtime, streamer_id: UUID) -> None:
    """The streamer holds a link (the job reads only whether a sealed token is stored)."""
    async with runtime.pool.connection() as conn:
        await conn.execute(
            "UPDATE streamers SET twitch_access_token = 'sealed-a', twitch_refresh_token ="
            " 'sealed-r', twitch_linked_at = now() WHERE id = %s",
            (streamer_id,),
        )


async def subscribed_before_linking(runtime: Runtime, fake: TwitchFakeState) -> UUID:
    """Tracked and subscribed at cost 1, then the broadcaster authorizes the client."""
    streamer_id = await track(runtime, BROADCASTER)
    await subscribe_streamer(runtime, streamer_id)
    assert [s.cost for s in ours(fake, BROADCASTER)] == [1, 1, 1]
    fake.oauth.grant(fake.client_id, BROADCASTER, LINK_SCOPES)
    await mark_linked(runtime, streamer_id)
    return streamer_id


class TestRecostAfterLinking:
    async def test_cost_one_subscriptions_are_recreated_at_cost_zero(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """The three subscriptions are deleted and created anew: same topics, new ids, each
        cost 0, the budget's total back to 0, and the stored rows name the new ids. A second
        run changes nothing."""
        streamer_id = await subscribed_before_linking(runtime, fake)
        before = {s.id for s in ours(fake, BROADCASTER)}

        result = await subscribe_streamer(runtime, streamer_id)

        after = ours(fake, BROADCASTER)
        assert topics(after) == TOPICS
        assert [s.cost for s in after] == [0, 0, 0]
        assert not before & {s.id for s in after}
        assert sum(s.cost for s in fake.subscriptions()) == 0
        assert set(await stored(runtime)) == {s.id for s in after}
        assert result.counts.created == 3
        done = mutations(fake)
        await subscribe_streamer(runtime, streamer_id)
        assert mutations(fake) == done

    async def test_an_unlinked_streamer_keeps_its_subscriptions(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Without a stored link nothing is re-created, even if Twitch would now charge 0."""
        streamer_id = await track(runtime, BROADCASTER)
        await subscribe_streamer(runtime, streamer_id)
        fake.oauth.grant(fake.client_id, BROADCASTER, LINK_SCOPES)
        done = mutations(fake)
        await subscribe_streamer(runtime, streamer_id)
        assert mutations(fake) == done
        assert [s.cost for s in ours(fake, BROADCASTER)] == [1, 1, 1]

    async def test_a_failed_deletion_keeps_that_subscription_until_the_next_run(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """A 5xx on one deletion leaves that subscription in place (cost 1, still delivering,
        no 409 on re-create); the other two are re-created at cost 0; the next run finishes."""
        streamer_id = await subscribed_before_linking(runtime, fake)
        fake.add_fault("DELETE", SUBS, status=500, times=1)

        await subscribe_streamer(runtime, streamer_id)
        assert sorted(s.cost for s in ours(fake, BROADCASTER)) == [0, 0, 1]
        assert topics(ours(fake, BROADCASTER)) == TOPICS

        await subscribe_streamer(runtime, streamer_id)
        assert [s.cost for s in ours(fake, BROADCASTER)] == [0, 0, 0]
        assert topics(ours(fake, BROADCASTER)) == TOPICS

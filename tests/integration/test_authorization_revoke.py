"""`user.authorization.revoke`: reconcile keeps the one app-wide subscription while streamers can
link, and the job deletes the tokens of the user the event names."""

from __future__ import annotations

from cryptography.fernet import Fernet

from streammaxing.jobs.eventsub.reconcile import reconcile_subscriptions
from streammaxing.runtime import Runtime
from tests.fakes.twitch_fake import FakeSubscription, TwitchFakeState
from tests.integration.jobs_harness import (  # noqa: F401 - fixtures
    CALLBACK,
    fake_fixture,
    make_settings,
    mutations,
    runtime_fixture,
    track,
    twitch_server_fixture,
)

REVOKE = "user.authorization.revoke"


def revoke_subscriptions(fake: TwitchFakeState) -> list[FakeSubscription]:
    return [s for s in fake.subscriptions() if s.type == REVOKE]


def can_link(runtime: Runtime, fake: TwitchFakeState) -> None:
    """Our client id is the fake's, and a key is configured: streamers can link."""
    runtime.settings = make_settings(
        twitch_client_id=fake.client_id, token_encryption_keys=Fernet.generate_key().decode()
    )


class TestRevokeSubscription:
    async def test_reconcile_subscribes_once_with_our_client_id(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """The first run creates one `user.authorization.revoke` v1 webhook to our callback
        with condition ``{"client_id": ours}``; the next run changes nothing."""
        can_link(runtime, fake)
        await track(runtime, "2001")
        first = await reconcile_subscriptions(runtime)
        assert first.app_topics.created == 1
        (sub,) = revoke_subscriptions(fake)
        assert (sub.version, sub.callback, sub.condition) == (
            "1",
            CALLBACK,
            {"client_id": fake.client_id},
        )
        before = mutations(fake)
        second = await reconcile_subscriptions(runtime)
        assert (second.app_topics.created, second.app_topics.deleted) == (0, 0)
        assert mutations(fake) == before
        assert len(revoke_subscriptions(fake)) == 1

    async def test_a_failed_one_is_replaced(self, runtime: Runtime, fake: TwitchFakeState) -> None:
        """A revoke subscription Twitch reports failed is deleted and a new one created."""
        can_link(runtime, fake)
        fake.add_subscription(
            "",
            type=REVOKE,
            status="webhook_callback_verification_failed",
            callback=CALLBACK,
            cost=0,
            condition={"client_id": fake.client_id},
        )
        result = await reconcile_subscriptions(runtime)
        assert (result.app_topics.deleted, result.app_topics.created) == (1, 1)
        (sub,) = revoke_subscriptions(fake)
        assert sub.status != "webhook_callback_verification_failed"

    async def test_not_subscribed_while_streamers_cannot_link(
        self, runtime: Runtime, fake: TwitchFakeState
    ) -> None:
        """Without TOKEN_ENCRYPTION_KEYS no token is ever stored: no revoke subscription."""
        await track(runtime, "2001")
        result = await reconcile_subscriptions(runtime)
        assert result.app_topics.created == 0
        assert revoke_subscriptions(fake) == []

"""The subscription plan: what a status calls for, and what to keep, delete and create."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from streammaxing.jobs.eventsub.plan import (
    TOPICS,
    StatusAction,
    Topic,
    is_ours,
    plan_subscriptions,
    status_action,
)
from streammaxing.twitch.models import EventSubSubscription

CALLBACK = "https://example.com/webhooks/twitch"
_ids = itertools.count(1)
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def sub(
    broadcaster: str | None = "1",
    type: str = "stream.online",  # Twitch's field name
    version: str = "1",
    status: str = "enabled",
    *,
    age: int = 0,
    callback: str | None = CALLBACK,
    method: str = "webhook",
) -> EventSubSubscription:
    return EventSubSubscription(
        id=f"sub-{next(_ids)}",
        type=type,
        version=version,
        status=status,
        broadcaster_user_id=broadcaster,
        transport_method=method,
        callback=callback,
        created_at=EPOCH - timedelta(minutes=age),
        cost=1,
    )


def full_set(broadcaster: str, status: str = "enabled") -> list[EventSubSubscription]:
    return [sub(broadcaster, t.type, t.version, status) for t in TOPICS]


class TestStatusAction:
    def test_enabled_and_pending_are_kept(self) -> None:
        """Delivering, or verifying the callback (in flight: never duplicated), is healthy."""
        for status in ("enabled", "webhook_callback_verification_pending"):
            assert status_action(status, version="1", wanted_version="1") is StatusAction.KEEP

    def test_failures_and_revocations_are_recreated(self) -> None:
        """Callback failures and a revoked authorization call for a fresh subscription."""
        for status in (
            "notification_failures_exceeded",
            "webhook_callback_verification_failed",
            "authorization_revoked",
            "moderator_removed",
            "beta_maintenance",
        ):
            assert status_action(status, version="1", wanted_version="1") is StatusAction.RECREATE

    def test_unknown_statuses_are_unhealthy(self) -> None:
        """A status Twitch adds later is treated as unhealthy: recreate."""
        action = status_action("something_new_2027", version="1", wanted_version="1")
        assert action is StatusAction.RECREATE

    def test_user_removed_is_dropped(self) -> None:
        """The user no longer exists: a new subscription cannot work."""
        assert status_action("user_removed", version="1", wanted_version="1") is StatusAction.DROP

    def test_version_removed_drops_only_our_own_version(self) -> None:
        """An old version removed → recreate at ours; our version removed → cannot recreate."""
        assert (
            status_action("version_removed", version="1", wanted_version="2")
            is StatusAction.RECREATE
        )
        assert (
            status_action("version_removed", version="2", wanted_version="2") is StatusAction.DROP
        )


class TestIsOurs:
    def test_matches_webhooks_to_our_callback_only(self) -> None:
        """Another deployment's callback, or a conduit, is never ours."""
        assert is_ours(sub(), CALLBACK)
        assert not is_ours(sub(callback="https://other.example/webhooks/twitch"), CALLBACK)
        assert not is_ours(sub(method="conduit", callback=None), CALLBACK)


class TestPlan:
    def test_new_streamer_gets_its_three_topics(self) -> None:
        """Nothing at Twitch → online v1, offline v1, channel.update v2 are created."""
        plan = plan_subscriptions({"1"}, [])
        assert [(c.broadcaster_id, c.topic) for c in plan.create] == [
            ("1", Topic("stream.online", "1")),
            ("1", Topic("stream.offline", "1")),
            ("1", Topic("channel.update", "2")),
        ]
        assert plan.delete == ()

    def test_healthy_set_changes_nothing(self) -> None:
        """Enabled or pending subscriptions of every topic are kept as they are."""
        subs = full_set("1") + full_set("2", "webhook_callback_verification_pending")
        plan = plan_subscriptions({"1", "2"}, subs)
        assert plan.changes_nothing
        assert set(plan.keep) == set(subs)

    def test_untracked_streamers_lose_their_subscriptions(self) -> None:
        """Subscriptions of a streamer nobody tracks, or with no broadcaster, are deleted."""
        stray = [*full_set("9"), sub(broadcaster=None)]
        plan = plan_subscriptions({"1"}, full_set("1") + stray)
        assert {d.subscription for d in plan.delete} == set(stray)
        assert {d.reason for d in plan.delete} == {"untracked"}
        assert plan.create == ()

    def test_failed_subscription_is_deleted_then_recreated(self) -> None:
        """A dead subscription is deleted (it lingers for 10 days) and replaced."""
        dead = sub("1", "stream.online", "1", "notification_failures_exceeded")
        plan = plan_subscriptions({"1"}, [dead, *full_set("1")[1:]])
        assert [(d.subscription, d.reason) for d in plan.delete] == [
            (dead, "notification_failures_exceeded")
        ]
        assert [(c.topic.type, c.replaces) for c in plan.create] == [
            ("stream.online", "notification_failures_exceeded")
        ]

    def test_user_removed_is_deleted_and_not_recreated(self) -> None:
        """user_removed: delete the dead one, remember it (tombstone), create nothing."""
        gone = sub("1", "stream.online", "1", "user_removed")
        plan = plan_subscriptions({"1"}, [gone, *full_set("1")[1:]])
        assert [(d.subscription, d.tombstone) for d in plan.delete] == [(gone, True)]
        assert plan.create == ()
        assert plan.suppressed == (("1", "stream.online"),)

    def test_removed_old_version_is_replaced_at_our_version(self) -> None:
        """channel.update v1 removed → deleted, and created again at v2."""
        old = sub("1", "channel.update", "1", "version_removed")
        plan = plan_subscriptions({"1"}, [*full_set("1")[:2], old])
        assert [d.subscription for d in plan.delete] == [old]
        assert [c.topic for c in plan.create] == [Topic("channel.update", "2")]

    def test_healthy_outdated_version_is_upgraded(self) -> None:
        """An enabled channel.update v1 is deleted and replaced by v2."""
        old = sub("1", "channel.update", "1")
        plan = plan_subscriptions({"1"}, [*full_set("1")[:2], old])
        assert [(d.subscription, d.reason) for d in plan.delete] == [(old, "outdated_version")]
        assert [c.topic for c in plan.create] == [Topic("channel.update", "2")]

    def test_duplicates_keep_the_enabled_oldest(self) -> None:
        """Among healthy duplicates, enabled beats pending, then the oldest wins."""
        newer = sub("1", age=1)
        oldest = sub("1", age=5)
        pending = sub("1", status="webhook_callback_verification_pending", age=9)
        plan = plan_subscriptions({"1"}, [newer, oldest, pending, *full_set("1")[1:]])
        assert oldest in plan.keep
        assert {d.subscription for d in plan.delete} == {newer, pending}
        assert {d.reason for d in plan.delete} == {"duplicate"}
        assert plan.create == ()

    def test_suppressed_topics_are_not_created(self) -> None:
        """A remembered tombstone stops the creation of that topic only."""
        plan = plan_subscriptions({"1"}, [], suppressed={("1", "stream.offline")})
        assert [c.topic.type for c in plan.create] == ["stream.online", "channel.update"]
        assert plan.suppressed == (("1", "stream.offline"),)

    def test_types_we_do_not_use_are_deleted(self) -> None:
        """A subscription to our callback of another type is not ours to keep."""
        other = sub("1", "channel.follow", "2")
        plan = plan_subscriptions({"1"}, [*full_set("1"), other])
        assert [(d.subscription, d.reason) for d in plan.delete] == [(other, "unwanted_type")]


STATUSES = st.sampled_from(
    [
        "enabled",
        "webhook_callback_verification_pending",
        "notification_failures_exceeded",
        "webhook_callback_verification_failed",
        "authorization_revoked",
        "user_removed",
        "version_removed",
        "brand_new_status",
    ]
)
SUBSCRIPTIONS = st.lists(
    st.builds(
        sub,
        broadcaster=st.sampled_from(["1", "2", "3", "4", None]),
        type=st.sampled_from(["stream.online", "stream.offline", "channel.update", "x.y"]),
        version=st.sampled_from(["1", "2"]),
        status=STATUSES,
        age=st.integers(0, 100),
    ),
    max_size=25,
)


class TestPlanProperties:
    @given(
        tracked=st.sets(st.sampled_from(["1", "2", "3", "5"])),
        subscriptions=SUBSCRIPTIONS,
    )
    def test_applying_a_plan_converges_and_a_second_plan_changes_nothing(
        self, tracked: set[str], subscriptions: list[EventSubSubscription]
    ) -> None:
        """After the plan is carried out, planning again (with its tombstones) does nothing,
        and every tracked streamer has exactly one healthy subscription per topic unless the
        topic is suppressed."""
        plan = plan_subscriptions(tracked, subscriptions)
        deleted = {d.subscription for d in plan.delete}
        after = [s for s in subscriptions if s not in deleted] + [
            sub(
                c.broadcaster_id,
                c.topic.type,
                c.topic.version,
                "webhook_callback_verification_pending",
            )
            for c in plan.create
        ]
        again = plan_subscriptions(tracked, after, suppressed=set(plan.suppressed))
        assert again.changes_nothing
        for broadcaster in tracked:
            for topic in TOPICS:
                healthy = [
                    s
                    for s in after
                    if s.broadcaster_user_id == broadcaster
                    and s.type == topic.type
                    and s.version == topic.version
                    and s.is_active
                ]
                expected = 0 if (broadcaster, topic.type) in plan.suppressed else 1
                assert len(healthy) == expected
        assert all(s.broadcaster_user_id in tracked for s in after)

"""The job contract: every task name, queue and lock name, defined once.

Task names are what procrastinate stores with a queued job, so they are the contract between
the process that defers a job (the ingest, the admin operations, a worker) and the worker that
runs it, across deploys. Every module that defers or registers a job takes its names from here;
`tests/unit/test_job_contract.py` checks that each declared task is registered on the worker app
and each registered task is declared.

This module imports nothing from the package: every component may depend on it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Queue(StrEnum):
    """The queues workers consume; `streammaxing worker --queues` takes these names."""

    EVENTS = "events"
    """Twitch notifications and revocations, deferred by the ingest."""
    ANNOUNCE = "announce"
    """Per-shard announcement delivery and edits of sent announcements."""
    DM = "dm"
    """Personal DMs: a slow lane that never delays announcements."""
    MAINTENANCE = "maintenance"
    """Periodic jobs and EventSub subscription work."""
    INTERACTIONS = "interactions"
    """Answers to slash commands and Discord install events: a user waits for these, so they
    never queue behind a fan-out."""


class Task(StrEnum):
    """Every task a worker runs, by the name stored with its queued jobs."""

    # Deferred by the ingest, one per accepted Twitch notification or revocation.
    STREAM_ONLINE = "stream_online"
    STREAM_OFFLINE = "stream_offline"
    CHANNEL_UPDATE = "channel_update"
    SUBSCRIPTION_REVOKED = "subscription_revoked"
    AUTHORIZATION_REVOKED = "user_authorization_revoked"
    # Delivery, deferred by the fan-out and by themselves.
    ANNOUNCE = "announce"
    DM = "dm"
    EDIT_ANNOUNCEMENTS = "edit_announcements"
    FINISH_STREAM = "finish_stream"
    # Deferred when a guild starts tracking a streamer, and by reconcile/revocation.
    SUBSCRIBE_STREAMER = "subscribe_streamer"
    # Deferred by the ingest for slash commands that call Twitch or Discord, and installs.
    INTERACTION_FOLLOW_UP = "interaction_follow_up"
    DISCORD_INSTALL = "discord_install"
    # Periodic.
    SWEEP_OUTBOX = "sweep_outbox"
    RETRY_STALLED_JOBS = "retry_stalled_jobs"
    CATCH_UP_LIVE = "catch_up_live"
    RECONCILE_SUBSCRIPTIONS = "reconcile_subscriptions"
    CLEANUP_ORPHANS = "cleanup_orphans"
    PRUNE = "prune"
    MAINTAIN_TWITCH_TOKENS = "maintain_twitch_tokens"


#: EventSub subscription type → the task that handles its notifications.
NOTIFICATION_TASKS: Final[dict[str, Task]] = {
    "stream.online": Task.STREAM_ONLINE,
    "stream.offline": Task.STREAM_OFFLINE,
    "channel.update": Task.CHANNEL_UPDATE,
    "user.authorization.revoke": Task.AUTHORIZATION_REVOKED,
}

#: The one lock of the DM lane: DMs go out one job at a time.
DM_LOCK: Final = "dm-lane"
#: Queueing lock of the DM lane's scheduled follow-up: at most one waits.
DM_FOLLOW_UP_LOCK: Final = "dm-follow-up"


#: Jobs a user is waiting for run before any other queued job (procrastinate's default is 0).
INTERACTIVE_PRIORITY: Final = 100


def shard_lock(shard: int) -> str:
    """One announcement shard's jobs run one at a time: a channel's messages stay in order."""
    return f"announce-shard-{shard}"


def shard_follow_up_lock(shard: int) -> str:
    """Queueing lock of a shard's scheduled follow-up: at most one waits per shard."""
    return f"announce-follow-up-{shard}"


def stream_lock(stream_id: str) -> str:
    """Edits of one stream run one at a time, in the order they were queued."""
    return f"stream-{stream_id}"


def subscribe_lock(streamer_id: str) -> str:
    """At most one `subscribe_streamer` job waits, and one runs, per streamer."""
    return f"{Task.SUBSCRIBE_STREAMER}:{streamer_id}"


def online_lock(stream_id: str) -> str:
    """Queueing lock of a `stream_online` job deferred by the catch-up poll for one stream."""
    return f"{Task.STREAM_ONLINE}:{stream_id}"

"""Subscriptions about our app rather than a broadcaster: ``user.authorization.revoke``.

Its condition is ``{"client_id": <ours>}``: one subscription tells us when any streamer
disconnects the app. Reconcile keeps exactly one healthy one delivering to our callback
(created when missing, a dead one deleted and replaced); the per-streamer convergence never
sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final

import structlog

from streammaxing.jobs.access import EventSubTarget
from streammaxing.jobs.eventsub.plan import StatusAction, Topic, status_action
from streammaxing.jobs.patience import patiently
from streammaxing.twitch.client import HelixClient
from streammaxing.twitch.errors import SubscriptionConflict, TwitchError
from streammaxing.twitch.models import EventSubSubscription

log = structlog.get_logger(__name__)

#: The app-wide types we subscribe to, each once, with our client id as the condition.
APP_TOPICS: Final = (Topic("user.authorization.revoke", "1"),)
_APP_TYPES: Final = frozenset(topic.type for topic in APP_TOPICS)


def is_app_subscription(subscription: EventSubSubscription) -> bool:
    return subscription.type in _APP_TYPES


@dataclass(frozen=True)
class AppTopicsResult:
    created: int = 0
    deleted: int = 0
    failed: int = 0


async def ensure_app_subscriptions(
    helix: HelixClient,
    target: EventSubTarget,
    client_id: str,
    ours: Iterable[EventSubSubscription],
    topics: Sequence[Topic] = APP_TOPICS,
) -> AppTopicsResult:
    """Make each app topic have one healthy subscription among ``ours`` (our callback's)."""
    created = deleted = failed = 0
    mine = [sub for sub in ours if is_app_subscription(sub)]
    for topic in topics:
        existing = [sub for sub in mine if sub.type == topic.type]
        healthy = [
            sub
            for sub in existing
            if sub.version == topic.version
            and status_action(sub.status, version=sub.version, wanted_version=topic.version)
            is StatusAction.KEEP
        ]
        keep = healthy[:1]
        for sub in existing:
            if sub in keep:
                continue
            try:
                await patiently(partial(helix.delete_subscription, sub.id))
                deleted += 1
            except TwitchError as error:
                failed += 1
                log.warning("app_subscription_delete_failed", type=sub.type, error=str(error))
        if keep:
            continue
        try:
            await patiently(
                partial(
                    helix.create_subscription,
                    topic.type,
                    topic.version,
                    "",
                    target.callback,
                    target.secret,
                    condition={"client_id": client_id},
                )
            )
            created += 1
        except SubscriptionConflict:
            pass
        except TwitchError as error:
            failed += 1
            log.warning("app_subscription_create_failed", type=topic.type, error=str(error))
    return AppTopicsResult(created=created, deleted=deleted, failed=failed)

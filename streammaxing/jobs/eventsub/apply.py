"""Carry out a `Plan` against Helix: deletions first, then creations, a few at a time.

Each call's failure is classified, never fatal to the others, by what Twitch's answer means:
a 404 on delete means it is already gone; a 409 on create means it already exists, so the
streamer's subscriptions are listed again and the existing one adopted; a subscription limit or
another 4xx is a refusal (retrying cannot help); 5xx, timeouts and an exhausted rate-limit
bucket (after waiting for it, `patiently`) are failures to retry later. Only rejected app
credentials stop everything.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final

import structlog

from streammaxing.jobs.access import EventSubTarget
from streammaxing.jobs.bounded import bounded_map
from streammaxing.jobs.eventsub.plan import Creation, Deletion, Plan, is_ours
from streammaxing.jobs.patience import patiently
from streammaxing.twitch.client import HelixClient
from streammaxing.twitch.errors import (
    SubscriptionConflict,
    SubscriptionLimitExceeded,
    TwitchAuthError,
    TwitchError,
    TwitchPermanentError,
)
from streammaxing.twitch.models import EventSubSubscription

log = structlog.get_logger(__name__)

#: Calls in flight at once: enough to hide Twitch's latency; the rate-limit bucket (800 points
#: a minute) is the real bound, and the client waits for it.
CONCURRENCY: Final = 8


class _Failure(enum.Enum):
    CONFLICT = "conflict"
    REFUSED = "refused"
    TRANSIENT = "transient"
    AUTH = "auth"


@dataclass(frozen=True)
class ApplyOutcome:
    created: tuple[EventSubSubscription, ...]
    """Created now, or found existing after a 409."""
    deleted: tuple[Deletion, ...]
    undeleted: tuple[Deletion, ...]
    """Deletions that failed for now: those subscriptions are still at Twitch."""
    refused: tuple[Creation, ...]
    """Creations Twitch refused for good (a 4xx, a limit, a conflict not ours)."""
    failed: tuple[Creation, ...]
    """Creations that failed for now (5xx, timeout, rate limit): retry later."""

    @property
    def failures(self) -> int:
        return len(self.undeleted) + len(self.failed)


async def apply_plan(
    helix: HelixClient, target: EventSubTarget, plan: Plan, *, concurrency: int = CONCURRENCY
) -> ApplyOutcome:
    """Delete, then create, what `plan` says; raises only `TwitchAuthError`."""

    async def delete(deletion: Deletion) -> _Failure | None:
        return await _delete(helix, deletion)

    async def create(creation: Creation) -> EventSubSubscription | _Failure:
        return await _create(helix, target, creation)

    delete_results = await bounded_map(plan.delete, delete, limit=concurrency)
    create_results = await bounded_map(plan.create, create, limit=concurrency)
    if _Failure.AUTH in delete_results or _Failure.AUTH in create_results:
        raise TwitchAuthError("Helix rejected the app credentials while managing subscriptions")

    created = [r for r in create_results if isinstance(r, EventSubSubscription)]
    by_failure: dict[_Failure, list[Creation]] = {failure: [] for failure in _Failure}
    for creation, result in zip(plan.create, create_results, strict=True):
        if isinstance(result, _Failure):
            by_failure[result].append(creation)
    adopted, refused, failed = await _adopt(helix, target, by_failure[_Failure.CONFLICT])
    return ApplyOutcome(
        created=tuple(created + adopted),
        deleted=tuple(d for d, r in zip(plan.delete, delete_results, strict=True) if r is None),
        undeleted=tuple(d for d, r in zip(plan.delete, delete_results, strict=True) if r),
        refused=tuple(by_failure[_Failure.REFUSED] + refused),
        failed=tuple(by_failure[_Failure.TRANSIENT] + failed),
    )


async def _delete(helix: HelixClient, deletion: Deletion) -> _Failure | None:
    sub = deletion.subscription
    fields = {
        "subscription_id": sub.id,
        "subscription_type": sub.type,
        "version": sub.version,
        "broadcaster_id": sub.broadcaster_user_id,
        "status": sub.status,
        "reason": deletion.reason,
    }
    if deletion.reason == "version_removed":
        log.warning("eventsub_version_removed", **fields)
    elif deletion.reason == "user_removed":
        log.warning("eventsub_user_removed", **fields)
    else:
        log.info("eventsub_subscription_removing", **fields)
    try:
        await patiently(lambda: helix.delete_subscription(sub.id))
    except TwitchAuthError:
        return _Failure.AUTH
    except TwitchError as error:
        log.warning("eventsub_delete_failed", error=str(error), **fields)
        return _Failure.REFUSED if isinstance(error, TwitchPermanentError) else _Failure.TRANSIENT
    return None


async def _create(
    helix: HelixClient, target: EventSubTarget, creation: Creation
) -> EventSubSubscription | _Failure:
    fields = {
        "broadcaster_id": creation.broadcaster_id,
        "subscription_type": creation.topic.type,
        "version": creation.topic.version,
        "replaces": creation.replaces,
    }
    try:
        return await patiently(
            lambda: helix.create_subscription(
                creation.topic.type,
                creation.topic.version,
                creation.broadcaster_id,
                target.callback,
                target.secret,
            )
        )
    except SubscriptionConflict:
        return _Failure.CONFLICT
    except SubscriptionLimitExceeded as error:
        log.error("eventsub_subscription_limit", message=error.message, **fields)
        return _Failure.REFUSED
    except TwitchPermanentError as error:
        log.error("eventsub_create_refused", status=error.status, message=error.message, **fields)
        return _Failure.REFUSED
    except TwitchAuthError:
        return _Failure.AUTH
    except TwitchError as error:
        log.warning("eventsub_create_failed", error=str(error), **fields)
        return _Failure.TRANSIENT


async def _adopt(
    helix: HelixClient, target: EventSubTarget, conflicts: Sequence[Creation]
) -> tuple[list[EventSubSubscription], list[Creation], list[Creation]]:
    """After 409s: list each streamer's subscriptions and take the existing healthy ones.

    Returns (adopted, refused: it exists but is not ours, failed: the listing failed).
    """
    adopted: list[EventSubSubscription] = []
    refused: list[Creation] = []
    failed: list[Creation] = []
    for broadcaster in sorted({c.broadcaster_id for c in conflicts}):
        wanted = [c for c in conflicts if c.broadcaster_id == broadcaster]
        try:
            listing = await patiently(partial(helix.list_subscriptions, user_id=broadcaster))
        except TwitchAuthError:
            raise
        except TwitchError as error:
            log.warning("eventsub_relist_failed", broadcaster_id=broadcaster, error=str(error))
            failed.extend(wanted)
            continue
        for creation in wanted:
            existing = [
                sub
                for sub in listing.subscriptions
                if sub.type == creation.topic.type
                and sub.is_active
                and is_ours(sub, target.callback)
            ]
            existing.sort(key=lambda sub: sub.version != creation.topic.version)
            if existing:
                adopted.append(existing[0])
            else:
                log.warning(
                    "eventsub_conflict_not_ours",
                    broadcaster_id=broadcaster,
                    subscription_type=creation.topic.type,
                )
                refused.append(creation)
    return adopted, refused, failed

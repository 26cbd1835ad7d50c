"""What the Twitch-facing jobs need, or why they cannot run (dry-run: one warning, no work).

Subscriptions deliver to ``PUBLIC_URL + /webhooks/twitch`` and are signed with the first
``TWITCH_EVENTSUB_SECRET`` (the others are only accepted, during a rotation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import structlog
from pydantic import SecretStr

from streammaxing.runtime import Runtime
from streammaxing.twitch.client import HelixClient
from streammaxing.twitch.models import SubscriptionBudget

log = structlog.get_logger(__name__)

WEBHOOK_PATH: Final = "/webhooks/twitch"
#: `total_cost` above this share of `max_total_cost` is logged as a warning.
BUDGET_WARNING_SHARE: Final = 0.8


@dataclass(frozen=True)
class EventSubTarget:
    """Where our subscriptions deliver, and the secret new ones are signed with."""

    callback: str
    secret: SecretStr


@dataclass(frozen=True)
class SubscriptionAccess:
    """What managing subscriptions needs: Helix, and where subscriptions deliver."""

    helix: HelixClient
    target: EventSubTarget


@dataclass(frozen=True)
class Unavailable:
    """The job cannot talk to Twitch here; `reason` goes into its result."""

    reason: str


def eventsub_target(public_url: str | None, secrets: list[bytes]) -> EventSubTarget | None:
    """Our callback and signing secret, or None without PUBLIC_URL or a secret."""
    if not public_url or not secrets:
        return None
    return EventSubTarget(
        callback=public_url.rstrip("/") + WEBHOOK_PATH,
        secret=SecretStr(secrets[0].decode("ascii")),
    )


def _unavailable(job: str, missing: list[str]) -> Unavailable:
    log.warning("job_skipped_without_twitch", job=job, missing=missing)
    return Unavailable("dry-run: missing " + ", ".join(missing))


def helix_access(runtime: Runtime, job: str) -> HelixClient | Unavailable:
    """The Helix client, or `Unavailable` (after one warning) without Twitch credentials."""
    if runtime.helix is None:
        return _unavailable(job, ["TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET"])
    return runtime.helix


def subscription_access(runtime: Runtime, job: str) -> SubscriptionAccess | Unavailable:
    """Helix and our callback, or `Unavailable` (after one warning) naming what is missing."""
    settings = runtime.settings
    missing = [
        name
        for name, present in (
            ("TWITCH_CLIENT_ID/TWITCH_CLIENT_SECRET", runtime.helix is not None),
            ("PUBLIC_URL", settings.public_url is not None),
            ("TWITCH_EVENTSUB_SECRET", bool(settings.eventsub_secrets)),
        )
        if not present
    ]
    target = eventsub_target(settings.public_url, settings.eventsub_secrets)
    if missing or runtime.helix is None or target is None:
        return _unavailable(job, missing)
    return SubscriptionAccess(helix=runtime.helix, target=target)


def note_budget(runtime: Runtime, budget: SubscriptionBudget | None) -> None:
    """Export Twitch's EventSub cost figures; warn when the budget is nearly spent."""
    if budget is None or budget.max_total_cost <= 0:
        return
    runtime.metrics.twitch_subscription_cost.set(budget.total_cost)
    runtime.metrics.twitch_subscription_max_cost.set(budget.max_total_cost)
    if budget.total_cost > BUDGET_WARNING_SHARE * budget.max_total_cost:
        log.warning(
            "eventsub_budget_nearly_spent",
            total_cost=budget.total_cost,
            max_total_cost=budget.max_total_cost,
        )

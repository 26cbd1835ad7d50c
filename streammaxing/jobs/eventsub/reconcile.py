"""`reconcile_subscriptions` (every 10 minutes): Twitch's list ⇄ the streamers guilds track.

Lists every subscription of our client (all pages), keeps those delivering to our callback, and
converges them on the tracked streamers (`converge`): creates what is missing, deletes what
nobody tracks, replaces failed ones, and rewrites `status` / `last_verified`. The listing is
taken before the tracked streamers are read, so a streamer tracked meanwhile is never mistaken
for an untracked one. One run at a time across all processes (a transaction-scoped advisory
lock, held by a transaction open for the whole run, so it holds through a transaction-mode
pooler; a second run finds it held and returns at once), and a run right after another changes
nothing.

When Twitch's cost budget (`max_total_cost`) cannot cover every tracked streamer, `budget`
decides who is subscribed: linked streamers (cost 0) and then the most-tracked; the others are
left out — their subscriptions deleted to free the points, counted in a metric, logged, and
marked on the streamer so the guilds' pages can say so — and the catch-up poll announces them.

While streamers can link (`TOKEN_ENCRYPTION_KEYS` set), it also keeps the one app-wide
`user.authorization.revoke` subscription (`app_topics`), outside the per-streamer convergence.

A failed listing (5xx, rate limit) changes nothing and raises; failed creations or deletions
leave the run incomplete (`retry_later`) so the task is retried, and the next run repairs
whatever is still missing — nothing is lost either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Final

import structlog

from streammaxing.jobs.access import (
    SubscriptionAccess,
    Unavailable,
    note_budget,
    subscription_access,
)
from streammaxing.jobs.eventsub.app_topics import (
    AppTopicsResult,
    ensure_app_subscriptions,
    is_app_subscription,
)
from streammaxing.jobs.eventsub.budget import (
    BudgetPlan,
    Candidate,
    plan_budget,
    points_available,
)
from streammaxing.jobs.eventsub.converge import converge
from streammaxing.jobs.eventsub.counts import SubscriptionCounts
from streammaxing.jobs.eventsub.plan import TOPICS, is_ours
from streammaxing.jobs.patience import patiently
from streammaxing.queues import Task
from streammaxing.runtime import Runtime
from streammaxing.schema.eventsub_budget import budget_candidates, mark_left_out
from streammaxing.schema.locks import try_transaction_lock
from streammaxing.schema.subscriptions import database_now
from streammaxing.twitch.models import EventSubSubscription, SubscriptionListing

log = structlog.get_logger(__name__)

#: Advisory lock key shared by every process: ASCII "SMRECON".
RECONCILE_LOCK_KEY: Final = int.from_bytes(b"SMRECON", "big")


@dataclass(frozen=True)
class ReconcileResult:
    skipped: str | None = None
    listed: int = 0
    """Subscriptions Twitch listed for our client (any callback)."""
    ours: int = 0
    """Of those, webhooks to our callback."""
    tracked: int = 0
    left_out: int = 0
    """Tracked streamers the cost budget could not cover (announced by the catch-up poll)."""
    counts: SubscriptionCounts = field(default_factory=SubscriptionCounts)
    app_topics: AppTopicsResult = field(default_factory=AppTopicsResult)
    """The app-wide subscriptions (`user.authorization.revoke`)."""

    @property
    def retry_later(self) -> bool:
        return self.counts.retry_later or self.app_topics.failed > 0


async def reconcile_subscriptions(runtime: Runtime) -> ReconcileResult:
    access = subscription_access(runtime, Task.RECONCILE_SUBSCRIPTIONS)
    if isinstance(access, Unavailable):
        return ReconcileResult(skipped=access.reason)
    async with (
        runtime.pool.connection() as lock_conn,
        try_transaction_lock(lock_conn, RECONCILE_LOCK_KEY) as held,
    ):
        if not held:
            log.info("reconcile_already_running")
            return ReconcileResult(skipped="another reconcile is running")
        as_of = await database_now(lock_conn)
        listing = await patiently(access.helix.list_subscriptions)
        note_budget(runtime, listing.budget)
        ours = [sub for sub in listing.subscriptions if is_ours(sub, access.target.callback)]
        per_streamer = [sub for sub in ours if not is_app_subscription(sub)]
        async with runtime.pool.connection() as conn:
            rows = await budget_candidates(conn)
        budget = plan_budget(
            [Candidate(r.broadcaster_id, r.guilds, r.linked, len(TOPICS)) for r in rows],
            available=_points_available(listing, ours),
        )
        over_budget = [candidate.broadcaster_id for candidate in budget.left_out]
        done = await converge(
            runtime,
            access,
            subscriptions=per_streamer,
            tracked=budget.admitted,
            as_of=as_of,
            over_budget=over_budget,
        )
        app_topics = await _app_topics(runtime, access, ours)
        note_budget(runtime, access.helix.budget)
        async with runtime.pool.connection() as conn:
            await mark_left_out(conn, over_budget)
    _report_left_out(runtime, budget)
    result = ReconcileResult(
        listed=len(listing.subscriptions),
        ours=len(ours),
        tracked=len(rows),
        left_out=len(budget.left_out),
        counts=done,
        app_topics=app_topics,
    )
    log.info(
        "reconcile_finished",
        listed=result.listed,
        ours=result.ours,
        tracked=result.tracked,
        left_out=result.left_out,
        **asdict(done),
        app_created=app_topics.created,
        app_failed=app_topics.failed,
    )
    return result


async def _app_topics(
    runtime: Runtime, access: SubscriptionAccess, ours: list[EventSubSubscription]
) -> AppTopicsResult:
    """Keep the app-wide subscriptions, while streamers can link (tokens can be stored)."""
    client_id = runtime.settings.twitch_client_id
    if client_id is None or not runtime.settings.token_encryption_keys:
        return AppTopicsResult()
    return await ensure_app_subscriptions(access.helix, access.target, client_id, ours)


def _points_available(listing: SubscriptionListing, ours: list[EventSubSubscription]) -> int | None:
    """The points our streamers may take (None: Twitch reported no budget)."""
    if listing.budget is None or listing.budget.max_total_cost <= 0:
        return None
    return points_available(
        max_total_cost=listing.budget.max_total_cost,
        total_cost=listing.budget.total_cost,
        our_cost=sum(sub.cost for sub in ours),
    )


def _report_left_out(runtime: Runtime, budget: BudgetPlan) -> None:
    runtime.metrics.eventsub_streamers_left_out.set(len(budget.left_out))
    if budget.left_out:
        log.warning(
            "eventsub_budget_short",
            left_out=len(budget.left_out),
            most_tracked=[
                {"broadcaster_id": c.broadcaster_id, "guilds": c.guilds}
                for c in budget.left_out[:10]
            ],
            note="ask these streamers to link their Twitch account: linked ones cost nothing",
        )

"""Re-create a linked streamer's subscriptions that still cost 1.

Twitch fixes a subscription's cost when it is created: one made before the broadcaster
authorized this client keeps costing 1 after they link. Twitch answers 409 to a duplicate, so
the only way to a cost-0 subscription is to delete the old one and create it again; this
deletes them, and the convergence that follows creates them anew. Between the two, the
`catch_up_live` poll covers the streamer. Client-wide types cost 0 and are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import structlog

from streammaxing.jobs.patience import patiently
from streammaxing.twitch.client import HelixClient
from streammaxing.twitch.errors import TwitchAuthError, TwitchError
from streammaxing.twitch.models import EventSubSubscription

log = structlog.get_logger(__name__)


async def drop_costly(
    helix: HelixClient, subscriptions: Sequence[EventSubSubscription]
) -> list[EventSubSubscription]:
    """Delete the subscriptions that cost something; the ones still in place afterwards (the
    free ones, and the costly ones Twitch would not delete now)."""
    remaining: list[EventSubSubscription] = []
    dropped = 0
    for sub in subscriptions:
        if sub.cost <= 0:
            remaining.append(sub)
            continue
        try:
            await patiently(partial(helix.delete_subscription, sub.id))
        except TwitchAuthError:
            raise
        except TwitchError as error:
            log.warning("eventsub_recost_delete_failed", subscription_id=sub.id, error=str(error))
            remaining.append(sub)
            continue
        dropped += 1
    if dropped:
        broadcaster = subscriptions[0].broadcaster_user_id if subscriptions else None
        log.info("eventsub_recost_dropped", broadcaster_id=broadcaster, count=dropped)
    return remaining

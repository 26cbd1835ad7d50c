"""What the EventSub cost budget is planned from, and which streamers it left out."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row


@dataclass(frozen=True)
class BudgetRow:
    """A tracked streamer: how many guilds track it and whether it linked its Twitch account
    (we hold its token: it authorized our client)."""

    broadcaster_id: str
    guilds: int
    linked: bool


# Tracked = linked by at least one guild, enabled or not (as for the subscriptions themselves).
_CANDIDATES = """
SELECT s.twitch_broadcaster_id AS broadcaster_id,
       count(*)::int AS guilds,
       s.twitch_access_token IS NOT NULL AS linked
FROM streamers s
JOIN guild_streamers gs ON gs.streamer_id = s.id
GROUP BY s.id
"""


async def budget_candidates(conn: AsyncConnection[Any]) -> list[BudgetRow]:
    """Every tracked streamer with its guild count and link state."""
    async with conn.cursor(row_factory=class_row(BudgetRow)) as cur:
        await cur.execute(_CANDIDATES)
        return await cur.fetchall()


# Marks the left-out streamers (keeping when each was first left out) and clears the others.
_MARK_LEFT_OUT = """
UPDATE streamers
SET eventsub_left_out_at = CASE
    WHEN twitch_broadcaster_id = ANY(%(ids)s) THEN coalesce(eventsub_left_out_at, now())
    END
WHERE eventsub_left_out_at IS NOT NULL OR twitch_broadcaster_id = ANY(%(ids)s)
"""


async def mark_left_out(conn: AsyncConnection[Any], broadcaster_ids: Collection[str]) -> None:
    """Record exactly these streamers as left out of the budget (all others: not)."""
    await conn.execute(_MARK_LEFT_OUT, {"ids": list(broadcaster_ids)})

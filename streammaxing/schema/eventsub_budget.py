"""What the EventSub cost budget is planned from, and which streamers it left out."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True)
class LeftOutRow:
    """A streamer the guild tracks that the last reconcile could not subscribe."""

    broadcaster_id: str
    login: str
    display_name: str | None
    left_out_at: datetime


_GUILD_LEFT_OUT = """
SELECT s.twitch_broadcaster_id AS broadcaster_id, s.twitch_login AS login,
       s.twitch_display_name AS display_name, s.eventsub_left_out_at AS left_out_at
FROM guild_streamers gs
JOIN streamers s ON s.id = gs.streamer_id
WHERE gs.guild_id = %s AND s.eventsub_left_out_at IS NOT NULL
ORDER BY s.twitch_login
"""


async def guild_left_out(conn: AsyncConnection[Any], guild_id: str) -> list[LeftOutRow]:
    """The guild's streamers left out of the EventSub budget, by login."""
    async with conn.cursor(row_factory=class_row(LeftOutRow)) as cur:
        await cur.execute(_GUILD_LEFT_OUT, (guild_id,))
        return await cur.fetchall()

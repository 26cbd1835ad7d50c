"""Waiting for a go-live's turn: its fan-out claims outbox rows only after every go-live the
ingest accepted before it that shares a guild with it has claimed all of its own.

A guild announces every streamer it tracks in its one channel, so two go-lives can only put rows
in the same channel when a guild tracks both streamers. Claims then reach each channel's queue
in acceptance order, whichever worker runs which fan-out and however many batches an earlier
fan-out claims in, and delivery sends a channel's rows in that order. An earlier go-live has
claimed once its rows exist, with or without their payloads (a row without one holds the rows
after it in its channel until it gets one): a later go-live does not wait for the earlier one's
Helix lookup. A go-live whose guilds
are disjoint from every earlier one still claiming does not wait: a one-guild go-live goes ahead
while a 100,000-guild fan-out is still claiming its batches.

The overlap is read from `guild_streamers` when the later go-live asks: a guild that starts
tracking both streamers in the moment between that check and the later fan-out reading its
guilds can get the two messages in either order.

A go-live accepted more than `ORDER_PATIENCE_SECONDS` ago stops holding later ones back (its job
failed or was lost), so a broken go-live delays the others by at most that long.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

import structlog

from streammaxing.runtime import Runtime
from streammaxing.schema.golive_order import earlier_overlapping_go_live

log = structlog.get_logger(__name__)

ORDER_PATIENCE_SECONDS: Final = 60.0
_FIRST_POLL: Final = 0.005
_LONGEST_POLL: Final = 0.1


async def wait_for_turn(runtime: Runtime, seq: int, broadcaster_id: str) -> float:
    """Return once no earlier accepted go-live sharing a guild with `broadcaster_id` is still
    claiming; the seconds waited."""
    started = time.monotonic()
    pause = _FIRST_POLL
    while True:
        async with runtime.pool.connection() as conn:
            if not await earlier_overlapping_go_live(
                conn, seq, broadcaster_id, ORDER_PATIENCE_SECONDS
            ):
                break
        await asyncio.sleep(pause)
        pause = min(pause * 2, _LONGEST_POLL)
    waited = time.monotonic() - started
    if waited > 1.0:
        log.info("go_live_waited_for_turn", seconds=round(waited, 3), accepted_seq=seq)
    return waited

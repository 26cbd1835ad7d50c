"""Waiting for a go-live's turn: its fan-out claims outbox rows only after every go-live the
ingest accepted before it has claimed its own.

Claims then reach each channel's queue in acceptance order, whichever worker runs which
fan-out, and delivery sends a channel's rows in that order. A go-live accepted more than
`ORDER_PATIENCE_SECONDS` ago stops holding later ones back (its job failed or was lost), so a
broken go-live delays the others by at most that long.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

import structlog

from streammaxing.runtime import Runtime
from streammaxing.schema.golive_order import earlier_go_live_unclaimed

log = structlog.get_logger(__name__)

ORDER_PATIENCE_SECONDS: Final = 60.0
_FIRST_POLL: Final = 0.005
_LONGEST_POLL: Final = 0.1


async def wait_for_turn(runtime: Runtime, seq: int) -> float:
    """Return once no earlier accepted go-live is still to claim; the seconds waited."""
    started = time.monotonic()
    pause = _FIRST_POLL
    while True:
        async with runtime.pool.connection() as conn:
            if not await earlier_go_live_unclaimed(conn, seq, ORDER_PATIENCE_SECONDS):
                break
        await asyncio.sleep(pause)
        pause = min(pause * 2, _LONGEST_POLL)
    waited = time.monotonic() - started
    if waited > 1.0:
        log.info("go_live_waited_for_turn", seconds=round(waited, 3), accepted_seq=seq)
    return waited

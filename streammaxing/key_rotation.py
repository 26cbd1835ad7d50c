"""Re-encrypting every stored Twitch token under the first of `TOKEN_ENCRYPTION_KEYS`.

Streamers are visited in id order, a small batch per transaction, so an interrupted run has
committed what it did and a re-run skips what is already under the first key. A row whose
tokens a refresh or unlink changed between the read and the write is left to that change (it
wrote them under the first key already, or removed them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from streammaxing.crypto import TokenBox, TokenUnreadable
from streammaxing.schema import twitch_links
from streammaxing.schema.twitch_links import SealedTokensRow

log = structlog.get_logger(__name__)

BATCH: Final = 100


@dataclass
class RotationResult:
    rotated: int = 0
    """Streamers whose tokens were re-encrypted."""
    current: int = 0
    """Streamers whose tokens were already under the first key."""
    changed: int = 0
    """Streamers whose tokens changed meanwhile (left to that change)."""
    unreadable: int = 0
    """Streamers whose tokens no configured key opens."""


def _is_current(box: TokenBox, row: SealedTokensRow) -> bool:
    return box.is_current(row.sealed_access) and (
        row.sealed_refresh is None or box.is_current(row.sealed_refresh)
    )


async def rotate_tokens(
    pool: AsyncConnectionPool[AsyncConnection[Any]],
    box: TokenBox,
    *,
    batch: int = BATCH,
    on_batch: Callable[[RotationResult], None] | None = None,
) -> RotationResult:
    """Re-encrypt every linked streamer's tokens under the first key; ``on_batch`` sees the
    running totals after each committed batch."""
    result = RotationResult()
    after = None
    while True:
        async with pool.connection() as conn, conn.transaction():
            rows = await twitch_links.sealed_tokens_after(conn, after, batch)
            for row in rows:
                await _rotate_one(conn, box, row, result)
        if not rows:
            break
        after = rows[-1].id
        if on_batch is not None:
            on_batch(result)
    log.info("token_keys_rotated", **result.__dict__)
    return result


async def _rotate_one(
    conn: AsyncConnection[Any], box: TokenBox, row: SealedTokensRow, result: RotationResult
) -> None:
    if _is_current(box, row):
        result.current += 1
        return
    try:
        access = box.reseal(row.sealed_access)
        refresh = None if row.sealed_refresh is None else box.reseal(row.sealed_refresh)
    except TokenUnreadable:
        result.unreadable += 1
        log.error("token_unreadable", streamer_id=str(row.id))
        return
    if await twitch_links.reseal_tokens(conn, row, sealed_access=access, sealed_refresh=refresh):
        result.rotated += 1
    else:
        result.changed += 1

"""Go-live acceptance order: which accepted go-lives have not claimed their outbox rows yet.

The ingest's accept statement (`schema.webhooks`) numbers each new `stream_online` job and
records the number here; the fan-out waits until no earlier number is left, then claims its
rows and forgets its own number in the same transaction.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

_EARLIER_UNCLAIMED = """
SELECT EXISTS (
    SELECT 1 FROM golive_acceptances
    WHERE seq < %s AND accepted_at > now() - make_interval(secs => %s)
)
"""


async def earlier_go_live_unclaimed(
    conn: AsyncConnection[Any], seq: int, patience_seconds: float
) -> bool:
    """Whether a go-live accepted before `seq`, less than `patience_seconds` ago, has not
    claimed its rows yet."""
    cur = await conn.execute(_EARLIER_UNCLAIMED, (seq, patience_seconds))
    row = await cur.fetchone()
    return bool(row and row[0])


async def forget_acceptance(conn: AsyncConnection[Any], seq: int) -> None:
    """This go-live's rows are claimed (or it has none): later go-lives need not wait for it."""
    await conn.execute("DELETE FROM golive_acceptances WHERE seq = %s", (seq,))

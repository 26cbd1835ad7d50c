"""`notification_log`: announcements' (guild_id, event_id) idempotency key and delivery facts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

# The seed's idempotency check, as written: a row comes back only for the first claim.
_CLAIM = """
INSERT INTO notification_log (guild_id, streamer_id, event_id)
VALUES (%s, %s, %s)
ON CONFLICT (guild_id, event_id) DO NOTHING
RETURNING id
"""


async def claim_announcement(
    conn: AsyncConnection[Any], guild_id: str, streamer_id: UUID, event_id: str
) -> UUID | None:
    """Claim the (guild, stream) key; None when it was claimed before (already announced).

    Run it in the same transaction as the send: a crash before commit releases the claim, so a
    retry sends again (with the same nonce, which Discord deduplicates).
    """
    cur = await conn.execute(_CLAIM, (guild_id, streamer_id, event_id))
    row = await cur.fetchone()
    return row[0] if row else None


# The seed's "check for duplicate notification".
_EXISTS = "SELECT 1 FROM notification_log WHERE guild_id = %s AND event_id = %s LIMIT 1"


async def announcement_exists(conn: AsyncConnection[Any], guild_id: str, event_id: str) -> bool:
    cur = await conn.execute(_EXISTS, (guild_id, event_id))
    return await cur.fetchone() is not None


_RECORD = """
UPDATE notification_log
SET channel_id = %s, message_id = %s, failure_reason = %s, sent_at = now()
WHERE id = %s
"""


async def record_delivery(
    conn: AsyncConnection[Any],
    log_id: UUID,
    *,
    channel_id: str | None,
    message_id: str | None,
    failure_reason: str | None = None,
) -> None:
    await conn.execute(_RECORD, (channel_id, message_id, failure_reason, log_id))

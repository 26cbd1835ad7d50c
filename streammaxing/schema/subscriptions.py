"""EventSub subscription rows, and the tracked streamers they exist for.

`eventsub_subscriptions` mirrors the Twitch subscriptions we own (one row per Twitch id, with
its type, version, callback and last seen status). Rows whose status is a drop status
(`user_removed`, `version_removed`) outlive their Twitch subscription as *tombstones*: they stop
the jobs from recreating what cannot work. `last_verified` is when a row was last confirmed;
writes based on a Twitch listing pass that listing's start (`as_of`) and never overwrite or
forget a row confirmed after it (by the ingest, a revocation or a concurrent job).

A streamer is *tracked* while at least one guild links it (the complement of the orphan query in
`streamers.py`), whether or not the link is enabled right now: a guild that pauses a streamer
expects notifications to resume at once when it re-enables it.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import class_row

__all__ = [
    "StoredSubscription",
    "SubscriptionRecord",
    "TrackedStreamer",
    "database_now",
    "forget_subscriptions",
    "record_subscription",
    "store_subscriptions",
    "stored_subscriptions",
    "touch_subscriptions",
    "tracked_among",
    "tracked_streamer",
]


@dataclass(frozen=True)
class SubscriptionRecord:
    """What we store about one Twitch subscription (the streamer is found by broadcaster id)."""

    subscription_id: str
    broadcaster_id: str
    type: str
    version: str
    status: str
    callback: str | None


@dataclass(frozen=True)
class StoredSubscription:
    subscription_id: str
    streamer_id: UUID
    broadcaster_id: str
    type: str | None
    version: str | None
    status: str
    callback: str | None
    last_verified: datetime


@dataclass(frozen=True)
class TrackedStreamer:
    id: UUID
    twitch_broadcaster_id: str
    twitch_login: str


async def database_now(conn: AsyncConnection[Any]) -> datetime:
    """The database's clock: the one every process agrees on."""
    cur = await conn.execute("SELECT now()")
    row = await cur.fetchone()
    if row is None:
        raise RuntimeError("SELECT now() returned no row")
    moment: datetime = row[0]
    return moment


_TRACKED = """
SELECT s.id, s.twitch_broadcaster_id, s.twitch_login FROM streamers s
WHERE EXISTS (SELECT 1 FROM guild_streamers gs WHERE gs.streamer_id = s.id)
"""


async def tracked_among(
    conn: AsyncConnection[Any], broadcaster_ids: Collection[str]
) -> dict[str, UUID]:
    """Broadcaster id → streamer id of those of `broadcaster_ids` some guild tracks now."""
    if not broadcaster_ids:
        return {}
    cur = await conn.execute(
        _TRACKED + " AND s.twitch_broadcaster_id = ANY(%s::text[])", (list(broadcaster_ids),)
    )
    return {str(row[1]): row[0] for row in await cur.fetchall()}


async def tracked_streamer(conn: AsyncConnection[Any], streamer_id: UUID) -> TrackedStreamer | None:
    """The streamer, if it exists and some guild tracks it."""
    async with conn.cursor(row_factory=class_row(TrackedStreamer)) as cur:
        await cur.execute(_TRACKED + " AND s.id = %s", (streamer_id,))
        return await cur.fetchone()


_STORED = """
SELECT e.subscription_id, e.streamer_id, s.twitch_broadcaster_id AS broadcaster_id,
       e.type, e.version, e.status, e.callback, e.last_verified
FROM eventsub_subscriptions e JOIN streamers s ON s.id = e.streamer_id
WHERE (%(streamer_id)s::uuid IS NULL OR e.streamer_id = %(streamer_id)s)
  AND (%(statuses)s::text[] IS NULL OR e.status = ANY(%(statuses)s::text[]))
ORDER BY s.twitch_broadcaster_id, e.type, e.created_at
"""


async def stored_subscriptions(
    conn: AsyncConnection[Any],
    *,
    streamer_id: UUID | None = None,
    statuses: Collection[str] | None = None,
) -> list[StoredSubscription]:
    """Stored rows, of one streamer and/or with one of `statuses` (default: all)."""
    async with conn.cursor(row_factory=class_row(StoredSubscription)) as cur:
        await cur.execute(
            _STORED,
            {
                "streamer_id": streamer_id,
                "statuses": None if statuses is None else sorted(statuses),
            },
        )
        return await cur.fetchall()


# One statement for a whole listing. Rows of broadcasters we have no streamer for are skipped
# (the foreign key needs one). On conflict, a row confirmed after `as_of` is newer than the
# listing and keeps its values.
_STORE = """
INSERT INTO eventsub_subscriptions
    (streamer_id, subscription_id, status, type, version, callback, last_verified)
SELECT s.id, r.subscription_id, r.status, r.type, r.version, r.callback, now()
FROM jsonb_to_recordset(%(records)s::jsonb) AS r(
    subscription_id text, broadcaster_id text, type text, version text, status text,
    callback text)
JOIN streamers s ON s.twitch_broadcaster_id = r.broadcaster_id
ON CONFLICT (subscription_id) DO UPDATE SET
    streamer_id = EXCLUDED.streamer_id,
    status = EXCLUDED.status,
    type = EXCLUDED.type,
    version = EXCLUDED.version,
    callback = EXCLUDED.callback,
    last_verified = now()
WHERE %(as_of)s::timestamptz IS NULL OR eventsub_subscriptions.last_verified < %(as_of)s
"""


async def store_subscriptions(
    conn: AsyncConnection[Any],
    records: Sequence[SubscriptionRecord],
    *,
    as_of: datetime | None = None,
) -> int:
    """Insert or refresh rows (status, `last_verified`); returns how many were written.

    With `as_of` (when the Twitch listing they come from started), rows confirmed later are
    left alone. Without it the records are the newest news (a create answer, a revocation).
    """
    if not records:
        return 0
    cur = await conn.execute(
        _STORE, {"records": json.dumps([asdict(r) for r in records]), "as_of": as_of}
    )
    return cur.rowcount


async def record_subscription(conn: AsyncConnection[Any], record: SubscriptionRecord) -> bool:
    """Store one subscription as the newest news; False when its streamer is unknown."""
    return await store_subscriptions(conn, [record]) == 1


_FORGET = """
DELETE FROM eventsub_subscriptions
WHERE last_verified < %(as_of)s
  AND NOT (subscription_id = ANY(%(keep)s::text[]))
  AND (%(streamer_id)s::uuid IS NULL OR streamer_id = %(streamer_id)s)
"""


async def forget_subscriptions(
    conn: AsyncConnection[Any],
    *,
    keep: Collection[str],
    as_of: datetime,
    streamer_id: UUID | None = None,
) -> int:
    """Delete rows (of one streamer, or all) not in `keep` and not confirmed since `as_of`."""
    cur = await conn.execute(
        _FORGET, {"keep": list(keep), "as_of": as_of, "streamer_id": streamer_id}
    )
    return cur.rowcount


_TOUCH = """
UPDATE eventsub_subscriptions SET last_verified = now()
WHERE subscription_id = ANY(%s::text[])
"""


async def touch_subscriptions(conn: AsyncConnection[Any], subscription_ids: Collection[str]) -> int:
    """Mark rows as confirmed now (a tombstone Twitch just confirmed by refusing a create)."""
    if not subscription_ids:
        return 0
    cur = await conn.execute(_TOUCH, (list(subscription_ids),))
    return cur.rowcount

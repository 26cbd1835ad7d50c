"""`stream_online` → fan-out: resolve guilds and DM recipients, claim their keys, queue delivery.

Once every go-live the ingest accepted earlier that shares a guild with this one has claimed
its rows (`golive_order`), the guilds are read page by page while Helix is asked, and each
page's (guild, stream) keys are claimed as soon as it is read, in a batch carrying the
acceptance number (so each channel's queue is in go-live order). One transaction per batch
inserts its rows and, when they carry their rendered payloads, defers the delivery jobs of
their shards: delivery starts on the first batch while later pages are still being read and
claimed, and no transaction or parameter grows with the fan-out.
The first batch is small (its rows reach delivery sooner), the later ones larger (fewer
statements and delivery jobs); two run at once, and the next batch is rendered while they do.
Batches claimed before Helix has answered (it can take seconds: it often lags EventSub) hold
their channels' places without a payload, and get their payloads once it has; delivery waits
for a row's payload before sending it or anything after it in its channel. Measured at 98,000
guilds without Helix (bench/scale_fanout.py): the first rows queued 1.1-2.1 s after the job
started, all of them after 4-10 s, depending on the host.

The acceptance number is forgotten once every row is claimed, before Helix's answer is
awaited: until then later go-lives sharing a guild wait, those with disjoint guilds go ahead.
Then the (user, stream) DM keys are claimed. A duplicate event (same stream id, any message
id), or the retry of a fan-out that died between batches, finds the committed batches' rows
already claimed, and claims, fills and queues only the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog

from streammaxing.runtime import Runtime
from streammaxing.schema.fanout import (
    AnnouncementClaim,
    GuildTarget,
    analyze_dm_log,
    analyze_notification_log,
    claim_announcements,
    claim_dms,
    dm_recipients,
    guilds_tracking_pages,
)
from streammaxing.schema.golive_order import forget_acceptance
from streammaxing.schema.lifecycle import (
    claim_resumed,
    record_stream,
    resume_targets,
    set_stream_snapshot,
)
from streammaxing.schema.streamers import upsert_streamer
from streammaxing.templating import DEFAULT_TEMPLATE, StreamInfo, render_announcement
from streammaxing.workers.enrich import OnlineEvent, enrich
from streammaxing.workers.fanout_render import RenderedPayloads, render_for_targets
from streammaxing.workers.golive_order import wait_for_turn
from streammaxing.workers.queueing import (
    defer_announcement_delivery,
    defer_dm_delivery,
    defer_edit,
)
from streammaxing.workers.snapshot import EditKind, snapshot_of

log = structlog.get_logger(__name__)

SHARDS = 64
#: Rows claimed by a fan-out's first transaction: small, so its rows reach delivery soon.
FIRST_BATCH = 1000
#: Rows claimed per transaction after the first.
BATCH = 10_000
#: Batch transactions running at once: the claims are Postgres CPU (about 45 µs a row: seven
#: indexes and two foreign keys), so two use both cores of a small server.
CLAIMS_IN_FLIGHT = 2
#: A fan-out that claims at least this many rows analyzes the table right after committing them.
#: Until statistics count the new pending rows, the planner believes the pending-rows index is
#: as empty as at the last ANALYZE and the delivery lanes' statements read every pending row
#: (marking 8 rows sent: 0.4 ms → 570 ms measured with 98,000 pending). Autovacuum would catch
#: up only within its naptime (migration 015 sets the same row threshold for it).
ANALYZE_AFTER_ROWS = 5000
#: DMs claimed per stream at most (a pseudo-random sample of the subscribers, different for each
#: stream). The DM lane sends 0.5/s and drops DMs unsent after 30 minutes (`workers.dm`): about
#: 900 go out per stream when it has the lane to itself, so claiming a big streamer's 358,000
#: (26-29 s measured, then 357,000 rows to expire) would buy nothing.
DM_CAP_PER_STREAM = 1000


def shard_of(channel_id: str) -> int:
    """The delivery shard of a channel: its messages all go through one shard, in order."""
    digest = hashlib.blake2b(channel_id.encode(), digest_size=2).digest()
    return int.from_bytes(digest, "big") % SHARDS


@dataclass(frozen=True)
class FanoutResult:
    guilds: int
    announcements_claimed: int
    dms_claimed: int
    skipped: str | None = None


async def fan_out(
    runtime: Runtime, event_payload: dict[str, Any], accepted_seq: int | None = None
) -> FanoutResult:
    """`accepted_seq`: the ingest's acceptance number of this go-live (None for go-lives found
    by the catch-up poll); its rows are claimed after those of every earlier go-live sharing a
    guild with it, and carry it."""
    event = OnlineEvent.from_payload(event_payload)
    structlog.contextvars.bind_contextvars(
        streamer_id=event.broadcaster_id, event_id=event.stream_id
    )
    if accepted_seq is not None:
        await wait_for_turn(runtime, accepted_seq, event.broadcaster_id)
    if event.type != "live":
        if accepted_seq is not None:
            async with runtime.pool.connection() as conn:
                await forget_acceptance(conn, accepted_seq)
        log.info("stream_online_skipped", stream_type=event.type)
        return FanoutResult(0, 0, 0, skipped=f"type {event.type}")

    async with runtime.pool.connection() as conn:
        streamer = await upsert_streamer(
            conn,
            broadcaster_id=event.broadcaster_id,
            login=event.broadcaster_login,
            display_name=None,
            avatar_url=None,
        )
    # Helix is asked while the guilds are read and claimed.
    enriching = asyncio.create_task(
        enrich(
            runtime.helix,
            event,
            fallback_title=streamer.last_title or "",
            fallback_game=streamer.last_category_name or "",
        )
    )
    claims = _Claims(runtime, event, streamer.id, accepted_seq)
    try:
        async with runtime.pool.connection() as conn, conn.transaction():
            stream = await record_stream(
                conn,
                stream_id=event.stream_id,
                streamer_id=streamer.id,
                started_at=event.started_at,
            )
            # A restart within a guild's cooldown re-uses its previous message (edited back to
            # live below) instead of announcing again.
            resumes = await resume_targets(
                conn,
                streamer_id=streamer.id,
                stream_id=event.stream_id,
                default_cooldown=runtime.settings.restart_cooldown_seconds,
            )
            resumed = await claim_resumed(
                conn,
                streamer_id=streamer.id,
                event_id=event.stream_id,
                started_at=event.started_at,
                targets=resumes,
            )
        skip = {r.guild_id for r in resumes}
        guilds = 0
        # Each page of targets is claimed as soon as it is read. Batches claimed while Helix is
        # still being asked hold their channels' places without a payload (delivery waits for
        # it); once it has answered, a batch is claimed with its payloads.
        unfilled: list[list[GuildTarget]] = []
        async with (
            runtime.pool.connection() as conn,
            conn.transaction(),
            aclosing(
                guilds_tracking_pages(conn, streamer.id, first=FIRST_BATCH, then=BATCH)
            ) as pages,
        ):
            async for page in pages:
                guilds += len(page)
                batch = [t for t in page if t.guild_id not in skip]
                if not batch:
                    continue
                if enriching.done():
                    await claims.add(batch, enriching.result().info)
                else:
                    unfilled.append(batch)
                    await claims.add(batch, None)
        claimed = await claims.finish()
        if accepted_seq is not None:
            # Every row is claimed: later go-lives sharing a guild may claim theirs.
            async with runtime.pool.connection() as conn:
                await forget_acceptance(conn, accepted_seq)
        enriched = await enriching
        for batch in unfilled:
            await claims.add(batch, enriched.info)
        await claims.finish()
    finally:
        enriching.cancel()
        claims.cancel()
    info = enriched.info
    async with runtime.pool.connection() as conn, conn.transaction():
        await upsert_streamer(
            conn,
            broadcaster_id=event.broadcaster_id,
            login=info.streamer_login,
            display_name=info.streamer_display_name,
            avatar_url=enriched.avatar_url,
        )
        await set_stream_snapshot(conn, event.stream_id, snapshot_of(info))
    announced = claims.announced
    dm_payload = render_announcement(
        DEFAULT_TEMPLATE, info, mention_role_id=None, cache_buster=event.stream_id
    )
    async with runtime.pool.connection() as conn, conn.transaction():
        if resumed:
            await defer_edit(runtime.app, conn, event.stream_id, EditKind.RELIVE.value)
        elif stream.previously_ended:
            await defer_edit(runtime.app, conn, event.stream_id, EditKind.REOPEN.value)
        # A restart within the cooldown is the same stream to members: no second DM.
        recipients = await dm_recipients(
            conn,
            streamer.id,
            announced,
            limit=DM_CAP_PER_STREAM,
            sample_key=event.stream_id,
        )
        if len(recipients) == DM_CAP_PER_STREAM:
            log.info("dm_recipients_capped", cap=DM_CAP_PER_STREAM)
        dms = await claim_dms(
            conn,
            streamer_id=streamer.id,
            event_id=event.stream_id,
            payload=dm_payload,
            recipients=recipients,
        )
        if dms:
            await defer_dm_delivery(runtime.app, conn)

    if claimed >= ANALYZE_AFTER_ROWS:
        # After every batch: statistics taken mid-way counted a fraction of the pending rows.
        await _analyze_announcements(runtime)
    if dms >= ANALYZE_AFTER_ROWS:
        async with runtime.pool.connection() as conn:
            await analyze_dm_log(conn)
    runtime.metrics.fanout_size.observe(guilds)
    log.info(
        "fan_out",
        guilds=guilds,
        announcements_claimed=claimed,
        resumed=len(resumed),
        dms_claimed=dms,
        from_helix=enriched.from_helix,
    )
    return FanoutResult(guilds=guilds, announcements_claimed=claimed, dms_claimed=dms)


class _Claims:
    """A fan-out's batch claims: each batch rendered while earlier ones' claims run in
    Postgres, up to CLAIMS_IN_FLIGHT of them at once (on their own connections and cores)."""

    def __init__(
        self,
        runtime: Runtime,
        event: OnlineEvent,
        streamer_id: UUID,
        accepted_seq: int | None,
    ) -> None:
        self._runtime = runtime
        self._event = event
        self._streamer_id = streamer_id
        self._accepted_seq = accepted_seq
        self._running: list[asyncio.Task[int]] = []
        self._analyzing: asyncio.Task[None] | None = None
        self._rows = 0
        #: Guilds whose rows carry a rendered payload.
        self.announced: list[str] = []

    async def add(self, batch: Sequence[GuildTarget], info: StreamInfo | None) -> None:
        """Claim `batch`'s rows, with their payloads rendered from `info` (when known), or
        give its claimed rows their payloads; wait first while CLAIMS_IN_FLIGHT run."""
        rendered = None
        if info is not None:
            rendered = render_for_targets(batch, info, cache_buster=self._event.stream_id)
            self.announced.extend(rendered.of_guild)
        if len(self._running) >= CLAIMS_IN_FLIGHT:
            self._rows += await self._running.pop(0)
        if self._rows >= ANALYZE_AFTER_ROWS and self._analyzing is None:
            # Beside the next claims, on its own connection: the delivery lanes already read
            # these rows.
            self._analyzing = asyncio.create_task(_analyze_announcements(self._runtime))
        self._running.append(asyncio.create_task(self._claim(batch, rendered)))

    async def finish(self) -> int:
        """Wait for the running claims; the rows claimed or filled so far."""
        while self._running:
            self._rows += await self._running.pop(0)
        if self._analyzing is not None:
            await self._analyzing
        return self._rows

    def cancel(self) -> None:
        """A failed claim fails the job (its retry claims what is left): stop the others."""
        for task in [*self._running, *([self._analyzing] if self._analyzing else [])]:
            task.cancel()

    async def _claim(self, batch: Sequence[GuildTarget], rendered: RenderedPayloads | None) -> int:
        """One transaction: the batch's rows, and its shards' delivery jobs when the rows
        carry payloads. A guild whose template failed to render is claimed without a payload,
        as before rendering: the row blocks its channel until delivery abandons it
        (`schema.outbox.UNRENDERED_TIMEOUT_SECONDS`)."""
        of_guild = rendered.of_guild if rendered is not None else {}
        async with self._runtime.pool.connection() as conn, conn.transaction():
            shards = await claim_announcements(
                conn,
                streamer_id=self._streamer_id,
                event_id=self._event.stream_id,
                started_at=self._event.started_at,
                accepted_seq=self._accepted_seq,
                payloads=rendered.payloads if rendered is not None else (),
                claims=[
                    AnnouncementClaim(
                        t.guild_id, t.channel_id, shard_of(t.channel_id), of_guild.get(t.guild_id)
                    )
                    for t in batch
                ],
            )
            if rendered is not None:
                await defer_announcement_delivery(self._runtime.app, conn, sorted(set(shards)))
        return len(shards)


async def _analyze_announcements(runtime: Runtime) -> None:
    async with runtime.pool.connection() as conn:
        await analyze_notification_log(conn)

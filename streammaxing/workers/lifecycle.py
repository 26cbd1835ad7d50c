"""Stream lifecycle: channel updates, going offline, and editing announcements.

- `channel_update` remembers the streamer's latest title/category and, while live, re-renders
  that stream's announcements (PATCH the sent ones, refresh the payload of unsent ones).
- `stream_offline` notes the time and schedules `finish_stream` after the grace period; a
  `stream.online` arriving meanwhile (same or new stream id) cancels the ending.
- `finish_stream` marks the stream ended and queues the "ended" edit.
- `edit_announcements` PATCHes one stream's messages, through the same rate limiter as sends,
  always with `allowed_mentions`. A message or channel that is gone is not an error.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from streammaxing.discord.errors import (
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    UNKNOWN_CHANNEL,
    UNKNOWN_MESSAGE,
    PermanentError,
)
from streammaxing.discord.port import Accepted, Halted, MessageEdit, MustWait, Refused
from streammaxing.runtime import Runtime
from streammaxing.schema.lifecycle import (
    EditTarget,
    StreamRow,
    claim_stream_end,
    edit_targets,
    mark_stream_offline,
    record_channel_update,
    replace_pending_payload,
    set_stream_snapshot,
    stream_by_id,
)
from streammaxing.templating import StreamInfo, render_announcement, render_ended
from streammaxing.workers.queueing import defer_edit, defer_finish_stream
from streammaxing.workers.snapshot import EditKind, info_from, snapshot_of

log = structlog.get_logger(__name__)

MAX_LIMITER_WAIT = 60.0
# Not an error for an edit: the message, or the channel, or our access to it, is gone.
GONE_CODES = frozenset(
    {UNKNOWN_MESSAGE, UNKNOWN_CHANNEL, MISSING_ACCESS, MISSING_PERMISSIONS, 50005}
)


_STATUSES: dict[EditKind, tuple[str, ...]] = {
    EditKind.UPDATE: ("sent", "resumed", "pending"),
    EditKind.ENDED: ("sent", "resumed"),
    EditKind.RELIVE: ("resumed",),
    EditKind.REOPEN: ("sent", "resumed"),
}


async def channel_update(runtime: Runtime, event: dict[str, Any]) -> str | None:
    """Remember the new title/category; while live, queue the edit. Returns the stream edited."""
    broadcaster_id = str(event.get("broadcaster_user_id") or "")
    title = str(event.get("title") or "")
    category_name = str(event.get("category_name") or "")
    async with runtime.pool.connection() as conn, conn.transaction():
        live = await record_channel_update(
            conn,
            broadcaster_id=broadcaster_id,
            title=title,
            category_id=str(event.get("category_id") or ""),
            category_name=category_name,
        )
        if live is None or live.snapshot is None:
            log.info("channel_update_recorded", broadcaster_id=broadcaster_id, live=False)
            return None
        info = replace(info_from(live.snapshot), stream_title=title, game_name=category_name)
        await set_stream_snapshot(conn, live.stream_id, snapshot_of(info))
        await defer_edit(runtime.app, conn, live.stream_id, EditKind.UPDATE.value)
    log.info("channel_update_recorded", broadcaster_id=broadcaster_id, stream_id=live.stream_id)
    return live.stream_id


async def stream_offline(runtime: Runtime, event: dict[str, Any]) -> str | None:
    """Note the offline time and schedule the ending after the grace period."""
    broadcaster_id = str(event.get("broadcaster_user_id") or "")
    grace = runtime.settings.offline_grace_seconds
    async with runtime.pool.connection() as conn, conn.transaction():
        stream_id = await mark_stream_offline(conn, broadcaster_id)
        if stream_id is not None:
            at = datetime.now(UTC) + timedelta(seconds=grace)
            await defer_finish_stream(runtime.app, conn, stream_id, at)
    log.info("stream_went_offline", broadcaster_id=broadcaster_id, stream_id=stream_id, grace=grace)
    return stream_id


async def finish_stream(runtime: Runtime, stream_id: str) -> bool:
    """After the grace period: mark the stream ended (unless it came back) and queue the edit."""
    async with runtime.pool.connection() as conn, conn.transaction():
        stream = await claim_stream_end(conn, stream_id)
        if stream is not None:
            await defer_edit(runtime.app, conn, stream_id, EditKind.ENDED.value)
    log.info("stream_finished" if stream else "stream_finish_cancelled", stream_id=stream_id)
    return stream is not None


async def edit_announcements(runtime: Runtime, stream_id: str, kind: str) -> int:
    """Re-render and PATCH this stream's announcements; return how many were edited."""
    edit = EditKind(kind)
    async with runtime.pool.connection() as conn:
        stream = await stream_by_id(conn, stream_id)
        targets = await edit_targets(conn, stream_id, _STATUSES[edit])
    if stream is None or stream.snapshot is None:
        log.warning("edit_without_stream", stream_id=stream_id, kind=kind)
        return 0
    info = info_from(stream.snapshot)
    edited = 0
    for target in targets:
        payload = _payload(edit, target, info, stream)
        if target.status == "pending":
            async with runtime.pool.connection() as conn:
                await replace_pending_payload(conn, target.id, payload)
            continue
        if target.message_id is None:
            continue
        if await _patch(runtime, target, target.message_id, payload):
            edited += 1
    log.info("announcements_edited", stream_id=stream_id, kind=kind, edited=edited)
    return edited


def _payload(
    edit: EditKind, target: EditTarget, info: StreamInfo, stream: StreamRow
) -> dict[str, Any]:
    if edit is EditKind.ENDED:
        ended = stream.offline_at or stream.ended_at or datetime.now(UTC)
        return render_ended(
            target.message_template,
            info,
            duration=ended - info.started_at,
            mention_role_id=target.mention_role_id,
            offline_template=target.offline_template,
        )
    return render_announcement(
        target.message_template,
        info,
        mention_role_id=target.mention_role_id,
        cache_buster=f"{stream.stream_id}-{edit.value}",
        custom_content=target.custom_content,
    )


async def _patch(
    runtime: Runtime, target: EditTarget, message_id: str, payload: dict[str, Any]
) -> bool:
    edit = MessageEdit(target.guild_id, target.channel_id, message_id, payload)
    match await runtime.port.edit(edit, max_wait=MAX_LIMITER_WAIT):
        case Accepted():
            runtime.metrics.discord_requests.labels("edit_message", "200").inc()
            return True
        case Refused(error=PermanentError() as error):
            if error.code in GONE_CODES:
                log.info(
                    "edit_target_gone",
                    guild_id=target.guild_id,
                    message_id=message_id,
                    code=error.code,
                )
                return False
            log.warning("edit_failed", guild_id=target.guild_id, code=error.code, reason=str(error))
            return False
        case Refused(error=error) | MustWait(error=error) | Halted(error=error):
            # Rate limits, 5xx, halts: let the job retry later (edits are idempotent).
            raise error

"""Helix enrichment of a `stream.online` event: title, game, viewers, thumbnail, avatar.

Helix often lags EventSub by seconds, so the stream is looked up a few times with short waits;
after that (or without Twitch credentials, or when Helix fails) the event's own fields are used.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from streammaxing.templating import StreamInfo
from streammaxing.twitch.client import HelixClient
from streammaxing.twitch.errors import TwitchError
from streammaxing.twitch.eventsub import VerificationError, parse_timestamp
from streammaxing.twitch.models import HelixStream, HelixUser

log = structlog.get_logger(__name__)

RETRY_DELAYS = (0.5, 1.0, 2.0)


class InvalidEventError(ValueError):
    """The event lacks a field a go-live cannot do without."""


@dataclass(frozen=True)
class OnlineEvent:
    stream_id: str
    broadcaster_id: str
    broadcaster_login: str
    broadcaster_name: str
    type: str
    started_at: datetime

    @classmethod
    def from_payload(cls, event: Mapping[str, Any]) -> OnlineEvent:
        try:
            stream_id = str(event["id"])
            broadcaster_id = str(event["broadcaster_user_id"])
        except KeyError as error:
            raise InvalidEventError(f"stream.online event without {error.args[0]}") from None
        login = str(event.get("broadcaster_user_login") or broadcaster_id)
        started_raw = event.get("started_at")
        try:
            started_at = parse_timestamp(str(started_raw)) if started_raw else datetime.now(UTC)
        except VerificationError:
            started_at = datetime.now(UTC)
        return cls(
            stream_id=stream_id,
            broadcaster_id=broadcaster_id,
            broadcaster_login=login.lower(),
            broadcaster_name=str(event.get("broadcaster_user_name") or login),
            type=str(event.get("type") or "live"),
            started_at=started_at,
        )


@dataclass(frozen=True)
class Enriched:
    info: StreamInfo
    avatar_url: str | None
    from_helix: bool


async def enrich(
    helix: HelixClient | None,
    event: OnlineEvent,
    *,
    delays: tuple[float, ...] = RETRY_DELAYS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    fallback_title: str = "",
    fallback_game: str = "",
) -> Enriched:
    """Stream and user data for the announcement, never failing: Helix first, then the event
    (with the title and category the last `channel.update` reported)."""
    stream: HelixStream | None = None
    user: HelixUser | None = None
    if helix is not None:
        try:
            stream, user = await _lookup(helix, event, delays, sleep)
        except TwitchError as error:
            log.warning(
                "helix_enrichment_failed",
                broadcaster_id=event.broadcaster_id,
                error=type(error).__name__,
            )
    if stream is None:
        log.info("helix_fallback_to_event", broadcaster_id=event.broadcaster_id)
    avatar = user.profile_image_url if user and user.profile_image_url else None
    display = (user.display_name if user else None) or event.broadcaster_name
    info = StreamInfo(
        streamer_login=(user.login if user else None) or event.broadcaster_login,
        streamer_display_name=display,
        streamer_avatar_url=avatar,
        stream_title=stream.title if stream else fallback_title,
        game_name=stream.game_name if stream else fallback_game,
        viewer_count=stream.viewer_count if stream else None,
        stream_thumbnail_url=stream.thumbnail_url if stream and stream.thumbnail_url else None,
        started_at=(stream.started_at if stream and stream.started_at else event.started_at),
    )
    return Enriched(info=info, avatar_url=avatar, from_helix=stream is not None)


async def _lookup(
    helix: HelixClient,
    event: OnlineEvent,
    delays: tuple[float, ...],
    sleep: Callable[[float], Awaitable[None]],
) -> tuple[HelixStream | None, HelixUser | None]:
    users = await helix.get_users(ids=[event.broadcaster_id])
    user = users[0] if users else None
    for attempt in range(len(delays) + 1):
        streams = await helix.get_streams([event.broadcaster_id])
        match = next((s for s in streams if s.id == event.stream_id), None)
        if match is not None:
            return match, user
        if attempt < len(delays):
            await sleep(delays[attempt])
    return None, user

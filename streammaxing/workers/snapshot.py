"""A stream as its announcements show it: the stored snapshot and the edits a stream goes through.

The fan-out writes the snapshot when a stream goes live; channel updates and the lifecycle edits
read it back to re-render the stream's messages.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from streammaxing.templating import StreamInfo


class EditKind(StrEnum):
    UPDATE = "update"  # new title/category while live: every announcement of the stream
    ENDED = "ended"  # the stream is over
    RELIVE = "relive"  # a restart within the cooldown re-uses the previous message
    REOPEN = "reopen"  # the same stream id came back online after it was marked ended


def snapshot_of(info: StreamInfo) -> dict[str, Any]:
    """The JSON-ready snapshot stored with a stream."""
    return {
        "streamer_login": info.streamer_login,
        "streamer_display_name": info.streamer_display_name,
        "streamer_avatar_url": info.streamer_avatar_url,
        "stream_title": info.stream_title,
        "game_name": info.game_name,
        "viewer_count": info.viewer_count,
        "stream_thumbnail_url": info.stream_thumbnail_url,
        "started_at": info.started_at.isoformat(),
    }


def info_from(snapshot: dict[str, Any]) -> StreamInfo:
    """The stream a stored snapshot describes (the inverse of `snapshot_of`)."""
    return StreamInfo(
        streamer_login=str(snapshot["streamer_login"]),
        streamer_display_name=str(snapshot["streamer_display_name"]),
        streamer_avatar_url=snapshot.get("streamer_avatar_url"),
        stream_title=str(snapshot.get("stream_title") or ""),
        game_name=str(snapshot.get("game_name") or ""),
        viewer_count=snapshot.get("viewer_count"),
        stream_thumbnail_url=snapshot.get("stream_thumbnail_url"),
        started_at=datetime.fromisoformat(str(snapshot["started_at"])),
    )

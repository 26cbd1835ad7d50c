"""Values that templates are rendered from and reported against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StreamInfo:
    """What an announcement says about one live stream.

    ``stream_thumbnail_url`` is in Twitch's form, with a literal ``{width}x{height}`` that rendering
    fills in; ``started_at`` must be timezone-aware (a naive datetime has no meaning across hosts).
    """

    streamer_login: str
    streamer_display_name: str
    streamer_avatar_url: str | None
    stream_title: str
    game_name: str
    viewer_count: int | None
    stream_thumbnail_url: str | None
    started_at: datetime

    def __post_init__(self) -> None:
        if self.started_at.utcoffset() is None:
            raise ValueError("StreamInfo.started_at must be timezone-aware")


@dataclass(frozen=True)
class TemplateIssue:
    """One problem found in a message template.

    ``path`` locates it, e.g. ``embed.fields[2].value``; the empty path means the whole template.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

"""The seed's default template, and sample stream data for template previews."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from streammaxing.templating.model import StreamInfo

# Exactly the seed's default (guild_config.message_template). Typed read-only: copy it before
# changing anything (e.g. ``copy.deepcopy``), since every caller shares this one object.
DEFAULT_TEMPLATE: Final[Mapping[str, Any]] = {
    "content": "{streamer_display_name} is now live!",
    "embed": {
        "title": "{streamer_display_name} is streaming {game_name}",
        "description": "{stream_title}",
        "url": "https://twitch.tv/{streamer_login}",
        "color": 6570404,
        "thumbnail": {"url": "{streamer_avatar_url}"},
        "image": {"url": "{stream_thumbnail_url}"},
        "fields": [
            {"name": "Viewers", "value": "{viewer_count}", "inline": True},
            {"name": "Game", "value": "{game_name}", "inline": True},
        ],
        "footer": {"text": "Twitch Notification"},
        "timestamp": True,
    },
}

# Plausible data for previews (admin API, ``demo``) and for checking that a template's URLs render.
SAMPLE_STREAM: Final = StreamInfo(
    streamer_login="samplestreamer",
    streamer_display_name="SampleStreamer",
    streamer_avatar_url=(
        "https://static-cdn.jtvnw.net/jtv_user_pictures/samplestreamer-profile_image-300x300.png"
    ),
    stream_title="Speedrunning the classics, come hang out!",
    game_name="Just Chatting",
    viewer_count=1234,
    stream_thumbnail_url=(
        "https://static-cdn.jtvnw.net/previews-ttv/live_user_samplestreamer-{width}x{height}.jpg"
    ),
    started_at=datetime(2026, 1, 1, 18, 0, tzinfo=UTC),
)

"""Discord REST: the HTTP client, its error hierarchy and rate-limit header parsing."""

from streammaxing.discord.client import (
    DiscordClient,
    Route,
    SentMessage,
    build_http_client,
    create_message_route,
    edit_message_route,
    open_dm_route,
    route_key,
)
from streammaxing.discord.errors import (
    CloudflareBan,
    DiscordError,
    DmTooFast,
    PermanentError,
    RateLimited,
    TransientError,
    Unauthorized,
    is_invalid_request,
)
from streammaxing.discord.ratelimit_headers import RateLimitInfo, parse_rate_limit

__all__ = [
    "CloudflareBan",
    "DiscordClient",
    "DiscordError",
    "DmTooFast",
    "PermanentError",
    "RateLimitInfo",
    "RateLimited",
    "Route",
    "SentMessage",
    "TransientError",
    "Unauthorized",
    "build_http_client",
    "create_message_route",
    "edit_message_route",
    "is_invalid_request",
    "open_dm_route",
    "parse_rate_limit",
    "route_key",
]

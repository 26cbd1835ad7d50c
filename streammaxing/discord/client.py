"""The Discord REST calls StreamMaxing makes, over an injected `DiscordHttp`.

One request per call, no retries and no waiting: the caller (rate limiter, retry policy) decides
what happens next from the result or the raised `streammaxing.discord.errors` exception, both of
which carry the response's rate-limit facts. Each call has a `Route` (method, path template and
the top-level "major" id) so that the limiter can key Discord's buckets before the call is made.

Every message write must carry `allowed_mentions`: untrusted Twitch text ends up in `content`,
and without the field Discord parses `@everyone` and every role mention, also on edits.
Creates carry a caller-chosen `nonce` with `enforce_nonce: true`, so resending the same create
returns the message already made.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streammaxing.discord.errors import (
    OPENING_DMS_TOO_FAST,
    CloudflareBan,
    DiscordError,
    DmTooFast,
    PermanentError,
    RateLimited,
    TransientError,
    Unauthorized,
)
from streammaxing.discord.http import MAX_CONCURRENT_REQUESTS, DiscordHttp, HttpAnswer
from streammaxing.discord.models import (
    CurrentUser,
    GuildChannel,
    GuildInfo,
    GuildMember,
    GuildRole,
)
from streammaxing.discord.ratelimit_headers import (
    SCOPE_USER,
    RateLimitInfo,
    parse_rate_limit,
)

PROJECT_URL = "https://github.com/streammaxing/streammaxing"
MAX_NONCE_LENGTH = 25

GET_GUILD = "/guilds/{guild_id}"
GUILD_CHANNELS = "/guilds/{guild_id}/channels"
GUILD_ROLES = "/guilds/{guild_id}/roles"
GUILD_MEMBER = "/guilds/{guild_id}/members/{user_id}"
CURRENT_USER = "/users/@me"
CREATE_MESSAGE = "/channels/{channel_id}/messages"
EDIT_MESSAGE = "/channels/{channel_id}/messages/{message_id}"
OPEN_DM = "/users/@me/channels"
GLOBAL_COMMANDS = "/applications/{application_id}/commands"
GUILD_COMMANDS = "/applications/{application_id}/guilds/{guild_id}/commands"
ORIGINAL_RESPONSE = "/webhooks/{application_id}/{token}/messages/@original"

# Top-level resources: Discord makes their ids part of a bucket's identity.
_MAJOR_PARAMETERS = ("channel_id", "guild_id", "webhook_id")
_SNOWFLAKE = re.compile(r"[0-9]{1,20}")
_TOKEN = re.compile(r"[A-Za-z0-9_.\-]{1,500}")


@dataclass(frozen=True, slots=True)
class Route:
    """One Discord endpoint as a rate limiter sees it.

    `key` ("POST /channels/{channel_id}/messages") names the route before its bucket hash is
    known; `major_id` is the top-level resource id (channel, guild or webhook) that splits a
    bucket, or None for routes without one; `path` is the concrete path to request.
    """

    method: str
    template: str
    path: str
    major_id: str | None

    @property
    def key(self) -> str:
        return route_key(self.method, self.template)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message Discord accepted (created, or returned again for a repeated nonce, or edited)."""

    id: str
    channel_id: str
    rate_limit: RateLimitInfo


def route_key(method: str, path_template: str) -> str:
    """The bucket-independent name of a route, e.g. `POST /channels/{channel_id}/messages`."""
    return f"{method.upper()} {path_template}"


def make_route(method: str, path_template: str, **params: str) -> Route:
    """Fill `path_template` with snowflake `params` and pick the route's major id.

    Raises ValueError for an id that is not a snowflake (it would change the path).
    """
    for name, value in params.items():
        if not _SNOWFLAKE.fullmatch(value):
            raise ValueError(f"{name} must be a Discord snowflake, got {value!r}")
    major_id = next((params[name] for name in _MAJOR_PARAMETERS if name in params), None)
    return Route(
        method=method.upper(),
        template=path_template,
        path=path_template.format(**params),
        major_id=major_id,
    )


def create_message_route(channel_id: str) -> Route:
    return make_route("POST", CREATE_MESSAGE, channel_id=channel_id)


def edit_message_route(channel_id: str, message_id: str) -> Route:
    return make_route("PATCH", EDIT_MESSAGE, channel_id=channel_id, message_id=message_id)


def open_dm_route() -> Route:
    return make_route("POST", OPEN_DM)


def user_agent(version: str) -> str:
    """The User-Agent Discord requires: `DiscordBot ($url, $versionNumber)`."""
    return f"DiscordBot ({PROJECT_URL}, {version})"


def build_http_client(
    api_url: str, token: str, version: str, *, timeout: float = 10.0
) -> DiscordHttp:
    """The HTTP side of a DiscordClient: base URL, bot auth, User-Agent and explicit timeouts.

    `api_url` is e.g. `https://discord.com/api/v10`; `token` is the bare bot token (never logged).
    """
    return DiscordHttp(api_url, token, user_agent(version), timeout=timeout)


class DiscordClient:
    """Discord REST calls; one HTTP request each, outcomes as values or `DiscordError`s."""

    def __init__(self, http: DiscordHttp, *, max_concurrent: int = MAX_CONCURRENT_REQUESTS) -> None:
        self._http = http
        self._in_flight = asyncio.Semaphore(max_concurrent)

    async def aclose(self) -> None:
        """Close the underlying HTTP client (the process is shutting down)."""
        await self._http.aclose()

    async def create_message(
        self,
        channel_id: str,
        payload: Mapping[str, Any],
        *,
        nonce: str,
        on_time: Callable[[], bool] | None = None,
    ) -> SentMessage:
        """POST a message with `nonce` and `enforce_nonce: true`.

        A repeat with the same nonce within Discord's window returns the first message (same id).
        `payload` must hold `allowed_mentions`; `nonce` is 1–25 characters. `on_time` (here and
        in the other writes) is asked right before the request is written: False raises
        SlotMissed and nothing is sent.
        """
        _require_allowed_mentions(payload)
        if not 0 < len(nonce) <= MAX_NONCE_LENGTH:
            raise ValueError(f"nonce must be 1–{MAX_NONCE_LENGTH} characters, got {len(nonce)}")
        if "nonce" in payload or "enforce_nonce" in payload:
            raise ValueError("pass the nonce as the keyword argument, not inside the payload")
        body = {**payload, "nonce": nonce, "enforce_nonce": True}
        return await self._message_call(create_message_route(channel_id), body, on_time)

    async def edit_message(
        self,
        channel_id: str,
        message_id: str,
        payload: Mapping[str, Any],
        *,
        on_time: Callable[[], bool] | None = None,
    ) -> SentMessage:
        """PATCH a message the bot wrote; `payload` must hold `allowed_mentions` again."""
        _require_allowed_mentions(payload)
        return await self._message_call(
            edit_message_route(channel_id, message_id), dict(payload), on_time
        )

    async def open_dm(self, user_id: str, *, on_time: Callable[[], bool] | None = None) -> str:
        """Open (or get back) the DM channel with a user and return its id."""
        route = open_dm_route()
        if not _SNOWFLAKE.fullmatch(user_id):
            raise ValueError(f"user_id must be a Discord snowflake, got {user_id!r}")
        response, body, info = await self._request(route, {"recipient_id": user_id}, on_time)
        channel_id = body.get("id") if isinstance(body, Mapping) else None
        if not isinstance(channel_id, str):
            raise TransientError(
                f"DM channel response without an id (status {response.status})",
                maybe_sent=True,
                status=response.status,
                rate_limit=info,
            )
        return channel_id

    async def get_guild(self, guild_id: str) -> GuildInfo:
        """The guild's name, icon and owner (the bot must be in it: else PermanentError 10004)."""
        return GuildInfo.from_json(
            await self._read(make_route("GET", GET_GUILD, guild_id=guild_id))
        )

    async def guild_channels(self, guild_id: str) -> list[GuildChannel]:
        """The guild's channels the bot can see, with their permission overwrites."""
        body = await self._read(make_route("GET", GUILD_CHANNELS, guild_id=guild_id))
        return [GuildChannel.from_json(item) for item in _json_list(body)]

    async def guild_roles(self, guild_id: str) -> list[GuildRole]:
        """The guild's roles, @everyone (id = guild id) included."""
        body = await self._read(make_route("GET", GUILD_ROLES, guild_id=guild_id))
        return [GuildRole.from_json(item) for item in _json_list(body)]

    async def get_commands(
        self, application_id: str, *, guild_id: str | None = None
    ) -> list[Mapping[str, Any]]:
        """The application's registered commands: global, or one guild's with ``guild_id``."""
        body = await self._read(_commands_route("GET", application_id, guild_id))
        return _json_list(body)

    async def put_commands(
        self,
        application_id: str,
        commands: Sequence[Mapping[str, Any]],
        *,
        guild_id: str | None = None,
    ) -> list[Mapping[str, Any]]:
        """Bulk-overwrite the command set (global, or one guild's); returns what Discord kept."""
        route = _commands_route("PUT", application_id, guild_id)
        _, parsed, _ = await self._request(route, [dict(command) for command in commands])
        return _json_list(parsed)

    async def edit_original_response(
        self, application_id: str, token: str, payload: Mapping[str, Any]
    ) -> None:
        """PATCH an interaction's first answer (``@original``), e.g. a deferred one.

        The interaction token is the credential and a path segment; it is never logged.
        """
        if not _SNOWFLAKE.fullmatch(application_id):
            raise ValueError("application_id must be a Discord snowflake")
        if not _TOKEN.fullmatch(token):
            raise ValueError("the interaction token has characters a URL path cannot carry")
        _require_allowed_mentions(payload)
        route = Route(
            method="PATCH",
            template=ORIGINAL_RESPONSE,
            path=ORIGINAL_RESPONSE.format(application_id=application_id, token=token),
            major_id=application_id,
        )
        await self._request(route, dict(payload))

    async def guild_member(self, guild_id: str, user_id: str) -> GuildMember:
        """A member's role ids (PermanentError 10007 when the user is not in the guild)."""
        route = make_route("GET", GUILD_MEMBER, guild_id=guild_id, user_id=user_id)
        body = await self._read(route)
        if not isinstance(body, Mapping):
            raise TransientError("expected a JSON object from Discord", maybe_sent=False)
        return GuildMember.from_json(body)

    async def current_user(self) -> CurrentUser:
        """The bot's own user (its id is the one channel overwrites name)."""
        body = await self._read(make_route("GET", CURRENT_USER))
        if not isinstance(body, Mapping) or "id" not in body:
            raise TransientError("expected a user object from Discord", maybe_sent=False)
        return CurrentUser.from_json(body)

    async def _read(self, route: Route) -> Any:
        response, parsed, info = await self._request(route, None)
        if parsed is None:
            raise TransientError(
                f"{route.key} answered without JSON (status {response.status})",
                maybe_sent=False,
                status=response.status,
                rate_limit=info,
            )
        return parsed

    async def _message_call(
        self, route: Route, body: dict[str, Any], on_time: Callable[[], bool] | None
    ) -> SentMessage:
        response, parsed, info = await self._request(route, body, on_time)
        message_id = parsed.get("id") if isinstance(parsed, Mapping) else None
        channel_id = parsed.get("channel_id") if isinstance(parsed, Mapping) else None
        if not isinstance(message_id, str) or not isinstance(channel_id, str):
            raise TransientError(
                f"message response without id/channel_id (status {response.status})",
                maybe_sent=True,
                status=response.status,
                rate_limit=info,
            )
        return SentMessage(id=message_id, channel_id=channel_id, rate_limit=info)

    async def _request(
        self,
        route: Route,
        body: dict[str, Any] | list[dict[str, Any]] | None,
        on_time: Callable[[], bool] | None = None,
    ) -> tuple[HttpAnswer, Any, RateLimitInfo]:
        """Send one request; return (answer, decoded JSON or None, rate-limit info) on 2xx.

        Raises TransientError when no answer came (from `DiscordHttp`), SlotMissed when
        `on_time` said no right before the write, else the error for a non-2xx answer."""
        async with self._in_flight:
            response = await self._http.request(route.method, route.path, body, on_time=on_time)
        parsed = response.json_or_none()
        info = parse_rate_limit(response.headers, parsed, status=response.status)
        if response.is_success:
            return response, parsed, info
        raise error_for_response(response.status, response.headers, parsed, info)


def _commands_route(method: str, application_id: str, guild_id: str | None) -> Route:
    if guild_id is None:
        return make_route(method, GLOBAL_COMMANDS, application_id=application_id)
    return make_route(method, GUILD_COMMANDS, application_id=application_id, guild_id=guild_id)


def _json_list(body: Any) -> list[Mapping[str, Any]]:
    if not isinstance(body, list):
        raise TransientError("expected a JSON array from Discord", maybe_sent=False)
    return [item for item in body if isinstance(item, Mapping) and "id" in item]


def error_for_response(
    status: int, headers: Mapping[str, str], body: Any, info: RateLimitInfo
) -> DiscordError:
    """Map a non-2xx response to the error hierarchy (pure; used by the client and its tests)."""
    json_body: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    code = json_body.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    message = json_body.get("message")
    message = message if isinstance(message, str) else ""
    if status == 429:
        return _rate_limit_error(headers, body, code, info)
    if status == 401:
        return Unauthorized(code, rate_limit=info)
    if status == 403 and code == OPENING_DMS_TOO_FAST:
        return DmTooFast(message or "opening direct messages too fast", rate_limit=info)
    if status >= 500 or status == 408:
        return TransientError(
            f"Discord answered {status}: {message or 'no JSON body'}",
            maybe_sent=True,
            status=status,
            rate_limit=info,
        )
    errors = json_body.get("errors")
    return PermanentError(
        status,
        code,
        message or ("non-JSON body (blocked by Cloudflare?)" if body is None else "no message"),
        errors=errors if isinstance(errors, dict) else None,
        rate_limit=info,
    )


def _rate_limit_error(
    headers: Mapping[str, str], body: Any, code: int | None, info: RateLimitInfo
) -> DiscordError:
    # A 429 Discord's API produced always comes through Google's load balancer (`Via`) with a
    # JSON body holding `retry_after`; anything else is Cloudflare refusing the IP (dpy, hikari).
    has_via = any(key.lower() == "via" for key in headers)
    if not has_via:
        return CloudflareBan(429, "429 without a Via header", rate_limit=info)
    if not isinstance(body, Mapping):
        return CloudflareBan(429, "429 with a non-JSON body", rate_limit=info)
    if "retry_after" not in body or info.retry_after is None:
        return CloudflareBan(429, "429 without retry_after", rate_limit=info)
    return RateLimited(
        info.retry_after,
        info.scope or SCOPE_USER,
        info.is_global,
        info.bucket,
        code=code,
        rate_limit=info,
    )


def _require_allowed_mentions(payload: Mapping[str, Any]) -> None:
    if not isinstance(payload.get("allowed_mentions"), Mapping):
        raise ValueError(
            "payload must set allowed_mentions (e.g. {'parse': []}); "
            "without it Discord pings @everyone and every role named in the text"
        )

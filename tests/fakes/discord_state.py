"""The fake Discord's state: the seeded world, messages, rate limits, faults, the request log.

`DiscordFakeState.handle` answers every request in the order described in `discord_fake`;
the OAuth2, guild-read, interaction and command routes live in their own modules and share
the state's world, clock and lock.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.discord_commands import COMMAND_ROUTES, CommandRegistry
from tests.fakes.discord_forms import (
    REQUIRED,
    FormErrors,
    Mentions,
    compute_mentions,
    is_snowflake,
    validate_message_body,
)
from tests.fakes.discord_guilds import GUILD_ROUTES, GuildReads
from tests.fakes.discord_http import (
    API_PREFIX,
    INVALID_JSON,
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    NOT_FOUND,
    UNKNOWN_CHANNEL,
    UNKNOWN_MESSAGE,
    USER_AGENT,
    ApiRequest,
    Call,
    Outcome,
    RouteSpec,
    Window,
    api_path,
    authorization,
    bot_token,
    error_outcome,
    html_outcome,
    is_invalid,
    json_outcome,
    try_json,
)
from tests.fakes.discord_interactions import INTERACTION_ROUTES, InteractionCallbacks
from tests.fakes.discord_model import (
    BAN_MESSAGE,
    BUCKET_MESSAGE_DELETE,
    BUCKET_MESSAGE_READ,
    BUCKET_MESSAGE_WRITE,
    BUCKET_USERS_ME,
    CLOUDFLARE_1015_PAGE,
    CLOUDFLARE_UA_PAGE,
    DEFAULT_BOT_PERMISSIONS,
    DM,
    EMBED_LINKS,
    GUILD_TEXT,
    MANAGE_MESSAGES,
    MAX_BODY_BYTES,
    MENTION_EVERYONE,
    RATE_LIMITED_MESSAGE,
    SEND_MESSAGES,
    SHARED_LIMIT_MESSAGE,
    TEXT_CAPABLE,
    THREAD_ONLY,
    UNLIMITED_HEADER_LIMIT,
    VIEW_CHANNEL,
    FakeChannel,
    FakeConfig,
    FakeGuild,
    FakeMember,
    FakeMessage,
    FakeRole,
    FakeUser,
    Fault,
    LoggedRequest,
    RouteLimit,
    World,
)
from tests.fakes.discord_oauth import OAUTH_ROUTES, OAuthServer
from tests.fakes.discord_webhook_events import WebhookEventQueue

_CHANNEL = r"/channels/(?P<channel_id>[0-9]{1,20})"
_MESSAGES = _CHANNEL + "/messages"
_MESSAGE = _MESSAGES + r"/(?P<message_id>[0-9]{1,20})"
_WRITE, _READ, _DELETE = BUCKET_MESSAGE_WRITE, BUCKET_MESSAGE_READ, BUCKET_MESSAGE_DELETE
# PATCH reports POST's bucket hash but counts on its own (api#1442, api#8073).
# fmt: off
MESSAGE_ROUTES = (
    RouteSpec("POST", _MESSAGES, "create_message", "message_create", _WRITE, "create", "json"),
    RouteSpec("GET", _MESSAGES, "list_messages", "message_read", _READ, "read"),
    RouteSpec("GET", _MESSAGE, "get_message", "message_read", _READ, "read"),
    RouteSpec("PATCH", _MESSAGE, "edit_message", "message_edit", _WRITE, "edit", "json"),
    RouteSpec("DELETE", _MESSAGE, "delete_message", "message_delete", _DELETE, "delete"),
    RouteSpec("POST", "/users/@me/channels", "open_dm", None, None, "dm", "json"),
    RouteSpec("GET", "/users/@me", "get_me", "users_me", BUCKET_USERS_ME, "me"),
)
# fmt: on
ROUTES = (*MESSAGE_ROUTES, *OAUTH_ROUTES, *GUILD_ROUTES, *INTERACTION_ROUTES, *COMMAND_ROUTES)

# ---------------------------------------------------------------------------------------------
# The state: seeding, reading, and request handling (all under one lock)
# ---------------------------------------------------------------------------------------------


class DiscordFakeState:
    """Everything the fake knows; thread-safe (uvicorn's thread writes, tests read)."""

    def __init__(
        self, config: FakeConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.RLock()
        self._clock: Callable[[], float] = clock
        self.reset(config)

    @property
    def config(self) -> FakeConfig:
        return self._world.config

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    @property
    def lock(self) -> threading.RLock:
        """The lock every request holds; the route modules take it for their own Python API."""
        return self._lock

    @property
    def world(self) -> World:
        """The seeded guilds, channels, roles, users and memberships (read under `lock`)."""
        return self._world

    @property
    def oauth(self) -> OAuthServer:
        """OAuth2: clients, consent, codes and tokens (see `discord_oauth`)."""
        return self._oauth

    @property
    def interactions(self) -> InteractionCallbacks:
        """Dispatched interactions and the responses the app made to them."""
        return self._interactions

    @property
    def commands(self) -> CommandRegistry:
        """Registered application commands, by application and guild."""
        return self._commands

    @property
    def webhook_events(self) -> WebhookEventQueue:
        """Webhook Events waiting for the driver, and the app's delivery status."""
        return self._events

    # -- seeding and configuration -------------------------------------------------------------

    def reset(
        self, config: FakeConfig | None = None, *, clock: Callable[[], float] | None = None
    ) -> None:
        """Forget everything (seeds, messages, logs, faults, limits); maybe swap config/clock."""
        with self._lock:
            if clock is not None:
                self._clock = clock
            self._world = World(config or FakeConfig(), self._clock)
            self._events = WebhookEventQueue(self._world, self._lock)
            self._oauth = OAuthServer(self._world, self._lock, self._events)
            self._guild_reads = GuildReads(self._world)
            self._interactions = InteractionCallbacks(self._world, self._lock)
            self._commands = CommandRegistry(self._world, self._lock)
            self._handlers: dict[str, Callable[[Call], Outcome]] = {
                **self._message_handlers(),
                **self._oauth.handlers(),
                **self._guild_reads.handlers(),
                **self._interactions.handlers(),
                **self._commands.handlers(),
            }
            self._messages: dict[str, FakeMessage] = {}
            self._nonces: dict[tuple[str, str], tuple[str, float]] = {}
            self._dm_channels: dict[tuple[str, str], str] = {}
            self._dm_opens: dict[str, deque[float]] = {}
            self._windows: dict[tuple[str, ...], Window] = {}
            self._faults: deque[Fault] = deque()
            self._log: list[LoggedRequest] = []
            self._invalid: dict[str, deque[float]] = {}
            self._banned_until: dict[str, float] = {}
            self._rate_limited: Counter[str] = Counter()

    def configure(self, **changes: Any) -> None:
        """Change config fields (e.g. `global_limit=None`); rate-limit windows start afresh."""
        with self._lock:
            self._world.config = dataclasses.replace(self._world.config, **changes)
            self._windows.clear()

    def add_token(
        self, token: str, *, bot_id: str | None = None, username: str = "StreamMaxing"
    ) -> str:
        """Accept `token` as a bot token; return the bot's user id (the messages' author)."""
        with self._lock:
            bot = bot_id or self._world.new_id(self._clock())
            self._world.tokens[token] = bot
            self._world.bot_names[bot] = username
            return bot

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self._world.tokens.pop(token, None)

    def add_guild(
        self,
        guild_id: str,
        *,
        bot_member: bool = True,
        name: str = "",
        icon: str | None = None,
        owner_id: str | None = None,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
    ) -> None:
        """Seed a guild with its @everyone role (id = guild id)."""
        with self._lock:
            self._world.guilds[guild_id] = FakeGuild(
                guild_id, bot_member, name, icon, owner_id, bot_permissions
            )
            self._world.roles.setdefault(
                guild_id, FakeRole(guild_id, guild_id, name="@everyone", permissions=0x640)
            )

    def add_member(self, guild_id: str, user_id: str, *, permissions: int = 0) -> None:
        """Make a seeded user a member of a guild with these guild-wide permissions."""
        with self._lock:
            self._world.members[(guild_id, user_id)] = FakeMember(guild_id, user_id, permissions)

    def set_bot_member(self, guild_id: str, member: bool) -> None:
        """Add the bot to a guild or remove it (a kick)."""
        with self._lock:
            self._world.guilds[guild_id].bot_member = member

    def add_channel(
        self,
        channel_id: str,
        *,
        guild_id: str,
        type: int = GUILD_TEXT,
        deleted: bool = False,
        permissions: int = DEFAULT_BOT_PERMISSIONS,
        name: str = "",
        position: int = 0,
        parent_id: str | None = None,
        permission_overwrites: tuple[dict[str, Any], ...] = (),
    ) -> None:
        """Seed a guild channel (its guild is created, with the bot in it, when unknown).

        `permissions` are the bot's computed permissions in the channel."""
        with self._lock:
            if guild_id not in self._world.guilds:
                self.add_guild(guild_id)
            self._world.channels[channel_id] = FakeChannel(
                channel_id, guild_id, type, deleted, permissions,
                name=name or f"channel{channel_id}", position=position, parent_id=parent_id,
                permission_overwrites=permission_overwrites,
            )  # fmt: skip

    def update_channel(
        self, channel_id: str, *, deleted: bool | None = None, permissions: int | None = None
    ) -> None:
        with self._lock:
            channel = self._world.channels[channel_id]
            if deleted is not None:
                channel.deleted = deleted
            if permissions is not None:
                channel.permissions = permissions

    def add_role(
        self,
        role_id: str,
        *,
        guild_id: str,
        mentionable: bool = False,
        name: str = "",
        position: int = 1,
        permissions: int = 0,
        managed: bool = False,
        bot_id: str | None = None,
    ) -> None:
        with self._lock:
            self._world.roles[role_id] = FakeRole(
                role_id, guild_id, mentionable, name or f"role{role_id}", position, permissions,
                managed or bot_id is not None, bot_id=bot_id,
            )  # fmt: skip

    def add_user(
        self,
        user_id: str,
        *,
        dms_open: bool = True,
        mutual_guild: bool = True,
        deleted: bool = False,
        username: str | None = None,
        global_name: str | None = None,
        avatar: str | None = None,
    ) -> None:
        with self._lock:
            self._world.users[user_id] = FakeUser(
                user_id, dms_open, mutual_guild, deleted, username or f"user{user_id}",
                global_name, avatar,
            )  # fmt: skip

    def update_user(
        self,
        user_id: str,
        *,
        dms_open: bool | None = None,
        mutual_guild: bool | None = None,
        deleted: bool | None = None,
    ) -> None:
        with self._lock:
            user = self._world.users[user_id]
            user.dms_open = user.dms_open if dms_open is None else dms_open
            user.mutual_guild = user.mutual_guild if mutual_guild is None else mutual_guild
            user.deleted = user.deleted if deleted is None else deleted

    def seed_message(self, channel_id: str, content: str, *, author_id: str) -> str:
        """Store a message written by someone else (e.g. to test 50005); return its id."""
        with self._lock:
            channel = self._world.channels[channel_id]
            now = self._clock()
            message = FakeMessage(
                id=self._world.new_id(now), channel_id=channel_id, guild_id=channel.guild_id,
                author_id=author_id, content=content, embeds=(), flags=0, tts=False, mentions=(),
                mention_roles=(), mention_everyone=False, pinged_role_ids=(),
                allowed_mentions=None, nonce=None, created_at=now, timestamp=self._world.iso(now),
            )  # fmt: skip
            self._messages[message.id] = message
            return message.id

    def delete_message(self, message_id: str) -> None:
        """Delete a message as a moderator would (the bot's nonce retry then gets 10008)."""
        with self._lock:
            self._messages[message_id] = dataclasses.replace(
                self._messages[message_id], deleted=True
            )

    def inject(self, fault: Fault) -> None:
        """Queue a one-shot fault (FIFO; the first queued rule that matches a request fires)."""
        with self._lock:
            self._faults.append(fault)

    # -- reading -------------------------------------------------------------------------------

    @property
    def messages(self) -> tuple[FakeMessage, ...]:
        """Every stored message (deleted ones included, flagged), oldest first."""
        with self._lock:
            return tuple(self._messages.values())

    def messages_in(self, channel_id: str) -> tuple[FakeMessage, ...]:
        """The live (not deleted) messages of a channel, oldest first."""
        with self._lock:
            return tuple(
                message
                for message in self._messages.values()
                if message.channel_id == channel_id and not message.deleted
            )

    def message(self, message_id: str) -> FakeMessage:
        with self._lock:
            return self._messages[message_id]

    @property
    def requests(self) -> tuple[LoggedRequest, ...]:
        with self._lock:
            return tuple(self._log)

    def requests_to(self, method: str, path_pattern: str) -> tuple[LoggedRequest, ...]:
        """Logged requests with this method whose path (below /api/v10) fully matches."""
        with self._lock:
            return tuple(
                entry
                for entry in self._log
                if entry.method == method
                and re.fullmatch(path_pattern, entry.path.removeprefix(API_PREFIX))
            )

    def invalid_request_count(self, client: str = "127.0.0.1") -> int:
        """401/403/non-shared 429 answers to `client` within the invalid-request window."""
        with self._lock:
            return len(self._prune_invalid(client, self._clock()))

    @property
    def rate_limited(self) -> dict[str, int]:
        """Number of 429s sent, by scope: user, global, shared, ban."""
        with self._lock:
            return dict(self._rate_limited)

    def is_banned(self, client: str = "127.0.0.1") -> bool:
        with self._lock:
            return self._banned_until.get(client, -math.inf) > self._clock()

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    # -- request handling ----------------------------------------------------------------------

    def handle(self, request: ApiRequest) -> Outcome:
        """Answer one API request (the ASGI layer only adds delays and connection drops)."""
        with self._lock:
            now = self._clock()
            parsed_body = try_json(request.body)
            bot_id = self._world.tokens.get(bot_token(request.headers))
            outcome = self._answer(request, parsed_body, now)
            if is_invalid(outcome.status, outcome.scope):
                self._count_invalid(request.client, now)
            if outcome.status == 429 and outcome.scope:
                self._rate_limited[outcome.scope] += 1
            headers = dict(request.headers)
            if "authorization" in headers:
                headers["authorization"] = "<redacted>"
            self._log.append(
                LoggedRequest(
                    request.method, request.path, request.query, headers,
                    None if parsed_body is INVALID_JSON else parsed_body,
                    outcome.status, now, request.client, bot_id, outcome.fault,
                )
            )  # fmt: skip
            return outcome

    def _answer(self, request: ApiRequest, parsed_body: Any, now: float) -> Outcome:
        if self._banned_until.get(request.client, -math.inf) > now:
            return self._ban_outcome(html=self._world.config.ban_html)
        path = api_path(request.path)
        if path is None:
            return json_outcome(404, {"message": NOT_FOUND[0], "code": NOT_FOUND[1]})
        matched = [(spec, re.fullmatch(spec.pattern, path)) for spec in ROUTES]
        candidates = [(spec, match) for spec, match in matched if match is not None]
        if not candidates:
            return json_outcome(404, {"message": NOT_FOUND[0], "code": NOT_FOUND[1]})
        same_method = [(s, m) for s, m in candidates if s.method == request.method]
        if not same_method:
            return json_outcome(405, {"message": "405: Method Not Allowed", "code": 0})
        scheme, token = authorization(request.headers)
        routed = next(
            ((s, m) for s, m in same_method if s.auth in ("client", "none", scheme)), None
        )
        if routed is None:
            return json_outcome(401, {"message": "401: Unauthorized", "code": 0})
        spec, match = routed

        bot_id = ""
        if spec.auth == "bot":
            bot_id = self._world.tokens.get(token, "")
            if not bot_id:
                return json_outcome(401, {"message": "401: Unauthorized", "code": 0})
            if not USER_AGENT.match(request.headers.get("user-agent", "")):
                return html_outcome(403, CLOUDFLARE_UA_PAGE)
        elif spec.auth == "bearer" and not self._oauth.access_token_valid(token, now):
            return json_outcome(401, {"message": "401: Unauthorized", "code": 0})
        elif spec.auth in ("client", "none"):
            token = ""

        params = match.groupdict()
        major = params.get(spec.major, "")
        fault = self._take_fault(request.method, path)
        if fault is not None and fault.kind not in ("slow", "drop_after_commit"):
            outcome = self._fault_outcome(fault, token, spec, major, now)
            outcome.fault = fault.kind
            return outcome

        limited, bucket_headers = self._rate_limit(token, spec, major, now)
        if limited is not None:
            return limited
        outcome = self._dispatch(request, spec, token, bot_id, params, parsed_body, now)
        outcome.headers.update(bucket_headers)
        if fault is not None:
            outcome.fault = fault.kind
            outcome.delay_s = fault.delay_s
            outcome.drop = fault.kind == "drop_after_commit"
        return outcome

    def _dispatch(
        self,
        request: ApiRequest,
        spec: RouteSpec,
        token: str,
        bot_id: str,
        params: dict[str, str],
        parsed_body: Any,
        now: float,
    ) -> Outcome:
        if len(request.body) > MAX_BODY_BYTES:
            return error_outcome(413, 40005, "Request entity too large")
        if spec.body in ("json", "json_list"):
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                errors = FormErrors()
                errors.add(
                    (),
                    "CONTENT_TYPE_INVALID",
                    "Expected \"Content-Type\" header to be one of {'application/json', "
                    "'application/x-www-form-urlencoded', 'multipart/form-data'}.",
                )
                return error_outcome(400, 50035, "Invalid Form Body", errors)
            if parsed_body is INVALID_JSON:
                return error_outcome(400, 50109, "The request body contains invalid JSON.")
            if spec.body == "json_list" and not isinstance(parsed_body, list):
                errors = FormErrors()
                errors.add((), "LIST_TYPE_CONVERT", "Must be an array.")
                return error_outcome(400, 50035, "Invalid Form Body", errors)
            if spec.body == "json" and not isinstance(parsed_body, dict):
                errors = FormErrors()
                errors.add((), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
                return error_outcome(400, 50035, "Invalid Form Body", errors)
        body = None if parsed_body is INVALID_JSON else parsed_body
        call = Call(token, bot_id, params, parse_qs(request.query), body, now, request)
        return self._handlers[spec.handler](call)

    # -- rate limits, faults, bans -------------------------------------------------------------

    def _rate_limit(
        self, token: str, spec: RouteSpec, major: str, now: float
    ) -> tuple[Outcome | None, dict[str, str]]:
        config = self._world.config
        if config.unlimited:
            if spec.limit is None or spec.bucket is None:
                return None, {}
            window_s = getattr(config, spec.limit).window_s
            headers = self._bucket_headers(
                UNLIMITED_HEADER_LIMIT, UNLIMITED_HEADER_LIMIT - 1, window_s, spec.bucket, now
            )
            return None, headers
        if config.global_limit is not None and spec.global_limited:
            window = self._window(("global", token), config.global_limit, config.global_window_s)
            granted, _, reset_after = window.acquire(now)
            if not granted:
                retry_after = round(reset_after, 3)
                outcome = json_outcome(
                    429,
                    {"message": RATE_LIMITED_MESSAGE, "retry_after": retry_after, "global": True},
                    headers={
                        "retry-after": str(math.ceil(retry_after)),
                        "x-ratelimit-global": "true",
                        "x-ratelimit-scope": "global",
                    },
                )
                outcome.scope = "global"
                return outcome, {}
        if spec.limit is None or spec.bucket is None:
            return None, {}
        limit: RouteLimit = getattr(config, spec.limit)
        window = self._window(("bucket", token, spec.counter, major), limit.limit, limit.window_s)
        granted, remaining, reset_after = window.acquire(now)
        headers = self._bucket_headers(limit.limit, remaining, reset_after, spec.bucket, now)
        if granted:
            return None, headers
        retry_after = round(reset_after, 3)
        headers |= {"retry-after": str(math.ceil(retry_after)), "x-ratelimit-scope": "user"}
        outcome = json_outcome(
            429,
            {"message": RATE_LIMITED_MESSAGE, "retry_after": retry_after, "global": False},
            headers=headers,
        )
        outcome.scope = "user"
        return outcome, {}

    def _window(self, key: tuple[str, ...], limit: int, period: float) -> Window:
        window = self._windows.get(key)
        if window is None:
            window = Window(limit, period, sliding=self._world.config.sliding_windows)
            self._windows[key] = window
        return window

    def _bucket_headers(
        self, limit: int, remaining: int, reset_after: float, bucket: str, now: float
    ) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": f"{self._world.epoch(now) + reset_after:.3f}",
            "x-ratelimit-reset-after": f"{reset_after:.3f}",
            "x-ratelimit-bucket": bucket,
        }

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.matches(method, path):
                self._faults.remove(fault)
                return fault
        return None

    def _fault_outcome(
        self, fault: Fault, token: str, spec: RouteSpec, major: str, now: float
    ) -> Outcome:
        if fault.kind == "error":
            outcome = json_outcome(fault.status, fault.body)
            outcome.scope = "user" if fault.status == 429 else None
            return outcome
        if fault.kind == "html_5xx":
            return html_outcome(
                fault.status,
                f"<html><head><title>{fault.status} Bad Gateway</title></head><body><center>"
                f"<h1>{fault.status} Bad Gateway</h1></center><hr><center>cloudflare</center>"
                "</body></html>",
            )
        if fault.kind == "cf_ban":
            return self._ban_outcome(html=fault.html)
        # shared_429: the bucket is not exhausted (Remaining may be > 0), the channel is.
        headers: dict[str, str] = {}
        if spec.limit is not None and spec.bucket is not None and not self._world.config.unlimited:
            limit: RouteLimit = getattr(self._world.config, spec.limit)
            window = self._window(
                ("bucket", token, spec.counter, major), limit.limit, limit.window_s
            )
            remaining, reset_after = window.peek(now)
            headers = self._bucket_headers(limit.limit, remaining, reset_after, spec.bucket, now)
        headers |= {
            "retry-after": str(math.ceil(fault.retry_after)),
            "x-ratelimit-scope": "shared",
        }
        outcome = json_outcome(
            429,
            {
                "message": SHARED_LIMIT_MESSAGE,
                "retry_after": fault.retry_after,
                "global": False,
                "code": 20028,
            },
            headers=headers,
        )
        outcome.scope = "shared"
        return outcome

    def _ban_outcome(self, *, html: bool) -> Outcome:
        if html:
            outcome = html_outcome(429, CLOUDFLARE_1015_PAGE)
        else:
            outcome = json_outcome(429, {"code": 0, "message": BAN_MESSAGE}, via=False)
        outcome.scope = "ban"
        return outcome

    def _count_invalid(self, client: str, now: float) -> None:
        hits = self._prune_invalid(client, now)
        hits.append(now)
        if len(hits) >= self._world.config.invalid_request_threshold:
            self._banned_until[client] = now + self._world.config.ban_duration_s
            hits.clear()

    def _prune_invalid(self, client: str, now: float) -> deque[float]:
        hits = self._invalid.setdefault(client, deque())
        while hits and hits[0] <= now - self._world.config.invalid_request_window_s:
            hits.popleft()
        return hits

    # -- resources -----------------------------------------------------------------------------

    def _channel_for(self, call: Call, *, send: bool) -> FakeChannel | Outcome:
        channel = self._world.channels.get(call.params["channel_id"])
        if channel is None or channel.deleted:
            return error_outcome(*UNKNOWN_CHANNEL)
        if channel.type == DM:
            return (
                channel if channel.owner_bot_id == call.bot_id else error_outcome(*MISSING_ACCESS)
            )
        guild = self._world.guilds.get(channel.guild_id or "")
        if guild is None or not guild.bot_member or not channel.permissions & VIEW_CHANNEL:
            return error_outcome(*MISSING_ACCESS)
        if send and not channel.permissions & SEND_MESSAGES:
            return error_outcome(*MISSING_PERMISSIONS)
        return channel

    def _message_for(self, call: Call, channel: FakeChannel) -> FakeMessage | Outcome:
        message = self._messages.get(call.params["message_id"])
        if message is None or message.deleted or message.channel_id != channel.id:
            return error_outcome(*UNKNOWN_MESSAGE)
        return message

    def _mentions(
        self, channel: FakeChannel, content: str, allowed_mentions: Mapping[str, Any] | None
    ) -> Mentions:
        if channel.type == DM:
            guild_roles: dict[str, bool] = {}
            can_mention_everyone = False
        else:
            guild_roles = {
                role.id: role.mentionable
                for role in self._world.roles.values()
                if role.guild_id == channel.guild_id
            }
            can_mention_everyone = bool(channel.permissions & MENTION_EVERYONE)
        known_users = (user.id for user in self._world.users.values() if not user.deleted)
        return compute_mentions(
            content,
            allowed_mentions,
            known_users=known_users,
            guild_roles=guild_roles,
            can_mention_everyone=can_mention_everyone,
        )

    def _strip_embeds(
        self, channel: FakeChannel, embeds: tuple[dict[str, Any], ...]
    ) -> tuple[dict[str, Any], ...]:
        if channel.type != DM and not channel.permissions & EMBED_LINKS:
            return ()
        return embeds

    # -- handlers ------------------------------------------------------------------------------

    def _message_handlers(self) -> dict[str, Callable[[Call], Outcome]]:
        return {
            "create_message": self._create_message,
            "list_messages": self._list_messages,
            "get_message": self._get_message,
            "edit_message": self._edit_message,
            "delete_message": self._delete_message,
            "open_dm": self._open_dm,
            "get_me": self._get_me,
        }

    def _create_message(self, call: Call) -> Outcome:
        channel = self._channel_for(call, send=True)
        if isinstance(channel, Outcome):
            return channel
        if channel.type in THREAD_ONLY:
            return error_outcome(400, 40058, "Cannot send a message in a forum channel")
        if channel.type not in TEXT_CAPABLE:
            return error_outcome(400, 50008, "Cannot send messages in a non-text channel")
        body: dict[str, Any] = call.body
        validated, errors = validate_message_body(body, edit=False)
        if errors:
            return error_outcome(400, 50035, "Invalid Form Body", errors)
        content = validated.content or ""
        embeds = self._strip_embeds(channel, validated.embeds or ())
        if not content.strip() and not embeds and not validated.has_components:
            return error_outcome(400, 50006, "Cannot send an empty message")
        if channel.type == DM:
            refusal = self._dm_refusal(channel)
            if refusal is not None:
                return refusal
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce") is True:
            earlier = self._nonces.get((call.bot_id, str(nonce)))
            if earlier is not None and call.now - earlier[1] < self._world.config.nonce_window_s:
                original = self._messages[earlier[0]]
                if original.deleted:
                    return error_outcome(*UNKNOWN_MESSAGE)
                return json_outcome(200, self._message_json(original, nonce=nonce))
        mentions = self._mentions(channel, content, body.get("allowed_mentions"))
        message = FakeMessage(
            id=self._world.new_id(call.now), channel_id=channel.id, guild_id=channel.guild_id,
            author_id=call.bot_id, content=content, embeds=embeds, flags=body.get("flags") or 0,
            tts=bool(body.get("tts")), mentions=mentions.users, mention_roles=mentions.roles,
            mention_everyone=mentions.everyone, pinged_role_ids=mentions.pinged_roles,
            allowed_mentions=body.get("allowed_mentions"), nonce=nonce, created_at=call.now,
            timestamp=self._world.iso(call.now),
        )  # fmt: skip
        self._messages[message.id] = message
        if nonce is not None:
            self._nonces[(call.bot_id, str(nonce))] = (message.id, call.now)
        return json_outcome(200, self._message_json(message, nonce=nonce))

    def _dm_refusal(self, channel: FakeChannel) -> Outcome | None:
        user = self._world.users.get(channel.recipient_id or "")
        if user is None or user.deleted:
            return error_outcome(403, 50007, "Cannot send messages to this user")
        if not user.mutual_guild:
            return error_outcome(
                403, 50278, "Cannot send messages to this user due to having no mutual guilds"
            )
        if not user.dms_open:
            return error_outcome(403, 50007, "Cannot send messages to this user")
        return None

    def _edit_message(self, call: Call) -> Outcome:
        channel = self._channel_for(call, send=False)
        if isinstance(channel, Outcome):
            return channel
        message = self._message_for(call, channel)
        if isinstance(message, Outcome):
            return message
        if message.author_id != call.bot_id:
            return error_outcome(403, 50005, "Cannot edit a message authored by another user")
        body: dict[str, Any] = call.body
        validated, errors = validate_message_body(body, edit=True)
        if errors:
            return error_outcome(400, 50035, "Invalid Form Body", errors)
        changes: dict[str, Any] = {}
        content = (validated.content or "") if "content" in body else message.content
        embeds = message.embeds
        if "embeds" in body:
            embeds = self._strip_embeds(channel, validated.embeds or ())
        if not content.strip() and not embeds and not validated.has_components:
            return error_outcome(400, 50006, "Cannot send an empty message")
        if "content" in body:
            allowed = body.get("allowed_mentions")
            mentions = self._mentions(channel, content, allowed)
            changes |= {
                "content": content,
                "mentions": mentions.users,
                "mention_roles": mentions.roles,
                "mention_everyone": mentions.everyone,
                "pinged_role_ids": mentions.pinged_roles,
                "allowed_mentions": allowed,
            }
        if "flags" in body:
            changes["flags"] = body.get("flags") or 0
        updated = dataclasses.replace(
            message,
            embeds=embeds,
            edited_timestamp=self._world.iso(call.now),
            edit_count=message.edit_count + 1,
            **changes,
        )
        self._messages[message.id] = updated
        return json_outcome(200, self._message_json(updated))

    def _get_message(self, call: Call) -> Outcome:
        channel = self._channel_for(call, send=False)
        if isinstance(channel, Outcome):
            return channel
        message = self._message_for(call, channel)
        if isinstance(message, Outcome):
            return message
        return json_outcome(200, self._message_json(message))

    def _list_messages(self, call: Call) -> Outcome:
        channel = self._channel_for(call, send=False)
        if isinstance(channel, Outcome):
            return channel
        raw_limit = call.query.get("limit", ["50"])[0]
        errors = FormErrors()
        limit = int(raw_limit) if raw_limit.isdigit() else -1
        if limit < 1 or limit > 100:
            errors.add(("limit",), "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN",
                       "Value should be between 1 and 100.")  # fmt: skip
            return error_outcome(400, 50035, "Invalid Form Body", errors)
        before = call.query.get("before", [None])[0]
        after = call.query.get("after", [None])[0]
        selected = [
            message
            for message in self._messages.values()
            if message.channel_id == channel.id
            and not message.deleted
            and (before is None or int(message.id) < int(before))
            and (after is None or int(message.id) > int(after))
        ]
        selected.sort(key=lambda message: int(message.id), reverse=True)
        return json_outcome(200, [self._message_json(message) for message in selected[:limit]])

    def _delete_message(self, call: Call) -> Outcome:
        channel = self._channel_for(call, send=False)
        if isinstance(channel, Outcome):
            return channel
        message = self._message_for(call, channel)
        if isinstance(message, Outcome):
            return message
        if message.author_id != call.bot_id and not channel.permissions & MANAGE_MESSAGES:
            return error_outcome(*MISSING_PERMISSIONS)
        self._messages[message.id] = dataclasses.replace(message, deleted=True)
        return Outcome(204, b"", {"via": "1.1 google"})

    def _open_dm(self, call: Call) -> Outcome:
        recipient = call.body.get("recipient_id")
        if recipient is None or not is_snowflake(recipient):
            errors = FormErrors()
            errors.add(("recipient_id",), REQUIRED, "This field is required")
            return error_outcome(400, 50035, "Invalid Form Body", errors)
        user = self._world.users.get(str(recipient))
        if user is None or user.deleted:
            return error_outcome(400, 50033, "Invalid Recipient(s)")
        existing = self._dm_channels.get((call.bot_id, user.id))
        if existing is None:
            opens = self._dm_opens.setdefault(call.bot_id, deque())
            while opens and opens[0] <= call.now - self._world.config.dm_open_window_s:
                opens.popleft()
            if len(opens) >= self._world.config.dm_open_limit:
                return error_outcome(403, 40003, "You are opening direct messages too fast")
            opens.append(call.now)
            existing = self._world.new_id(call.now)
            self._world.channels[existing] = FakeChannel(
                existing, None, DM, recipient_id=user.id, owner_bot_id=call.bot_id
            )
            self._dm_channels[(call.bot_id, user.id)] = existing
        return json_outcome(
            200,
            {
                "id": existing,
                "type": DM,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self._world.user_json(user)],
            },
        )

    def _get_me(self, call: Call) -> Outcome:
        return json_outcome(200, self._bot_json(call.bot_id))

    # -- JSON shapes, ids, time ----------------------------------------------------------------

    def _message_json(self, message: FakeMessage, *, nonce: Any = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": message.id,
            "type": 0,
            "channel_id": message.channel_id,
            "author": self._bot_json(message.author_id),
            "content": message.content,
            "timestamp": message.timestamp,
            "edited_timestamp": message.edited_timestamp,
            "tts": message.tts,
            "mention_everyone": message.mention_everyone,
            "mentions": [
                self._world.user_json(self._world.users[user_id])
                for user_id in message.mentions
                if user_id in self._world.users
            ],
            "mention_roles": list(message.mention_roles),
            "attachments": [],
            "embeds": [dict(embed) for embed in message.embeds],
            "pinned": False,
            "flags": message.flags,
            "components": [],
        }
        if message.guild_id is not None:
            payload["guild_id"] = message.guild_id
        if nonce is not None:
            payload["nonce"] = nonce
        return payload

    def _bot_json(self, bot_id: str) -> dict[str, Any]:
        return {
            "id": bot_id,
            "username": self._world.bot_names.get(bot_id, f"user{bot_id}"),
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": bot_id in self._world.bot_names,
        }

"""The fake Discord's vocabulary: constants, knobs, clock, faults and the seeded world."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

# Permission bits (D:topics/permissions).
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ALL_PERMISSIONS = (1 << 51) - 1
DEFAULT_BOT_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | READ_MESSAGE_HISTORY

# Channel types (D:resources/channel).
GUILD_TEXT = 0
DM = 1
GUILD_VOICE = 2
GUILD_CATEGORY = 4
GUILD_ANNOUNCEMENT = 5
GUILD_FORUM = 15
GUILD_MEDIA = 16
TEXT_CAPABLE = frozenset({GUILD_TEXT, DM, GUILD_VOICE, GUILD_ANNOUNCEMENT, 10, 11, 12})
THREAD_ONLY = frozenset({GUILD_FORUM, GUILD_MEDIA})

# Bucket hashes returned in X-RateLimit-Bucket. PATCH shares POST's hash but counts on its own.
BUCKET_MESSAGE_WRITE = "80c17d2f203122d936070c88c8d10f33"
BUCKET_MESSAGE_READ = "4a2fd1c9b3e55a7d08c6f0e2b9d1a3c7"
BUCKET_MESSAGE_DELETE = "d3f0a8b7e6c5a4b3c2d1e0f9a8b7c6d5"
BUCKET_USERS_ME = "b1e2c3d4a5f60718293a4b5c6d7e8f90"
BUCKET_USERS_ME_GUILDS = "5e1f7a2b9c3d4e6f8a0b1c2d3e4f5a6b"
BUCKET_COMMANDS_WRITE = "c0ffee5a1b2c3d4e5f60718293a4b5c6"
BUCKET_COMMANDS_READ = "ab12cd34ef56ab78cd90ef12ab34cd56"
BUCKET_GUILD_READ = "7f3e2d1c0b9a8f7e6d5c4b3a29180716"

UNLIMITED_HEADER_LIMIT = 1_000_000
DISCORD_EPOCH_MS = 1_420_070_400_000
MAX_BODY_BYTES = 25 * 1024 * 1024
RATE_LIMITED_MESSAGE = "You are being rate limited."
SHARED_LIMIT_MESSAGE = (
    "The write action you are performing on the channel has hit the write rate limit."
)
BAN_MESSAGE = (
    "You are being blocked from accessing our API temporarily due to exceeding our rate limits "
    "frequently. Please read our docs at https://discord.com/developers/docs/topics/rate-limits "
    "to prevent this moving forward."
)
CLOUDFLARE_UA_PAGE = (
    "<!DOCTYPE html><html><head><title>Access denied | discord.com used Cloudflare to restrict "
    "access</title></head><body><h1>Error 1010</h1><p>The owner of this website (discord.com) "
    "has banned your access based on your browser's signature.</p></body></html>"
)
CLOUDFLARE_1015_PAGE = (
    "<!DOCTYPE html><html><head><title>Access denied | discord.com used Cloudflare to restrict "
    "access</title></head><body><h1>error code: 1015</h1><p>You are being rate limited."
    "</p></body></html>"
)


# ---------------------------------------------------------------------------------------------
# Configuration, clock, faults and the records tests read
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """A bucket's size: `limit` requests per `window_s` seconds."""

    limit: int
    window_s: float


@dataclass(frozen=True, slots=True)
class FakeConfig:
    """Knobs of the fake; defaults follow Discord (documented or observed)."""

    unlimited: bool = False
    global_limit: int | None = 50
    global_window_s: float = 1.0
    message_create: RouteLimit = RouteLimit(5, 5.0)
    message_edit: RouteLimit = RouteLimit(5, 5.0)
    message_read: RouteLimit = RouteLimit(5, 5.0)
    message_delete: RouteLimit = RouteLimit(5, 5.0)
    users_me: RouteLimit = RouteLimit(5, 5.0)
    users_me_guilds: RouteLimit = RouteLimit(1, 1.0)
    guild_read: RouteLimit = RouteLimit(50, 1.0)
    commands_write: RouteLimit = RouteLimit(2, 60.0)
    commands_read: RouteLimit = RouteLimit(50, 1.0)
    sliding_windows: bool = False
    nonce_window_s: float = 120.0
    dm_open_limit: int = 10
    dm_open_window_s: float = 60.0
    invalid_request_threshold: int = 10_000
    invalid_request_window_s: float = 600.0
    ban_duration_s: float = 3600.0
    ban_html: bool = False
    oauth_code_ttl_s: float = 100.0
    oauth_access_ttl_s: int = 604_800
    oauth_old_access_survives_refresh: bool = True
    obfuscate_hidden_channels: bool = True
    interaction_deadline_s: float = 3.0
    interaction_token_ttl_s: float = 900.0
    webhook_events_failure_limit: int = 5


class FakeClock:
    """A monotonic clock that only moves when told to; pass it as the fake's `clock`."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


FaultKind = Literal["error", "html_5xx", "slow", "drop_after_commit", "shared_429", "cf_ban"]


@dataclass(frozen=True, slots=True)
class Fault:
    """A one-shot rule: the first request matching `method` (None = any) and `path` (a regex
    matched in full against the path below /api/v10) gets this fault instead of normal handling.

    - `error`: answer `status` with the JSON `body` (Via set);
    - `html_5xx`: answer `status` with a Cloudflare HTML page (no Via);
    - `slow`: handle normally, then hold the answer `delay_s` seconds (or until the client leaves);
    - `drop_after_commit`: handle normally (the message is created), then abort the connection
      after the status line, so the client sees a protocol error and no body;
    - `shared_429`: 429 with `X-RateLimit-Scope: shared`, code 20028, `retry_after`;
    - `cf_ban`: a Cloudflare-ban 429 (JSON without `retry_after` and without Via, or HTML).
    """

    kind: FaultKind
    method: str | None = None
    path: str = ".*"
    status: int = 500
    body: Any = None
    delay_s: float = 0.0
    retry_after: float = 1.0
    html: bool = False

    @classmethod
    def error(cls, method: str | None, path: str, status: int, body: Any = None) -> Fault:
        default = {"message": f"{status}: Injected error", "code": 0}
        return cls("error", method, path, status=status, body=default if body is None else body)

    @classmethod
    def html_5xx(cls, method: str | None, path: str, status: int = 502) -> Fault:
        return cls("html_5xx", method, path, status=status)

    @classmethod
    def slow(cls, method: str | None, path: str, delay_s: float) -> Fault:
        return cls("slow", method, path, delay_s=delay_s)

    @classmethod
    def drop_after_commit(cls, method: str | None, path: str) -> Fault:
        return cls("drop_after_commit", method, path)

    @classmethod
    def shared_429(cls, method: str | None, path: str, retry_after: float = 0.3) -> Fault:
        return cls("shared_429", method, path, status=429, retry_after=retry_after)

    @classmethod
    def cf_ban(cls, method: str | None, path: str, *, html: bool = False) -> Fault:
        return cls("cf_ban", method, path, status=429, html=html)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return re.fullmatch(self.path, path) is not None


@dataclass(slots=True)
class FakeGuild:
    """A guild; `bot_permissions` are what the bot was granted at install (its managed role)."""

    id: str
    bot_member: bool = True
    name: str = ""
    icon: str | None = None
    owner_id: str | None = None
    bot_permissions: int = DEFAULT_BOT_PERMISSIONS


@dataclass(slots=True)
class FakeChannel:
    """A channel; `permissions` are the bot's computed permissions in it (overwrites applied).

    `permission_overwrites` are echoed as seeded by `GET /guilds/{id}/channels`.
    """

    id: str
    guild_id: str | None
    type: int = GUILD_TEXT
    deleted: bool = False
    permissions: int = DEFAULT_BOT_PERMISSIONS
    recipient_id: str | None = None
    owner_bot_id: str | None = None
    name: str = ""
    position: int = 0
    parent_id: str | None = None
    permission_overwrites: tuple[dict[str, Any], ...] = ()


@dataclass(slots=True)
class FakeRole:
    """A guild role; `bot_id` set marks the managed role an installed bot gets."""

    id: str
    guild_id: str
    mentionable: bool = False
    name: str = ""
    position: int = 0
    permissions: int = 0
    managed: bool = False
    color: int = 0
    hoist: bool = False
    bot_id: str | None = None


@dataclass(slots=True)
class FakeUser:
    id: str
    dms_open: bool = True
    mutual_guild: bool = True
    deleted: bool = False
    username: str = ""
    global_name: str | None = None
    avatar: str | None = None


@dataclass(slots=True)
class FakeMember:
    """A user's membership of a guild with their guild-wide permissions (no overwrites)."""

    guild_id: str
    user_id: str
    permissions: int = 0


@dataclass(frozen=True, slots=True)
class FakeMessage:
    """A stored message as Discord would hold it, plus fake-only facts for assertions.

    `mentions` are user ids; `pinged_role_ids` are the mentioned roles whose members really get
    notified (role mentionable, or the bot has MENTION_EVERYONE).
    """

    id: str
    channel_id: str
    guild_id: str | None
    author_id: str
    content: str
    embeds: tuple[dict[str, Any], ...]
    flags: int
    tts: bool
    mentions: tuple[str, ...]
    mention_roles: tuple[str, ...]
    mention_everyone: bool
    pinged_role_ids: tuple[str, ...]
    allowed_mentions: dict[str, Any] | None
    nonce: str | int | None
    created_at: float
    timestamp: str
    edited_timestamp: str | None = None
    edit_count: int = 0
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One API request as the fake saw it (the Authorization value is redacted)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    json: Any
    status: int
    time: float
    client: str
    bot_id: str | None
    fault: str | None


class World:
    """The seeded Discord world every route module reads and writes, with the fake's clock.

    Not locked itself: `DiscordFakeState` holds its lock around every use.
    """

    def __init__(self, config: FakeConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self._mono0 = clock()
        self._wall0 = time.time()
        self._last_id = 0
        self.tokens: dict[str, str] = {}
        self.bot_names: dict[str, str] = {}
        self.guilds: dict[str, FakeGuild] = {}
        self.channels: dict[str, FakeChannel] = {}
        self.roles: dict[str, FakeRole] = {}
        self.users: dict[str, FakeUser] = {}
        self.members: dict[tuple[str, str], FakeMember] = {}

    def epoch(self, now: float) -> float:
        """Wall-clock seconds for a reading of the (possibly fake) monotonic clock."""
        return self._wall0 + (now - self._mono0)

    def iso(self, now: float) -> str:
        return datetime.fromtimestamp(self.epoch(now), tz=UTC).isoformat()

    def new_id(self, now: float) -> str:
        """A fresh snowflake, increasing, with the timestamp part taken from `now`."""
        candidate = (int(self.epoch(now) * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(self._last_id + 1, candidate)
        return str(self._last_id)

    def member_permissions(self, guild_id: str, user_id: str) -> int | None:
        """A member's guild-wide permissions (the owner and ADMINISTRATOR get all); None when
        the user is not in the guild."""
        member = self.members.get((guild_id, user_id))
        if member is None:
            return None
        guild = self.guilds.get(guild_id)
        if (guild is not None and guild.owner_id == user_id) or member.permissions & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return member.permissions

    def guild_roles(self, guild_id: str) -> list[FakeRole]:
        """The guild's roles by position, then id (as Discord sorts equal positions)."""
        found = [role for role in self.roles.values() if role.guild_id == guild_id]
        return sorted(found, key=lambda role: (role.position, int(role.id)))

    def role_json(self, role: FakeRole) -> dict[str, Any]:
        tags: dict[str, Any] = {"bot_id": role.bot_id} if role.bot_id else {}
        return {
            "id": role.id,
            "name": role.name or ("@everyone" if role.id == role.guild_id else f"role{role.id}"),
            "color": role.color,
            "colors": {"primary_color": role.color, "secondary_color": None,
                       "tertiary_color": None},
            "hoist": role.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": role.position,
            "permissions": str(role.permissions),
            "managed": role.managed,
            "mentionable": role.mentionable,
            "tags": tags,
            "flags": 0,
        }  # fmt: skip

    def guild_json(self, guild: FakeGuild) -> dict[str, Any]:
        """The guild object of `GET /guilds/{id}` and of a bot-scope token response."""
        return {
            "id": guild.id,
            "name": guild.name or f"guild{guild.id}",
            "icon": guild.icon,
            "splash": None,
            "banner": None,
            "description": None,
            "owner_id": guild.owner_id,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "roles": [self.role_json(role) for role in self.guild_roles(guild.id)],
            "emojis": [],
            "stickers": [],
        }

    @staticmethod
    def user_json(user: FakeUser) -> dict[str, Any]:
        return {
            "id": user.id,
            "username": user.username,
            "discriminator": "0",
            "global_name": user.global_name,
            "avatar": user.avatar,
            "public_flags": 0,
        }

"""A fake Discord REST API (v10) that is strict where Discord is strict and records everything.

Built to "Fake Discord for tests" in reference/discord.md (interactions and application commands
are left out). Tests in this process use the Python API of `DiscordFakeState` and serve it with
`FakeDiscordServer` (uvicorn in a thread); child processes and benchmarks run it standalone:

    python -m tests.fakes.discord_fake --port 8181 [--unlimited] [--global-limit 50] [--token T]

and use the HTTP control API under `/_fake/*` (no auth): `POST /_fake/seed`, `/_fake/config`,
`/_fake/faults`, `/_fake/reset`, `DELETE /_fake/messages/{id}`, `GET /_fake/messages`,
`/_fake/requests`, `/_fake/stats`.

Every API request goes through these steps, in order (the first that answers wins):
 1. ban mode (too many invalid requests from the client IP) → 429 without `Via`;
 2. routing: a version other than v10 or an unknown path → 404 code 0, wrong method → 405;
 3. `Authorization: Bot <token>` with a seeded token, else 401; then the User-Agent must match
    `DiscordBot (url, version)`, else a Cloudflare-style 403 HTML page;
 4. the first queued fault matching method + path is consumed (see `Fault`; it takes no slot);
 5. rate limits per token: global window, then the route's bucket (429 `global` / `user`);
    in `unlimited` mode nothing is limited and bucket headers report 1,000,000 requests left;
 6. body routes: `Content-Type` must be JSON (50035) and the body valid JSON (50109);
 7. resources: 10003 unknown channel, 50001 missing access, 50013 missing permissions, 10008
    unknown message, 50005 another author's message, 40058 forum channel;
 8. form schema and limits (50035 with a nested `errors` tree), then 50006 empty message;
 9. DM rules (50033, 40003, 50278, 50007) and nonce dedupe, then the action itself.

Clock: an injectable callable returning monotonic seconds (`FakeClock` lets tests move time
instead of waiting); epoch timestamps advance with it. Error codes other than those the
reference names (e.g. STRING_TYPE_CONVERT, NUMBER_TYPE_MAX, DATE_TYPE_PARSE) are modelled on
Discord's naming and are best guesses. Without EMBED_LINKS a bot's embeds are silently dropped,
as users report; a DM-open counts toward the 40003 limit only when it creates a new channel.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakes.server import ServerThread

API_PREFIX = "/api/v10"

# Permission bits (D:topics/permissions).
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
DEFAULT_BOT_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | READ_MESSAGE_HISTORY

# Channel types (D:resources/channel).
GUILD_TEXT = 0
DM = 1
GUILD_VOICE = 2
GUILD_CATEGORY = 4
GUILD_ANNOUNCEMENT = 5
GUILD_FORUM = 15
GUILD_MEDIA = 16
_TEXT_CAPABLE = frozenset({GUILD_TEXT, DM, GUILD_VOICE, GUILD_ANNOUNCEMENT, 10, 11, 12})
_THREAD_ONLY = frozenset({GUILD_FORUM, GUILD_MEDIA})

# Bucket hashes returned in X-RateLimit-Bucket. PATCH shares POST's hash but counts on its own.
BUCKET_MESSAGE_WRITE = "80c17d2f203122d936070c88c8d10f33"
BUCKET_MESSAGE_READ = "4a2fd1c9b3e55a7d08c6f0e2b9d1a3c7"
BUCKET_MESSAGE_DELETE = "d3f0a8b7e6c5a4b3c2d1e0f9a8b7c6d5"
BUCKET_USERS_ME = "b1e2c3d4a5f60718293a4b5c6d7e8f90"

UNLIMITED_HEADER_LIMIT = 1_000_000
DISCORD_EPOCH_MS = 1_420_070_400_000
MAX_BODY_BYTES = 25 * 1024 * 1024
ALLOWED_MESSAGE_FLAGS = 4 | 4096 | 8192 | 32768
MENTION_KINDS = ("roles", "users", "everyone")

_USER_AGENT = re.compile(r"^DiscordBot \(\S+, \S+\)")
_SNOWFLAKE = re.compile(r"[0-9]{1,20}")
_USER_MENTION = re.compile(r"<@!?([0-9]{1,20})>")
_ROLE_MENTION = re.compile(r"<@&([0-9]{1,20})>")
_EVERYONE_MENTION = re.compile(r"@(?:everyone|here)")
_URL_FORBIDDEN = re.compile(r"[\s{}<>\"\\^`|]")
_HTTP = ("http", "https")
_IMAGE = ("http", "https", "attachment")

RATE_LIMITED_MESSAGE = "You are being rate limited."
SHARED_LIMIT_MESSAGE = (
    "The write action you are performing on the channel has hit the write rate limit."
)
BAN_MESSAGE = (
    "You are being blocked from accessing our API temporarily due to exceeding our rate limits "
    "frequently. Please read our docs at https://discord.com/developers/docs/topics/rate-limits "
    "to prevent this moving forward."
)
_CLOUDFLARE_UA_PAGE = (
    "<!DOCTYPE html><html><head><title>Access denied | discord.com used Cloudflare to restrict "
    "access</title></head><body><h1>Error 1010</h1><p>The owner of this website (discord.com) "
    "has banned your access based on your browser's signature.</p></body></html>"
)
_CLOUDFLARE_1015_PAGE = (
    "<!DOCTYPE html><html><head><title>Access denied | discord.com used Cloudflare to restrict "
    "access</title></head><body><h1>error code: 1015</h1><p>You are being rate limited."
    "</p></body></html>"
)

MAX_LENGTH = "BASE_TYPE_MAX_LENGTH"
REQUIRED = "BASE_TYPE_REQUIRED"
INVALID_URL = "URL_TYPE_INVALID_URL"
CHOICES = "BASE_TYPE_CHOICES"


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
    sliding_windows: bool = False
    nonce_window_s: float = 120.0
    dm_open_limit: int = 10
    dm_open_window_s: float = 60.0
    invalid_request_threshold: int = 10_000
    invalid_request_window_s: float = 600.0
    ban_duration_s: float = 3600.0
    ban_html: bool = False


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
    id: str
    bot_member: bool = True


@dataclass(slots=True)
class FakeChannel:
    id: str
    guild_id: str | None
    type: int = GUILD_TEXT
    deleted: bool = False
    permissions: int = DEFAULT_BOT_PERMISSIONS
    recipient_id: str | None = None
    owner_bot_id: str | None = None


@dataclass(slots=True)
class FakeRole:
    id: str
    guild_id: str
    mentionable: bool = False


@dataclass(slots=True)
class FakeUser:
    id: str
    dms_open: bool = True
    mutual_guild: bool = True
    deleted: bool = False
    username: str = ""


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


# ---------------------------------------------------------------------------------------------
# Form validation (pure)
# ---------------------------------------------------------------------------------------------


class FormErrors:
    """The nested `errors` tree of a 50035 Invalid Form Body."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: tuple[str | int, ...], code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def __bool__(self) -> bool:
        return bool(self.tree)


Path = tuple[str | int, ...]


def _string(
    errors: FormErrors,
    path: Path,
    value: Any,
    *,
    max_len: int,
    required: bool = False,
    strip: bool = False,
) -> str:
    if value is None:
        if required:
            errors.add(path, REQUIRED, "This field is required")
        return ""
    if not isinstance(value, str):
        errors.add(path, "STRING_TYPE_CONVERT", f"Could not interpret {value!r} as string.")
        return ""
    text = value.strip() if strip else value
    if required and not text:
        errors.add(path, REQUIRED, "This field is required")
    elif len(text) > max_len:
        errors.add(path, MAX_LENGTH, f"Must be {max_len} or fewer in length.")
    return text


def _url(errors: FormErrors, path: Path, value: Any, *, schemes: tuple[str, ...]) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        errors.add(path, "STRING_TYPE_CONVERT", f"Could not interpret {value!r} as string.")
        return
    try:
        parts = urlsplit(value)
    except ValueError:
        errors.add(path, INVALID_URL, "Not a well formed URL.")
        return
    scheme = parts.scheme.lower()
    if scheme and scheme not in schemes:
        errors.add(path, INVALID_URL, f"Scheme must be one of {schemes!r}.")
    elif not scheme or not parts.netloc or _URL_FORBIDDEN.search(value):
        errors.add(path, INVALID_URL, "Not a well formed URL.")


def _dict(errors: FormErrors, path: Path, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return None
    return value


def _list(errors: FormErrors, path: Path, value: Any, *, max_len: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(path, "LIST_TYPE_CONVERT", "Must be an array.")
        return []
    if len(value) > max_len:
        errors.add(path, MAX_LENGTH, f"Must be {max_len} or fewer in length.")
    return value


def _boolean(errors: FormErrors, path: Path, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        errors.add(path, "BOOLEAN_TYPE_CONVERT", "Must be either true or false.")


def _integer(errors: FormErrors, path: Path, value: Any, *, low: int, high: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "NUMBER_TYPE_COERCE", f"Value {value!r} is not int.")
    elif value < low:
        errors.add(path, "NUMBER_TYPE_MIN", f"int value should be greater than or equal to {low}.")
    elif value > high:
        errors.add(path, "NUMBER_TYPE_MAX", f"int value should be less than or equal to {high}.")


def _timestamp(errors: FormErrors, path: Path, value: Any) -> None:
    if value is None:
        return
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        errors.add(path, "DATE_TYPE_PARSE", f"Could not parse {value!r}. Should be ISO8601.")


def _text(
    errors: FormErrors, path: Path, parent: Mapping[str, Any], key: str, *, max_len: int
) -> str:
    """A required text child of an embed part, trimmed, length-checked."""
    return _string(
        errors, (*path, key), parent.get(key), max_len=max_len, required=True, strip=True
    )


def _validate_embed(errors: FormErrors, index: int, raw: Any) -> tuple[dict[str, Any], int]:
    """Check one embed; return its normalised form (settable fields, trimmed) and its size."""
    path: Path = ("embeds", index)
    embed = _dict(errors, path, raw)
    if embed is None:
        return {}, 0
    clean: dict[str, Any] = {"type": "rich"}
    for key, max_len in (("title", 256), ("description", 4096)):
        if embed.get(key) is not None:
            clean[key] = _string(errors, (*path, key), embed[key], max_len=max_len, strip=True)
    if embed.get("url") is not None:
        _url(errors, (*path, "url"), embed["url"], schemes=_HTTP)
        clean["url"] = embed["url"]
    if embed.get("timestamp") is not None:
        _timestamp(errors, (*path, "timestamp"), embed["timestamp"])
        clean["timestamp"] = embed["timestamp"]
    if embed.get("color") is not None:
        _integer(errors, (*path, "color"), embed["color"], low=0, high=0xFFFFFF)
        clean["color"] = embed["color"]
    if (footer := _dict(errors, (*path, "footer"), embed.get("footer"))) is not None:
        footer_path: Path = (*path, "footer")
        text = _text(errors, footer_path, footer, "text", max_len=2048)
        _url(errors, (*footer_path, "icon_url"), footer.get("icon_url"), schemes=_IMAGE)
        clean["footer"] = {"text": text, **_present(footer, "icon_url")}
    for key in ("image", "thumbnail"):
        if (media := _dict(errors, (*path, key), embed.get(key))) is not None:
            if media.get("url") is None:
                errors.add((*path, key, "url"), REQUIRED, "This field is required")
            _url(errors, (*path, key, "url"), media.get("url"), schemes=_IMAGE)
            clean[key] = {"url": media.get("url")}
    if (author := _dict(errors, (*path, "author"), embed.get("author"))) is not None:
        author_path: Path = (*path, "author")
        name = _text(errors, author_path, author, "name", max_len=256)
        _url(errors, (*author_path, "url"), author.get("url"), schemes=_HTTP)
        _url(errors, (*author_path, "icon_url"), author.get("icon_url"), schemes=_IMAGE)
        clean["author"] = {"name": name, **_present(author, "url", "icon_url")}
    fields = _list(errors, (*path, "fields"), embed.get("fields"), max_len=25)
    for number, raw_field in enumerate(fields):
        field_path: Path = (*path, "fields", number)
        if (embed_field := _dict(errors, field_path, raw_field)) is None:
            continue
        _boolean(errors, (*field_path, "inline"), embed_field.get("inline"))
        clean.setdefault("fields", []).append(
            {
                "name": _text(errors, field_path, embed_field, "name", max_len=256),
                "value": _text(errors, field_path, embed_field, "value", max_len=1024),
                "inline": bool(embed_field.get("inline", False)),
            }
        )
    return clean, _embed_size(clean)


def _embed_size(embed: Mapping[str, Any]) -> int:
    """The characters that count toward the 6000 total: title, description, field names and
    values, footer text and author name."""
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    size += sum(len(item["name"]) + len(item["value"]) for item in embed.get("fields", []))
    size += len(embed.get("footer", {}).get("text", ""))
    return size + len(embed.get("author", {}).get("name", ""))


def _present(source: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: source[key] for key in keys if source.get(key) is not None}


def _validate_allowed_mentions(errors: FormErrors, raw: Any) -> None:
    path: Path = ("allowed_mentions",)
    mentions = _dict(errors, path, raw)
    if mentions is None:
        return
    parse = _list(errors, (*path, "parse"), mentions.get("parse"), max_len=len(MENTION_KINDS))
    for index, kind in enumerate(parse):
        if kind not in MENTION_KINDS:
            errors.add((*path, "parse", index), CHOICES, f"Value must be one of {MENTION_KINDS!r}.")
    for kind in ("roles", "users"):
        ids = _list(errors, (*path, kind), mentions.get(kind), max_len=100)
        for index, snowflake in enumerate(ids):
            if not _is_snowflake(snowflake):
                errors.add(
                    (*path, kind, index),
                    "NUMBER_TYPE_COERCE",
                    f"Value {snowflake!r} is not snowflake.",
                )
        if ids and kind in parse:
            errors.add(
                path,
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
    _boolean(errors, (*path, "replied_user"), mentions.get("replied_user"))


def _is_snowflake(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and _SNOWFLAKE.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class ValidatedMessage:
    """The parts of a valid create/edit body the fake acts on (`None` = not in the body)."""

    content: str | None
    embeds: tuple[dict[str, Any], ...] | None
    has_components: bool


def validate_message_body(
    body: Mapping[str, Any], *, edit: bool
) -> tuple[ValidatedMessage, FormErrors]:
    """Check a create (or, with `edit`, an edit) body against Discord's schema and limits."""
    errors = FormErrors()
    content: str | None = None
    if "content" in body:
        content = _string(errors, ("content",), body["content"], max_len=2000)
    embeds: tuple[dict[str, Any], ...] | None = None
    if "embeds" in body:
        raw_embeds = _list(errors, ("embeds",), body["embeds"], max_len=10)
        checked = [_validate_embed(errors, index, raw) for index, raw in enumerate(raw_embeds)]
        if sum(size for _, size in checked) > 6000:
            errors.add(("embeds",), MAX_LENGTH, "Embed size exceeds maximum size of 6000")
        embeds = tuple(clean for clean, _ in checked)
    _boolean(errors, ("tts",), body.get("tts"))
    _boolean(errors, ("enforce_nonce",), body.get("enforce_nonce"))
    if not edit:
        nonce = body.get("nonce")
        if isinstance(nonce, bool) or (nonce is not None and not isinstance(nonce, str | int)):
            errors.add(
                ("nonce",), "STRING_TYPE_CONVERT", f"Could not interpret {nonce!r} as string."
            )
        elif nonce is not None and len(str(nonce)) > 25:
            errors.add(("nonce",), MAX_LENGTH, "Must be 25 or fewer in length.")
    flags = body.get("flags")
    _integer(errors, ("flags",), flags, low=0, high=2**31)
    if isinstance(flags, int) and not isinstance(flags, bool) and flags & ~ALLOWED_MESSAGE_FLAGS:
        errors.add(("flags",), CHOICES, "Value must be a combination of 4, 4096, 8192, 32768.")
    _validate_allowed_mentions(errors, body.get("allowed_mentions"))
    _list(errors, ("sticker_ids",), body.get("sticker_ids"), max_len=3)
    components = _list(errors, ("components",), body.get("components"), max_len=40)
    has_components = bool(components) or bool(body.get("sticker_ids"))
    return ValidatedMessage(content, embeds, has_components), errors


@dataclass(frozen=True, slots=True)
class Mentions:
    users: tuple[str, ...]
    roles: tuple[str, ...]
    everyone: bool
    pinged_roles: tuple[str, ...]


def compute_mentions(
    content: str,
    allowed_mentions: Mapping[str, Any] | None,
    *,
    known_users: Iterable[str],
    guild_roles: Mapping[str, bool],
    can_mention_everyone: bool,
) -> Mentions:
    """Who a message pings, from `content` only, under `allowed_mentions` (None = Discord's
    default for bot messages: users, roles and everyone). `guild_roles` maps role id →
    mentionable."""
    if allowed_mentions is None:
        parse = set(MENTION_KINDS)
        allowed_users: set[str] = set()
        allowed_roles: set[str] = set()
    else:
        parse = set(allowed_mentions.get("parse") or ())
        allowed_users = {str(value) for value in allowed_mentions.get("users") or ()}
        allowed_roles = {str(value) for value in allowed_mentions.get("roles") or ()}
    users_present = set(known_users)
    users = tuple(
        user_id
        for user_id in dict.fromkeys(_USER_MENTION.findall(content))
        if ("users" in parse or user_id in allowed_users) and user_id in users_present
    )
    roles = tuple(
        role_id
        for role_id in dict.fromkeys(_ROLE_MENTION.findall(content))
        if ("roles" in parse or role_id in allowed_roles) and role_id in guild_roles
    )
    everyone = (
        "everyone" in parse
        and can_mention_everyone
        and _EVERYONE_MENTION.search(content) is not None
    )
    pinged = tuple(role_id for role_id in roles if guild_roles[role_id] or can_mention_everyone)
    return Mentions(users, roles, everyone, pinged)


# ---------------------------------------------------------------------------------------------
# Rate-limit windows
# ---------------------------------------------------------------------------------------------


class _Window:
    """A fixed window (or, with `sliding`, a sliding log) of `limit` hits per `period`."""

    def __init__(self, limit: int, period: float, *, sliding: bool) -> None:
        self.limit = limit
        self.period = period
        self.sliding = sliding
        self.count = 0
        self.reset_at: float | None = None
        self.hits: deque[float] = deque()

    def peek(self, now: float) -> tuple[int, float]:
        """(remaining, seconds until more room) without taking a slot."""
        if self.sliding:
            while self.hits and self.hits[0] <= now - self.period:
                self.hits.popleft()
            reset_after = self.hits[0] + self.period - now if self.hits else self.period
            return self.limit - len(self.hits), reset_after
        if self.reset_at is None or now >= self.reset_at:
            return self.limit, self.period
        return self.limit - self.count, self.reset_at - now

    def acquire(self, now: float) -> tuple[bool, int, float]:
        """Take a slot: (granted, remaining after, seconds until more room)."""
        if self.sliding:
            remaining, reset_after = self.peek(now)
            if remaining <= 0:
                return False, 0, reset_after
            self.hits.append(now)
            return True, remaining - 1, self.hits[0] + self.period - now
        if self.reset_at is None or now >= self.reset_at:
            self.count = 0
            self.reset_at = now + self.period
        if self.count >= self.limit:
            return False, 0, self.reset_at - now
        self.count += 1
        return True, self.limit - self.count, self.reset_at - now


# ---------------------------------------------------------------------------------------------
# Requests, outcomes, routes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    client: str


@dataclass(slots=True)
class _Outcome:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    scope: str | None = None
    delay_s: float = 0.0
    drop: bool = False
    fault: str | None = None


def _json_outcome(
    status: int, payload: Any, *, headers: Mapping[str, str] | None = None, via: bool = True
) -> _Outcome:
    all_headers = {"content-type": "application/json", **(headers or {})}
    if via:
        all_headers["via"] = "1.1 google"
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return _Outcome(status, body, all_headers)


def _error(status: int, code: int, message: str, errors: FormErrors | None = None) -> _Outcome:
    payload: dict[str, Any] = {"message": message, "code": code}
    if errors:
        payload["errors"] = errors.tree
    return _json_outcome(status, payload)


def _html_outcome(status: int, page: str) -> _Outcome:
    return _Outcome(status, page.encode(), {"content-type": "text/html; charset=UTF-8"})


_NOT_FOUND = ("404: Not Found", 0)
_UNKNOWN_CHANNEL = (404, 10003, "Unknown Channel")
_UNKNOWN_MESSAGE = (404, 10008, "Unknown Message")
_MISSING_ACCESS = (403, 50001, "Missing Access")
_MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")


@dataclass(frozen=True, slots=True)
class _RouteSpec:
    method: str
    pattern: str
    handler: str
    limit: str | None  # the FakeConfig field holding its RouteLimit; None: no bucket headers
    bucket: str | None  # X-RateLimit-Bucket hash
    counter: str  # requests with the same counter (and channel) share one window
    has_body: bool


_CHANNEL = r"/channels/(?P<channel_id>[0-9]{1,20})"
_MESSAGES = _CHANNEL + "/messages"
_MESSAGE = _MESSAGES + r"/(?P<message_id>[0-9]{1,20})"
_WRITE, _READ, _DELETE = BUCKET_MESSAGE_WRITE, BUCKET_MESSAGE_READ, BUCKET_MESSAGE_DELETE
# PATCH reports POST's bucket hash but counts on its own (api#1442, api#8073).
# fmt: off
_ROUTES = (
    _RouteSpec("POST", _MESSAGES, "create_message", "message_create", _WRITE, "create", True),
    _RouteSpec("GET", _MESSAGES, "list_messages", "message_read", _READ, "read", False),
    _RouteSpec("GET", _MESSAGE, "get_message", "message_read", _READ, "read", False),
    _RouteSpec("PATCH", _MESSAGE, "edit_message", "message_edit", _WRITE, "edit", True),
    _RouteSpec("DELETE", _MESSAGE, "delete_message", "message_delete", _DELETE, "delete", False),
    _RouteSpec("POST", "/users/@me/channels", "open_dm", None, None, "dm", True),
    _RouteSpec("GET", "/users/@me", "get_me", "users_me", BUCKET_USERS_ME, "me", False),
)
# fmt: on


@dataclass(slots=True)
class _Call:
    """One authenticated, routed request on its way through the handlers."""

    token: str
    bot_id: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    now: float


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

    # -- seeding and configuration -------------------------------------------------------------

    def reset(
        self, config: FakeConfig | None = None, *, clock: Callable[[], float] | None = None
    ) -> None:
        """Forget everything (seeds, messages, logs, faults, limits); maybe swap config/clock."""
        with self._lock:
            self.config = config or FakeConfig()
            if clock is not None:
                self._clock = clock
            self._mono0 = self._clock()
            self._wall0 = time.time()
            self._last_id = 0
            self._tokens: dict[str, str] = {}
            self._bot_names: dict[str, str] = {}
            self._guilds: dict[str, FakeGuild] = {}
            self._channels: dict[str, FakeChannel] = {}
            self._roles: dict[str, FakeRole] = {}
            self._users: dict[str, FakeUser] = {}
            self._messages: dict[str, FakeMessage] = {}
            self._nonces: dict[tuple[str, str], tuple[str, float]] = {}
            self._dm_channels: dict[tuple[str, str], str] = {}
            self._dm_opens: dict[str, deque[float]] = {}
            self._windows: dict[tuple[str, ...], _Window] = {}
            self._faults: deque[Fault] = deque()
            self._log: list[LoggedRequest] = []
            self._invalid: dict[str, deque[float]] = {}
            self._banned_until: dict[str, float] = {}
            self._rate_limited: Counter[str] = Counter()

    def configure(self, **changes: Any) -> None:
        """Change config fields (e.g. `global_limit=None`); rate-limit windows start afresh."""
        with self._lock:
            self.config = dataclasses.replace(self.config, **changes)
            self._windows.clear()

    def add_token(
        self, token: str, *, bot_id: str | None = None, username: str = "StreamMaxing"
    ) -> str:
        """Accept `token` as a bot token; return the bot's user id (the messages' author)."""
        with self._lock:
            bot = bot_id or self._new_id(self._clock())
            self._tokens[token] = bot
            self._bot_names[bot] = username
            return bot

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def add_guild(self, guild_id: str, *, bot_member: bool = True) -> None:
        with self._lock:
            self._guilds[guild_id] = FakeGuild(guild_id, bot_member)

    def add_channel(
        self,
        channel_id: str,
        *,
        guild_id: str,
        type: int = GUILD_TEXT,
        deleted: bool = False,
        permissions: int = DEFAULT_BOT_PERMISSIONS,
    ) -> None:
        """Seed a guild channel (its guild is created, with the bot in it, when unknown)."""
        with self._lock:
            self._guilds.setdefault(guild_id, FakeGuild(guild_id))
            self._channels[channel_id] = FakeChannel(
                channel_id, guild_id, type, deleted, permissions
            )

    def update_channel(
        self, channel_id: str, *, deleted: bool | None = None, permissions: int | None = None
    ) -> None:
        with self._lock:
            channel = self._channels[channel_id]
            if deleted is not None:
                channel.deleted = deleted
            if permissions is not None:
                channel.permissions = permissions

    def add_role(self, role_id: str, *, guild_id: str, mentionable: bool = False) -> None:
        with self._lock:
            self._roles[role_id] = FakeRole(role_id, guild_id, mentionable)

    def add_user(
        self,
        user_id: str,
        *,
        dms_open: bool = True,
        mutual_guild: bool = True,
        deleted: bool = False,
        username: str | None = None,
    ) -> None:
        with self._lock:
            self._users[user_id] = FakeUser(
                user_id, dms_open, mutual_guild, deleted, username or f"user{user_id}"
            )

    def update_user(
        self,
        user_id: str,
        *,
        dms_open: bool | None = None,
        mutual_guild: bool | None = None,
        deleted: bool | None = None,
    ) -> None:
        with self._lock:
            user = self._users[user_id]
            user.dms_open = user.dms_open if dms_open is None else dms_open
            user.mutual_guild = user.mutual_guild if mutual_guild is None else mutual_guild
            user.deleted = user.deleted if deleted is None else deleted

    def seed_message(self, channel_id: str, content: str, *, author_id: str) -> str:
        """Store a message written by someone else (e.g. to test 50005); return its id."""
        with self._lock:
            channel = self._channels[channel_id]
            now = self._clock()
            message = FakeMessage(
                id=self._new_id(now), channel_id=channel_id, guild_id=channel.guild_id,
                author_id=author_id, content=content, embeds=(), flags=0, tts=False, mentions=(),
                mention_roles=(), mention_everyone=False, pinged_role_ids=(),
                allowed_mentions=None, nonce=None, created_at=now, timestamp=self._iso(now),
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

    def handle(self, request: ApiRequest) -> _Outcome:
        """Answer one API request (the ASGI layer only adds delays and connection drops)."""
        with self._lock:
            now = self._clock()
            parsed_body = _try_json(request.body)
            bot_id = self._tokens.get(_bearer(request.headers))
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
                    None if parsed_body is _INVALID_JSON else parsed_body,
                    outcome.status, now, request.client, bot_id, outcome.fault,
                )
            )  # fmt: skip
            return outcome

    def _answer(self, request: ApiRequest, parsed_body: Any, now: float) -> _Outcome:
        if self._banned_until.get(request.client, -math.inf) > now:
            return self._ban_outcome(html=self.config.ban_html)
        if not request.path.startswith(API_PREFIX + "/"):
            return _json_outcome(404, {"message": _NOT_FOUND[0], "code": _NOT_FOUND[1]})
        path = request.path.removeprefix(API_PREFIX)
        matched = [(spec, re.fullmatch(spec.pattern, path)) for spec in _ROUTES]
        candidates = [(spec, match) for spec, match in matched if match is not None]
        if not candidates:
            return _json_outcome(404, {"message": _NOT_FOUND[0], "code": _NOT_FOUND[1]})
        routed = next(((s, m) for s, m in candidates if s.method == request.method), None)
        if routed is None:
            return _json_outcome(405, {"message": "405: Method Not Allowed", "code": 0})
        spec, match = routed

        token = _bearer(request.headers)
        bot_id = self._tokens.get(token)
        if bot_id is None:
            return _json_outcome(401, {"message": "401: Unauthorized", "code": 0})
        if not _USER_AGENT.match(request.headers.get("user-agent", "")):
            return _html_outcome(403, _CLOUDFLARE_UA_PAGE)

        params = match.groupdict()
        major = params.get("channel_id", "")
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
        spec: _RouteSpec,
        token: str,
        bot_id: str,
        params: dict[str, str],
        parsed_body: Any,
        now: float,
    ) -> _Outcome:
        if len(request.body) > MAX_BODY_BYTES:
            return _error(413, 40005, "Request entity too large")
        if spec.has_body:
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != "application/json":
                errors = FormErrors()
                errors.add(
                    (),
                    "CONTENT_TYPE_INVALID",
                    "Expected \"Content-Type\" header to be one of {'application/json', "
                    "'application/x-www-form-urlencoded', 'multipart/form-data'}.",
                )
                return _error(400, 50035, "Invalid Form Body", errors)
            if parsed_body is _INVALID_JSON:
                return _error(400, 50109, "The request body contains invalid JSON.")
            if not isinstance(parsed_body, dict):
                errors = FormErrors()
                errors.add((), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
                return _error(400, 50035, "Invalid Form Body", errors)
        call = _Call(token, bot_id, params, parse_qs(request.query), parsed_body, now)
        handler: Callable[[_Call], _Outcome] = getattr(self, "_" + spec.handler)
        return handler(call)

    # -- rate limits, faults, bans -------------------------------------------------------------

    def _rate_limit(
        self, token: str, spec: _RouteSpec, major: str, now: float
    ) -> tuple[_Outcome | None, dict[str, str]]:
        config = self.config
        if config.unlimited:
            if spec.limit is None or spec.bucket is None:
                return None, {}
            window_s = getattr(config, spec.limit).window_s
            headers = self._bucket_headers(
                UNLIMITED_HEADER_LIMIT, UNLIMITED_HEADER_LIMIT - 1, window_s, spec.bucket, now
            )
            return None, headers
        if config.global_limit is not None:
            window = self._window(("global", token), config.global_limit, config.global_window_s)
            granted, _, reset_after = window.acquire(now)
            if not granted:
                retry_after = round(reset_after, 3)
                outcome = _json_outcome(
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
        outcome = _json_outcome(
            429,
            {"message": RATE_LIMITED_MESSAGE, "retry_after": retry_after, "global": False},
            headers=headers,
        )
        outcome.scope = "user"
        return outcome, {}

    def _window(self, key: tuple[str, ...], limit: int, period: float) -> _Window:
        window = self._windows.get(key)
        if window is None:
            window = _Window(limit, period, sliding=self.config.sliding_windows)
            self._windows[key] = window
        return window

    def _bucket_headers(
        self, limit: int, remaining: int, reset_after: float, bucket: str, now: float
    ) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": f"{self._epoch(now) + reset_after:.3f}",
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
        self, fault: Fault, token: str, spec: _RouteSpec, major: str, now: float
    ) -> _Outcome:
        if fault.kind == "error":
            outcome = _json_outcome(fault.status, fault.body)
            outcome.scope = "user" if fault.status == 429 else None
            return outcome
        if fault.kind == "html_5xx":
            return _html_outcome(
                fault.status,
                f"<html><head><title>{fault.status} Bad Gateway</title></head><body><center>"
                f"<h1>{fault.status} Bad Gateway</h1></center><hr><center>cloudflare</center>"
                "</body></html>",
            )
        if fault.kind == "cf_ban":
            return self._ban_outcome(html=fault.html)
        # shared_429: the bucket is not exhausted (Remaining may be > 0), the channel is.
        headers: dict[str, str] = {}
        if spec.limit is not None and spec.bucket is not None and not self.config.unlimited:
            limit: RouteLimit = getattr(self.config, spec.limit)
            window = self._window(
                ("bucket", token, spec.counter, major), limit.limit, limit.window_s
            )
            remaining, reset_after = window.peek(now)
            headers = self._bucket_headers(limit.limit, remaining, reset_after, spec.bucket, now)
        headers |= {
            "retry-after": str(math.ceil(fault.retry_after)),
            "x-ratelimit-scope": "shared",
        }
        outcome = _json_outcome(
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

    def _ban_outcome(self, *, html: bool) -> _Outcome:
        if html:
            outcome = _html_outcome(429, _CLOUDFLARE_1015_PAGE)
        else:
            outcome = _json_outcome(429, {"code": 0, "message": BAN_MESSAGE}, via=False)
        outcome.scope = "ban"
        return outcome

    def _count_invalid(self, client: str, now: float) -> None:
        hits = self._prune_invalid(client, now)
        hits.append(now)
        if len(hits) >= self.config.invalid_request_threshold:
            self._banned_until[client] = now + self.config.ban_duration_s
            hits.clear()

    def _prune_invalid(self, client: str, now: float) -> deque[float]:
        hits = self._invalid.setdefault(client, deque())
        while hits and hits[0] <= now - self.config.invalid_request_window_s:
            hits.popleft()
        return hits

    # -- resources -----------------------------------------------------------------------------

    def _channel_for(self, call: _Call, *, send: bool) -> FakeChannel | _Outcome:
        channel = self._channels.get(call.params["channel_id"])
        if channel is None or channel.deleted:
            return _error(*_UNKNOWN_CHANNEL)
        if channel.type == DM:
            return channel if channel.owner_bot_id == call.bot_id else _error(*_MISSING_ACCESS)
        guild = self._guilds.get(channel.guild_id or "")
        if guild is None or not guild.bot_member or not channel.permissions & VIEW_CHANNEL:
            return _error(*_MISSING_ACCESS)
        if send and not channel.permissions & SEND_MESSAGES:
            return _error(*_MISSING_PERMISSIONS)
        return channel

    def _message_for(self, call: _Call, channel: FakeChannel) -> FakeMessage | _Outcome:
        message = self._messages.get(call.params["message_id"])
        if message is None or message.deleted or message.channel_id != channel.id:
            return _error(*_UNKNOWN_MESSAGE)
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
                for role in self._roles.values()
                if role.guild_id == channel.guild_id
            }
            can_mention_everyone = bool(channel.permissions & MENTION_EVERYONE)
        known_users = (user.id for user in self._users.values() if not user.deleted)
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

    def _create_message(self, call: _Call) -> _Outcome:
        channel = self._channel_for(call, send=True)
        if isinstance(channel, _Outcome):
            return channel
        if channel.type in _THREAD_ONLY:
            return _error(400, 40058, "Cannot send a message in a forum channel")
        if channel.type not in _TEXT_CAPABLE:
            return _error(400, 50008, "Cannot send messages in a non-text channel")
        body: dict[str, Any] = call.body
        validated, errors = validate_message_body(body, edit=False)
        if errors:
            return _error(400, 50035, "Invalid Form Body", errors)
        content = validated.content or ""
        embeds = self._strip_embeds(channel, validated.embeds or ())
        if not content.strip() and not embeds and not validated.has_components:
            return _error(400, 50006, "Cannot send an empty message")
        if channel.type == DM:
            refusal = self._dm_refusal(channel)
            if refusal is not None:
                return refusal
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce") is True:
            earlier = self._nonces.get((call.bot_id, str(nonce)))
            if earlier is not None and call.now - earlier[1] < self.config.nonce_window_s:
                original = self._messages[earlier[0]]
                if original.deleted:
                    return _error(*_UNKNOWN_MESSAGE)
                return _json_outcome(200, self._message_json(original, nonce=nonce))
        mentions = self._mentions(channel, content, body.get("allowed_mentions"))
        message = FakeMessage(
            id=self._new_id(call.now), channel_id=channel.id, guild_id=channel.guild_id,
            author_id=call.bot_id, content=content, embeds=embeds, flags=body.get("flags") or 0,
            tts=bool(body.get("tts")), mentions=mentions.users, mention_roles=mentions.roles,
            mention_everyone=mentions.everyone, pinged_role_ids=mentions.pinged_roles,
            allowed_mentions=body.get("allowed_mentions"), nonce=nonce, created_at=call.now,
            timestamp=self._iso(call.now),
        )  # fmt: skip
        self._messages[message.id] = message
        if nonce is not None:
            self._nonces[(call.bot_id, str(nonce))] = (message.id, call.now)
        return _json_outcome(200, self._message_json(message, nonce=nonce))

    def _dm_refusal(self, channel: FakeChannel) -> _Outcome | None:
        user = self._users.get(channel.recipient_id or "")
        if user is None or user.deleted:
            return _error(403, 50007, "Cannot send messages to this user")
        if not user.mutual_guild:
            return _error(
                403, 50278, "Cannot send messages to this user due to having no mutual guilds"
            )
        if not user.dms_open:
            return _error(403, 50007, "Cannot send messages to this user")
        return None

    def _edit_message(self, call: _Call) -> _Outcome:
        channel = self._channel_for(call, send=False)
        if isinstance(channel, _Outcome):
            return channel
        message = self._message_for(call, channel)
        if isinstance(message, _Outcome):
            return message
        if message.author_id != call.bot_id:
            return _error(403, 50005, "Cannot edit a message authored by another user")
        body: dict[str, Any] = call.body
        validated, errors = validate_message_body(body, edit=True)
        if errors:
            return _error(400, 50035, "Invalid Form Body", errors)
        changes: dict[str, Any] = {}
        content = (validated.content or "") if "content" in body else message.content
        embeds = message.embeds
        if "embeds" in body:
            embeds = self._strip_embeds(channel, validated.embeds or ())
        if not content.strip() and not embeds and not validated.has_components:
            return _error(400, 50006, "Cannot send an empty message")
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
            edited_timestamp=self._iso(call.now),
            edit_count=message.edit_count + 1,
            **changes,
        )
        self._messages[message.id] = updated
        return _json_outcome(200, self._message_json(updated))

    def _get_message(self, call: _Call) -> _Outcome:
        channel = self._channel_for(call, send=False)
        if isinstance(channel, _Outcome):
            return channel
        message = self._message_for(call, channel)
        if isinstance(message, _Outcome):
            return message
        return _json_outcome(200, self._message_json(message))

    def _list_messages(self, call: _Call) -> _Outcome:
        channel = self._channel_for(call, send=False)
        if isinstance(channel, _Outcome):
            return channel
        raw_limit = call.query.get("limit", ["50"])[0]
        errors = FormErrors()
        limit = int(raw_limit) if raw_limit.isdigit() else -1
        if limit < 1 or limit > 100:
            errors.add(("limit",), "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN",
                       "Value should be between 1 and 100.")  # fmt: skip
            return _error(400, 50035, "Invalid Form Body", errors)
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
        return _json_outcome(200, [self._message_json(message) for message in selected[:limit]])

    def _delete_message(self, call: _Call) -> _Outcome:
        channel = self._channel_for(call, send=False)
        if isinstance(channel, _Outcome):
            return channel
        message = self._message_for(call, channel)
        if isinstance(message, _Outcome):
            return message
        if message.author_id != call.bot_id and not channel.permissions & MANAGE_MESSAGES:
            return _error(*_MISSING_PERMISSIONS)
        self._messages[message.id] = dataclasses.replace(message, deleted=True)
        return _Outcome(204, b"", {"via": "1.1 google"})

    def _open_dm(self, call: _Call) -> _Outcome:
        recipient = call.body.get("recipient_id")
        if recipient is None or not _is_snowflake(recipient):
            errors = FormErrors()
            errors.add(("recipient_id",), REQUIRED, "This field is required")
            return _error(400, 50035, "Invalid Form Body", errors)
        user = self._users.get(str(recipient))
        if user is None or user.deleted:
            return _error(400, 50033, "Invalid Recipient(s)")
        existing = self._dm_channels.get((call.bot_id, user.id))
        if existing is None:
            opens = self._dm_opens.setdefault(call.bot_id, deque())
            while opens and opens[0] <= call.now - self.config.dm_open_window_s:
                opens.popleft()
            if len(opens) >= self.config.dm_open_limit:
                return _error(403, 40003, "You are opening direct messages too fast")
            opens.append(call.now)
            existing = self._new_id(call.now)
            self._channels[existing] = FakeChannel(
                existing, None, DM, recipient_id=user.id, owner_bot_id=call.bot_id
            )
            self._dm_channels[(call.bot_id, user.id)] = existing
        return _json_outcome(
            200,
            {
                "id": existing,
                "type": DM,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self._user_json(user)],
            },
        )

    def _get_me(self, call: _Call) -> _Outcome:
        return _json_outcome(200, self._bot_json(call.bot_id))

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
                self._user_json(self._users[user_id])
                for user_id in message.mentions
                if user_id in self._users
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
            "username": self._bot_names.get(bot_id, f"user{bot_id}"),
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": bot_id in self._bot_names,
        }

    @staticmethod
    def _user_json(user: FakeUser) -> dict[str, Any]:
        return {
            "id": user.id,
            "username": user.username,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
        }

    def _epoch(self, now: float) -> float:
        return self._wall0 + (now - self._mono0)

    def _iso(self, now: float) -> str:
        return datetime.fromtimestamp(self._epoch(now), tz=UTC).isoformat()

    def _new_id(self, now: float) -> str:
        candidate = (int(self._epoch(now) * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(self._last_id + 1, candidate)
        return str(self._last_id)


_INVALID_JSON = object()


def _try_json(body: bytes) -> Any:
    if not body:
        return _INVALID_JSON
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _INVALID_JSON


def _bearer(headers: Mapping[str, str]) -> str:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token if scheme == "Bot" and token else ""


def is_invalid(status: int, scope: str | None) -> bool:
    """Discord's invalid-request rule: 401, 403 and 429 except `shared` (and ban answers)."""
    if status in (401, 403):
        return True
    return status == 429 and scope in ("user", "global")


# ---------------------------------------------------------------------------------------------
# ASGI: the API, the control API, the app factory
# ---------------------------------------------------------------------------------------------


class ConnectionDroppedError(Exception):
    """Raised after the status line to make uvicorn abort the connection (drop_after_commit)."""


class _DropFilter(logging.Filter):
    """Keep uvicorn from logging the deliberate ConnectionDroppedError as a server error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        return not (exc_info and isinstance(exc_info[1], ConnectionDroppedError))


def _silence_deliberate_drops() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _DropFilter) for existing in logger.filters):
        logger.addFilter(_DropFilter())


class _DiscordApi:
    """Raw ASGI endpoint for every non-control path: parse, ask the state, then answer."""

    def __init__(self, state: DiscordFakeState) -> None:
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            return
        client = scope.get("client") or ("unknown", 0)
        request = ApiRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers={
                name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in scope["headers"]
            },
            body=body,
            client=str(client[0]),
        )
        outcome = self._state.handle(request)
        if outcome.delay_s > 0 and await _client_left_within(receive, outcome.delay_s):
            return
        headers = [(name.encode(), value.encode()) for name, value in outcome.headers.items()]
        headers.append((b"content-length", str(len(outcome.body)).encode()))
        await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
        if outcome.drop:
            _silence_deliberate_drops()
            raise ConnectionDroppedError(request.path)
        await send({"type": "http.response.body", "body": outcome.body})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _client_left_within(receive: Receive, seconds: float) -> bool:
    """Wait `seconds`, or less if the client disconnects; report whether it did."""
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True


def _control_routes(state: DiscordFakeState) -> list[Route]:
    async def seed(request: Request) -> Response:
        data = await request.json()
        for token in data.get("tokens", []):
            state.add_token(token["token"], bot_id=token.get("bot_id"))
        for guild in data.get("guilds", []):
            state.add_guild(guild["id"], bot_member=guild.get("bot_member", True))
        for channel in data.get("channels", []):
            state.add_channel(
                channel["id"],
                guild_id=channel["guild_id"],
                type=channel.get("type", GUILD_TEXT),
                deleted=channel.get("deleted", False),
                permissions=channel.get("permissions", DEFAULT_BOT_PERMISSIONS),
            )
        for role in data.get("roles", []):
            state.add_role(
                role["id"], guild_id=role["guild_id"], mentionable=role.get("mentionable", False)
            )
        for user in data.get("users", []):
            state.add_user(
                user["id"],
                dms_open=user.get("dms_open", True),
                mutual_guild=user.get("mutual_guild", True),
                deleted=user.get("deleted", False),
            )
        return JSONResponse({"ok": True})

    async def configure(request: Request) -> Response:
        changes = await request.json()
        for name in (
            "message_create",
            "message_edit",
            "message_read",
            "message_delete",
            "users_me",
        ):
            if name in changes:
                changes[name] = RouteLimit(**changes[name])
        state.configure(**changes)
        return JSONResponse(dataclasses.asdict(state.config))

    async def reset(request: Request) -> Response:
        state.reset()
        return JSONResponse({"ok": True})

    async def inject(request: Request) -> Response:
        state.inject(Fault(**await request.json()))
        return JSONResponse({"pending": state.pending_faults})

    async def messages(request: Request) -> Response:
        channel_id = request.query_params.get("channel_id")
        found = state.messages_in(channel_id) if channel_id else state.messages
        return JSONResponse([dataclasses.asdict(message) for message in found])

    async def delete_message(request: Request) -> Response:
        state.delete_message(request.path_params["message_id"])
        return Response(status_code=204)

    async def requests(request: Request) -> Response:
        return JSONResponse([dataclasses.asdict(entry) for entry in state.requests])

    async def stats(request: Request) -> Response:
        client = request.query_params.get("client", "127.0.0.1")
        return JSONResponse(
            {
                "messages": len(state.messages),
                "requests": len(state.requests),
                "invalid_requests": state.invalid_request_count(client),
                "rate_limited": state.rate_limited,
                "banned": state.is_banned(client),
                "pending_faults": state.pending_faults,
            }
        )

    return [
        Route("/_fake/seed", seed, methods=["POST"]),
        Route("/_fake/config", configure, methods=["POST"]),
        Route("/_fake/reset", reset, methods=["POST"]),
        Route("/_fake/faults", inject, methods=["POST"]),
        Route("/_fake/messages", messages, methods=["GET"]),
        Route("/_fake/messages/{message_id}", delete_message, methods=["DELETE"]),
        Route("/_fake/requests", requests, methods=["GET"]),
        Route("/_fake/stats", stats, methods=["GET"]),
    ]


def create_app(state: DiscordFakeState) -> Starlette:
    """The fake as an ASGI app: `/_fake/*` control routes, everything else is Discord's API."""
    return Starlette(
        routes=[*_control_routes(state), Route("/{path:path}", _DiscordApi(state))],
    )


class FakeDiscordServer:
    """The fake served on 127.0.0.1 in a thread; `with FakeDiscordServer() as fake: ...`."""

    def __init__(self, state: DiscordFakeState | None = None, *, port: int | None = None) -> None:
        self.state = state or DiscordFakeState()
        self._server = ServerThread(create_app(self.state), port=port)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def api_url(self) -> str:
        """What DISCORD_API_URL should be set to."""
        return self._server.url + API_PREFIX

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve the fake on 127.0.0.1 until interrupted (for child processes and benchmarks)."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.discord_fake")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--unlimited", action="store_true", help="no buckets, no global limit")
    parser.add_argument(
        "--global-limit", default="50", help="requests per second per token, or 'none'"
    )
    parser.add_argument("--token", action="append", default=[], help="accept this bot token")
    parser.add_argument("--invalid-threshold", type=int, default=10_000)
    args = parser.parse_args(argv)
    global_limit = None if args.global_limit.lower() == "none" else int(args.global_limit)
    state = DiscordFakeState(
        FakeConfig(
            unlimited=args.unlimited,
            global_limit=global_limit,
            invalid_request_threshold=args.invalid_threshold,
        )
    )
    for token in args.token:
        state.add_token(token)
    uvicorn.run(
        create_app(state),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()

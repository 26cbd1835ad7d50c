"""The fake Discord's HTTP vocabulary: requests, outcomes, route specs and rate-limit windows."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fakes.discord_forms import FormErrors

API_PREFIX = "/api/v10"
USER_AGENT = re.compile(r"^DiscordBot \(\S+, \S+\)")

# ---------------------------------------------------------------------------------------------
# Rate-limit windows
# ---------------------------------------------------------------------------------------------


class Window:
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
class Outcome:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    scope: str | None = None
    delay_s: float = 0.0
    drop: bool = False
    fault: str | None = None


def json_outcome(
    status: int, payload: Any, *, headers: Mapping[str, str] | None = None, via: bool = True
) -> Outcome:
    all_headers = {"content-type": "application/json", **(headers or {})}
    if via:
        all_headers["via"] = "1.1 google"
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Outcome(status, body, all_headers)


def error_outcome(
    status: int, code: int, message: str, errors: FormErrors | None = None
) -> Outcome:
    payload: dict[str, Any] = {"message": message, "code": code}
    if errors:
        payload["errors"] = errors.tree
    return json_outcome(status, payload)


def html_outcome(status: int, page: str) -> Outcome:
    return Outcome(status, page.encode(), {"content-type": "text/html; charset=UTF-8"})


NOT_FOUND = ("404: Not Found", 0)
UNKNOWN_CHANNEL = (404, 10003, "Unknown Channel")
UNKNOWN_MESSAGE = (404, 10008, "Unknown Message")
MISSING_ACCESS = (403, 50001, "Missing Access")
MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")


Auth = Literal["bot", "bearer", "client", "none"]
BodyKind = Literal["none", "json", "json_list", "form"]


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One API route: how it authenticates, what body it takes and which bucket it counts in.

    `auth`: `bot` (`Authorization: Bot`, plus the User-Agent rule), `bearer` (an OAuth2 access
    token), `client` (OAuth2 client credentials, checked by the handler) or `none`. Two specs
    may share method and path with different `auth`; the Authorization scheme picks one.
    """

    method: str
    pattern: str
    handler: str
    limit: str | None  # the FakeConfig field holding its RouteLimit; None: no bucket headers
    bucket: str | None  # X-RateLimit-Bucket hash
    counter: str  # requests with the same counter (and major id) share one window
    body: BodyKind = "none"
    auth: Auth = "bot"
    global_limited: bool = True
    major: str = "channel_id"  # the path parameter naming the bucket's top-level resource


@dataclass(slots=True)
class Call:
    """One authenticated, routed request on its way through the handlers.

    `token` is the bot or bearer token (empty for `client`/`none` routes); `bot_id` is set
    for bot routes only.
    """

    token: str
    bot_id: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any
    now: float
    request: ApiRequest


INVALID_JSON = object()


def try_json(body: bytes) -> Any:
    if not body:
        return INVALID_JSON
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return INVALID_JSON


def authorization(headers: Mapping[str, str]) -> tuple[str, str]:
    """(`bot` | `bearer` | "", token) from the Authorization header."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    kind = {"Bot": "bot", "Bearer": "bearer"}.get(scheme, "")
    return (kind, token) if kind and token else ("", "")


def bot_token(headers: Mapping[str, str]) -> str:
    kind, token = authorization(headers)
    return token if kind == "bot" else ""


def api_path(path: str) -> str | None:
    """The route path below the API prefix; the OAuth2 routes also answer unversioned
    (`/api/oauth2/...`) and the browser page lives at `/oauth2/authorize`. None: not API."""
    if path.startswith(API_PREFIX + "/"):
        return path.removeprefix(API_PREFIX)
    if path.startswith("/api/oauth2/"):
        return path.removeprefix("/api")
    if path == "/oauth2/authorize":
        return path
    return None


def query_value(call_query: Mapping[str, list[str]], name: str) -> str | None:
    values = call_query.get(name)
    return values[0] if values else None


def is_invalid(status: int, scope: str | None) -> bool:
    """Discord's invalid-request rule: 401, 403 and 429 except `shared` (and ban answers)."""
    if status in (401, 403):
        return True
    return status == 429 and scope in ("user", "global")

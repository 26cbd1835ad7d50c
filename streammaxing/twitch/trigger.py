"""Send signed EventSub messages exactly like Twitch's CLI (`twitch event trigger`).

`build_message` is pure given explicit options: it lays out the headers and the compact JSON
body that twitch-cli sends for `stream.online`, `stream.offline`, `channel.update` (version 2),
a `webhook_callback_verification` challenge (like `twitch event verify-subscription`) and a
`revocation`, and signs it. `send_message` POSTs it and, for a challenge, checks the answer the
way Twitch does. `add_trigger_arguments` / `run_trigger` are the `streammaxing trigger` command.

Two deliberate differences from twitch-cli: the HMAC always uses the timestamp header verbatim
(twitch-cli re-formats a custom `--timestamp` first, so `…0Z` or `+00:00` values yield a signature
that does not match its own header), and every message is signed, since a secret is mandatory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from secrets import randbelow
from typing import Final, Literal, get_args
from urllib.parse import urlsplit

import httpx

from streammaxing.twitch.eventsub import (
    MESSAGE_ID,
    MESSAGE_RETRY,
    MESSAGE_SIGNATURE,
    MESSAGE_TIMESTAMP,
    MESSAGE_TYPE,
    NOTIFICATION,
    REVOCATION,
    SUBSCRIPTION_TYPE,
    SUBSCRIPTION_VERSION,
    WEBHOOK_CALLBACK_VERIFICATION,
    MessageType,
    VerificationError,
    parse_timestamp,
    signature_for,
)

__all__ = [
    "SUBSCRIPTION_VERSIONS",
    "TRIGGER_TYPES",
    "DeliveryError",
    "SubscriptionType",
    "TriggerError",
    "TriggerInputError",
    "TriggerMessage",
    "TriggerOptions",
    "TriggerResult",
    "TriggerType",
    "add_trigger_arguments",
    "build_message",
    "format_timestamp",
    "run_trigger",
    "send_message",
]

TriggerType = Literal[
    "stream.online", "stream.offline", "channel.update", "verification", "revocation"
]
TRIGGER_TYPES: Final[tuple[TriggerType, ...]] = get_args(TriggerType)
SubscriptionType = Literal["stream.online", "stream.offline", "channel.update"]
SUBSCRIPTION_VERSIONS: Final[Mapping[SubscriptionType, str]] = {
    "stream.online": "1",
    "stream.offline": "1",
    "channel.update": "2",
}

# twitch-cli's defaults for the fields it makes up.
DEFAULT_BROADCASTER_LOGIN: Final = "testBroadcaster"
DEFAULT_TITLE: Final = "Example title from the CLI!"
DEFAULT_CATEGORY_ID: Final = "509658"
DEFAULT_CATEGORY_NAME: Final = "Just Chatting"
DEFAULT_REVOCATION_STATUS: Final = "authorization_revoked"
CALLBACK_PLACEHOLDER: Final = "null"
_CONTENT_LABELS: Final = ("MatureGame", "ViolentGraphic")
_USER_AGENT: Final = "streammaxing-trigger"
# Go's encoding/json escapes these inside strings (HTML safety); Python's does not.
_GO_ESCAPES: Final = (
    ("<", "\\u003c"),
    (">", "\\u003e"),
    ("&", "\\u0026"),
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
)


class TriggerError(Exception):
    """Base class for everything `streammaxing trigger` can fail with."""


class TriggerInputError(TriggerError, ValueError):
    """The options cannot make a valid message (bad secret, timestamp, id, status…)."""


class DeliveryError(TriggerError):
    """No response arrived: connection refused, timeout, bad URL. Keeps `__cause__`."""


@dataclass(frozen=True, kw_only=True)
class TriggerOptions:
    """What to send. Unset ids, timestamp and challenge get random/current values, like twitch-cli.

    `subscription_type` names the subscription a `verification` or `revocation` is about;
    `status` is the revoked subscription's status (revocation only). `callback` is
    `transport.callback`: twitch-cli writes the string "null" for events and the target URL for
    a challenge.
    """

    kind: TriggerType
    secret: str = field(repr=False)
    broadcaster_id: str | None = None
    broadcaster_login: str = DEFAULT_BROADCASTER_LOGIN
    broadcaster_name: str | None = None
    stream_id: str | None = None
    message_id: str | None = None
    timestamp: str | None = None
    title: str = DEFAULT_TITLE
    category_id: str = DEFAULT_CATEGORY_ID
    category_name: str = DEFAULT_CATEGORY_NAME
    subscription_id: str | None = None
    subscription_type: SubscriptionType = "stream.online"
    status: str | None = None
    challenge: str | None = None
    callback: str = CALLBACK_PLACEHOLDER

    def __post_init__(self) -> None:
        if self.kind not in TRIGGER_TYPES:
            raise TriggerInputError(
                f"unknown type {self.kind!r}; one of {', '.join(TRIGGER_TYPES)}"
            )
        if not (self.secret.isascii() and 10 <= len(self.secret) <= 100):
            raise TriggerInputError("the secret must be 10 to 100 ASCII characters")
        if self.subscription_type not in SUBSCRIPTION_VERSIONS:
            raise TriggerInputError(
                f"unknown subscription type {self.subscription_type!r}; "
                f"one of {', '.join(SUBSCRIPTION_VERSIONS)}"
            )
        if self.message_id is not None and not _is_header_safe(self.message_id):
            raise TriggerInputError("the message id must be non-empty printable ASCII")
        if self.timestamp is not None:
            try:
                parse_timestamp(self.timestamp)
            except VerificationError as exc:
                raise TriggerInputError(
                    f"timestamp {self.timestamp!r} is not RFC 3339, e.g. 2024-05-04T18:22:31.5Z"
                ) from exc
        for name in ("broadcaster_id", "stream_id", "subscription_id", "challenge"):
            if getattr(self, name) == "":
                raise TriggerInputError(f"{name.replace('_', ' ')} must not be empty")
        if self.kind == "revocation":
            if self.status is not None and self.status.strip().lower() in ("", "enabled"):
                raise TriggerInputError("a revocation needs a status other than 'enabled'")
        elif self.status is not None:
            raise TriggerInputError("a status applies to the revocation type only")


@dataclass(frozen=True)
class TriggerMessage:
    """A ready-to-send request: headers as Twitch names them, the exact body, and the challenge."""

    headers: dict[str, str]
    body: bytes
    challenge: str | None

    @property
    def message_id(self) -> str:
        return self.headers[MESSAGE_ID]


@dataclass(frozen=True)
class TriggerResult:
    """How the target answered. `challenge_ok` is None unless the message was a challenge."""

    status_code: int
    content_type: str | None
    body: str
    elapsed: float
    challenge_ok: bool | None
    reason: str

    @property
    def ok(self) -> bool:
        """True when Twitch would count the delivery as a success."""
        return 200 <= self.status_code < 300 and self.challenge_ok is not False


def format_timestamp(epoch_ns: int) -> str:
    """Format like Go's RFC3339Nano in UTC: trailing fractional zeros dropped, `Z` suffix."""
    seconds, nanos = divmod(epoch_ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{base}{fraction}Z"


def build_message(options: TriggerOptions) -> TriggerMessage:
    """Lay out and sign the request twitch-cli would send for `options`."""
    timestamp = options.timestamp or format_timestamp(time.time_ns())
    message_id = options.message_id or str(uuid.uuid4())
    broadcaster_id = options.broadcaster_id or _random_digits()
    sub_type = _subscription_type(options)
    version = SUBSCRIPTION_VERSIONS[sub_type]
    subscription: dict[str, object] = {
        "id": options.subscription_id or str(uuid.uuid4()),
        "status": "enabled",
        "type": sub_type,
        "version": version,
        "condition": {"broadcaster_user_id": broadcaster_id},
        "transport": {"method": "webhook", "callback": options.callback},
        "created_at": timestamp,
        "cost": 0,
    }
    challenge: str | None = None
    message_type: MessageType
    payload: dict[str, object]
    if options.kind == "verification":
        message_type = WEBHOOK_CALLBACK_VERIFICATION
        challenge = options.challenge or str(uuid.uuid4())
        subscription["status"] = "webhook_callback_verification_pending"
        payload = {"challenge": challenge, "subscription": subscription}
    elif options.kind == "revocation":
        message_type = REVOCATION
        subscription["status"] = options.status or DEFAULT_REVOCATION_STATUS
        payload = {"subscription": subscription}
    else:
        message_type = NOTIFICATION
        event = _event(options, broadcaster_id, timestamp)
        payload = {"subscription": subscription, "event": event}
    # twitch-cli drops `event` from a revocation by round-tripping the JSON through a Go map,
    # which re-encodes it with sorted keys.
    body = _go_json(payload, sort_keys=message_type == REVOCATION)

    headers = {
        "Content-Type": "application/json",
        MESSAGE_RETRY: "0",
        MESSAGE_ID: message_id,
        SUBSCRIPTION_TYPE: sub_type,
        SUBSCRIPTION_VERSION: version,
        MESSAGE_TYPE: message_type,
        MESSAGE_TIMESTAMP: timestamp,
        MESSAGE_SIGNATURE: signature_for(options.secret.encode(), message_id, timestamp, body),
    }
    return TriggerMessage(headers=headers, body=body, challenge=challenge)


async def send_message(
    message: TriggerMessage,
    url: str,
    *,
    client: httpx.AsyncClient | None = None,
    # httpx applies it per phase (connect, write, read), like twitch-cli's 10 s client timeout.
    timeout: float = 10.0,  # noqa: ASYNC109
) -> TriggerResult:
    """POST `message` to `url` (no redirects followed, like Twitch) and judge the answer.

    A challenge passes when the status is 2xx, a `text/plain` Content-Type is present (a
    charset is fine) and the body is exactly the challenge. Raises `DeliveryError` when no
    response arrives.
    """
    headers = {"User-Agent": _USER_AGENT, **message.headers}
    started = time.perf_counter()
    try:
        async with AsyncExitStack() as stack:
            if client is None:
                client = await stack.enter_async_context(httpx.AsyncClient())
            response = await client.post(
                url, content=message.body, headers=headers, timeout=timeout, follow_redirects=False
            )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    elapsed = time.perf_counter() - started

    content_type = response.headers.get("content-type")
    success = 200 <= response.status_code < 300
    challenge_ok: bool | None = None
    if message.challenge is None:
        reason = "accepted" if success else "rejected"
    else:
        problems = _challenge_problems(response, content_type, message.challenge)
        challenge_ok = not problems
        reason = "challenge echoed correctly" if challenge_ok else "; ".join(problems)
    return TriggerResult(
        status_code=response.status_code,
        content_type=content_type,
        body=response.text,
        elapsed=elapsed,
        challenge_ok=challenge_ok,
        reason=reason,
    )


def add_trigger_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `streammaxing trigger`'s arguments to `parser` (run it with `run_trigger`)."""
    parser.add_argument(
        "type", metavar="TYPE", choices=TRIGGER_TYPES, help=", ".join(TRIGGER_TYPES)
    )
    parser.add_argument("--url", required=True, help="webhook URL to POST to")
    parser.add_argument(
        "--secret",
        help="signing secret, 10-100 ASCII characters "
        "(default: the first of $TWITCH_EVENTSUB_SECRET)",
    )
    parser.add_argument("--broadcaster-id", help="broadcaster user id (default: random digits)")
    parser.add_argument("--broadcaster-login", default=DEFAULT_BROADCASTER_LOGIN)
    parser.add_argument("--broadcaster-name", help="display name (default: the login)")
    parser.add_argument("--stream-id", help="stream.online event.id (default: random digits)")
    parser.add_argument("--message-id", help="Message-Id header; reuse one to send a duplicate")
    parser.add_argument("--timestamp", help="RFC 3339 timestamp (default: now)")
    parser.add_argument("--title", default=DEFAULT_TITLE, help="channel.update title")
    parser.add_argument("--category-id", default=DEFAULT_CATEGORY_ID)
    parser.add_argument("--category-name", default=DEFAULT_CATEGORY_NAME)
    parser.add_argument("--subscription-id", help="subscription.id (default: random UUID)")
    parser.add_argument(
        "--subscription-type",
        choices=tuple(SUBSCRIPTION_VERSIONS),
        default="stream.online",
        help="subscription a verification or revocation is about",
    )
    parser.add_argument(
        "--status", help=f"revoked subscription's status (default: {DEFAULT_REVOCATION_STATUS})"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default: 10)")


async def run_trigger(args: argparse.Namespace) -> int:
    """Build, send and report one message; return 0 (ok), 1 (failed delivery) or 2 (bad input)."""
    secret = args.secret or _secret_from_environment()
    if secret is None:
        print("error: pass --secret or set TWITCH_EVENTSUB_SECRET", file=sys.stderr)
        return 2
    url_parts = urlsplit(args.url)
    if url_parts.scheme not in ("http", "https") or not url_parts.hostname:
        print(f"error: --url must be an http(s) URL, got {args.url!r}", file=sys.stderr)
        return 2
    try:
        message = build_message(_options_from_args(args, secret))
    except TriggerInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    what = f"{args.type} (message id {message.message_id}) to {args.url}"
    try:
        result = await send_message(message, args.url, timeout=args.timeout)
    except DeliveryError as exc:
        print(f"failed: {what}: {exc}")
        return 1
    outcome = result.reason
    if result.challenge_ok is None and not result.ok:
        outcome += f": {result.body.strip()[:200]!r}"
    print(
        f"{'ok' if result.ok else 'failed'}: {what}: {result.status_code} "
        f"in {result.elapsed * 1000:.0f} ms, {outcome}"
    )
    return 0 if result.ok else 1


def _subscription_type(options: TriggerOptions) -> SubscriptionType:
    match options.kind:
        case "stream.online" | "stream.offline" | "channel.update":
            return options.kind
        case _:
            return options.subscription_type


def _event(options: TriggerOptions, broadcaster_id: str, timestamp: str) -> dict[str, object]:
    """The `event` object of a notification, field for field as twitch-cli fills it."""
    broadcaster: dict[str, object] = {
        "broadcaster_user_id": broadcaster_id,
        "broadcaster_user_login": options.broadcaster_login,
        "broadcaster_user_name": options.broadcaster_name or options.broadcaster_login,
    }
    if options.kind == "stream.online":
        stream_id = options.stream_id or _random_digits()
        return {"id": stream_id, **broadcaster, "type": "live", "started_at": timestamp}
    if options.kind == "channel.update":
        return broadcaster | {
            "title": options.title,
            "language": "en",
            "category_id": options.category_id,
            "category_name": options.category_name,
            "content_classification_labels": list(_CONTENT_LABELS),
        }
    return broadcaster


def _options_from_args(args: argparse.Namespace, secret: str) -> TriggerOptions:
    return TriggerOptions(
        kind=args.type,
        secret=secret,
        broadcaster_id=args.broadcaster_id,
        broadcaster_login=args.broadcaster_login,
        broadcaster_name=args.broadcaster_name,
        stream_id=args.stream_id,
        message_id=args.message_id,
        timestamp=args.timestamp,
        title=args.title,
        category_id=args.category_id,
        category_name=args.category_name,
        subscription_id=args.subscription_id,
        subscription_type=args.subscription_type,
        status=args.status,
        callback=args.url if args.type == "verification" else CALLBACK_PLACEHOLDER,
    )


def _secret_from_environment() -> str | None:
    configured = os.environ.get("TWITCH_EVENTSUB_SECRET", "")
    first = configured.split(",", 1)[0].strip()
    return first or None


def _challenge_problems(
    response: httpx.Response, content_type: str | None, challenge: str
) -> list[str]:
    problems = []
    if not 200 <= response.status_code < 300:
        problems.append(f"status {response.status_code} is not 2xx")
    if content_type is None:
        problems.append("no Content-Type header (want text/plain)")
    elif content_type.split(";", 1)[0].strip().lower() != "text/plain":
        problems.append(f"Content-Type {content_type!r} is not text/plain")
    if response.content != challenge.encode():
        problems.append(f"body {response.text[:100]!r} is not the challenge {challenge!r}")
    return problems


def _go_json(payload: object, *, sort_keys: bool) -> bytes:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    for char, escape in _GO_ESCAPES:
        text = text.replace(char, escape)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TriggerInputError("text fields must be valid Unicode") from exc


def _is_header_safe(value: str) -> bool:
    return bool(value) and value.isascii() and value.isprintable()


def _random_digits() -> str:
    """A user/stream id like twitch-cli's: a random number below 100,000,000."""
    return str(randbelow(100_000_000))

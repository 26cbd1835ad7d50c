"""Verify Twitch EventSub webhook requests: pure functions, no I/O, on the ingest's hot path.

Twitch signs every webhook request with ``sha256=`` + hex HMAC-SHA256(secret, message id +
timestamp + raw body), using the header values verbatim. Only those three inputs are
authenticated: the other headers (message type, subscription type and version, retry) are not,
which is why the ingest reads the subscription's type from the verified body as well.

`verify_request` checks the four required headers, the signature against every accepted secret
(secret rotation), and the timestamp against a replay window. Every way a request can fail
raises `VerificationError` with a short, stable `reason` code for logs and metrics; malformed
input never raises anything else.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, NamedTuple

__all__ = [
    "DEFAULT_WINDOW",
    "HEADERS",
    "MESSAGE_ID",
    "MESSAGE_RETRY",
    "MESSAGE_SIGNATURE",
    "MESSAGE_TIMESTAMP",
    "MESSAGE_TYPE",
    "MESSAGE_TYPES",
    "NOTIFICATION",
    "REVOCATION",
    "SIGNATURE_PREFIX",
    "SUBSCRIPTION_TYPE",
    "SUBSCRIPTION_VERSION",
    "WEBHOOK_CALLBACK_VERIFICATION",
    "MessageType",
    "VerificationError",
    "VerificationFailure",
    "VerifiedHeaders",
    "parse_timestamp",
    "signature_for",
    "verify_request",
]

# Header names as Twitch spells them. HTTP header names are case-insensitive; lookups below use
# the lowercase form, which both case-insensitive mappings (Starlette, httpx) and plain
# lowercase-keyed dicts answer.
MESSAGE_ID: Final = "Twitch-Eventsub-Message-Id"
MESSAGE_RETRY: Final = "Twitch-Eventsub-Message-Retry"
MESSAGE_TYPE: Final = "Twitch-Eventsub-Message-Type"
MESSAGE_SIGNATURE: Final = "Twitch-Eventsub-Message-Signature"
MESSAGE_TIMESTAMP: Final = "Twitch-Eventsub-Message-Timestamp"
SUBSCRIPTION_TYPE: Final = "Twitch-Eventsub-Subscription-Type"
SUBSCRIPTION_VERSION: Final = "Twitch-Eventsub-Subscription-Version"
#: Every header `verify_request` reads.
HEADERS: Final = (
    MESSAGE_ID,
    MESSAGE_RETRY,
    MESSAGE_TYPE,
    MESSAGE_SIGNATURE,
    MESSAGE_TIMESTAMP,
    SUBSCRIPTION_TYPE,
    SUBSCRIPTION_VERSION,
)

SIGNATURE_PREFIX: Final = "sha256="
DEFAULT_WINDOW: Final = timedelta(minutes=10)

MessageType = Literal["notification", "webhook_callback_verification", "revocation"]
NOTIFICATION: Final[MessageType] = "notification"
WEBHOOK_CALLBACK_VERIFICATION: Final[MessageType] = "webhook_callback_verification"
REVOCATION: Final[MessageType] = "revocation"
MESSAGE_TYPES: Final[frozenset[str]] = frozenset(
    {NOTIFICATION, WEBHOOK_CALLBACK_VERIFICATION, REVOCATION}
)

VerificationFailure = Literal[
    "missing_header",  # a required header is absent or empty
    "non_ascii_header",  # a signed or required header holds non-ASCII characters
    "malformed_signature",  # the signature header lacks the "sha256=" prefix
    "bad_signature",  # no accepted secret produces the signature
    "malformed_timestamp",  # the timestamp header is not RFC 3339
    "stale_timestamp",  # the timestamp is older than the window
    "future_timestamp",  # the timestamp is further ahead than the window
]

_ID_KEY: Final = MESSAGE_ID.lower()
_RETRY_KEY: Final = MESSAGE_RETRY.lower()
_TYPE_KEY: Final = MESSAGE_TYPE.lower()
_SIGNATURE_KEY: Final = MESSAGE_SIGNATURE.lower()
_TIMESTAMP_KEY: Final = MESSAGE_TIMESTAMP.lower()
_SUBSCRIPTION_TYPE_KEY: Final = SUBSCRIPTION_TYPE.lower()
_SUBSCRIPTION_VERSION_KEY: Final = SUBSCRIPTION_VERSION.lower()

# RFC 3339 date-time: 0–9 fractional digits (Twitch sends 0, 3, 7 and 9), "Z" or a numeric
# offset. ASCII digits only: `\d` would also match other scripts' digits. The regex gates the
# syntax; `datetime.fromisoformat` (which on 3.11 takes up to 9 fractional digits and truncates
# them to microseconds) then checks the values and builds the datetime in C.
_TIMESTAMP_RE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
    r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)


class VerificationError(Exception):
    """The request is not a genuine, fresh EventSub message; answer 403.

    `reason` is a short stable code (see `VerificationFailure`) for metrics and logs.
    """

    def __init__(self, reason: VerificationFailure, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason: VerificationFailure = reason
        self.detail = detail


class VerifiedHeaders(NamedTuple):
    """The headers of a request whose signature and timestamp checked out.

    `message_type` may be a type this code does not know (Twitch adds them); callers answer 2xx
    and ignore those. `retry` is informational only: never branch on it. A `NamedTuple`: as
    immutable as a frozen dataclass, and built in 0.4 instead of 1.4 µs on the webhook's path.
    """

    message_id: str
    message_type: str
    timestamp: datetime
    subscription_type: str | None
    subscription_version: str | None
    retry: int | None


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime (fractions beyond µs truncated).

    Raises `VerificationError("malformed_timestamp")` for anything else, including dates that
    do not exist and values that cannot be represented.
    """
    if _TIMESTAMP_RE.fullmatch(value) is None:
        raise VerificationError("malformed_timestamp", "not an RFC 3339 date-time")
    try:
        parsed = datetime.fromisoformat(value.upper())
        return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise VerificationError("malformed_timestamp", str(exc)) from exc


def signature_for(secret: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """Return the `Twitch-Eventsub-Message-Signature` value Twitch would send.

    The message id and timestamp are used verbatim (ASCII; raises `UnicodeEncodeError` otherwise).
    """
    digest = _digest(secret, message_id.encode("ascii"), timestamp.encode("ascii"), body)
    return SIGNATURE_PREFIX + digest.decode("ascii")


def verify_request(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
) -> VerifiedHeaders:
    """Check that a webhook request was signed by Twitch with one of `secrets` and is fresh.

    `headers` must answer lowercase names: a case-insensitive mapping (Starlette's `Headers`)
    or a dict with lowercase keys. `body` is the raw request body, exactly as received. Every
    secret in `secrets` is tried (rotation: any match is accepted), each with a constant-time
    comparison. The signature is checked before the timestamp, so a stale or future reason
    means a genuinely signed message (a replay or clock skew), not a forgery.

    Raises `VerificationError` on any failure; `ValueError` only for a caller's mistake (no
    secrets, naive `now`).
    """
    if not secrets:
        raise ValueError("verify_request needs at least one accepted secret")
    if now.tzinfo is None:
        raise ValueError("verify_request needs a timezone-aware `now`")

    message_id = _required(headers, _ID_KEY)
    timestamp = _required(headers, _TIMESTAMP_KEY)
    signature = _required(headers, _SIGNATURE_KEY)
    message_type = _required(headers, _TYPE_KEY)
    try:
        id_bytes = message_id.encode("ascii")
        timestamp_bytes = timestamp.encode("ascii")
        signature_bytes = signature.encode("ascii")
        message_type.encode("ascii")
    except UnicodeEncodeError as exc:
        raise VerificationError("non_ascii_header") from exc

    if not signature_bytes.startswith(b"sha256="):
        raise VerificationError("malformed_signature", "missing sha256= prefix")
    provided = signature_bytes[7:]
    matched = False
    for secret in secrets:
        expected = _digest(secret, id_bytes, timestamp_bytes, body)
        # `|` rather than `or`: every secret is compared, whichever one matches.
        matched = hmac.compare_digest(expected, provided) | matched
    if not matched:
        raise VerificationError("bad_signature")

    sent_at = parse_timestamp(timestamp)
    age = now - sent_at
    if age > window:
        raise VerificationError("stale_timestamp", f"sent {age} ago")
    if -age > window:
        raise VerificationError("future_timestamp", f"sent {-age} ahead")

    return VerifiedHeaders(
        message_id=message_id,
        message_type=message_type,
        timestamp=sent_at,
        subscription_type=headers.get(_SUBSCRIPTION_TYPE_KEY),
        subscription_version=headers.get(_SUBSCRIPTION_VERSION_KEY),
        retry=_retry(headers.get(_RETRY_KEY)),
    )


def _digest(secret: bytes, message_id: bytes, timestamp: bytes, body: bytes) -> bytes:
    mac = hmac.new(secret, message_id, hashlib.sha256)
    mac.update(timestamp)
    mac.update(body)
    return mac.hexdigest().encode("ascii")


def _required(headers: Mapping[str, str], key: str) -> str:
    value = headers.get(key)
    if not value:
        raise VerificationError("missing_header", key)
    return value


def _retry(value: str | None) -> int | None:
    # Bounded: a counter, not an arbitrary-precision number (int() of huge strings is slow).
    if value is None or not 0 < len(value) <= 9 or not value.isascii() or not value.isdigit():
        return None
    return int(value)

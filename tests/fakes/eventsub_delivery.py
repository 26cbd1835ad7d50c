"""Sign and POST EventSub webhook messages the way Twitch does (challenge and notification).

The signature is ``sha256=`` + hex HMAC-SHA256 over message id + timestamp + raw body, keyed
with the subscription's secret; the headers are the ``Twitch-Eventsub-*`` set Twitch sends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

__all__ = ["Delivery", "MessageType", "post_message", "rfc3339", "signed_headers"]

MessageType = Literal["webhook_callback_verification", "notification", "revocation"]


@dataclass(frozen=True)
class Delivery:
    """One POST to a callback: what was sent and how the callback answered (None: no answer)."""

    subscription_id: str
    message_id: str
    message_type: MessageType
    body: bytes
    status: int | None
    answer: bytes


def rfc3339(epoch: float, *, fraction: bool = True) -> str:
    """A UTC timestamp as EventSub writes it (nanosecond digits and ``Z``)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    if not fraction:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def signed_headers(
    *,
    secret: str,
    message_id: str,
    timestamp: str,
    body: bytes,
    message_type: MessageType,
    subscription_type: str,
    subscription_version: str,
) -> dict[str, str]:
    digest = hmac.new(
        secret.encode(), message_id.encode() + timestamp.encode() + body, hashlib.sha256
    )
    return {
        "Content-Type": "application/json",
        "User-Agent": "Go-http-client/1.1",
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Message-Retry": "0",
        "Twitch-Eventsub-Message-Type": message_type,
        "Twitch-Eventsub-Message-Signature": "sha256=" + digest.hexdigest(),
        "Twitch-Eventsub-Message-Timestamp": timestamp,
        "Twitch-Eventsub-Subscription-Type": subscription_type,
        "Twitch-Eventsub-Subscription-Version": subscription_version,
    }


async def post_message(
    *,
    callback: str,
    secret: str,
    message_type: MessageType,
    subscription: dict[str, Any],
    payload: dict[str, Any],
    now: float,
) -> Delivery:
    """POST `payload` (which must carry ``"subscription"``) signed with `secret` to `callback`."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    message_id = str(uuid.uuid4())
    headers = signed_headers(
        secret=secret,
        message_id=message_id,
        timestamp=rfc3339(now),
        body=body,
        message_type=message_type,
        subscription_type=str(subscription["type"]),
        subscription_version=str(subscription["version"]),
    )
    status: int | None = None
    answer = b""
    try:
        async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as http:
            response = await http.post(callback, content=body, headers=headers)
        status, answer = response.status_code, response.content
    except httpx.HTTPError:
        pass  # Twitch counts an unreachable callback as a failed delivery; so does the caller
    return Delivery(str(subscription["id"]), message_id, message_type, body, status, answer)

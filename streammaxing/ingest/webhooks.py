"""`POST /webhooks/twitch`: verify, deduplicate, durably enqueue — then answer.

Order matters: read the raw body under a 1 MiB cap, verify the HMAC and
the timestamp window before any side effect, parse JSON only after that, dispatch on the
`Twitch-Eventsub-Message-Type` header. A notification is acknowledged only after its message id
and job are committed; a database failure is a 503 so Twitch redelivers.

`TwitchWebhook` is a plain ASGI app: no `Request`/`Response` objects, no middleware (the app
calls it before its middleware stack, see `ingest.app`). Any other method than POST is a 405.
Each request adds one record to the request log and counts in the metrics after its answer
went out.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Final, NamedTuple

import structlog
from prometheus_client import Counter
from starlette.types import Receive, Scope, Send

from streammaxing.ingest.enqueue import ENQUEUE_DEADLINE, EnqueueUnavailableError
from streammaxing.ingest.json_body import NotJsonError, parse_body
from streammaxing.ingest.state import IngestState
from streammaxing.queues import NOTIFICATION_TASKS, Queue, Task
from streammaxing.schema.webhooks import (
    JobRequest,
    accept_messages,
    mark_subscription_enabled,
    record_subscription_status,
)
from streammaxing.twitch.eventsub import HEADERS as EVENTSUB_HEADERS
from streammaxing.twitch.eventsub import VerificationError, verify_request

log = structlog.get_logger(__name__)

#: The event field naming whom a notification is about, where it is not the broadcaster.
_SUBJECT_FIELDS: Final = {"user.authorization.revoke": "user_id"}

#: The request headers `_handle` and `verify_request` read.
_READ_HEADERS: Final = frozenset(
    name.lower().encode("latin-1") for name in ("content-length", *EVENTSUB_HEADERS)
)

_EMPTY_BODY: Final = [(b"content-length", b"0")]
_TEXT_PLAIN: Final = b"text/plain; charset=utf-8"


class _Outcome(NamedTuple):
    status: int
    outcome: str
    message_type: str = "unknown"
    message_id: str | None = None
    subscription_type: str | None = None
    text: str | None = None  # a text/plain body (the challenge); otherwise none


class _BodyTooLargeError(Exception):
    pass


class _ClientDisconnectError(Exception):
    pass


def _headers(scope: Scope) -> dict[str, str]:
    """The headers this endpoint reads, as a plain dict: ASGI names them in lowercase; the
    first one wins.

    Cheaper than repeated lookups in Starlette's `Headers` (a linear scan per lookup), and
    what `verify_request` accepts. Only `_READ_HEADERS` are decoded (a request from Twitch
    carries about as many others).
    """
    headers: dict[str, str] = {}
    for name, value in reversed(scope["headers"]):
        if name in _READ_HEADERS:
            headers[name.decode("latin-1")] = value.decode("latin-1")
    return headers


async def _read_capped(receive: Receive, declared: str | None, cap: int) -> bytes:
    """The raw body; more than `cap` bytes, declared or streamed, is refused as it arrives."""
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise _BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientDisconnectError
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise _BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class TwitchWebhook:
    """The ASGI app answering `/webhooks/twitch`."""

    def __init__(self, state: IngestState) -> None:
        self._state = state
        # Label lookups take a lock and build a key: one child per (type, outcome), made once.
        self._counters: dict[tuple[str, str], Counter] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        if scope["method"] != "POST":
            await _answer(send, 405, b"Method Not Allowed", [(b"allow", b"POST")])
            return
        result = await _handle(scope, receive, self._state)
        if result.text is None:
            await send(
                {
                    "type": "http.response.start",
                    "status": result.status,
                    "headers": ([] if result.status == 204 else _EMPTY_BODY),
                }
            )
            await send({"type": "http.response.body", "body": b""})
        else:
            await _answer(send, result.status, result.text.encode("utf-8"))
        elapsed = time.perf_counter() - started
        self._count(result.message_type, result.outcome)
        self._state.metrics.webhook_latency.observe(elapsed)
        self._state.request_log.add(
            {
                "message_id": result.message_id,
                "message_type": result.message_type,
                "subscription_type": result.subscription_type,
                "outcome": result.outcome,
                "status": result.status,
                "ms": round(elapsed * 1000, 2),
            }
        )

    def _count(self, message_type: str, outcome: str) -> None:
        key = (message_type, outcome)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self._state.metrics.webhooks.labels(*key)
        counter.inc()


async def _answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A text/plain answer with `body`."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode("ascii")),
                (b"content-type", _TEXT_PLAIN),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _handle(scope: Scope, receive: Receive, state: IngestState) -> _Outcome:
    headers = _headers(scope)
    try:
        body = await _read_capped(receive, headers.get("content-length"), state.max_body_bytes)
    except _BodyTooLargeError:
        return _Outcome(413, "too_large")
    except _ClientDisconnectError:
        return _Outcome(400, "client_disconnected")

    try:
        verified = verify_request(
            headers,
            body,
            state.eventsub_secrets,
            now=datetime.now(UTC),
            window=timedelta(seconds=state.replay_window_seconds),
        )
    except VerificationError as error:
        return _Outcome(403, f"rejected_{error.reason}")

    message_type = verified.message_type
    try:
        payload = parse_body(body)
    except NotJsonError:
        return _Outcome(400, "invalid_json", message_type, verified.message_id)
    if not isinstance(payload, dict):
        return _Outcome(400, "invalid_json", message_type, verified.message_id)

    subscription = payload.get("subscription")
    subscription = subscription if isinstance(subscription, dict) else {}
    sub_type = subscription.get("type") if isinstance(subscription.get("type"), str) else None

    if message_type == "webhook_callback_verification":
        return await _challenge(state, verified.message_id, payload, subscription)
    if message_type == "notification":
        return await _notification(state, verified.message_id, payload, subscription, sub_type)
    if message_type == "revocation":
        return await _revocation(state, verified.message_id, subscription, sub_type)
    return _Outcome(204, "ignored_message_type", message_type, verified.message_id)


async def _challenge(
    state: IngestState, message_id: str, payload: dict[str, Any], subscription: dict[str, Any]
) -> _Outcome:
    challenge = payload.get("challenge")
    if not isinstance(challenge, str):
        return _Outcome(400, "invalid_challenge", "webhook_callback_verification", message_id)
    sub_id = subscription.get("id")
    if isinstance(sub_id, str):
        # Best effort: the challenge must be answered even when the database is down or the
        # subscription is not known yet (it can arrive before Twitch's create call returns).
        try:
            async with state.pool.connection(timeout=1.0) as conn:
                await mark_subscription_enabled(conn, sub_id)
        except Exception as error:  # noqa: BLE001 - never fail a valid challenge over bookkeeping
            log.warning(
                "challenge_record_failed", subscription_id=sub_id, error=type(error).__name__
            )
    return _Outcome(
        200,
        "challenge_answered",
        "webhook_callback_verification",
        message_id,
        subscription.get("type") if isinstance(subscription.get("type"), str) else None,
        text=challenge,
    )


async def _notification(
    state: IngestState,
    message_id: str,
    payload: dict[str, Any],
    subscription: dict[str, Any],
    sub_type: str | None,
) -> _Outcome:
    task_name = NOTIFICATION_TASKS.get(sub_type or "")
    if task_name is None:
        return _Outcome(204, "ignored_subscription_type", "notification", message_id, sub_type)
    event = payload.get("event")
    subject = _SUBJECT_FIELDS.get(sub_type or "", "broadcaster_user_id")
    if not isinstance(event, dict) or not isinstance(event.get(subject), str):
        return _Outcome(400, "invalid_event", "notification", message_id, sub_type)
    job = JobRequest(
        message_id=message_id,
        task_name=task_name,
        queue=Queue.EVENTS,
        args={
            "message_id": message_id,
            "subscription_id": subscription.get("id"),
            "event": event,
        },
    )
    try:
        is_new = await state.committer.submit(job)
    except EnqueueUnavailableError:
        return _Outcome(503, "unavailable", "notification", message_id, sub_type)
    return _Outcome(
        204, "accepted" if is_new else "duplicate", "notification", message_id, sub_type
    )


async def _revocation(
    state: IngestState, message_id: str, subscription: dict[str, Any], sub_type: str | None
) -> _Outcome:
    sub_id, status = subscription.get("id"), subscription.get("status")
    if not isinstance(sub_id, str) or not isinstance(status, str):
        return _Outcome(400, "invalid_subscription", "revocation", message_id, sub_type)
    job = JobRequest(
        message_id=message_id,
        task_name=Task.SUBSCRIPTION_REVOKED,
        queue=Queue.EVENTS,
        args={"message_id": message_id, "subscription": subscription},
    )
    try:
        async with (
            asyncio.timeout(ENQUEUE_DEADLINE),
            state.pool.connection(timeout=2.0) as conn,
            conn.transaction(),
        ):
            new_ids = await accept_messages(conn, [job])
            if new_ids:
                await record_subscription_status(conn, sub_id, status)
    except Exception as error:  # noqa: BLE001 - database trouble → 503, Twitch redelivers
        log.warning("revocation_store_failed", message_id=message_id, error=type(error).__name__)
        return _Outcome(503, "unavailable", "revocation", message_id, sub_type)
    outcome = "accepted" if new_ids else "duplicate"
    return _Outcome(204, outcome, "revocation", message_id, sub_type)

"""`POST /webhooks/twitch`: verify, deduplicate, durably enqueue — then answer.

Order matters: read the raw body under a 1 MiB cap, verify the HMAC and
the timestamp window before any side effect, parse JSON only after that, dispatch on the
`Twitch-Eventsub-Message-Type` header. A notification is acknowledged only after its message id
and job are committed; a database failure is a 503 so Twitch redelivers.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response

from streammaxing.ingest.enqueue import ENQUEUE_DEADLINE, EnqueueUnavailableError
from streammaxing.ingest.state import IngestState, ingest_state
from streammaxing.queues import NOTIFICATION_TASKS, Queue, Task
from streammaxing.schema.webhooks import (
    JobRequest,
    accept_messages,
    mark_subscription_enabled,
    record_subscription_status,
)
from streammaxing.twitch.eventsub import VerificationError, verify_request

log = structlog.get_logger(__name__)

#: The event field naming whom a notification is about, where it is not the broadcaster.
_SUBJECT_FIELDS: Final = {"user.authorization.revoke": "user_id"}


@dataclass(frozen=True, slots=True)
class _Outcome:
    response: Response
    outcome: str
    message_type: str = "unknown"
    message_id: str | None = None
    subscription_type: str | None = None


class _BodyTooLargeError(Exception):
    pass


def _headers(request: Request) -> dict[str, str]:
    """The request headers as a plain dict: ASGI names them in lowercase; the first one wins.

    Cheaper than repeated lookups in Starlette's `Headers` (a linear scan per lookup), and
    what `verify_request` accepts.
    """
    headers: dict[str, str] = {}
    for name, value in reversed(request.scope["headers"]):
        headers[name.decode("latin-1")] = value.decode("latin-1")
    return headers


async def _read_capped(request: Request, declared: str | None, cap: int) -> bytes:
    """The raw body; more than `cap` bytes, declared or streamed, is refused as it arrives."""
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise _BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise _BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _empty(status: int) -> Response:
    return Response(status_code=status)


async def twitch_webhook(request: Request) -> Response:
    state = ingest_state(request)
    started = time.perf_counter()
    result = await _handle(request, state)
    elapsed = time.perf_counter() - started
    state.metrics.webhooks.labels(result.message_type, result.outcome).inc()
    state.metrics.webhook_latency.observe(elapsed)
    log.info(
        "webhook",
        message_id=result.message_id,
        message_type=result.message_type,
        subscription_type=result.subscription_type,
        outcome=result.outcome,
        status=result.response.status_code,
        ms=round(elapsed * 1000, 2),
    )
    return result.response


async def _handle(request: Request, state: IngestState) -> _Outcome:
    headers = _headers(request)
    try:
        body = await _read_capped(request, headers.get("content-length"), state.max_body_bytes)
    except _BodyTooLargeError:
        return _Outcome(_empty(413), "too_large")
    except ClientDisconnect:
        return _Outcome(_empty(400), "client_disconnected")

    try:
        verified = verify_request(
            headers,
            body,
            state.eventsub_secrets,
            now=datetime.now(UTC),
            window=timedelta(seconds=state.replay_window_seconds),
        )
    except VerificationError as error:
        return _Outcome(_empty(403), f"rejected_{error.reason}")

    message_type = verified.message_type
    try:
        payload = json.loads(body)
    except ValueError:
        return _Outcome(_empty(400), "invalid_json", message_type, verified.message_id)
    if not isinstance(payload, dict):
        return _Outcome(_empty(400), "invalid_json", message_type, verified.message_id)

    subscription = payload.get("subscription")
    subscription = subscription if isinstance(subscription, dict) else {}
    sub_type = subscription.get("type") if isinstance(subscription.get("type"), str) else None

    if message_type == "webhook_callback_verification":
        return await _challenge(state, verified.message_id, payload, subscription)
    if message_type == "notification":
        return await _notification(state, verified.message_id, payload, subscription, sub_type)
    if message_type == "revocation":
        return await _revocation(state, verified.message_id, subscription, sub_type)
    return _Outcome(_empty(204), "ignored_message_type", message_type, verified.message_id)


async def _challenge(
    state: IngestState, message_id: str, payload: dict[str, Any], subscription: dict[str, Any]
) -> _Outcome:
    challenge = payload.get("challenge")
    if not isinstance(challenge, str):
        return _Outcome(
            _empty(400), "invalid_challenge", "webhook_callback_verification", message_id
        )
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
        PlainTextResponse(challenge, media_type="text/plain"),
        "challenge_answered",
        "webhook_callback_verification",
        message_id,
        subscription.get("type") if isinstance(subscription.get("type"), str) else None,
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
        return _Outcome(
            _empty(204), "ignored_subscription_type", "notification", message_id, sub_type
        )
    event = payload.get("event")
    subject = _SUBJECT_FIELDS.get(sub_type or "", "broadcaster_user_id")
    if not isinstance(event, dict) or not isinstance(event.get(subject), str):
        return _Outcome(_empty(400), "invalid_event", "notification", message_id, sub_type)
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
        return _Outcome(_empty(503), "unavailable", "notification", message_id, sub_type)
    return _Outcome(
        _empty(204), "accepted" if is_new else "duplicate", "notification", message_id, sub_type
    )


async def _revocation(
    state: IngestState, message_id: str, subscription: dict[str, Any], sub_type: str | None
) -> _Outcome:
    sub_id, status = subscription.get("id"), subscription.get("status")
    if not isinstance(sub_id, str) or not isinstance(status, str):
        return _Outcome(_empty(400), "invalid_subscription", "revocation", message_id, sub_type)
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
        return _Outcome(_empty(503), "unavailable", "revocation", message_id, sub_type)
    outcome = "accepted" if new_ids else "duplicate"
    return _Outcome(_empty(204), outcome, "revocation", message_id, sub_type)

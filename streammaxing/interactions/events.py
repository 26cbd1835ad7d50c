"""``POST /webhooks/discord``: Discord's webhook events, verified like interactions.

A PING (``type`` 0) answers 204 with no body. ``APPLICATION_AUTHORIZED`` for a guild install
(``integration_type`` 0 with a ``guild``) queues the job that reads the guild with the bot token
and registers the install; the answer is 204 once the job is stored (503 when it cannot be, so
Discord retries). Events carry no id: a repeated delivery queues the job again, and registering
an install twice changes nothing. Other events are acknowledged and ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import structlog
from starlette.requests import Request
from starlette.responses import Response

from streammaxing.discord.signature import DiscordVerifier
from streammaxing.interactions.signed import Refusal, verified_body
from streammaxing.manage.services import ManageServices
from streammaxing.queues import INTERACTIVE_PRIORITY, Queue, Task

log = structlog.get_logger(__name__)

EVENT_PING: Final = 0
EVENT: Final = 1
GUILD_INSTALL: Final = 0


def _mapping(data: Any, key: str) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def guild_install(payload: Any) -> tuple[str, str] | None:
    """(guild id, installing user id) when the payload is a guild install event."""
    event = _mapping(payload, "event")
    if event.get("type") != "APPLICATION_AUTHORIZED":
        return None
    data = _mapping(event, "data")
    guild_id = _mapping(data, "guild").get("id")
    user_id = _mapping(data, "user").get("id")
    if data.get("integration_type") != GUILD_INSTALL:
        return None
    if not isinstance(guild_id, str) or not isinstance(user_id, str):
        return None
    return guild_id, user_id


class WebhookEventsEndpoint:
    def __init__(self, services: ManageServices, verifier: DiscordVerifier) -> None:
        self._services = services
        self._verifier = verifier

    async def handle(self, request: Request) -> Response:
        body = await verified_body(request, self._verifier)
        if isinstance(body, Refusal):
            return body.response
        try:
            payload = json.loads(body)
        except ValueError:
            return Response(status_code=400)
        kind = payload.get("type") if isinstance(payload, Mapping) else None
        if kind == EVENT_PING:
            return Response(status_code=204)
        event_type = _mapping(payload, "event").get("type")
        install = guild_install(payload) if kind == EVENT else None
        if install is None:
            log.info("discord_event_ignored", event_type=event_type)
            return Response(status_code=204)
        guild_id, user_id = install
        try:
            async with self._services.pool.connection() as conn:
                await self._services.app.configure_task(
                    Task.DISCORD_INSTALL,
                    connection=conn,
                    queue=Queue.INTERACTIONS,
                    priority=INTERACTIVE_PRIORITY,
                ).defer_async(guild_id=guild_id, user_id=user_id)
        except Exception:
            log.exception("discord_install_not_queued", guild_id=guild_id)
            return Response(status_code=503)
        log.info("discord_install_queued", guild_id=guild_id, user_id=user_id)
        return Response(status_code=204)

"""``POST /interactions``: slash commands and autocomplete, answered within Discord's 3 s.

Verify first (401 for every bad signature, 413 over the cap), then PING → PONG, commands →
`dispatch.answer`. An answer is inline when the work is a few queries; a command that calls
Twitch or Discord answers "deferred" and its job edits ``@original`` later. The reply is always
HTTP 200 with an interaction response once the request is verified: an unexpected failure
(the database away) becomes an ephemeral apology, never a 5xx Discord would show as "the
application did not respond".
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from streammaxing.discord.signature import DiscordVerifier
from streammaxing.interactions.dispatch import answer, command_name
from streammaxing.interactions.model import PING, Interaction, MalformedInteraction, parse
from streammaxing.interactions.replies import Reply, deferred, message, pong
from streammaxing.interactions.signed import Refusal, verified_body
from streammaxing.manage.services import ManageServices
from streammaxing.queues import INTERACTIVE_PRIORITY, Queue, Task

log = structlog.get_logger(__name__)

TRY_AGAIN = "Something went wrong on our side; try again in a minute."


class InteractionsEndpoint:
    """The route's handler, built once with the verifier and the operations' services."""

    def __init__(self, services: ManageServices, verifier: DiscordVerifier) -> None:
        self._services = services
        self._verifier = verifier

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        body = await verified_body(request, self._verifier)
        if isinstance(body, Refusal):
            return body.response
        try:
            interaction = parse(json.loads(body))
        except (ValueError, MalformedInteraction) as error:
            log.warning("interaction_malformed", error=type(error).__name__)
            return Response(status_code=400)
        if interaction.type == PING:
            return JSONResponse(pong())
        reply = await self._reply(interaction)
        log.info(
            "interaction",
            interaction_id=interaction.id,
            type=interaction.type,
            command=command_name(interaction),
            guild_id=interaction.guild_id,
            reply_type=reply["type"],
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return JSONResponse(reply)

    async def _reply(self, interaction: Interaction) -> Reply:
        async def defer(kind: str, arguments: Mapping[str, Any]) -> Reply:
            await self._defer(interaction, kind, arguments)
            return deferred()

        try:
            return await answer(self._services, interaction, defer)
        except Exception:
            log.exception("interaction_failed", interaction_id=interaction.id)
            return message(TRY_AGAIN)

    async def _defer(
        self, interaction: Interaction, kind: str, arguments: Mapping[str, Any]
    ) -> None:
        """Queue the job that finishes this interaction and edits its ``@original``."""
        async with self._services.pool.connection() as conn:
            await self._services.app.configure_task(
                Task.INTERACTION_FOLLOW_UP,
                connection=conn,
                queue=Queue.INTERACTIONS,
                priority=INTERACTIVE_PRIORITY,
            ).defer_async(
                kind=kind,
                interaction_id=interaction.id,
                application_id=interaction.application_id,
                token=interaction.token,
                guild_id=interaction.guild_id,
                user_id=interaction.user_id,
                permissions=interaction.member_permissions,
                deferred_at=time.time(),
                arguments=dict(arguments),
            )

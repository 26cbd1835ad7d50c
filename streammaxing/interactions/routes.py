"""The two Discord routes, for ``create_app(state, extra_routes=...)``."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from streammaxing.discord.signature import DiscordVerifier
from streammaxing.interactions.endpoint import InteractionsEndpoint
from streammaxing.interactions.events import WebhookEventsEndpoint
from streammaxing.manage.services import ManageServices

INTERACTIONS_PATH = "/interactions"
EVENTS_PATH = "/webhooks/discord"


def discord_routes(services: ManageServices, public_key_hex: str) -> list[BaseRoute]:
    """``POST /interactions`` and ``POST /webhooks/discord``, verified with the app's key."""
    verifier = DiscordVerifier(public_key_hex)
    return [
        Route(INTERACTIONS_PATH, InteractionsEndpoint(services, verifier).handle, methods=["POST"]),
        Route(EVENTS_PATH, WebhookEventsEndpoint(services, verifier).handle, methods=["POST"]),
    ]

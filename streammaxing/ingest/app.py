"""The ingest Starlette app, assembled explicitly with a typed lifespan.

`/webhooks/twitch` is the hot path: `IngestApp` hands its requests straight to the webhook's
ASGI app, before Starlette's middleware stack and router (error pages, exception handlers,
route matching, `Request`/`Response`: ~8 % of the ingest's CPU per request, ~40 µs, in a
py-spy profile under bench/ingest.py). Every other path, the dashboard's included, goes
through the stack as usual. The router also holds the webhook route, so a request that reaches
it (through `Mount`ing this app elsewhere, say) is answered the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, TypedDict

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from streammaxing.ingest import probes, webhooks
from streammaxing.ingest.state import IngestState

WEBHOOK_PATH: Final = "/webhooks/twitch"


class LifespanState(TypedDict):
    ingest: IngestState


class IngestApp(Starlette):
    """A Starlette app that answers `WEBHOOK_PATH` with `webhook` directly."""

    def __init__(self, webhook: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._webhook = webhook

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == WEBHOOK_PATH:
            await self._webhook(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(state: IngestState, *, extra_routes: list[BaseRoute] | None = None) -> Starlette:
    """The app for one process; `state` holds the (not yet opened) pool and committer."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[LifespanState]:
        # wait=False: the app starts even while the database is down; /readyz tells the truth.
        await state.pool.open(wait=False)
        await state.committer.start()
        try:
            yield {"ingest": state}
        finally:
            await state.committer.stop()
            state.request_log.flush()
            for close in state.on_shutdown:
                await close()
            await state.pool.close()

    webhook = webhooks.TwitchWebhook(state)
    routes: list[BaseRoute] = [
        Route(WEBHOOK_PATH, webhook),
        Route("/healthz", probes.healthz, methods=["GET"]),
        Route("/readyz", probes.readyz, methods=["GET"]),
        Route("/metrics", probes.metrics, methods=["GET"]),
        *(extra_routes or []),
    ]
    return IngestApp(webhook, routes=routes, lifespan=lifespan)

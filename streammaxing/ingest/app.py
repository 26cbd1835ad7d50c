"""The ingest Starlette app, assembled explicitly with a typed lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from streammaxing.ingest import probes, webhooks
from streammaxing.ingest.state import IngestState


class LifespanState(TypedDict):
    ingest: IngestState


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
            for close in state.on_shutdown:
                await close()
            await state.pool.close()

    routes: list[BaseRoute] = [
        Route("/webhooks/twitch", webhooks.twitch_webhook, methods=["POST"]),
        Route("/healthz", probes.healthz, methods=["GET"]),
        Route("/readyz", probes.readyz, methods=["GET"]),
        Route("/metrics", probes.metrics, methods=["GET"]),
        *(extra_routes or []),
    ]
    return Starlette(routes=routes, lifespan=lifespan)

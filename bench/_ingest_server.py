"""The real `streammaxing ingest` command, plus one benchmark-only route: the HMAC-only floor.

`bench/ingest.py` starts this script as the server under test. It runs the production command
line (`streammaxing.cli.main(["ingest", ...])`: settings, logging, pool, group committer,
uvicorn options) unchanged; the only difference is that the app it builds also serves
`POST /bench/hmac-only`, which reads the body, verifies the signature exactly like the webhook
and answers 204 — the cost of the HTTP stack plus the HMAC, with no database and no logging.
Both endpoints then share one process, one event loop and one uvicorn configuration, so their
ratio measures what the ingest's own work costs.

The route is added by wrapping `streammaxing.ingest.app.create_app` before the command runs
(the command imports it when it starts serving), so the production app never carries it.

With `--without-dashboard` first, the command builds its app with `build_ingest(..., web=False)`
(the same wrapping trick), to measure the ingest with and without the dashboard mounted.

Usage: python bench/_ingest_server.py [--without-dashboard] --port PORT
       (DATABASE_URL, TWITCH_EVENTSUB_SECRET set)
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from streammaxing import bootstrap, cli, commands
from streammaxing.ingest import app as ingest_app
from streammaxing.ingest.state import IngestState, ingest_state
from streammaxing.settings import Settings
from streammaxing.twitch.eventsub import VerificationError, verify_request

FLOOR_PATH = "/bench/hmac-only"


async def hmac_only(request: Request) -> Response:
    """Verify the EventSub signature and timestamp, then answer 204 (403 if they fail)."""
    state = ingest_state(request)
    body = await request.body()
    try:
        verify_request(
            request.headers,
            body,
            state.eventsub_secrets,
            now=datetime.now(UTC),
            window=timedelta(seconds=state.replay_window_seconds),
        )
    except VerificationError:
        return Response(status_code=403)
    return Response(status_code=204)


_production_create_app = ingest_app.create_app


def _create_app_with_floor(
    state: IngestState, *, extra_routes: list[BaseRoute] | None = None
) -> Starlette:
    floor = Route(FLOOR_PATH, hmac_only, methods=["POST"])
    # First: the dashboard is a catch-all Mount that would answer 404 for it.
    return _production_create_app(state, extra_routes=[floor, *(extra_routes or [])])


def _build_ingest_without_dashboard(
    settings: Settings, url: str, *, listen: str = "http://127.0.0.1:8080", web: bool = True
) -> Starlette:
    return bootstrap.build_ingest(settings, url, listen=listen, web=False)


def main(argv: list[str]) -> int:
    ingest_app.create_app = _create_app_with_floor
    if argv[:1] == ["--without-dashboard"]:
        commands.build_ingest = _build_ingest_without_dashboard  # type: ignore[assignment]
        argv = argv[1:]
    return cli.main(["ingest", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

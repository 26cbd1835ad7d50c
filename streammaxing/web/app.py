"""The dashboard's routes, mounted last in the ingest app behind their own middleware.

The security headers wrap only this Mount: `/webhooks/twitch` and the other ingest routes are
matched before it and never pass through the dashboard's middleware.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from streammaxing.web import auth, pages
from streammaxing.web.deps import HERE, WebDeps
from streammaxing.web.headers import SecurityHeaders


def dashboard_routes(deps: WebDeps) -> list[BaseRoute]:
    """One catch-all Mount: a Starlette app of its own, carrying ``deps`` in its state."""
    app = Starlette(
        routes=[
            Route("/", pages.home, methods=["GET"]),
            Route("/login", auth.login, methods=["GET"]),
            Route("/auth/discord/callback", auth.callback, methods=["GET"]),
            Route("/logout", auth.logout, methods=["POST"]),
            Route("/install", auth.install, methods=["GET"]),
            Route("/operator-login", auth.operator_login, methods=["POST"]),
            Route("/me", pages.me_page, methods=["GET"]),
            Route("/me/twitch/link", pages.twitch_link, methods=["POST"]),
            Route("/me/twitch/unlink", pages.twitch_unlink, methods=["POST"]),
            Route("/me/{action:str}", pages.me_form, methods=["POST"]),
            Route("/guilds/{guild_id:str}", pages.guild_page, methods=["GET"]),
            Route("/guilds/{guild_id:str}/preview", pages.preview_api, methods=["POST"]),
            Route("/guilds/{guild_id:str}/{action:str}", pages.guild_form, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders)],
    )
    app.state.web = deps
    return [Mount("", app=app)]

"""Rendering a page with what every page shows: who is signed in and the CSRF token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from streammaxing.schema.members import get_user
from streammaxing.schema.web_sessions import SessionRow
from streammaxing.web.deps import WebDeps
from streammaxing.web.loopback import is_local


@dataclass(frozen=True)
class Viewer:
    """Who sees the page: nobody, the local operator or a user (with their name)."""

    session: SessionRow | None
    username: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.session is not None and (
            self.session.operator or self.session.user_id is not None
        )

    @property
    def operator(self) -> bool:
        return self.session is not None and self.session.operator

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token if self.session is not None else ""


async def viewer(deps: WebDeps, session: SessionRow | None) -> Viewer:
    if session is None or session.user_id is None:
        return Viewer(session)
    async with deps.services.pool.connection() as conn:
        user = await get_user(conn, session.user_id)
    return Viewer(session, user.username if user else None)


def page(
    deps: WebDeps,
    request: Request,
    template: str,
    who: Viewer,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
) -> Response:
    values = {
        "viewer": who,
        "local_operator": deps.config.local_operator and is_local(request),
        "oauth": deps.config.oauth is not None,
        **(context or {}),
    }
    response: HTMLResponse = deps.templates.TemplateResponse(
        request, template, values, status_code=status
    )
    return response


def problem(
    deps: WebDeps, request: Request, who: Viewer, status: int, title: str, message: str
) -> Response:
    return page(
        deps, request, "problem.html", who, {"title": title, "message": message}, status=status
    )

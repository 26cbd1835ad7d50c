"""The linking pages: plain HTML rendered by Jinja2 with autoescaping, never cached and never
sending a referrer (the callback's URL carries a code and a state)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
}


class Pages:
    """Renders the linking templates."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("streammaxing.linking", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            auto_reload=False,
        )

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = self._env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    def message(
        self,
        title: str,
        paragraphs: Sequence[str],
        *,
        status: int = 200,
        retry_url: str | None = None,
        back_url: str | None = None,
    ) -> HTMLResponse:
        return self.render(
            "message.html",
            status,
            title=title,
            paragraphs=paragraphs,
            retry_url=retry_url,
            back_url=back_url,
        )

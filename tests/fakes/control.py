"""Helpers for a fake's ``/_fake`` control API: JSON in, JSON (or 204) out."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.fakes.twitch_problem import TwitchProblemError

__all__ = ["control", "json_body"]


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}``); 400 otherwise."""
    try:
        value = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise TwitchProblemError(HTTPStatus.BAD_REQUEST, "body is not JSON") from exc
    if not isinstance(value, dict):
        raise TwitchProblemError(HTTPStatus.BAD_REQUEST, "body is not a JSON object")
    return value


def control(
    handler: Callable[[Request], Awaitable[Any]], status: int = HTTPStatus.OK
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint answering `handler`'s result as JSON (None → 204); bad input → 400."""

    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request)
        except TwitchProblemError as problem:
            return JSONResponse({"message": problem.message}, problem.status)
        except (TypeError, KeyError, ValueError) as exc:
            return JSONResponse({"message": repr(exc)}, HTTPStatus.BAD_REQUEST)
        if result is None:
            return Response(status_code=HTTPStatus.NO_CONTENT)
        return JSONResponse(result, status)

    return endpoint

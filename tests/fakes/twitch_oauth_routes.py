"""HTTP handlers of the fake id.twitch.tv (``/oauth2/*``) and its ``/_fake/oauth`` control API.

The handlers take the request and the `TwitchFakeState`; `tests.fakes.twitch_fake` wraps them
with fault injection, the request log and the id.twitch.tv error body.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
from collections.abc import Awaitable, Callable, Coroutine
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from tests.fakes.control import control, json_body
from tests.fakes.eventsub_delivery import post_message
from tests.fakes.twitch_oauth import DroppedAuthorization
from tests.fakes.twitch_problem import TwitchProblemError

if TYPE_CHECKING:
    from tests.fakes.twitch_fake import TwitchFakeState

__all__ = ["authorize", "control_routes", "form", "revoke_handler", "token", "validate"]

Background = set[asyncio.Task[None]]
OAuthHandler = Callable[[Request, "TwitchFakeState"], Awaitable[Response]]


async def form(request: Request) -> dict[str, str]:
    """Query string and url-encoded form merged (Twitch accepts both for the token call)."""
    params = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
    return params


async def authorize(request: Request, state: TwitchFakeState) -> Response:
    """The consent page: a 302 back to the client, or a 400 page when there is no client."""
    try:
        location = state.oauth.authorize(dict(request.query_params))
    except TwitchProblemError as problem:
        page = f"<!doctype html><title>Twitch</title><p>{html.escape(problem.message)}</p>"
        return HTMLResponse(page, status_code=problem.status)
    return RedirectResponse(location, status_code=HTTPStatus.FOUND)


async def token(request: Request, state: TwitchFakeState) -> Response:
    params = await form(request)
    client_id = params.get("client_id")
    if not client_id:
        raise TwitchProblemError(HTTPStatus.BAD_REQUEST, "missing client id")
    grant_type = params.get("grant_type")
    secret = params.get("client_secret")
    if not grant_type:
        raise TwitchProblemError(HTTPStatus.BAD_REQUEST, "missing grant type")
    if grant_type == "client_credentials":
        access, expires_in = state.issue_token(client_id, secret)
        return JSONResponse(
            {"access_token": access, "expires_in": expires_in, "token_type": "bearer"}
        )
    if grant_type == "authorization_code":
        code, redirect_uri = params.get("code", ""), params.get("redirect_uri")
        return JSONResponse(
            state.oauth.exchange_code(client_id, secret, code, redirect_uri).to_json()
        )
    if grant_type == "refresh_token":
        refresh = params.get("refresh_token", "")
        return JSONResponse(state.oauth.refresh(client_id, secret, refresh).to_json())
    raise TwitchProblemError(HTTPStatus.BAD_REQUEST, "unsupported grant type")


async def validate(request: Request, state: TwitchFakeState) -> Response:
    """``Authorization: OAuth <token>`` (or ``Bearer``) → who the token is for, and for how long."""
    header = request.headers.get("authorization")
    if not header:
        raise TwitchProblemError(HTTPStatus.UNAUTHORIZED, "missing authorization token")
    scheme, _, value = header.partition(" ")
    value = value.strip() if scheme.lower() in ("oauth", "bearer") else ""
    user_token = state.oauth.access_token(value)
    if user_token is not None:
        user = state.identity(user_token.user_id)
        return JSONResponse(
            {
                "client_id": user_token.client_id,
                "login": user.login if user else None,
                # Observed as null for a token without scopes (twi#1037).
                "scopes": list(user_token.scopes) or None,
                "user_id": user_token.user_id,
                "expires_in": max(0, int(user_token.expires_at - state.now())),
            }
        )
    owner = state.token_owner(value)
    if owner is None:
        raise TwitchProblemError(HTTPStatus.UNAUTHORIZED, "invalid access token")
    return JSONResponse({"client_id": owner[0], "scopes": [], "expires_in": owner[1]})


def revoke_handler(background: Background) -> OAuthHandler:
    """``POST /oauth2/revoke``; a dropped authorization is announced to revoke subscribers."""

    async def revoke(request: Request, state: TwitchFakeState) -> Response:
        params = await form(request)
        client_id = params.get("client_id", "")
        if state.oauth.client(client_id) is None:
            raise TwitchProblemError(HTTPStatus.NOT_FOUND, "client does not exist")
        value = params.get("token", "")
        if not state.revoke_app_token(client_id, value):
            dropped = state.oauth.revoke_access_token(client_id, value)
            if dropped is not None:
                _spawn(background, deliver_revocation(state, dropped))
        return Response(status_code=HTTPStatus.OK)

    return revoke


async def deliver_revocation(state: TwitchFakeState, dropped: DroppedAuthorization) -> None:
    """POST a signed `user.authorization.revoke` notification to each enabled subscriber."""
    event = {
        "client_id": dropped.client_id,
        "user_id": dropped.user_id,
        "user_login": dropped.user_login,
        "user_name": dropped.user_name,
    }
    for sub in state.authorization_subscribers(dropped.client_id, "user.authorization.revoke"):
        shown = sub.to_helix()
        delivery = await post_message(
            callback=sub.callback,
            secret=sub.secret,
            message_type="notification",
            subscription=shown,
            payload={"subscription": shown, "event": event},
            now=state.now(),
        )
        state.record_delivery(delivery)


def _spawn(background: Background, work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    background.add(task)
    task.add_done_callback(background.discard)


def control_routes(state: TwitchFakeState, background: Background) -> list[BaseRoute]:
    """``/_fake/oauth`` — the OAuth side of `TwitchFakeState.oauth`, as JSON over HTTP:

    POST /config {OAuthConfig fields} · POST /clients {add_client's arguments} ·
    GET|POST /authorizations (POST: {client_id, user_id, scopes}) ·
    POST /authorizations/drop {client_id, user_id} (the user disconnects the app; subscribers
    of `user.authorization.revoke` are notified) · GET /authorize-requests.
    """
    oauth = state.oauth

    async def configure(request: Request) -> dict[str, Any]:
        return dataclasses.asdict(oauth.configure(**await json_body(request)))

    async def add_client(request: Request) -> dict[str, Any]:
        values = await json_body(request)
        client = oauth.add_client(values.pop("client_id"), values.pop("client_secret"), **values)
        return dataclasses.asdict(client)

    async def list_authorizations(_request: Request) -> list[dict[str, Any]]:
        return [dataclasses.asdict(a) for a in oauth.authorizations()]

    async def grant(request: Request) -> dict[str, Any]:
        return dataclasses.asdict(oauth.grant(**await json_body(request)))

    async def drop(request: Request) -> dict[str, Any]:
        dropped = oauth.drop_authorization(**await json_body(request))
        if dropped is None:
            raise TwitchProblemError(HTTPStatus.NOT_FOUND, "no such authorization")
        _spawn(background, deliver_revocation(state, dropped))
        return dataclasses.asdict(dropped)

    async def visits(_request: Request) -> list[dict[str, Any]]:
        return [dataclasses.asdict(r) for r in oauth.authorize_requests()]

    return [
        Route("/config", control(configure), methods=["POST"]),
        Route("/clients", control(add_client, HTTPStatus.CREATED), methods=["POST"]),
        Route("/authorizations", control(list_authorizations), methods=["GET"]),
        Route("/authorizations", control(grant, HTTPStatus.CREATED), methods=["POST"]),
        Route("/authorizations/drop", control(drop), methods=["POST"]),
        Route("/authorize-requests", control(visits), methods=["GET"]),
    ]

"""A fake Discord REST API (v10) that is strict where Discord is strict and records everything.

Its parts, one module each: `discord_state` (the state and the request pipeline, messages and
DMs), `discord_oauth` (OAuth2 sign-in and bot install), `discord_guilds` (bot-token guild
reads), `discord_interactions` (interaction callbacks and webhooks), `discord_commands`
(command registration), `discord_interaction_driver` and `discord_webhook_events` (signed calls
to the app under test), `discord_forms` (message validation), `discord_model`, `discord_http`
and `discord_signing`. This module serves it. Tests in this process use the Python API of
`DiscordFakeState` and serve it with `FakeDiscordServer` (uvicorn in a thread); child
processes and benchmarks run it standalone:

    python -m tests.fakes.discord_fake --port 8181 [--unlimited] [--global-limit 50] [--token T]

and use the HTTP control API under `/_fake/*` (no auth): `POST /_fake/seed`, `/_fake/config`,
`/_fake/faults`, `/_fake/reset`, `DELETE /_fake/messages/{id}`, `GET /_fake/messages`,
`/_fake/requests`, `/_fake/stats`, `POST /_fake/consent`.

Every API request goes through these steps, in order (the first that answers wins):
 1. ban mode (too many invalid requests from the client IP) → 429 without `Via`;
 2. routing: a version other than v10 or an unknown path → 404 code 0, wrong method → 405;
 3. authentication as the route requires: `Authorization: Bot <token>` with a seeded token
    (then the User-Agent must match `DiscordBot (url, version)`, else a Cloudflare-style 403
    HTML page), `Bearer <OAuth2 access token>`, OAuth2 client credentials (checked by the token
    endpoints) or none (the authorize page, interaction callbacks and webhooks); else 401;
 4. the first queued fault matching method + path is consumed (see `Fault`; it takes no slot);
 5. rate limits per token: global window, then the route's bucket (429 `global` / `user`);
    in `unlimited` mode nothing is limited and bucket headers report 1,000,000 requests left;
 6. body routes: `Content-Type` must be JSON (50035) and the body valid JSON (50109);
 7. resources: 10003 unknown channel, 50001 missing access, 50013 missing permissions, 10008
    unknown message, 50005 another author's message, 40058 forum channel;
 8. form schema and limits (50035 with a nested `errors` tree), then 50006 empty message;
 9. DM rules (50033, 40003, 50278, 50007) and nonce dedupe, then the action itself.

Clock: an injectable callable returning monotonic seconds (`FakeClock` lets tests move time
instead of waiting); epoch timestamps advance with it. Error codes other than those the
reference names (e.g. STRING_TYPE_CONVERT, NUMBER_TYPE_MAX, DATE_TYPE_PARSE) are modelled on
Discord's naming and are best guesses. Without EMBED_LINKS a bot's embeds are silently dropped,
as users report; a DM-open counts toward the 40003 limit only when it creates a new channel.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
from types import TracebackType
from typing import Self

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.fakes.discord_forms import Mentions, compute_mentions, validate_message_body
from tests.fakes.discord_http import API_PREFIX, ApiRequest
from tests.fakes.discord_model import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    BAN_MESSAGE,
    BUCKET_MESSAGE_DELETE,
    BUCKET_MESSAGE_READ,
    BUCKET_MESSAGE_WRITE,
    BUCKET_USERS_ME,
    BUCKET_USERS_ME_GUILDS,
    DEFAULT_BOT_PERMISSIONS,
    DM,
    EMBED_LINKS,
    GUILD_ANNOUNCEMENT,
    GUILD_CATEGORY,
    GUILD_FORUM,
    GUILD_MEDIA,
    GUILD_TEXT,
    GUILD_VOICE,
    MANAGE_GUILD,
    MANAGE_MESSAGES,
    MENTION_EVERYONE,
    RATE_LIMITED_MESSAGE,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SHARED_LIMIT_MESSAGE,
    VIEW_CHANNEL,
    FakeChannel,
    FakeClock,
    FakeConfig,
    FakeGuild,
    FakeMessage,
    FakeRole,
    FakeUser,
    Fault,
    LoggedRequest,
    RouteLimit,
)
from tests.fakes.discord_state import DiscordFakeState
from tests.fakes.server import ServerThread

__all__ = [
    "ADMINISTRATOR", "ALL_PERMISSIONS", "API_PREFIX", "BAN_MESSAGE", "BUCKET_MESSAGE_DELETE",
    "BUCKET_MESSAGE_READ", "BUCKET_MESSAGE_WRITE", "BUCKET_USERS_ME", "BUCKET_USERS_ME_GUILDS",
    "DEFAULT_BOT_PERMISSIONS", "DM", "EMBED_LINKS", "GUILD_ANNOUNCEMENT", "GUILD_CATEGORY",
    "GUILD_FORUM", "GUILD_MEDIA", "GUILD_TEXT", "GUILD_VOICE", "MANAGE_GUILD", "MANAGE_MESSAGES",
    "MENTION_EVERYONE", "RATE_LIMITED_MESSAGE", "READ_MESSAGE_HISTORY", "SEND_MESSAGES",
    "SHARED_LIMIT_MESSAGE", "VIEW_CHANNEL", "ApiRequest", "DiscordFakeState", "FakeChannel",
    "FakeClock", "FakeConfig", "FakeDiscordServer", "FakeGuild", "FakeMessage", "FakeRole",
    "FakeUser", "Fault", "LoggedRequest", "Mentions", "RouteLimit", "compute_mentions",
    "create_app", "main", "validate_message_body",
]  # fmt: skip

_ROUTE_LIMITS = tuple(
    field.name for field in dataclasses.fields(FakeConfig) if field.type == "RouteLimit"
)

# ---------------------------------------------------------------------------------------------
# ASGI: the API, the control API, the app factory
# ---------------------------------------------------------------------------------------------


class ConnectionDroppedError(Exception):
    """Raised after the status line to make uvicorn abort the connection (drop_after_commit)."""


class _DropFilter(logging.Filter):
    """Keep uvicorn from logging the deliberate ConnectionDroppedError as a server error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        return not (exc_info and isinstance(exc_info[1], ConnectionDroppedError))


def _silence_deliberate_drops() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _DropFilter) for existing in logger.filters):
        logger.addFilter(_DropFilter())


class _DiscordApi:
    """Raw ASGI endpoint for every non-control path: parse, ask the state, then answer."""

    def __init__(self, state: DiscordFakeState) -> None:
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            return
        client = scope.get("client") or ("unknown", 0)
        request = ApiRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers={
                name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in scope["headers"]
            },
            body=body,
            client=str(client[0]),
        )
        outcome = self._state.handle(request)
        if outcome.delay_s > 0 and await _client_left_within(receive, outcome.delay_s):
            return
        headers = [(name.encode(), value.encode()) for name, value in outcome.headers.items()]
        headers.append((b"content-length", str(len(outcome.body)).encode()))
        await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
        if outcome.drop:
            _silence_deliberate_drops()
            raise ConnectionDroppedError(request.path)
        await send({"type": "http.response.body", "body": outcome.body})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _client_left_within(receive: Receive, seconds: float) -> bool:
    """Wait `seconds`, or less if the client disconnects; report whether it did."""
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True


def _control_routes(state: DiscordFakeState) -> list[Route]:
    async def seed(request: Request) -> Response:
        data = await request.json()
        for token in data.get("tokens", []):
            state.add_token(token["token"], bot_id=token.get("bot_id"))
        for guild in data.get("guilds", []):
            state.add_guild(
                guild["id"],
                bot_member=guild.get("bot_member", True),
                name=guild.get("name", ""),
                icon=guild.get("icon"),
                owner_id=guild.get("owner_id"),
            )
        for channel in data.get("channels", []):
            state.add_channel(
                channel["id"],
                guild_id=channel["guild_id"],
                type=channel.get("type", GUILD_TEXT),
                deleted=channel.get("deleted", False),
                permissions=channel.get("permissions", DEFAULT_BOT_PERMISSIONS),
            )
        for role in data.get("roles", []):
            state.add_role(
                role["id"], guild_id=role["guild_id"], mentionable=role.get("mentionable", False)
            )
        for user in data.get("users", []):
            state.add_user(
                user["id"],
                dms_open=user.get("dms_open", True),
                mutual_guild=user.get("mutual_guild", True),
                deleted=user.get("deleted", False),
                username=user.get("username"),
                global_name=user.get("global_name"),
                avatar=user.get("avatar"),
            )
        for member in data.get("members", []):
            state.add_member(
                member["guild_id"], member["user_id"], permissions=int(member.get("permissions", 0))
            )
        for client in data.get("oauth_clients", []):
            state.oauth.add_client(
                client["client_id"],
                client["client_secret"],
                client["redirect_uris"],
                public=client.get("public", False),
            )
        return JSONResponse({"ok": True})

    async def consent(request: Request) -> Response:
        data = await request.json()
        state.oauth.set_consent(
            user_id=data.get("user_id"),
            deny=data.get("deny", False),
            guild_id=data.get("guild_id"),
            granted_permissions=data.get("granted_permissions"),
        )
        return JSONResponse({"ok": True})

    async def configure(request: Request) -> Response:
        changes = await request.json()
        for name in _ROUTE_LIMITS:
            if name in changes:
                changes[name] = RouteLimit(**changes[name])
        state.configure(**changes)
        return JSONResponse(dataclasses.asdict(state.config))

    async def reset(request: Request) -> Response:
        state.reset()
        return JSONResponse({"ok": True})

    async def inject(request: Request) -> Response:
        state.inject(Fault(**await request.json()))
        return JSONResponse({"pending": state.pending_faults})

    async def messages(request: Request) -> Response:
        channel_id = request.query_params.get("channel_id")
        found = state.messages_in(channel_id) if channel_id else state.messages
        return JSONResponse([dataclasses.asdict(message) for message in found])

    async def delete_message(request: Request) -> Response:
        state.delete_message(request.path_params["message_id"])
        return Response(status_code=204)

    async def requests(request: Request) -> Response:
        return JSONResponse([dataclasses.asdict(entry) for entry in state.requests])

    async def stats(request: Request) -> Response:
        client = request.query_params.get("client", "127.0.0.1")
        return JSONResponse(
            {
                "messages": len(state.messages),
                "requests": len(state.requests),
                "invalid_requests": state.invalid_request_count(client),
                "rate_limited": state.rate_limited,
                "banned": state.is_banned(client),
                "pending_faults": state.pending_faults,
            }
        )

    return [
        Route("/_fake/seed", seed, methods=["POST"]),
        Route("/_fake/config", configure, methods=["POST"]),
        Route("/_fake/reset", reset, methods=["POST"]),
        Route("/_fake/faults", inject, methods=["POST"]),
        Route("/_fake/messages", messages, methods=["GET"]),
        Route("/_fake/messages/{message_id}", delete_message, methods=["DELETE"]),
        Route("/_fake/requests", requests, methods=["GET"]),
        Route("/_fake/stats", stats, methods=["GET"]),
        Route("/_fake/consent", consent, methods=["POST"]),
    ]


def create_app(state: DiscordFakeState) -> Starlette:
    """The fake as an ASGI app: `/_fake/*` control routes, everything else is Discord's API."""
    return Starlette(
        routes=[*_control_routes(state), Route("/{path:path}", _DiscordApi(state))],
    )


class FakeDiscordServer:
    """The fake served on 127.0.0.1 in a thread; `with FakeDiscordServer() as fake: ...`."""

    def __init__(self, state: DiscordFakeState | None = None, *, port: int | None = None) -> None:
        self.state = state or DiscordFakeState()
        self._server = ServerThread(create_app(self.state), port=port)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def api_url(self) -> str:
        """What DISCORD_API_URL should be set to."""
        return self._server.url + API_PREFIX

    def __enter__(self) -> Self:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve the fake on 127.0.0.1 until interrupted (for child processes and benchmarks)."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.discord_fake")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--unlimited", action="store_true", help="no buckets, no global limit")
    parser.add_argument(
        "--global-limit", default="50", help="requests per second per token, or 'none'"
    )
    parser.add_argument("--token", action="append", default=[], help="accept this bot token")
    parser.add_argument("--invalid-threshold", type=int, default=10_000)
    args = parser.parse_args(argv)
    global_limit = None if args.global_limit.lower() == "none" else int(args.global_limit)
    state = DiscordFakeState(
        FakeConfig(
            unlimited=args.unlimited,
            global_limit=global_limit,
            invalid_request_threshold=args.invalid_threshold,
        )
    )
    for token in args.token:
        state.add_token(token)
    uvicorn.run(
        create_app(state),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()

"""A running dashboard for tests: the ingest app with the dashboard mounted, served by uvicorn
on 127.0.0.1 against a real database and the fake Discord, plus a browser-like client's steps."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import procrastinate
import psycopg
import uvicorn
from pydantic import SecretStr
from starlette.types import ASGIApp

from streammaxing.crypto import TokenBox
from streammaxing.db import create_pool
from streammaxing.discord.client import DiscordClient, build_http_client
from streammaxing.ingest.app import create_app
from streammaxing.ingest.enqueue import GroupCommitter
from streammaxing.ingest.state import IngestState
from streammaxing.linking.routes import Linking, dashboard_start, linking_routes
from streammaxing.manage.services import ManageServices
from streammaxing.metrics import Metrics
from streammaxing.twitch.client import HelixClient
from streammaxing.twitch.user_oauth import TwitchUserOAuth
from streammaxing.web.app import dashboard_routes
from streammaxing.web.config import DiscordOAuth, WebConfig
from streammaxing.web.deps import WebDeps, build_templates
from tests.fakes.discord_fake import DiscordFakeState, FakeConfig, FakeDiscordServer
from tests.fakes.discord_model import SEND_MESSAGES
from tests.fakes.server import free_port

APP = "700000000000000001"
SECRET = "client-secret"
BOT_TOKEN = "fake-bot-token"
MANAGER = "400000000000000001"
MEMBER = "400000000000000002"
STRANGER = "400000000000000003"
GUILD = "100000000000000001"
OTHER = "100000000000000002"
CHANNEL = "200000000000000001"
KEY = SecretStr("x" * 43 + "=")


@dataclass
class Site:
    url: str
    port: int
    database_url: str
    fake: DiscordFakeState

    def browser(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10, follow_redirects=False)

    async def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(
            self.database_url, autocommit=True
        ) as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall() if cur.description else []


@asynccontextmanager
async def serve(app: ASGIApp, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard did not start")
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def running_site(
    database_url: str,
    discord: FakeDiscordServer,
    *,
    with_oauth: bool,
    idle: timedelta,
    helix: HelixClient | None = None,
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
    twitch_oauth: TwitchUserOAuth | None = None,
) -> AsyncIterator[Site]:
    """The dashboard on a free port; ``helix`` (the Twitch fake's) resolves logins when given;
    ``wrap`` puts an ASGI wrapper around the app (benchmarks time requests with it);
    ``twitch_oauth`` (the Twitch fake's) mounts the Twitch linking routes, with tokens sealed
    under `KEY` and revoked at the fake on unlink."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    fake = discord.state
    fake.reset(FakeConfig())
    fake.add_token(BOT_TOKEN, bot_id=APP)
    for user, name in ((MANAGER, "manny"), (MEMBER, "mel"), (STRANGER, "stan")):
        fake.add_user(user, username=name)
    fake.add_guild(GUILD, name="Manny's", owner_id=MANAGER, bot_member=False)
    fake.add_guild(OTHER, name="Elsewhere", owner_id=STRANGER)
    fake.add_member(GUILD, MANAGER)
    fake.add_member(GUILD, MEMBER, permissions=SEND_MESSAGES)
    fake.add_member(OTHER, STRANGER)
    fake.add_channel(CHANNEL, guild_id=GUILD, name="live")
    fake.oauth.add_client(APP, SECRET, [f"{url}/auth/discord/callback"])
    pool = create_pool(database_url, min_size=1, max_size=4, name="web-test")
    state = IngestState(
        pool=pool,
        metrics=Metrics(),
        committer=GroupCommitter(pool),
        eventsub_secrets=[b"unused-eventsub-secret"],
    )
    services = ManageServices(
        pool=pool, app=procrastinate.App(connector=procrastinate.PsycopgConnector()), helix=helix
    )
    oauth = (
        DiscordOAuth(APP, SecretStr(SECRET), f"{discord.url}/oauth2/authorize", discord.api_url)
        if with_oauth
        else None
    )
    bot = DiscordClient(build_http_client(discord.api_url, BOT_TOKEN, "0.1.0"))
    linking = None
    if twitch_oauth is not None:
        box = TokenBox([KEY])
        services = dataclasses.replace(services, user_oauth=twitch_oauth, tokens=box)
        linking = Linking(services=services, oauth=twitch_oauth, box=box, public_url=url)
    deps = WebDeps(
        services=services,
        config=WebConfig(public_url=url, oauth=oauth, session_idle=idle),
        templates=build_templates(),
        bot=bot,
        box=TokenBox([KEY]),
        start_twitch_link=None if linking is None else dashboard_start(linking),
    )
    state.on_shutdown.append(bot.aclose)
    routes = dashboard_routes(deps)
    if linking is not None:
        routes = [*linking_routes(linking), *routes]
    app: ASGIApp = create_app(state, extra_routes=routes)
    async with serve(wrap(app) if wrap is not None else app, port):
        yield Site(url, port, database_url, fake)


async def sign_in(site: Site, browser: httpx.AsyncClient, user: str) -> httpx.Response:
    """Follow /login → the fake's authorize page (approving as ``user``) → the callback."""
    site.fake.oauth.set_consent(user_id=user)
    start = await browser.get("/login")
    assert start.status_code == 302
    async with httpx.AsyncClient(timeout=10) as discord:
        back = await discord.get(start.headers["location"])
    assert back.status_code == 302
    return await browser.get(back.headers["location"])


def csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, "the page has no form token"
    return match.group(1)


async def install(site: Site, browser: httpx.AsyncClient, guild: str) -> httpx.Response:
    start = await browser.get(f"/install?guild_id={guild}")
    assert start.status_code == 302
    async with httpx.AsyncClient(timeout=10) as discord:
        back = await discord.get(start.headers["location"])
    return await browser.get(back.headers["location"])

"""What the Twitch-linking tests share: the fake Twitch with this service's redirect URIs, the
linking routes over the test database, and a browser that walks the consent redirects."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import procrastinate
import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from starlette.applications import Starlette

from streammaxing.crypto import TokenBox
from streammaxing.linking.routes import Linking, linking_routes
from streammaxing.manage import guilds, members
from streammaxing.manage.actor import DiscordUser, GuildEntry, Operator, Surface
from streammaxing.manage.models import GuildUpsert, UserUpsert
from streammaxing.manage.services import ManageServices
from streammaxing.twitch.user_oauth import TwitchUserOAuth
from tests.fakes.server import ServerThread
from tests.fakes.twitch_fake import TwitchFakeState, create_app

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]

PUBLIC_URL = "http://linking.test"
CALLBACK = f"{PUBLIC_URL}/auth/twitch/callback"
ERROR_PAGE = f"{PUBLIC_URL}/auth/twitch/error"
G = "710000000000000001"
GUILD_NAME = "Speedrunners"
MANAGER_ID = "740000000000000001"
SETUP = Operator(surface=Surface.SYSTEM)
MANAGER = DiscordUser.from_guild_list(MANAGER_ID, Surface.DASHBOARD, [GuildEntry(G, owner=True)])
STREAMER = ("1337", "cool_user", "Cool_User")
OTHER = ("4242", "other_user", "Other_User")
KEY = SecretStr(Fernet.generate_key().decode())


@pytest.fixture(scope="module", name="served_twitch")
def served_twitch_fixture() -> Iterator[tuple[TwitchFakeState, str]]:
    state = TwitchFakeState(redirect_uris=[ERROR_PAGE, CALLBACK])
    with ServerThread(create_app(state)) as server:
        yield state, server.url


@pytest.fixture(name="twitch")
def twitch_fixture(served_twitch: tuple[TwitchFakeState, str]) -> TwitchFakeState:
    state = served_twitch[0]
    state.reset()
    for user_id, login, name in (STREAMER, OTHER):
        state.add_user(user_id, login, display_name=name)
    return state


@pytest.fixture(name="oauth")
async def oauth_fixture(
    served_twitch: tuple[TwitchFakeState, str],
) -> AsyncIterator[TwitchUserOAuth]:
    state, url = served_twitch
    client = TwitchUserOAuth(
        httpx.AsyncClient(timeout=5.0),
        auth_url=f"{url}/oauth2",
        api_url=f"{url}/helix",
        client_id=state.client_id,
        client_secret=SecretStr(state.client_secret),
    )
    yield client
    await client.aclose()


@pytest.fixture(name="box")
def box_fixture() -> TokenBox:
    return TokenBox([KEY])


@pytest.fixture(name="services")
async def services_fixture(pool: Pool) -> ManageServices:
    """G installed, its manager's user row."""
    services = ManageServices(
        pool=pool, app=procrastinate.App(connector=procrastinate.PsycopgConnector())
    )
    await guilds.upsert_guild(services, SETUP, G, GuildUpsert(name=GUILD_NAME))
    await members.upsert_user(services, SETUP, MANAGER_ID, UserUpsert(username="manager"))
    return services


@pytest.fixture(name="linking")
def linking_fixture(services: ManageServices, oauth: TwitchUserOAuth, box: TokenBox) -> Linking:
    return Linking(services=services, oauth=oauth, box=box, public_url=PUBLIC_URL)


class Browser:
    """One browser: its cookies on this service, following Twitch's redirects by hand."""

    def __init__(self, app: Starlette, twitch_url: str) -> None:
        self.site = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL, follow_redirects=False
        )
        self.twitch = httpx.AsyncClient(base_url=twitch_url, follow_redirects=False, timeout=5.0)
        self.last_callback: str | None = None

    async def aclose(self) -> None:
        await self.site.aclose()
        await self.twitch.aclose()

    async def link(self, start: str = "/auth/twitch/login") -> httpx.Response:
        """Start at ``start``, consent at Twitch (as its knobs say), land on the callback."""
        started = await self.site.get(start)
        assert started.status_code == 302, started.text
        consent = await self.twitch.get(started.headers["location"])
        assert consent.status_code == 302, consent.text
        self.last_callback = consent.headers["location"]
        assert self.last_callback.startswith(CALLBACK)
        return await self.site.get(self.last_callback)


@pytest.fixture(name="browser")
async def browser_fixture(
    linking: Linking, served_twitch: tuple[TwitchFakeState, str], twitch: TwitchFakeState
) -> AsyncIterator[Browser]:
    app = Starlette(routes=linking_routes(linking))
    browser = Browser(app, served_twitch[1])
    yield browser
    await browser.aclose()


async def fetch(pool: Pool, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query.encode(), params)
        return await cur.fetchall()

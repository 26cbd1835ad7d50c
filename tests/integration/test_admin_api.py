"""The admin API (`/api/v1`) served by uvicorn on 127.0.0.1 over a real database.

The ingest app runs in the test's own event loop (so the Helix client it uses can be closed
cleanly); the Twitch and Discord fakes are real HTTP servers in threads.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import procrastinate
import psycopg
import pytest
import uvicorn
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Route

from streammaxing.admin.api import api_routes
from streammaxing.db import create_pool
from streammaxing.discord.client import DiscordClient, build_http_client
from streammaxing.ingest.app import create_app
from streammaxing.ingest.enqueue import GroupCommitter
from streammaxing.ingest.state import IngestState
from streammaxing.manage.services import ManageServices
from streammaxing.metrics import Metrics
from streammaxing.templating import DEFAULT_TEMPLATE
from streammaxing.twitch.client import HelixClient, build_helix_http_client
from tests.fakes import twitch_fake
from tests.fakes.discord_fake import FakeDiscordServer
from tests.fakes.server import ServerThread, free_port

TOKEN = "admin-api-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GUILD = "810000000000000001"
OTHER_GUILD = "810000000000000002"
CHANNEL = "820000000000000001"
ROLE = "830000000000000001"
USER = "847362915038472615"
OTHER_USER = "840000000000000002"
BROADCASTER = "141981764"


# -- fixtures --------------------------------------------------------------------------------


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in this event loop (lifespan included)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the admin API did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Admin:
    """A running ingest app with the admin API, a client holding the token, and the database."""

    http: httpx.AsyncClient
    url: str
    web: Starlette
    database_url: str

    async def sql(self, query: str | sql.Composed, params: Any = None) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(
            self.database_url, autocommit=True
        ) as conn:
            cur = await conn.execute(query, params)
            return await cur.fetchall() if cur.description else []

    async def jobs(self) -> list[tuple[Any, ...]]:
        return await self.sql(
            "SELECT task_name, queue_name, args FROM procrastinate_jobs ORDER BY id"
        )


@asynccontextmanager
async def running_admin(
    conninfo: str,
    *,
    helix: HelixClient | None,
    token: SecretStr | None = SecretStr(TOKEN),  # noqa: B008 - an immutable default
    pool_timeout: float = 5.0,
) -> AsyncIterator[Admin]:
    pool = create_pool(conninfo, min_size=1, max_size=4, name="admin-test")
    pool.timeout = pool_timeout
    state = IngestState(
        pool=pool,
        metrics=Metrics(),
        committer=GroupCommitter(pool),
        eventsub_secrets=[b"unused-eventsub-secret"],
    )
    jobs = procrastinate.App(connector=procrastinate.PsycopgConnector())
    services = ManageServices(pool=pool, app=jobs, helix=helix)
    web = create_app(state, extra_routes=api_routes(services, token))
    async with (
        serve(web) as url,
        httpx.AsyncClient(base_url=f"{url}/api/v1", headers=AUTH, timeout=10) as http,
    ):
        yield Admin(http=http, url=url, web=web, database_url=conninfo)


@pytest.fixture(scope="module")
def twitch() -> Iterator[tuple[twitch_fake.TwitchFakeState, str]]:
    state = twitch_fake.TwitchFakeState()
    with ServerThread(twitch_fake.create_app(state)) as server:
        yield state, server.url


@pytest.fixture
def twitch_state(twitch: tuple[twitch_fake.TwitchFakeState, str]) -> twitch_fake.TwitchFakeState:
    state = twitch[0]
    state.reset()
    state.add_user(BROADCASTER, "twitchdev", display_name="TwitchDev")
    return state


@pytest.fixture
async def helix(
    twitch: tuple[twitch_fake.TwitchFakeState, str], twitch_state: twitch_fake.TwitchFakeState
) -> AsyncIterator[HelixClient]:
    url = twitch[1]
    http = build_helix_http_client(
        f"{url}/helix",
        f"{url}/oauth2",
        twitch_state.client_id,
        SecretStr(twitch_state.client_secret),
    )
    client = HelixClient(http, twitch_state.client_id)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def admin(database_url: str, helix: HelixClient) -> AsyncIterator[Admin]:
    """The admin API with Twitch credentials (logins resolve through the Twitch fake)."""
    async with running_admin(database_url, helix=helix) as running:
        yield running


@pytest.fixture
async def dry_admin(database_url: str) -> AsyncIterator[Admin]:
    """The admin API without Twitch credentials (dry-run)."""
    async with running_admin(database_url, helix=None) as running:
        yield running


@pytest.fixture(scope="module")
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as server:
        yield server


async def add_guild(admin: Admin, guild_id: str = GUILD, name: str = "Speedrunners") -> None:
    response = await admin.http.put(f"/guilds/{guild_id}", json={"name": name})
    assert response.status_code in (200, 201), response.text


async def configure(admin: Admin, guild_id: str = GUILD, **fields: Any) -> dict[str, Any]:
    response = await admin.http.put(
        f"/guilds/{guild_id}/config", json={"channel_id": CHANNEL, **fields}
    )
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def track(admin: Admin, guild_id: str = GUILD, **body: Any) -> dict[str, Any]:
    response = await admin.http.post(f"/guilds/{guild_id}/streamers", json=body)
    assert response.status_code == 201, response.text
    link: dict[str, Any] = response.json()
    return link


async def add_user(admin: Admin, user_id: str = USER, name: str = "alice") -> None:
    response = await admin.http.put(f"/users/{user_id}", json={"username": name})
    assert response.status_code in (200, 201), response.text


def issue_paths(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid"
    return [issue["path"] for issue in response.json()["issues"]]


# -- authorization ---------------------------------------------------------------------------


def api_routes_of(web: Starlette) -> list[Route]:
    return [r for r in web.routes if isinstance(r, Route) and r.path.startswith("/api/v1")]


class TestAuthorization:
    async def test_every_route_refuses_a_request_without_the_token(self, dry_admin: Admin) -> None:
        """Walking the route table: each API route and method answers 401 without a token."""
        routes = api_routes_of(dry_admin.web)
        assert sum(len(route.methods or ()) for route in routes) > 30
        async with httpx.AsyncClient(base_url=dry_admin.url) as anonymous:
            for route in routes:
                path = route.path.format(guild_id=GUILD, user_id=USER, streamer="twitchdev")
                for method in sorted(route.methods or ()):
                    response = await anonymous.request(method, path, json={"name": "x"})
                    assert response.status_code == 401, (method, path)
                    assert response.headers["www-authenticate"] == "Bearer"
                    if method != "HEAD":
                        assert response.json()["error"] == "unauthorized"

    @pytest.mark.parametrize(
        "header",
        [f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer", TOKEN, f"Bearer {TOKEN[:-1]}", ""],
    )
    async def test_a_wrong_token_gets_the_same_answer_as_none(
        self, dry_admin: Admin, header: str
    ) -> None:
        """A wrong token, scheme or shape gets exactly the answer a missing one gets: no hint."""
        async with httpx.AsyncClient(base_url=dry_admin.url) as client:
            missing = await client.get("/api/v1/guilds")
            wrong = await client.get("/api/v1/guilds", headers={"Authorization": header})
        assert wrong.status_code == missing.status_code == 401
        assert wrong.content == missing.content

    async def test_the_scheme_is_case_insensitive(self, dry_admin: Admin) -> None:
        """`bearer <token>` is accepted like `Bearer <token>` (RFC 7235 schemes)."""
        response = await dry_admin.http.get("/guilds", headers={"Authorization": f"bearer {TOKEN}"})
        assert response.status_code == 200

    async def test_without_a_configured_token_everything_is_refused(
        self, database_url: str
    ) -> None:
        """With ADMIN_API_TOKEN unset the API is closed: even an empty bearer gets 401."""
        async with running_admin(database_url, helix=None, token=None) as closed:
            for header in ("Bearer", "Bearer x", f"Bearer {TOKEN}"):
                response = await closed.http.get("/guilds", headers={"Authorization": header})
                assert response.status_code == 401

    async def test_openapi_document_describes_every_route(self, dry_admin: Admin) -> None:
        """The OpenAPI 3.1 document (behind auth) lists every served route and method."""
        document = (await dry_admin.http.get("/openapi.json")).json()
        assert document["openapi"] == "3.1.0"
        assert document["servers"] == [{"url": "/api/v1"}]
        documented = {
            (path, method.upper()) for path, item in document["paths"].items() for method in item
        }
        served = {
            (route.path.removeprefix("/api/v1"), method)
            for route in api_routes_of(dry_admin.web)
            for method in route.methods or ()
            if method != "HEAD" and not route.path.endswith("/openapi.json")
        }
        assert documented == served
        for item in document["paths"].values():
            for operation in item.values():
                assert {"401", "422", "503"} <= set(operation["responses"])


# -- guilds ----------------------------------------------------------------------------------


class TestGuilds:
    async def test_upsert_creates_then_updates(self, dry_admin: Admin) -> None:
        """PUT creates the guild (201), then replaces its fields (200)."""
        created = await dry_admin.http.put(f"/guilds/{GUILD}", json={"name": "Old", "icon": "ab"})
        updated = await dry_admin.http.put(
            f"/guilds/{GUILD}", json={"name": "New", "owner_id": USER}
        )
        assert (created.status_code, updated.status_code) == (201, 200)
        guild = (await dry_admin.http.get(f"/guilds/{GUILD}")).json()
        assert guild["name"] == "New"
        assert guild["icon"] is None
        assert guild["owner_id"] == USER
        assert guild["configured"] is False
        assert (guild["streamer_count"], guild["dm_subscriber_count"]) == (0, 0)

    async def test_unknown_guild_is_404(self, dry_admin: Admin) -> None:
        """Getting or deleting a guild that does not exist answers 404 with the id."""
        for method in ("GET", "DELETE"):
            response = await dry_admin.http.request(method, f"/guilds/{GUILD}")
            assert response.status_code == 404
            assert response.json() == {
                "error": "not_found",
                "message": f"guild {GUILD} not found",
                "issues": [],
            }

    async def test_list_is_paginated_in_id_order(self, dry_admin: Admin) -> None:
        """`limit` and `after` page through every guild once, in id order."""
        ids = [f"81000000000000{n:04d}" for n in (7, 3, 9, 1, 5)]
        for guild_id in ids:
            await add_guild(dry_admin, guild_id)
        seen: list[str] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            page = (await dry_admin.http.get("/guilds", params=params)).json()
            seen += [guild["guild_id"] for guild in page["items"]]
            if page["next_cursor"] is None:
                break
            params["after"] = page["next_cursor"]
        assert seen == sorted(ids)

    async def test_invalid_input_reports_every_field_path(self, dry_admin: Admin) -> None:
        """422 lists each problem with its location: path, query and body alike."""
        response = await dry_admin.http.put(
            "/guilds/not-a-snowflake", json={"owner_id": "abc", "color": 1}
        )
        assert sorted(issue_paths(response)) == [
            "body.color",
            "body.name",
            "body.owner_id",
            "path.guild_id",
        ]
        listing = await dry_admin.http.get("/guilds", params={"limit": 0, "after": "x", "limt": 5})
        assert sorted(issue_paths(listing)) == ["query.after", "query.limit", "query.limt"]

    async def test_unsupported_method_lists_the_allowed_ones(self, dry_admin: Admin) -> None:
        """405 names every method the path supports."""
        response = await dry_admin.http.post(f"/guilds/{GUILD}", json={})
        assert response.status_code == 405
        assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "PUT", "DELETE"}

    async def test_malformed_json_and_missing_body_are_422(self, dry_admin: Admin) -> None:
        """A body that is not a JSON object is a validation error located at `body`."""
        for content in (b"{not json", b"[1, 2]", b""):
            response = await dry_admin.http.put(f"/guilds/{GUILD}", content=content)
            assert issue_paths(response) == ["body"]

    async def test_strings_with_nul_are_refused(self, dry_admin: Admin) -> None:
        """PostgreSQL cannot store U+0000, so it is a validation error, not a 500."""
        response = await dry_admin.http.put(f"/guilds/{GUILD}", json={"name": "a\x00b"})
        assert issue_paths(response) == ["body.name"]

    async def test_delete_cascades_to_everything_about_the_guild(self, dry_admin: Admin) -> None:
        """Config, links, subscribers, preferences and logs go; the streamer row stays for the
        cleanup job (which deletes its EventSub subscriptions first)."""
        await add_guild(dry_admin)
        await add_guild(dry_admin, OTHER_GUILD)
        await configure(dry_admin)
        await add_user(dry_admin)
        await track(dry_admin, login="twitchdev", broadcaster_id=BROADCASTER)
        await dry_admin.http.put(f"/guilds/{GUILD}/dm-subscribers/{USER}")
        await dry_admin.http.put(
            f"/users/{USER}/preferences/{GUILD}/twitchdev", json={"enabled": False}
        )
        await dry_admin.sql(
            "INSERT INTO notification_log (guild_id, streamer_id, event_id)"
            " SELECT %s, id, 'stream-1' FROM streamers",
            (GUILD,),
        )
        await dry_admin.sql(
            "INSERT INTO dm_log (user_id, event_id, guild_id) VALUES (%s, 'stream-1', %s)",
            (USER, GUILD),
        )
        assert (await dry_admin.http.delete(f"/guilds/{GUILD}")).status_code == 204
        for table in (
            "guilds", "guild_config", "guild_streamers", "dm_subscribers", "user_preferences",
            "notification_log", "dm_log",
        ):  # fmt: skip
            query = sql.SQL("SELECT count(*) FROM {} WHERE guild_id = %s").format(
                sql.Identifier(table)
            )
            assert await dry_admin.sql(query, (GUILD,)) == [(0,)], table
        assert await dry_admin.sql("SELECT count(*) FROM streamers") == [(1,)]
        assert await dry_admin.sql("SELECT count(*) FROM guilds") == [(1,)]
        assert await dry_admin.sql("SELECT count(*) FROM users") == [(1,)]


# -- config ----------------------------------------------------------------------------------


class TestConfig:
    async def test_first_config_needs_a_channel_and_gets_the_defaults(
        self, dry_admin: Admin
    ) -> None:
        """Without channel_id the first PUT is 422; with it, 201 and the seed's defaults."""
        await add_guild(dry_admin)
        missing = await dry_admin.http.put(f"/guilds/{GUILD}/config", json={"enabled": True})
        assert issue_paths(missing) == ["body.channel_id"]
        created = await dry_admin.http.put(f"/guilds/{GUILD}/config", json={"channel_id": CHANNEL})
        assert created.status_code == 201
        assert created.json() | {"updated_at": None} == {
            "guild_id": GUILD,
            "channel_id": CHANNEL,
            "mention_role_id": None,
            "message_template": DEFAULT_TEMPLATE,
            "enabled": True,
            "dm_enabled": True,
            "disabled_reason": None,
            "restart_cooldown_seconds": None,
            "offline_template": None,
            "updated_at": None,
        }
        assert (await dry_admin.http.get(f"/guilds/{GUILD}/config")).json() == created.json()

    async def test_fields_left_out_keep_their_value(self, dry_admin: Admin) -> None:
        """A later PUT changes only what it names; an explicit null role clears the role."""
        await add_guild(dry_admin)
        template = {"content": "{mention_role} {streamer_login} is live"}
        await configure(dry_admin, mention_role_id=ROLE, message_template=template)
        changed = await dry_admin.http.put(f"/guilds/{GUILD}/config", json={"dm_enabled": False})
        assert changed.status_code == 200
        assert changed.json()["mention_role_id"] == ROLE
        assert changed.json()["message_template"] == template
        assert changed.json()["dm_enabled"] is False
        cleared = await dry_admin.http.put(
            f"/guilds/{GUILD}/config", json={"mention_role_id": None}
        )
        assert cleared.json()["mention_role_id"] is None
        assert cleared.json()["channel_id"] == CHANNEL

    async def test_null_for_a_field_that_cannot_be_null_is_422(self, dry_admin: Admin) -> None:
        """Leaving a field out keeps it; sending null for channel_id or enabled is an error."""
        await add_guild(dry_admin)
        response = await dry_admin.http.put(
            f"/guilds/{GUILD}/config", json={"channel_id": None, "enabled": None}
        )
        assert sorted(issue_paths(response)) == ["body.channel_id", "body.enabled"]

    async def test_invalid_template_lists_each_issue_and_changes_nothing(
        self, dry_admin: Admin
    ) -> None:
        """validate_template's findings come back with their paths; the config is untouched."""
        await add_guild(dry_admin)
        before = await configure(dry_admin)
        bad = {
            "content": "{nope} is live",
            "embed": {"color": -1, "fields": [{"name": "Viewers", "value": 3}]},
        }
        response = await dry_admin.http.put(
            f"/guilds/{GUILD}/config",
            json={"channel_id": "820000000000000009", "message_template": bad},
        )
        assert issue_paths(response) == [
            "body.message_template.content",
            "body.message_template.embed.color",
            "body.message_template.embed.fields[0].value",
        ]
        assert "{nope}" in response.json()["issues"][0]["message"]
        assert (await dry_admin.http.get(f"/guilds/{GUILD}/config")).json() == before

    async def test_ids_must_be_snowflakes(self, dry_admin: Admin) -> None:
        """Channel and role ids are Discord snowflakes (1–20 digits)."""
        await add_guild(dry_admin)
        response = await dry_admin.http.put(
            f"/guilds/{GUILD}/config", json={"channel_id": "#general", "mention_role_id": "@mods"}
        )
        assert sorted(issue_paths(response)) == ["body.channel_id", "body.mention_role_id"]

    async def test_re_enabling_clears_the_disabled_reason(self, dry_admin: Admin) -> None:
        """A worker's disable (Discord refused the channel) stays until an admin sets `enabled`."""
        await add_guild(dry_admin)
        await configure(dry_admin)
        await dry_admin.sql(
            "UPDATE guild_config SET enabled = false, disabled_reason = '10003 Unknown Channel'"
        )
        other = await dry_admin.http.put(f"/guilds/{GUILD}/config", json={"dm_enabled": False})
        assert other.json()["disabled_reason"] == "10003 Unknown Channel"
        assert other.json()["enabled"] is False
        fixed = await dry_admin.http.put(
            f"/guilds/{GUILD}/config", json={"channel_id": "820000000000000009", "enabled": True}
        )
        assert fixed.json()["enabled"] is True
        assert fixed.json()["disabled_reason"] is None

    async def test_restart_cooldown_and_offline_template_are_kept_until_set_to_null(
        self, dry_admin: Admin
    ) -> None:
        """Both stream-lifecycle settings are stored as given, survive PUTs that leave them
        out, and null sets them back to their defaults (NULL: the global cooldown, the default
        ended form)."""
        await add_guild(dry_admin)
        offline = {"content": "{streamer_display_name} is offline", "embed": {"title": "Bye"}}
        saved = await configure(dry_admin, restart_cooldown_seconds=0, offline_template=offline)
        assert (saved["restart_cooldown_seconds"], saved["offline_template"]) == (0, offline)
        stored = "SELECT restart_cooldown_seconds, offline_template FROM guild_config"
        assert await dry_admin.sql(stored) == [(0, offline)]
        kept = await dry_admin.http.put(f"/guilds/{GUILD}/config", json={"enabled": False})
        assert (kept.json()["restart_cooldown_seconds"], kept.json()["offline_template"]) == (
            0,
            offline,
        )
        changed = await dry_admin.http.put(
            f"/guilds/{GUILD}/config", json={"restart_cooldown_seconds": 3600}
        )
        assert changed.json()["restart_cooldown_seconds"] == 3600
        assert changed.json()["offline_template"] == offline
        cleared = await dry_admin.http.put(
            f"/guilds/{GUILD}/config",
            json={"restart_cooldown_seconds": None, "offline_template": None},
        )
        assert cleared.status_code == 200
        assert (cleared.json()["restart_cooldown_seconds"], cleared.json()["offline_template"]) == (
            None,
            None,
        )
        assert await dry_admin.sql(stored) == [(None, None)]
        assert (await dry_admin.http.get(f"/guilds/{GUILD}/config")).json() == cleared.json()

    @pytest.mark.parametrize(
        ("fields", "paths"),
        [
            ({"restart_cooldown_seconds": -1}, ["body.restart_cooldown_seconds"]),
            ({"restart_cooldown_seconds": 2**31}, ["body.restart_cooldown_seconds"]),
            ({"restart_cooldown_seconds": "600"}, ["body.restart_cooldown_seconds"]),
            ({"restart_cooldown_seconds": 1.5}, ["body.restart_cooldown_seconds"]),
            ({"offline_template": "ended"}, ["body.offline_template"]),
            (
                {"offline_template": {"content": "{nope} ended", "embed": {"colour": 1}}},
                ["body.offline_template.content", "body.offline_template.embed.colour"],
            ),
            (
                {"message_template": {"content": 5}, "offline_template": {"content": 6}},
                ["body.message_template.content", "body.offline_template.content"],
            ),
        ],
    )
    async def test_invalid_cooldown_or_offline_template_is_422_and_changes_nothing(
        self, dry_admin: Admin, fields: dict[str, Any], paths: list[str]
    ) -> None:
        """The cooldown is a whole number of seconds in PostgreSQL's INTEGER range; an offline
        template is checked like the announcement template; nothing is saved."""
        await add_guild(dry_admin)
        before = await configure(dry_admin, restart_cooldown_seconds=60)
        response = await dry_admin.http.put(f"/guilds/{GUILD}/config", json=fields)
        assert issue_paths(response) == paths
        assert (await dry_admin.http.get(f"/guilds/{GUILD}/config")).json() == before

    async def test_config_of_unknown_or_unconfigured_guild_is_404(self, dry_admin: Admin) -> None:
        """404 names what is missing: the guild, or its config."""
        unknown = await dry_admin.http.get(f"/guilds/{GUILD}/config")
        assert unknown.json()["message"] == f"guild {GUILD} not found"
        put = await dry_admin.http.put(f"/guilds/{GUILD}/config", json={"channel_id": CHANNEL})
        assert put.status_code == 404
        await add_guild(dry_admin)
        bare = await dry_admin.http.get(f"/guilds/{GUILD}/config")
        assert bare.status_code == 404
        assert bare.json()["message"] == f"guild {GUILD} has no config yet"


class TestPreview:
    async def test_renders_the_saved_template_for_the_sample_stream(self, dry_admin: Admin) -> None:
        """The payload is Discord's Create Message body; the configured role is pinged."""
        await add_guild(dry_admin)
        await configure(dry_admin, mention_role_id=ROLE)
        response = await dry_admin.http.post(f"/guilds/{GUILD}/config/preview")
        assert response.status_code == 200
        payload = response.json()["payload"]
        assert payload["content"] == f"<@&{ROLE}> SampleStreamer is now live!"
        assert payload["allowed_mentions"] == {"parse": [], "roles": [ROLE]}
        embed = payload["embeds"][0]
        assert embed["title"] == "SampleStreamer is streaming Just Chatting"
        assert embed["timestamp"] == "2026-01-01T18:00:00+00:00"

    async def test_renders_given_stream_data_template_and_role(self, dry_admin: Admin) -> None:
        """Stream fields given replace the sample's; a template and role can be tried unsaved."""
        await add_guild(dry_admin)
        response = await dry_admin.http.post(
            f"/guilds/{GUILD}/config/preview",
            json={
                "stream": {"streamer_display_name": "Shroud", "game_name": "VALORANT"},
                "message_template": {"content": "{streamer_display_name} plays {game_name}"},
                "mention_role_id": None,
            },
        )
        assert response.json()["payload"] == {
            "content": "Shroud plays VALORANT",
            "embeds": [],
            "allowed_mentions": {"parse": []},
        }

    async def test_invalid_or_missing_template_is_refused(self, dry_admin: Admin) -> None:
        """An invalid template given is 422; no template anywhere is 404."""
        await add_guild(dry_admin)
        invalid = await dry_admin.http.post(
            f"/guilds/{GUILD}/config/preview", json={"message_template": {"content": 5}}
        )
        assert issue_paths(invalid) == ["body.message_template.content"]
        missing = await dry_admin.http.post(f"/guilds/{GUILD}/config/preview", json={})
        assert missing.status_code == 404

    async def test_out_of_range_start_time_is_422(self, dry_admin: Admin) -> None:
        """A start time that cannot be shown in UTC is a validation error, not a crash."""
        await add_guild(dry_admin)
        await configure(dry_admin)
        response = await dry_admin.http.post(
            f"/guilds/{GUILD}/config/preview",
            json={"stream": {"started_at": "9999-12-31T23:59:59-05:00"}},
        )
        assert issue_paths(response) == ["body.stream.started_at"]

    async def test_ended_form_marks_the_announcement_ended_without_a_ping(
        self, dry_admin: Admin
    ) -> None:
        """Form `ended` without an offline template: the guild's template marked as ended
        after the sample duration (2h 05m), the preview image dropped, nobody pinged."""
        await add_guild(dry_admin)
        await configure(dry_admin, mention_role_id=ROLE)
        response = await dry_admin.http.post(
            f"/guilds/{GUILD}/config/preview", json={"form": "ended"}
        )
        assert response.status_code == 200
        payload = response.json()["payload"]
        assert payload["content"] == "SampleStreamer was live — the stream ended after 2h 05m."
        assert payload["allowed_mentions"] == {"parse": [], "roles": [ROLE]}
        embed = payload["embeds"][0]
        assert embed["title"] == "Ended: SampleStreamer is streaming Just Chatting"
        assert embed["footer"] == {"text": "Stream ended · lasted 2h 05m"}
        assert "image" not in embed

    async def test_ended_form_renders_the_saved_or_given_offline_template(
        self, dry_admin: Admin
    ) -> None:
        """The saved offline template is used; one given in the request replaces it, and a
        null one previews the default ended form."""
        await add_guild(dry_admin)
        saved = {"content": "{streamer_display_name} has left the building"}
        await configure(dry_admin, offline_template=saved)
        url = f"/guilds/{GUILD}/config/preview"
        by_config = (await dry_admin.http.post(url, json={"form": "ended"})).json()["payload"]
        assert by_config == {
            "content": "SampleStreamer has left the building",
            "embeds": [],
            "allowed_mentions": {"parse": []},
        }
        given = await dry_admin.http.post(
            url,
            json={
                "form": "ended",
                "offline_template": {"content": "{streamer_login} ended: {stream_title}"},
                "stream": {"streamer_login": "shroud", "stream_title": "ranked"},
            },
        )
        assert given.json()["payload"]["content"] == "shroud ended: ranked"
        default = await dry_admin.http.post(url, json={"form": "ended", "offline_template": None})
        assert default.json()["payload"]["content"].endswith("the stream ended after 2h 05m.")
        live = await dry_admin.http.post(url, json={"form": "live"})
        assert live.json()["payload"]["content"] == "SampleStreamer is now live!"

    async def test_offline_template_is_validated_and_only_for_the_ended_form(
        self, dry_admin: Admin
    ) -> None:
        """An invalid offline template is 422 with its paths; one given for the live form is
        refused rather than silently ignored; an unknown form is 422."""
        await add_guild(dry_admin)
        await configure(dry_admin)
        url = f"/guilds/{GUILD}/config/preview"
        invalid = await dry_admin.http.post(
            url, json={"form": "ended", "offline_template": {"content": "{nope}"}}
        )
        assert issue_paths(invalid) == ["body.offline_template.content"]
        live = await dry_admin.http.post(url, json={"offline_template": {"content": "bye"}})
        assert issue_paths(live) == ["body.offline_template"]
        unknown = await dry_admin.http.post(url, json={"form": "offline"})
        assert issue_paths(unknown) == ["body.form"]

    async def test_discord_accepts_the_ended_form_as_an_edit(
        self, dry_admin: Admin, discord: FakeDiscordServer
    ) -> None:
        """The live preview posts and the ended preview edits that message on the Discord
        fake; the edit pings nobody."""
        discord.state.reset()
        discord.state.add_token("bot-token-ended")
        discord.state.add_channel(CHANNEL, guild_id=GUILD)
        discord.state.add_role(ROLE, guild_id=GUILD, mentionable=True)
        await add_guild(dry_admin)
        await configure(dry_admin, mention_role_id=ROLE)
        url = f"/guilds/{GUILD}/config/preview"
        live = (await dry_admin.http.post(url)).json()["payload"]
        ended = (await dry_admin.http.post(url, json={"form": "ended"})).json()["payload"]
        async with build_http_client(discord.api_url, "bot-token-ended", "test") as http:
            client = DiscordClient(http)
            sent = await client.create_message(CHANNEL, live, nonce="preview-ended")
            await client.edit_message(CHANNEL, sent.id, ended)
        stored = discord.state.message(sent.id)
        assert stored.content == ended["content"]
        assert stored.embeds[0]["title"] == ended["embeds"][0]["title"]
        assert stored.edit_count == 1

    async def test_discord_accepts_the_previewed_payload(
        self, dry_admin: Admin, discord: FakeDiscordServer
    ) -> None:
        """Sent as is to the Discord fake (which validates like Discord), the payload posts and
        pings exactly the configured role."""
        discord.state.reset()
        discord.state.add_token("bot-token-preview")
        discord.state.add_channel(CHANNEL, guild_id=GUILD)
        discord.state.add_role(ROLE, guild_id=GUILD, mentionable=True)
        await add_guild(dry_admin)
        await configure(dry_admin, mention_role_id=ROLE)
        title = "@everyone speedrun " + "x" * 300
        response = await dry_admin.http.post(
            f"/guilds/{GUILD}/config/preview", json={"stream": {"stream_title": title}}
        )
        payload = response.json()["payload"]
        async with build_http_client(discord.api_url, "bot-token-preview", "test") as http:
            sent = await DiscordClient(http).create_message(CHANNEL, payload, nonce="preview-1")
        stored = discord.state.message(sent.id)
        assert stored.content == payload["content"]
        assert stored.embeds[0]["title"] == payload["embeds"][0]["title"]
        assert stored.mention_roles == (ROLE,)
        assert stored.mention_everyone is False


# -- streamers -------------------------------------------------------------------------------


class TestTrackStreamer:
    async def test_resolves_the_login_upserts_links_and_defers_the_subscription(
        self, admin: Admin
    ) -> None:
        """Helix resolves the login; the streamer row, the link and the `subscribe_streamer`
        job on queue `maintenance` are written together."""
        await add_guild(admin)
        await add_user(admin)
        link = await track(admin, login="TwitchDev", added_by=USER)
        assert link["broadcaster_id"] == BROADCASTER
        assert (link["login"], link["display_name"]) == ("twitchdev", "TwitchDev")
        assert link["avatar_url"].startswith("https://static-cdn.jtvnw.net/")
        assert (link["enabled"], link["added_by"]) == (True, USER)
        assert await admin.jobs() == [
            ("subscribe_streamer", "maintenance", {"streamer_id": link["streamer_id"]})
        ]
        rows = await admin.sql("SELECT twitch_broadcaster_id, twitch_login FROM streamers")
        assert rows == [(BROADCASTER, "twitchdev")]

    async def test_unknown_login_is_404_and_writes_nothing(self, admin: Admin) -> None:
        """A login Twitch does not know is 404 with a clear message; no row, no job."""
        await add_guild(admin)
        response = await admin.http.post(f"/guilds/{GUILD}/streamers", json={"login": "nobody"})
        assert response.status_code == 404
        assert response.json()["message"] == "no Twitch user has the login 'nobody'"
        assert await admin.sql("SELECT count(*) FROM streamers") == [(0,)]
        assert await admin.jobs() == []

    async def test_tracking_twice_is_409_and_rolls_back(
        self, admin: Admin, twitch_state: twitch_fake.TwitchFakeState
    ) -> None:
        """The second add conflicts; its streamer refresh is rolled back and no job is queued."""
        await add_guild(admin)
        await track(admin, login="twitchdev")
        twitch_state.add_user(BROADCASTER, "twitchdev", display_name="Renamed")
        again = await admin.http.post(f"/guilds/{GUILD}/streamers", json={"login": "twitchdev"})
        assert again.status_code == 409
        assert again.json()["message"] == f"guild {GUILD} already tracks twitchdev ({BROADCASTER})"
        assert await admin.sql("SELECT twitch_display_name FROM streamers") == [("TwitchDev",)]
        assert len(await admin.jobs()) == 1

    async def test_a_second_guild_shares_the_streamer_row(self, admin: Admin) -> None:
        """Two guilds tracking one streamer link the same row; while the first add's
        `subscribe_streamer` job waits, the second queues none (the per-streamer queueing lock
        the jobs use), so one job subscribes the streamer once."""
        await add_guild(admin)
        await add_guild(admin, OTHER_GUILD)
        first = await track(admin, login="twitchdev")
        second = await track(admin, OTHER_GUILD, login="twitchdev")
        assert first["streamer_id"] == second["streamer_id"]
        assert await admin.jobs() == [
            ("subscribe_streamer", "maintenance", {"streamer_id": first["streamer_id"]})
        ]

    async def test_broadcaster_id_must_match_the_login(self, admin: Admin) -> None:
        """With Helix, a broadcaster_id that is not the login's is a 422, not silently used."""
        await add_guild(admin)
        response = await admin.http.post(
            f"/guilds/{GUILD}/streamers", json={"login": "twitchdev", "broadcaster_id": "42"}
        )
        assert issue_paths(response) == ["body.broadcaster_id"]

    async def test_twitch_failure_is_502_and_writes_nothing(
        self, admin: Admin, twitch_state: twitch_fake.TwitchFakeState
    ) -> None:
        """When Helix fails, the add answers 502 and nothing is stored."""
        await add_guild(admin)
        twitch_state.add_fault("GET", "/helix/users", status=500, times=5)
        response = await admin.http.post(f"/guilds/{GUILD}/streamers", json={"login": "twitchdev"})
        assert response.status_code == 502
        assert response.json()["error"] == "upstream_unavailable"
        assert await admin.sql("SELECT count(*) FROM guild_streamers") == [(0,)]

    async def test_unknown_guild_or_adder_is_404(self, admin: Admin) -> None:
        """The guild and the `added_by` user must exist."""
        unknown_guild = await admin.http.post(
            f"/guilds/{GUILD}/streamers", json={"login": "twitchdev"}
        )
        assert unknown_guild.json()["message"] == f"guild {GUILD} not found"
        await add_guild(admin)
        unknown_user = await admin.http.post(
            f"/guilds/{GUILD}/streamers", json={"login": "twitchdev", "added_by": USER}
        )
        assert unknown_user.json()["message"] == f"user {USER} not found"
        assert await admin.jobs() == []

    async def test_dry_run_needs_an_explicit_broadcaster_id(self, dry_admin: Admin) -> None:
        """Without Twitch credentials the login cannot be resolved: broadcaster_id is required."""
        await add_guild(dry_admin)
        missing = await dry_admin.http.post(
            f"/guilds/{GUILD}/streamers", json={"login": "twitchdev"}
        )
        assert issue_paths(missing) == ["body.broadcaster_id"]
        link = await track(dry_admin, login="TwitchDev", broadcaster_id=BROADCASTER)
        assert (link["login"], link["display_name"]) == ("twitchdev", None)
        assert len(await dry_admin.jobs()) == 1

    async def test_login_must_look_like_a_twitch_login(self, dry_admin: Admin) -> None:
        """Logins are 1–25 letters, digits or underscores."""
        await add_guild(dry_admin)
        response = await dry_admin.http.post(
            f"/guilds/{GUILD}/streamers", json={"login": "no spaces!", "broadcaster_id": "1"}
        )
        assert issue_paths(response) == ["body.login"]


class TestGuildStreamers:
    async def test_enable_disable_list_get_and_untrack(self, dry_admin: Admin) -> None:
        """A tracked streamer is named by broadcaster id or login; untracking keeps the row."""
        await add_guild(dry_admin)
        await track(dry_admin, login="twitchdev", broadcaster_id=BROADCASTER)
        await track(dry_admin, login="another", broadcaster_id="777")
        disabled = await dry_admin.http.patch(
            f"/guilds/{GUILD}/streamers/twitchdev", json={"enabled": False}
        )
        assert disabled.json()["enabled"] is False
        by_id = await dry_admin.http.get(f"/guilds/{GUILD}/streamers/{BROADCASTER}")
        assert by_id.json() == disabled.json()
        listing = (await dry_admin.http.get(f"/guilds/{GUILD}/streamers")).json()
        assert [(s["login"], s["enabled"]) for s in listing["items"]] == [
            ("another", True),
            ("twitchdev", False),
        ]
        assert (await dry_admin.http.delete(f"/guilds/{GUILD}/streamers/777")).status_code == 204
        gone = await dry_admin.http.delete(f"/guilds/{GUILD}/streamers/777")
        assert gone.status_code == 404
        assert gone.json()["message"] == f"guild {GUILD} does not track streamer '777'"
        assert await dry_admin.sql("SELECT count(*) FROM streamers") == [(2,)]

    async def test_unknown_guild_or_streamer_is_404(self, dry_admin: Admin) -> None:
        """Each streamer route answers 404 for an unknown guild or an untracked streamer."""
        for method, path in (
            ("GET", f"/guilds/{GUILD}/streamers"),
            ("GET", f"/guilds/{GUILD}/streamers/twitchdev"),
            ("PATCH", f"/guilds/{GUILD}/streamers/twitchdev"),
            ("DELETE", f"/guilds/{GUILD}/streamers/twitchdev"),
        ):
            body = {"enabled": True} if method == "PATCH" else None
            response = await dry_admin.http.request(method, path, json=body)
            assert response.status_code == 404, (method, path)
        await add_guild(dry_admin)
        response = await dry_admin.http.get(f"/guilds/{GUILD}/streamers/twitchdev")
        assert response.status_code == 404


# -- users and GDPR --------------------------------------------------------------------------


async def rows_mentioning(admin: Admin, needle: str) -> dict[str, int]:
    """Every text/JSON column of every table, and how many rows contain `needle`."""
    columns = await admin.sql(
        "SELECT c.table_schema, c.table_name, c.column_name"
        " FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE t.table_type = 'BASE TABLE'"
        "   AND c.table_schema NOT IN ('pg_catalog', 'information_schema')"
        "   AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')"
    )
    assert len(columns) > 20
    found: dict[str, int] = {}
    async with await psycopg.AsyncConnection.connect(admin.database_url, autocommit=True) as conn:
        for schema, table, column in columns:
            query = sql.SQL("SELECT count(*) FROM {}.{} WHERE {}::text LIKE %s").format(
                sql.Identifier(schema), sql.Identifier(table), sql.Identifier(column)
            )
            count = (await (await conn.execute(query, (f"%{needle}%",))).fetchone() or (0,))[0]
            if count:
                found[f"{table}.{column}"] = count
    return found


class TestUsers:
    async def test_upsert_creates_then_updates(self, dry_admin: Admin) -> None:
        """PUT creates (201) then refreshes name and avatar (200)."""
        first = await dry_admin.http.put(f"/users/{USER}", json={"username": "alice"})
        second = await dry_admin.http.put(
            f"/users/{USER}", json={"username": "alice2", "avatar": "a1b2"}
        )
        assert (first.status_code, second.status_code) == (201, 200)
        user = (await dry_admin.http.get(f"/users/{USER}")).json()
        assert (user["username"], user["avatar"], user["dm_disabled_reason"]) == (
            "alice2",
            "a1b2",
            None,
        )

    async def test_unknown_user_is_404(self, dry_admin: Admin) -> None:
        """Getting or erasing an unknown user answers 404."""
        for method in ("GET", "DELETE"):
            response = await dry_admin.http.request(method, f"/users/{USER}")
            assert response.json()["message"] == f"user {USER} not found"

    async def test_erase_leaves_no_row_mentioning_the_user(self, dry_admin: Admin) -> None:
        """The GDPR erase: afterwards no text or JSON column of any table holds the user id
        (the audit trail included), while other users' data is untouched."""
        await add_guild(dry_admin)
        await configure(dry_admin)
        await dry_admin.http.put(
            f"/guilds/{GUILD}", json={"name": "Speedrunners", "owner_id": USER}
        )
        await add_user(dry_admin)
        await add_user(dry_admin, OTHER_USER, "bob")
        await track(dry_admin, login="twitchdev", broadcaster_id=BROADCASTER, added_by=USER)
        for user_id in (USER, OTHER_USER):
            await dry_admin.http.put(f"/guilds/{GUILD}/dm-subscribers/{user_id}")
            await dry_admin.http.put(
                f"/users/{user_id}/preferences/{GUILD}/twitchdev", json={"enabled": False}
            )
            await dry_admin.sql(
                "INSERT INTO dm_log (user_id, event_id, guild_id, channel_id, payload)"
                " VALUES (%s, 'stream-1', %s, '99', %s)",
                (user_id, GUILD, Jsonb({"content": f"hi <@{user_id}>"})),
            )
        assert await rows_mentioning(dry_admin, USER)
        assert (await dry_admin.http.delete(f"/users/{USER}")).status_code == 204
        assert await rows_mentioning(dry_admin, USER) == {}
        others = await rows_mentioning(dry_admin, OTHER_USER)
        assert set(others) == {
            "users.user_id",
            "dm_subscribers.user_id",
            "user_preferences.user_id",
            "dm_log.user_id",
            "dm_log.payload",
            "audit_log.subject_user_id",
        }
        link = (await dry_admin.http.get(f"/guilds/{GUILD}/streamers/twitchdev")).json()
        assert link["added_by"] is None


class TestDmSubscribers:
    async def test_subscribe_list_unsubscribe(self, dry_admin: Admin) -> None:
        """Subscribing is idempotent (201 then 200); the list pages; unsubscribing twice 404s."""
        await add_guild(dry_admin)
        users = [f"84000000000000{n:04d}" for n in range(3)]
        for user_id in users:
            await add_user(dry_admin, user_id, f"user{user_id[-1]}")
        created = await dry_admin.http.put(f"/guilds/{GUILD}/dm-subscribers/{users[0]}")
        again = await dry_admin.http.put(f"/guilds/{GUILD}/dm-subscribers/{users[0]}")
        assert (created.status_code, again.status_code) == (201, 200)
        assert again.json()["username"] == "user0"
        for user_id in users[1:]:
            await dry_admin.http.put(f"/guilds/{GUILD}/dm-subscribers/{user_id}")
        first = (await dry_admin.http.get(f"/guilds/{GUILD}/dm-subscribers?limit=2")).json()
        rest = (
            await dry_admin.http.get(
                f"/guilds/{GUILD}/dm-subscribers", params={"after": first["next_cursor"]}
            )
        ).json()
        assert [s["user_id"] for s in first["items"] + rest["items"]] == users
        assert rest["next_cursor"] is None
        url = f"/guilds/{GUILD}/dm-subscribers/{users[0]}"
        assert (await dry_admin.http.delete(url)).status_code == 204
        missing = await dry_admin.http.delete(url)
        assert missing.status_code == 404
        assert missing.json()["message"] == f"user {users[0]} is not subscribed to guild {GUILD}"

    async def test_guild_and_user_must_exist(self, dry_admin: Admin) -> None:
        """Subscribing needs a known guild and a known user."""
        no_guild = await dry_admin.http.put(f"/guilds/{GUILD}/dm-subscribers/{USER}")
        assert no_guild.json()["message"] == f"guild {GUILD} not found"
        await add_guild(dry_admin)
        no_user = await dry_admin.http.put(f"/guilds/{GUILD}/dm-subscribers/{USER}")
        assert no_user.json()["message"] == f"user {USER} not found"
        assert await dry_admin.sql("SELECT count(*) FROM dm_subscribers") == [(0,)]


# -- preferences -----------------------------------------------------------------------------


class TestPreferences:
    async def _setup(self, admin: Admin) -> None:
        await add_guild(admin, GUILD, "Zeta")
        await add_guild(admin, OTHER_GUILD, "Alpha")
        await add_guild(admin, "810000000000000003", "Not subscribed")
        await add_user(admin)
        await track(admin, GUILD, login="twitchdev", broadcaster_id=BROADCASTER)
        await track(admin, OTHER_GUILD, login="twitchdev", broadcaster_id=BROADCASTER)
        await track(admin, OTHER_GUILD, login="another", broadcaster_id="777")
        await track(admin, "810000000000000003", login="another", broadcaster_id="777")
        await admin.sql("UPDATE streamers SET twitch_display_name = initcap(twitch_login)")
        for guild_id in (GUILD, OTHER_GUILD):
            await admin.http.put(f"/guilds/{guild_id}/dm-subscribers/{USER}")

    async def test_lists_subscribed_guilds_streamers_with_effective_state(
        self, dry_admin: Admin
    ) -> None:
        """The seed's query over dm_subscribers: guilds by name, streamers by display name,
        on unless muted; guilds the user did not subscribe to are absent."""
        await self._setup(dry_admin)
        await dry_admin.http.put(
            f"/users/{USER}/preferences/{OTHER_GUILD}/777", json={"enabled": False}
        )
        items = (await dry_admin.http.get(f"/users/{USER}/preferences")).json()["items"]
        assert [
            (i["guild_name"], i["streamer_display_name"], i["enabled"], i["explicit"])
            for i in items
        ] == [
            ("Alpha", "Another", False, True),
            ("Alpha", "Twitchdev", True, False),
            ("Zeta", "Twitchdev", True, False),
        ]

    async def test_mute_unmute_and_clear(self, dry_admin: Admin) -> None:
        """Mute sets off, unmute sets on explicitly, clear returns to the default."""
        await self._setup(dry_admin)
        url = f"/users/{USER}/preferences/{GUILD}/twitchdev"
        muted = await dry_admin.http.put(url, json={"enabled": False})
        assert muted.json() == {
            "guild_id": GUILD,
            "guild_name": "Zeta",
            "broadcaster_id": BROADCASTER,
            "streamer_login": "twitchdev",
            "streamer_display_name": "Twitchdev",
            "enabled": False,
            "explicit": True,
        }
        stored = "SELECT notifications_enabled FROM user_preferences WHERE guild_id = %s"
        assert await dry_admin.sql(stored, (GUILD,)) == [(False,)]
        await dry_admin.http.put(url, json={"enabled": True})
        assert await dry_admin.sql(stored, (GUILD,)) == [(True,)]
        assert (await dry_admin.http.delete(url)).status_code == 204
        assert (await dry_admin.http.delete(url)).status_code == 204
        assert await dry_admin.sql(stored, (GUILD,)) == []

    async def test_unknown_user_guild_or_untracked_streamer_is_404(self, dry_admin: Admin) -> None:
        """A preference needs a known user and guild, and a streamer the guild tracks."""
        assert (await dry_admin.http.get(f"/users/{USER}/preferences")).status_code == 404
        await self._setup(dry_admin)
        untracked = await dry_admin.http.put(
            f"/users/{USER}/preferences/{GUILD}/777", json={"enabled": False}
        )
        assert untracked.json()["message"] == f"guild {GUILD} does not track streamer '777'"
        unknown_user = await dry_admin.http.put(
            f"/users/{OTHER_USER}/preferences/{GUILD}/twitchdev", json={"enabled": False}
        )
        assert unknown_user.json()["message"] == f"user {OTHER_USER} not found"


# -- history ---------------------------------------------------------------------------------


class TestHistory:
    async def test_recent_deliveries_newest_first_with_latency(self, dry_admin: Admin) -> None:
        """Each delivery shows streamer, stream id, where it went or why not, and latency from
        the stream's start to delivery."""
        await add_guild(dry_admin)
        await track(dry_admin, login="twitchdev", broadcaster_id=BROADCASTER)
        await dry_admin.sql(
            "INSERT INTO notification_log (guild_id, streamer_id, event_id, status, channel_id,"
            " message_id, failure_reason, sent_at, stream_started_at, delivered_at)"
            " SELECT %s, id, e.event_id, e.status, e.channel_id, e.message_id, e.reason,"
            "        e.sent_at::timestamptz, e.started::timestamptz, e.delivered::timestamptz"
            " FROM streamers, (VALUES"
            "  ('s1', 'sent', '1', '2', NULL, '2026-01-01T10:00:03Z', '2026-01-01T10:00:00Z',"
            "   '2026-01-01T10:00:02.5Z'),"
            "  ('s2', 'failed', '1', NULL, '50013 Missing Permissions', '2026-01-02T10:00:00Z',"
            "   '2026-01-02T09:59:59Z', NULL)"
            " ) AS e(event_id, status, channel_id, message_id, reason, sent_at, started,"
            "        delivered)",
            (GUILD,),
        )
        items = (await dry_admin.http.get(f"/guilds/{GUILD}/history")).json()["items"]
        assert [(i["event_id"], i["status"]) for i in items] == [("s2", "failed"), ("s1", "sent")]
        failed, sent = items
        assert failed["failure_reason"] == "50013 Missing Permissions"
        assert failed["latency_seconds"] is None
        assert (sent["channel_id"], sent["message_id"]) == ("1", "2")
        assert sent["latency_seconds"] == 2.5
        assert (sent["broadcaster_id"], sent["streamer_login"]) == (BROADCASTER, "twitchdev")
        limited = await dry_admin.http.get(f"/guilds/{GUILD}/history", params={"limit": 1})
        assert len(limited.json()["items"]) == 1

    async def test_a_resumed_announcement_is_listed_as_resumed(self, dry_admin: Admin) -> None:
        """A restart within the cooldown (status `resumed`, migration 007) is a delivery like
        any other in the history."""
        await add_guild(dry_admin)
        await track(dry_admin, login="twitchdev", broadcaster_id=BROADCASTER)
        await dry_admin.sql(
            "INSERT INTO notification_log (guild_id, streamer_id, event_id, status, channel_id,"
            " message_id, sent_at, resumed_from)"
            " SELECT %s, id, 's2', 'resumed', '1', '2', now(), 's1' FROM streamers",
            (GUILD,),
        )
        items = (await dry_admin.http.get(f"/guilds/{GUILD}/history")).json()["items"]
        assert [(i["event_id"], i["status"], i["message_id"]) for i in items] == [
            ("s2", "resumed", "2")
        ]

    async def test_unknown_guild_and_bad_limit(self, dry_admin: Admin) -> None:
        """404 for an unknown guild; 422 for a limit outside 1..200."""
        assert (await dry_admin.http.get(f"/guilds/{GUILD}/history")).status_code == 404
        await add_guild(dry_admin)
        response = await dry_admin.http.get(f"/guilds/{GUILD}/history", params={"limit": 500})
        assert issue_paths(response) == ["query.limit"]


class TestAudit:
    async def test_every_write_is_in_the_guilds_trail(self, dry_admin: Admin) -> None:
        """Each write through the API leaves one entry naming the operator and the `api`
        surface; reads leave none; the trail pages newest first with `before`."""
        await add_guild(dry_admin)
        await configure(dry_admin)
        await track(dry_admin, login="twitchdev", broadcaster_id=BROADCASTER)
        await dry_admin.http.get(f"/guilds/{GUILD}/config")
        await dry_admin.http.get(f"/guilds/{GUILD}/streamers")
        first = (await dry_admin.http.get(f"/guilds/{GUILD}/audit", params={"limit": 2})).json()
        assert [
            (e["action"], e["actor_kind"], e["actor_user_id"], e["surface"]) for e in first["items"]
        ] == [
            ("streamer.track", "operator", None, "api"),
            ("config.set", "operator", None, "api"),
        ]
        assert first["items"][0]["detail"] == {"broadcaster_id": BROADCASTER, "login": "twitchdev"}
        rest = await dry_admin.http.get(
            f"/guilds/{GUILD}/audit", params={"before": first["next_cursor"]}
        )
        assert [e["action"] for e in rest.json()["items"]] == ["guild.save"]
        assert rest.json()["next_cursor"] is None

    async def test_a_config_entry_never_holds_the_template(self, dry_admin: Admin) -> None:
        """Setting a template records which fields changed, not their content."""
        await add_guild(dry_admin)
        template = {"content": "secret-looking words {streamer_login}"}
        await configure(dry_admin, message_template=template)
        items = (await dry_admin.http.get(f"/guilds/{GUILD}/audit")).json()["items"]
        assert items[0]["detail"] == {"fields": ["channel_id", "message_template"], "created": True}
        assert "secret-looking" not in json.dumps(items)

    async def test_unknown_guild_has_an_empty_trail_and_bad_cursor_is_422(
        self, dry_admin: Admin
    ) -> None:
        """The operator may read the trail of any guild id (a deleted guild's stays), so an
        unknown one is an empty page; `before` must be a positive entry id."""
        empty = await dry_admin.http.get(f"/guilds/{GUILD}/audit")
        assert empty.json() == {"items": [], "next_cursor": None}
        response = await dry_admin.http.get(f"/guilds/{GUILD}/audit", params={"before": 0})
        assert issue_paths(response) == ["query.before"]


class TestDatabaseDown:
    async def test_database_unreachable_is_503(self, database_url: str) -> None:
        """A database that cannot be reached is a 503 (try again), never a 500."""
        unreachable = f"host=127.0.0.1 port={free_port()} dbname=nothing connect_timeout=1"
        async with running_admin(unreachable, helix=None, pool_timeout=0.5) as down:
            response = await down.http.get(f"/guilds/{GUILD}")
        assert response.status_code == 503
        assert response.json()["error"] == "unavailable"

"""The fake Discord's interaction side, command registration and signed drivers (real HTTP).

A tiny app under test (`Receiver`) verifies signatures with the public key exactly as the
service will, so the drivers are checked end to end.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.discord_fake import (
    DiscordFakeState,
    FakeClock,
    FakeConfig,
    FakeDiscordServer,
)
from tests.fakes.discord_interaction_driver import (
    CHANNEL,
    ROLE,
    STRING,
    InteractionDriver,
    option,
    subcommand,
)
from tests.fakes.discord_model import MANAGE_GUILD, VIEW_CHANNEL
from tests.fakes.discord_signing import SigningKey
from tests.fakes.discord_webhook_events import EVENTS_DISABLED_BY_DISCORD, WebhookEventsDriver
from tests.fakes.server import ServerThread

APP = "700000000000000001"
BOT_TOKEN = "fake-bot-token"
GUILD = "100000000000000001"
CHANNEL_ID = "200000000000000001"
HIDDEN_CHANNEL = "200000000000000002"
ROLE_ID = "300000000000000001"
USER = "400000000000000001"
UA = {"User-Agent": "DiscordBot (https://streammaxing.test, 0.1.0)"}
PUBLIC_KEY = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"


def verified(request_body: bytes, headers: Any) -> bool:
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(PUBLIC_KEY))
    try:
        signature = bytes.fromhex(headers.get("x-signature-ed25519", ""))
        key.verify(signature, headers.get("x-signature-timestamp", "").encode() + request_body)
    except (ValueError, InvalidSignature):
        return False
    return True


class Receiver:
    """The app under test: verifies, then answers interactions inline and events with 204."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.event_status = 204

    async def interactions(self, request: Request) -> Response:
        body = await request.body()
        if not verified(body, request.headers):
            return Response("invalid request signature", status_code=401)
        interaction = json.loads(body)
        if interaction["type"] == 1:
            return JSONResponse({"type": 1})
        if interaction["type"] == 4:
            return JSONResponse({"type": 8, "data": {"choices": [{"name": "a", "value": "a"}]}})
        return JSONResponse({"type": 4, "data": {"content": "ok", "flags": 64}})

    async def webhook_events(self, request: Request) -> Response:
        body = await request.body()
        if not verified(body, request.headers):
            return Response(status_code=401)
        self.events.append(json.loads(body))
        return Response(status_code=self.event_status)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/interactions", self.interactions, methods=["POST"]),
                Route("/webhooks/discord", self.webhook_events, methods=["POST"]),
            ]
        )


@pytest.fixture(scope="module")
def server() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    with ServerThread(app.app()) as running:
        yield app, running.url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(server: FakeDiscordServer, clock: FakeClock) -> DiscordFakeState:
    state = server.state
    state.reset(FakeConfig(), clock=clock)
    state.add_token(BOT_TOKEN, bot_id=APP)
    state.add_user(USER, username="alice")
    state.add_guild(GUILD, name="Guild", owner_id="1")
    state.add_member(GUILD, USER, permissions=MANAGE_GUILD)
    state.add_channel(CHANNEL_ID, guild_id=GUILD, name="live")
    state.add_channel(HIDDEN_CHANNEL, guild_id=GUILD, name="mods", permissions=VIEW_CHANNEL)
    state.add_role(ROLE_ID, guild_id=GUILD, mentionable=True, name="Live pings")
    return state


@pytest.fixture
async def http(
    server: FakeDiscordServer, state: DiscordFakeState
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.api_url, timeout=5) as client:
        yield client


@pytest.fixture
def driver(
    http: httpx.AsyncClient, state: DiscordFakeState, receiver: tuple[Receiver, str]
) -> InteractionDriver:
    return InteractionDriver(
        http, receiver[1] + "/interactions", state,
        application_id=APP, guild_id=GUILD, channel_id=CHANNEL_ID, user_id=USER,
    )  # fmt: skip


class TestSigning:
    def test_the_test_key_matches_the_reference_vector(self) -> None:
        """Private key bytes 0..31 give the documented public key and signature."""
        key = SigningKey()
        assert key.public_key_hex == PUBLIC_KEY
        assert key.sign("1700000000", b'{"type":1}') == (
            "c1098e97d711377f30225d53d94b89d43537f92e5b3afaddc590781b1f9f9d4b"
            "2eeab335d370be3b9a090bc61a85b86448bc140dcd195f1569c2bff181257607"
        )


class TestInteractionDriver:
    async def test_ping_is_signed_and_answered_with_pong(self, driver: InteractionDriver) -> None:
        """A PING verifies with the public key; the app answers 200 {"type":1} in time."""
        result = await driver.ping()
        assert result.delivery.status == 200
        assert result.delivery.json() == {"type": 1}
        assert result.in_time

    async def test_bad_signature_is_refused(self, driver: InteractionDriver) -> None:
        """A flipped signature byte makes a verifying app answer 401."""
        result = await driver.send(driver.build(1), bad_signature=True)
        assert result.delivery.status == 401

    async def test_command_payload_is_realistic(
        self, driver: InteractionDriver, state: DiscordFakeState
    ) -> None:
        """A subcommand with channel and role options carries ids, token, member.permissions as
        a string and resolved objects with app_permissions; the inline answer is recorded."""
        payload = driver.command(
            "announce",
            subcommand("channel", option("channel", CHANNEL, HIDDEN_CHANNEL)),
            subcommand("role", option("role", ROLE, ROLE_ID)),
        )
        assert payload["type"] == 2
        assert (payload["application_id"], payload["guild_id"]) == (APP, GUILD)
        assert payload["member"]["permissions"] == str(MANAGE_GUILD)
        assert payload["data"]["options"][0]["type"] == 1
        channel = payload["data"]["resolved"]["channels"][HIDDEN_CHANNEL]
        assert channel["app_permissions"] == str(VIEW_CHANNEL)
        assert payload["data"]["resolved"]["roles"][ROLE_ID]["mentionable"] is True
        result = await driver.send(payload)
        record = state.interactions.get(result.interaction_id)
        assert record.responded_via == "inline"
        assert record.ephemeral

    async def test_autocomplete_carries_one_focused_option(self, driver: InteractionDriver) -> None:
        """Type 4 has the focused option; the app answers type 8 with choices."""
        payload = driver.autocomplete(
            "streamers", subcommand("remove", option("streamer", STRING, "ab", focused=True))
        )
        assert payload["data"]["options"][0]["options"][0]["focused"] is True
        result = await driver.send(payload)
        assert result.delivery.json()["type"] == 8


class TestCallbacks:
    def dispatch(self, state: DiscordFakeState, kind: int = 2) -> tuple[str, str]:
        interaction_id = state.interactions.new_id()
        token = state.interactions.new_token()
        state.interactions.dispatch(interaction_id, token, APP, kind, CHANNEL_ID)
        return interaction_id, token

    async def test_deferred_callback_then_edit_original_and_follow_up(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """Type 5 with flags 64 is accepted (204); PATCH @original fills the ephemeral reply;
        a follow-up posts a second message."""
        interaction_id, token = self.dispatch(state)
        callback = await http.post(
            f"/interactions/{interaction_id}/{token}/callback",
            json={"type": 5, "data": {"flags": 64}},
        )
        assert callback.status_code == 204
        edited = await http.patch(
            f"/webhooks/{APP}/{token}/messages/@original", json={"content": "done"}
        )
        assert edited.status_code == 200
        assert edited.json()["content"] == "done"
        assert edited.json()["flags"] == 64
        followup = await http.post(f"/webhooks/{APP}/{token}", json={"content": "more"})
        assert followup.status_code == 200
        record = state.interactions.get(interaction_id)
        assert record.ephemeral
        assert [m["content"] for m in record.followups.values()] == ["more"]

    async def test_late_callback_is_unknown_interaction(
        self, http: httpx.AsyncClient, state: DiscordFakeState, clock: FakeClock
    ) -> None:
        """A callback more than 3 s after dispatch answers 404 code 10062."""
        interaction_id, token = self.dispatch(state)
        clock.advance(3.01)
        response = await http.post(
            f"/interactions/{interaction_id}/{token}/callback", json={"type": 5}
        )
        assert response.status_code == 404
        assert response.json() == {"message": "Unknown interaction", "code": 10062}

    async def test_second_callback_is_already_acknowledged(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """Only one initial response: the second answers 400 code 40060."""
        interaction_id, token = self.dispatch(state)
        path = f"/interactions/{interaction_id}/{token}/callback"
        assert (await http.post(path, json={"type": 4, "data": {"content": "a"}})).status_code == (
            204
        )
        second = await http.post(path, json={"type": 4, "data": {"content": "b"}})
        assert second.status_code == 400
        assert second.json()["code"] == 40060

    async def test_webhook_token_expires_after_15_minutes(
        self, http: httpx.AsyncClient, state: DiscordFakeState, clock: FakeClock
    ) -> None:
        """@original edits work within 15 min of dispatch and answer 10015 after."""
        interaction_id, token = self.dispatch(state)
        await http.post(f"/interactions/{interaction_id}/{token}/callback", json={"type": 5})
        clock.advance(901)
        response = await http.patch(
            f"/webhooks/{APP}/{token}/messages/@original", json={"content": "late"}
        )
        assert response.status_code == 404
        assert response.json()["code"] == 10015

    async def test_with_response_returns_the_message_and_autocomplete_needs_type_8(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """?with_response=true answers 200 with the resource; an autocomplete interaction
        refuses a message response (50035)."""
        interaction_id, token = self.dispatch(state)
        response = await http.post(
            f"/interactions/{interaction_id}/{token}/callback",
            params={"with_response": "true"},
            json={"type": 4, "data": {"content": "hi"}},
        )
        assert response.json()["resource"]["message"]["content"] == "hi"
        auto_id, auto_token = self.dispatch(state, kind=4)
        wrong = await http.post(
            f"/interactions/{auto_id}/{auto_token}/callback",
            json={"type": 4, "data": {"content": "x"}},
        )
        assert wrong.json()["code"] == 50035


def command(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "streamers",
        "description": "Tracked streamers",
        "default_member_permissions": "32",
        "options": [
            {"type": 1, "name": "add", "description": "Track one",
             "options": [{"type": 3, "name": "login", "description": "Login", "required": True}]},
        ],
    }  # fmt: skip
    base.update(overrides)
    return base


class TestCommandRegistration:
    @pytest.fixture
    async def bot(self, server: FakeDiscordServer) -> AsyncIterator[httpx.AsyncClient]:
        headers = {"Authorization": f"Bot {BOT_TOKEN}", **UA}
        async with httpx.AsyncClient(base_url=server.api_url, headers=headers) as client:
            yield client

    async def test_bulk_overwrite_and_get(
        self, bot: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """PUT replaces the set and keeps ids of same-named commands; GET lists it; guild
        commands are separate."""
        first = await bot.put(f"/applications/{APP}/commands", json=[command()])
        assert first.status_code == 200
        second = await bot.put(f"/applications/{APP}/commands", json=[command()])
        assert second.json()[0]["id"] == first.json()[0]["id"]
        listed = (await bot.get(f"/applications/{APP}/commands")).json()
        assert [c["name"] for c in listed] == ["streamers"]
        assert listed[0]["default_member_permissions"] == "32"
        guild = await bot.get(f"/applications/{APP}/guilds/{GUILD}/commands")
        assert guild.json() == []

    @pytest.mark.parametrize(
        ("overrides", "path"),
        [
            ({"name": "Streamers"}, ("0", "name")),
            ({"name": "x" * 33}, ("0", "name")),
            ({"description": ""}, ("0", "description")),
            ({"description": "d" * 101}, ("0", "description")),
            ({"default_member_permissions": 32}, ("0", "default_member_permissions")),
            ({"options": [{"type": 12, "name": "a", "description": "d"}]},
             ("0", "options", "0", "type")),
            ({"options": [{"type": 3, "name": f"o{i}", "description": "d"} for i in range(26)]},
             ("0", "options")),
            ({"options": [{"type": 3, "name": "a", "description": "d"},
                          {"type": 3, "name": "b", "description": "d", "required": True}]},
             ("0", "options", "1", "required")),
            ({"options": [{"type": 1, "name": "a", "description": "d",
                           "options": [{"type": 1, "name": "b", "description": "d"}]}]},
             ("0", "options", "0", "options", "0", "type")),
            ({"options": [{"type": 1, "name": "a", "description": "d"},
                          {"type": 3, "name": "b", "description": "d"}]},
             ("0", "options")),
            ({"options": [{"type": 3, "name": "a", "description": "d", "autocomplete": True,
                           "choices": [{"name": "x", "value": "x"}]}]},
             ("0", "options", "0", "autocomplete")),
        ],
    )  # fmt: skip
    async def test_invalid_commands_are_refused(
        self,
        bot: httpx.AsyncClient,
        state: DiscordFakeState,
        overrides: dict[str, Any],
        path: tuple[str, ...],
    ) -> None:
        """Each broken rule answers 50035 with an error at the offending path; nothing is
        stored."""
        response = await bot.put(f"/applications/{APP}/commands", json=[command(**overrides)])
        assert response.status_code == 400
        node = response.json()["errors"]
        for part in path:
            node = node[part]
        assert node["_errors"]
        assert state.commands.registered(APP) == []

    async def test_other_application_and_foreign_guild_are_missing_access(
        self, bot: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """A bot cannot write another app's commands, nor a guild it is not in (50001)."""
        state.add_guild("100000000000000009", bot_member=False)
        other = await bot.put("/applications/1/commands", json=[])
        guild = await bot.put(f"/applications/{APP}/guilds/100000000000000009/commands", json=[])
        assert (other.status_code, guild.status_code) == (403, 403)

    async def test_bulk_overwrite_is_limited_to_two_per_minute(
        self, bot: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """The third PUT within 60 s is rate limited."""
        statuses = [
            (await bot.put(f"/applications/{APP}/commands", json=[])).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]


class TestWebhookEventsDriver:
    @pytest.fixture
    def events(
        self, http: httpx.AsyncClient, state: DiscordFakeState, receiver: tuple[Receiver, str]
    ) -> WebhookEventsDriver:
        receiver[0].events.clear()
        receiver[0].event_status = 204
        return WebhookEventsDriver(
            http, receiver[1] + "/webhooks/discord", application_id=APP,
            queue=state.webhook_events,
        )  # fmt: skip

    async def test_ping_and_events_are_delivered_signed(
        self, events: WebhookEventsDriver, receiver: tuple[Receiver, str]
    ) -> None:
        """PING is type 0; APPLICATION_AUTHORIZED and _DEAUTHORIZED are type 1 events with a
        timestamp without offset; a verifying app answers 204 to each."""
        user = {"id": USER, "username": "alice"}
        results = [
            await events.ping(),
            await events.application_authorized(user=user, guild={"id": GUILD}),
            await events.application_deauthorized(user=user),
        ]
        assert [r.status for r in results] == [204, 204, 204]
        ping, authorized, deauthorized = receiver[0].events
        assert ping == {"version": 1, "application_id": APP, "type": 0}
        assert authorized["event"]["type"] == "APPLICATION_AUTHORIZED"
        assert authorized["event"]["data"]["integration_type"] == 0
        assert "+" not in authorized["event"]["timestamp"]
        assert deauthorized["event"]["data"] == {"user": user}

    async def test_bad_signature_probe_expects_401(self, events: WebhookEventsDriver) -> None:
        """Discord's probe flips a signature byte; a correct app answers 401."""
        assert (await events.probe_bad_signature()).status == 401

    async def test_queued_events_are_delivered(
        self, events: WebhookEventsDriver, state: DiscordFakeState, receiver: tuple[Receiver, str]
    ) -> None:
        """Events the fake queued (e.g. on revoke) go out through deliver_pending."""
        state.webhook_events.queue(APP, "APPLICATION_DEAUTHORIZED", {"user": {"id": USER}})
        delivered = await events.deliver_pending()
        assert [d.status for d in delivered] == [204]
        assert state.webhook_events.pending == ()

    async def test_failures_disable_the_events_url(
        self, events: WebhookEventsDriver, state: DiscordFakeState, receiver: tuple[Receiver, str]
    ) -> None:
        """Retries resend the identical body; after the configured failures the status is 3."""
        state.configure(webhook_events_failure_limit=3)
        receiver[0].event_status = 500
        tries = await events.deliver_with_retries(events.ping_body(), attempts=3, backoff_s=0)
        assert [t.status for t in tries] == [500, 500, 500]
        assert len({json.dumps(e) for e in receiver[0].events}) == 1
        assert state.webhook_events.status == EVENTS_DISABLED_BY_DISCORD

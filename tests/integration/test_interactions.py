"""Slash commands and Discord's webhook events, end to end through the ingest's routes: signed
by the Discord fake, answered by the service over a real database, deferred answers finished by
the follow-up job and checked as Discord shows them.

Actors: a manager (Manage Server), a member (no permissions), and strangers — a user in a guild
where the bot is not set up, or a command sent from a DM.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from streammaxing.interactions.dispatch import OUTSIDE_GUILD
from streammaxing.interactions.signed import MAX_BODY_BYTES
from streammaxing.interactions.wording import NOT_SET_UP
from tests.fakes import twitch_fake
from tests.fakes.discord_fake import FakeDiscordServer
from tests.fakes.discord_interaction_driver import (
    CHANNEL as CHANNEL_TYPE,
)
from tests.fakes.discord_interaction_driver import (
    ROLE as ROLE_TYPE,
)
from tests.fakes.discord_interaction_driver import (
    STRING,
    InteractionResult,
    group,
    option,
    subcommand,
)
from tests.fakes.discord_signing import SigningKey, post_signed
from tests.fakes.server import ServerThread
from tests.integration.interactions_harness import (
    BARE_GUILD,
    CHANNEL,
    GUILD,
    HIDDEN_CHANNEL,
    MANAGED_ROLE,
    MANAGER,
    MEMBER,
    PUBLIC_URL,
    ROLE,
    VOICE_CHANNEL,
    Stack,
    running_stack,
)

EPHEMERAL = 64
BOOLEAN = 5


@pytest.fixture(scope="module")
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as server:
        yield server


@pytest.fixture(scope="module")
def twitch() -> Iterator[tuple[twitch_fake.TwitchFakeState, str]]:
    state = twitch_fake.TwitchFakeState()
    with ServerThread(twitch_fake.create_app(state)) as server:
        yield state, server.url


@pytest.fixture
async def stack(
    database_url: str,
    discord: FakeDiscordServer,
    twitch: tuple[twitch_fake.TwitchFakeState, str],
) -> AsyncIterator[Stack]:
    state, url = twitch
    state.reset()
    state.add_user("141981764", "twitchdev", display_name="TwitchDev")
    state.add_user("12826", "twitch", display_name="Twitch")
    async with running_stack(database_url, discord, url, state) as running:
        yield running


def reply(result: InteractionResult) -> dict[str, Any]:
    assert result.delivery.status == 200, result.delivery
    assert result.in_time
    body: dict[str, Any] = result.delivery.json()
    return body


def ephemeral_text(result: InteractionResult) -> str:
    """The inline ephemeral message's text (type 4, flag 64)."""
    body = reply(result)
    assert body["type"] == 4, body
    assert body["data"]["flags"] & EPHEMERAL
    assert body["data"]["allowed_mentions"] == {"parse": []}
    return str(body["data"]["content"])


async def command(
    stack: Stack, user: str, name: str, *options: dict[str, Any], guild: str = GUILD
) -> InteractionResult:
    driver = stack.driver(user, guild)
    return await driver.send(driver.command(name, *options))


async def deferred_text(stack: Stack, result: InteractionResult) -> str:
    """A deferred answer (type 5, ephemeral) after the follow-up job edited it."""
    body = reply(result)
    assert body == {"type": 5, "data": {"flags": EPHEMERAL}}, body
    await stack.run_jobs()
    original = stack.original(result)
    assert original["flags"] & EPHEMERAL
    return str(original["content"])


async def jobs(stack: Stack) -> list[tuple[Any, ...]]:
    return await stack.rows("SELECT task_name, queue_name FROM procrastinate_jobs ORDER BY id")


# -- verification ----------------------------------------------------------------------------


class TestVerification:
    async def test_ping_answers_pong(self, stack: Stack) -> None:
        """Discord's PING (type 1) gets 200 {"type": 1}."""
        result = await stack.driver(MEMBER).ping()
        assert result.delivery.status == 200
        assert result.delivery.json() == {"type": 1}

    async def test_a_flipped_signature_byte_is_refused(self, stack: Stack) -> None:
        """Discord's own probe (a valid body, one signature byte flipped) gets 401."""
        driver = stack.driver(MEMBER)
        result = await driver.send(driver.build(1), bad_signature=True)
        assert result.delivery.status == 401

    async def test_a_stale_timestamp_is_refused(self, stack: Stack) -> None:
        """A correctly signed request from ten minutes ago is a replay: 401."""
        driver = stack.driver(MEMBER)
        stale = str(int(time.time()) - 600)
        result = await driver.send(driver.build(1), timestamp=stale)
        assert result.delivery.status == 401

    async def test_missing_headers_are_refused(self, stack: Stack) -> None:
        """A request without the signature headers gets 401 and no side effect."""
        response = await stack.http.post(f"{stack.url}/interactions", content=b'{"type":1}')
        assert response.status_code == 401

    async def test_a_command_signed_with_another_key_does_nothing(self, stack: Stack) -> None:
        """A command signed by a key other than the app's is refused before anything runs."""
        await stack.install()
        driver = stack.driver(MANAGER)
        payload = driver.command("announce", subcommand("off"))
        body = json.dumps(payload).encode()
        stranger_key = SigningKey(bytes(range(1, 33)))
        delivery = await post_signed(stack.http, f"{stack.url}/interactions", body, stranger_key)
        assert delivery.status == 401
        assert await stack.rows("SELECT enabled FROM guild_config") == [(True,)]

    async def test_an_oversized_body_gets_413(self, stack: Stack) -> None:
        """A body over the cap is refused with 413 before verification."""
        body = b"{" + b" " * MAX_BODY_BYTES + b"}"
        delivery = await post_signed(stack.http, f"{stack.url}/interactions", body, SigningKey())
        assert delivery.status == 413


# -- /streamers ------------------------------------------------------------------------------


class TestStreamers:
    async def test_a_manager_adds_a_streamer_with_a_deferred_answer(self, stack: Stack) -> None:
        """`/streamers add` defers, the job asks Twitch, tracks the streamer and edits the
        answer; the audit row names the Discord surface."""
        await stack.install(streamer=False)
        result = await command(
            stack, MANAGER, "streamers", subcommand("add", option("login", STRING, "TwitchDev"))
        )
        text = await deferred_text(stack, result)
        assert "TwitchDev" in text
        assert "Now announcing" in text
        tracked = await stack.rows(
            "SELECT s.twitch_login, gs.added_by FROM guild_streamers gs "
            "JOIN streamers s ON s.id = gs.streamer_id"
        )
        assert tracked == [("twitchdev", MANAGER)]
        audit = await stack.rows(
            "SELECT surface FROM audit_log WHERE action = 'streamer.track' AND actor_user_id = %s",
            MANAGER,
        )
        assert audit == [("discord",)]

    async def test_an_unknown_login_answers_a_clear_error(self, stack: Stack) -> None:
        """A login Twitch does not know ends in an ephemeral "no Twitch user" answer."""
        await stack.install(streamer=False)
        result = await command(
            stack, MANAGER, "streamers", subcommand("add", option("login", STRING, "nobody_here"))
        )
        text = await deferred_text(stack, result)
        assert "No Twitch user has the login" in text
        assert await stack.rows("SELECT 1 FROM guild_streamers") == []

    async def test_a_malformed_login_is_refused_inline(self, stack: Stack) -> None:
        """A login with characters Twitch never allows is refused at once, nothing queued."""
        await stack.install(streamer=False)
        result = await command(
            stack, MANAGER, "streamers", subcommand("add", option("login", STRING, "not a login!"))
        )
        assert "not a Twitch login" in ephemeral_text(result)
        assert ("interaction_follow_up", "interactions") not in await jobs(stack)

    async def test_a_member_may_not_add(self, stack: Stack) -> None:
        """A member without Manage Server is refused inline; no job is queued."""
        await stack.install(streamer=False)
        result = await command(
            stack, MEMBER, "streamers", subcommand("add", option("login", STRING, "twitchdev"))
        )
        assert "Manage Server" in ephemeral_text(result)
        assert ("interaction_follow_up", "interactions") not in await jobs(stack)

    async def test_anyone_lists_live_streamers_first(self, stack: Stack) -> None:
        """`/streamers list` shows every tracked streamer, live ones first, to a member."""
        await stack.install()
        from streammaxing.manage.actor import Operator, Surface
        from streammaxing.manage.models import StreamerAdd
        from streammaxing.manage.streamers import track_streamer

        body = StreamerAdd.model_validate({"login": "twitch"})
        await track_streamer(stack.services, Operator(Surface.CLI), GUILD, body)
        await stack.pipeline.execute(
            "INSERT INTO streams (stream_id, streamer_id, started_at) "
            "SELECT 's1', id, now() FROM streamers WHERE twitch_login = 'twitchdev'"
        )
        text = ephemeral_text(await command(stack, MEMBER, "streamers", subcommand("list")))
        lines = text.splitlines()
        assert lines[0].startswith("This server announces 2 streamers")
        assert "TwitchDev" in lines[1]
        assert "live" in lines[1]
        assert "twitch" in lines[2].lower()
        assert "offline" in lines[2]

    async def test_a_manager_gets_an_invite_link(self, stack: Stack) -> None:
        """`/streamers invite` answers the manager alone with a one-use invite link under the
        public URL; the invite names them as its creator and the trail records it."""
        await stack.install(streamer=False)
        result = await command(stack, MANAGER, "streamers", subcommand("invite"))
        text = ephemeral_text(result)
        (token,) = await stack.rows("SELECT token FROM streamer_invites")
        assert f"{PUBLIC_URL}/invite/{token[0]}" in text
        assert "works once" in text
        creators = await stack.rows("SELECT created_by, max_uses FROM streamer_invites")
        assert creators == [(MANAGER, 1)]
        trail = await stack.rows(
            "SELECT actor_user_id FROM audit_log WHERE action = 'invite.create'"
        )
        assert trail == [(MANAGER,)]

    async def test_a_member_may_not_invite(self, stack: Stack) -> None:
        """A member without Manage Server is refused inline; no invite is made."""
        await stack.install(streamer=False)
        result = await command(stack, MEMBER, "streamers", subcommand("invite"))
        assert "Manage Server" in ephemeral_text(result)
        assert await stack.rows("SELECT token FROM streamer_invites") == []

    async def test_a_manager_removes_a_streamer(self, stack: Stack) -> None:
        """`/streamers remove` untracks inline."""
        await stack.install()
        result = await command(
            stack,
            MANAGER,
            "streamers",
            subcommand("remove", option("streamer", STRING, "twitchdev")),
        )
        assert "Stopped announcing" in ephemeral_text(result)
        assert await stack.rows("SELECT 1 FROM guild_streamers") == []

    async def test_a_member_may_not_remove(self, stack: Stack) -> None:
        """A member's `/streamers remove` is refused and the streamer stays."""
        await stack.install()
        result = await command(
            stack,
            MEMBER,
            "streamers",
            subcommand("remove", option("streamer", STRING, "twitchdev")),
        )
        assert "Manage Server" in ephemeral_text(result)
        assert len(await stack.rows("SELECT 1 FROM guild_streamers")) == 1

    async def test_removing_an_untracked_streamer_says_so(self, stack: Stack) -> None:
        """An unknown streamer name answers an ephemeral "does not track"."""
        await stack.install()
        result = await command(
            stack, MANAGER, "streamers", subcommand("remove", option("streamer", STRING, "someone"))
        )
        assert "does not track" in ephemeral_text(result)

    async def test_autocomplete_suggests_matching_tracked_streamers(self, stack: Stack) -> None:
        """Typing "twitchd" suggests twitchdev only; at most 25 choices, from the database."""
        await stack.install()
        driver = stack.driver(MEMBER)
        payload = driver.autocomplete(
            "alerts", subcommand("mute", option("streamer", STRING, "twitchd", focused=True))
        )
        body = reply(await driver.send(payload))
        assert body == {
            "type": 8,
            "data": {"choices": [{"name": "TwitchDev", "value": "twitchdev"}]},
        }

    async def test_autocomplete_caps_at_25(self, stack: Stack) -> None:
        """With 30 matching streamers, 25 choices come back."""
        await stack.install(streamer=False)
        for index in range(30):
            await stack.pipeline.execute(
                "WITH s AS (INSERT INTO streamers (twitch_broadcaster_id, twitch_login) "
                "VALUES (%s, %s) RETURNING id) "
                "INSERT INTO guild_streamers (guild_id, streamer_id) SELECT %s, id FROM s",
                str(1000 + index), f"speedy{index:02d}", GUILD,
            )  # fmt: skip
        driver = stack.driver(MANAGER)
        payload = driver.autocomplete(
            "streamers", subcommand("remove", option("streamer", STRING, "speedy", focused=True))
        )
        choices = reply(await driver.send(payload))["data"]["choices"]
        assert len(choices) == 25
        assert choices[0] == {"name": "speedy00", "value": "speedy00"}


# -- /announce -------------------------------------------------------------------------------


def announce(sub: str, *options: dict[str, Any]) -> dict[str, Any]:
    return subcommand(sub, *options)


class TestAnnounce:
    async def test_a_manager_picks_the_channel(self, stack: Stack) -> None:
        """`/announce channel` saves a text channel the bot can post in."""
        await stack.install(channel=False, streamer=False)
        result = await command(
            stack,
            MANAGER,
            "announce",
            announce("channel", option("channel", CHANNEL_TYPE, CHANNEL)),
        )
        assert f"<#{CHANNEL}>" in ephemeral_text(result)
        assert await stack.rows("SELECT channel_id FROM guild_config") == [(CHANNEL,)]

    async def test_a_channel_the_bot_cannot_post_in_is_refused(self, stack: Stack) -> None:
        """The resolved channel's app_permissions lack Send Messages: refused, nothing saved."""
        await stack.install(channel=False, streamer=False)
        result = await command(
            stack,
            MANAGER,
            "announce",
            announce("channel", option("channel", CHANNEL_TYPE, HIDDEN_CHANNEL)),
        )
        assert "can't post" in ephemeral_text(result)
        assert await stack.rows("SELECT 1 FROM guild_config") == []

    async def test_a_voice_channel_is_refused(self, stack: Stack) -> None:
        """Only text and announcement channels hold announcements."""
        await stack.install(channel=False, streamer=False)
        result = await command(
            stack,
            MANAGER,
            "announce",
            announce("channel", option("channel", CHANNEL_TYPE, VOICE_CHANNEL)),
        )
        assert "text or announcement" in ephemeral_text(result)

    async def test_a_manager_sets_and_clears_the_role(self, stack: Stack) -> None:
        """`/announce role` saves the role; `role-clear` removes it."""
        await stack.install()
        result = await command(
            stack, MANAGER, "announce", announce("role", option("role", ROLE_TYPE, ROLE))
        )
        assert f"<@&{ROLE}>" in ephemeral_text(result)
        assert await stack.rows("SELECT mention_role_id FROM guild_config") == [(ROLE,)]
        ephemeral_text(await command(stack, MANAGER, "announce", announce("role-clear")))
        assert await stack.rows("SELECT mention_role_id FROM guild_config") == [(None,)]

    @pytest.mark.parametrize(
        ("role_id", "expected"), [(GUILD, "@everyone"), (MANAGED_ROLE, "integration")]
    )
    async def test_everyone_and_managed_roles_are_refused(
        self, stack: Stack, role_id: str, expected: str
    ) -> None:
        """@everyone (id = guild id) and a managed role are not announcement roles."""
        await stack.install()
        result = await command(
            stack, MANAGER, "announce", announce("role", option("role", ROLE_TYPE, role_id))
        )
        assert expected in ephemeral_text(result)
        assert await stack.rows("SELECT mention_role_id FROM guild_config") == [(None,)]

    async def test_off_and_on(self, stack: Stack) -> None:
        """`/announce off` and `/announce on` flip the guild's enabled flag."""
        await stack.install()
        ephemeral_text(await command(stack, MANAGER, "announce", announce("off")))
        assert await stack.rows("SELECT enabled FROM guild_config") == [(False,)]
        ephemeral_text(await command(stack, MANAGER, "announce", announce("on")))
        assert await stack.rows("SELECT enabled FROM guild_config") == [(True,)]

    async def test_on_before_a_channel_asks_for_one(self, stack: Stack) -> None:
        """Without a config, `/announce on` says to pick a channel first."""
        await stack.install(channel=False, streamer=False)
        text = ephemeral_text(await command(stack, MANAGER, "announce", announce("on")))
        assert "/announce channel" in text

    async def test_preview_shows_the_rendered_announcement(self, stack: Stack) -> None:
        """`/announce preview` answers the rendered embed, ephemeral, mentioning nobody."""
        await stack.install()
        body = reply(await command(stack, MANAGER, "announce", announce("preview")))
        assert body["data"]["flags"] & EPHEMERAL
        assert body["data"]["embeds"], body
        assert stack.discord.state.interactions.records[-1].original is not None

    @pytest.mark.parametrize("sub", ["on", "off", "preview", "role-clear", "test"])
    async def test_a_member_may_not_configure(self, stack: Stack, sub: str) -> None:
        """Every `/announce` subcommand refuses a member, ephemeral, HTTP 200."""
        await stack.install()
        assert "Manage Server" in ephemeral_text(
            await command(stack, MEMBER, "announce", announce(sub))
        )
        assert await stack.rows("SELECT enabled FROM guild_config") == [(True,)]

    async def test_a_test_announcement_is_marked_and_pings_nobody(self, stack: Stack) -> None:
        """`/announce test` posts one marked message through the delivery port, with the
        role configured but not pinged, and a nonce."""
        await stack.install()
        ephemeral_text(
            await command(
                stack, MANAGER, "announce", announce("role", option("role", ROLE_TYPE, ROLE))
            )
        )
        result = await command(stack, MANAGER, "announce", announce("test"))
        assert "Posted a test announcement" in await deferred_text(stack, result)
        [posted] = stack.discord.state.messages_in(CHANNEL)
        assert posted.content.startswith("🧪 **Test announcement**")
        assert posted.pinged_role_ids == ()
        assert posted.allowed_mentions == {"parse": []}
        assert posted.nonce

    async def test_a_test_announcement_pings_when_asked(self, stack: Stack) -> None:
        """`/announce test ping:true` mentions the configured role."""
        await stack.install()
        ephemeral_text(
            await command(
                stack, MANAGER, "announce", announce("role", option("role", ROLE_TYPE, ROLE))
            )
        )
        result = await command(
            stack, MANAGER, "announce", announce("test", option("ping", BOOLEAN, True))
        )
        assert "mentioned the role" in await deferred_text(stack, result)
        [posted] = stack.discord.state.messages_in(CHANNEL)
        assert posted.pinged_role_ids == (ROLE,)


# -- /alerts ---------------------------------------------------------------------------------


def alerts(sub: str, streamer: str | None = None) -> dict[str, Any]:
    return subcommand(sub, *([option("streamer", STRING, streamer)] if streamer else []))


class TestAlerts:
    async def test_a_new_member_mutes_a_streamer(self, stack: Stack) -> None:
        """A member with no user row yet mutes: the row is created, then the preference."""
        await stack.install()
        text = ephemeral_text(await command(stack, MEMBER, "alerts", alerts("mute", "twitchdev")))
        assert "Muted **TwitchDev**" in text
        assert await stack.rows("SELECT username FROM users") == [("fan",)]
        assert await stack.rows("SELECT notifications_enabled FROM user_preferences") == [(False,)]
        audit = await stack.rows(
            "SELECT DISTINCT surface FROM audit_log WHERE actor_user_id = %s", MEMBER
        )
        assert audit == [("discord",)]

    async def test_unmute_goes_back_to_the_default(self, stack: Stack) -> None:
        """`/alerts unmute` forgets the mute."""
        await stack.install()
        ephemeral_text(await command(stack, MEMBER, "alerts", alerts("mute", "twitchdev")))
        ephemeral_text(await command(stack, MEMBER, "alerts", alerts("unmute", "twitchdev")))
        assert await stack.rows("SELECT 1 FROM user_preferences") == []

    async def test_muting_an_untracked_streamer_says_so(self, stack: Stack) -> None:
        """A streamer the guild does not track is an ephemeral "does not track"."""
        await stack.install()
        text = ephemeral_text(await command(stack, MEMBER, "alerts", alerts("mute", "ghost")))
        assert "does not track" in text

    async def test_dm_on_off_and_status(self, stack: Stack) -> None:
        """`/alerts dm on` opts in, `status` tells what the member gets, `dm off` opts out."""
        await stack.install()
        text = ephemeral_text(await command(stack, MEMBER, "alerts", group("dm", subcommand("on"))))
        assert "You will get a DM" in text
        assert await stack.rows("SELECT user_id FROM dm_subscribers") == [(MEMBER,)]
        ephemeral_text(await command(stack, MEMBER, "alerts", alerts("mute", "twitchdev")))
        status = ephemeral_text(await command(stack, MEMBER, "alerts", alerts("status")))
        assert "Muted: **TwitchDev**" in status
        ephemeral_text(await command(stack, MEMBER, "alerts", group("dm", subcommand("off"))))
        assert await stack.rows("SELECT 1 FROM dm_subscribers") == []
        status = ephemeral_text(await command(stack, MEMBER, "alerts", alerts("status")))
        assert "no go-live DMs" in status

    async def test_a_manager_is_a_member_too(self, stack: Stack) -> None:
        """A manager's `/alerts dm on` works for themselves."""
        await stack.install()
        ephemeral_text(await command(stack, MANAGER, "alerts", group("dm", subcommand("on"))))
        assert await stack.rows("SELECT user_id FROM dm_subscribers") == [(MANAGER,)]


# -- strangers and mistakes ------------------------------------------------------------------


class TestRefusals:
    async def test_a_guild_without_the_bot_set_up(self, stack: Stack) -> None:
        """In a guild with no guild row, member and manager commands say it is not set up."""
        for user, name, sub in ((MEMBER, "alerts", alerts("mute", "twitchdev")),
                                (MANAGER, "announce", announce("on"))):  # fmt: skip
            text = ephemeral_text(await command(stack, user, name, sub, guild=BARE_GUILD))
            assert text == NOT_SET_UP
        assert await stack.rows("SELECT 1 FROM guild_config") == []

    async def test_a_command_from_a_dm(self, stack: Stack) -> None:
        """A command without a guild (sent from a DM) answers that it works in servers."""
        await stack.install()
        driver = stack.driver(MEMBER)
        payload = driver.command("alerts", alerts("status"))
        user = payload.pop("member")["user"]
        for key in ("guild_id", "guild"):
            payload.pop(key)
        payload |= {"user": user, "context": 1}
        assert ephemeral_text(await driver.send(payload)) == OUTSIDE_GUILD

    async def test_an_unknown_command(self, stack: Stack) -> None:
        """A command the service does not know answers an ephemeral error, not a 5xx."""
        await stack.install()
        text = ephemeral_text(await command(stack, MEMBER, "dance", subcommand("now")))
        assert "don't know the command `/dance now`" in text

    async def test_a_missing_option(self, stack: Stack) -> None:
        """A command missing a required option names it."""
        await stack.install()
        text = ephemeral_text(await command(stack, MEMBER, "alerts", alerts("mute")))
        assert "`streamer` is missing" in text


# -- webhook events --------------------------------------------------------------------------


class TestWebhookEvents:
    async def test_ping_answers_204_with_no_body(self, stack: Stack) -> None:
        """A webhook-events PING (type 0) gets 204 and an empty body."""
        delivery = await stack.events().ping()
        assert delivery.status == 204
        assert delivery.body == b""

    async def test_a_bad_signature_is_refused(self, stack: Stack) -> None:
        """Discord's invalid-signature probe gets 401."""
        assert (await stack.events().probe_bad_signature()).status == 401

    async def test_a_guild_install_creates_the_guild(self, stack: Stack) -> None:
        """APPLICATION_AUTHORIZED for a guild install: 204 at once; the job reads the guild
        with the bot token and registers the install for the installing user."""
        user = {"id": MANAGER, "username": "boss"}
        guild = {"id": GUILD, "name": "stale name"}
        delivery = await stack.events().application_authorized(user=user, guild=guild)
        assert delivery.status == 204
        assert delivery.latency_s < 3
        await stack.run_jobs()
        assert await stack.rows("SELECT name, owner_id FROM guilds") == [("Speedrunners", MANAGER)]
        audit = await stack.rows("SELECT action, actor_user_id, surface FROM audit_log")
        assert audit == [("guild.install", MANAGER, "discord")]

    async def test_a_repeated_install_event_is_harmless(self, stack: Stack) -> None:
        """The same event delivered twice leaves one guild row."""
        events = stack.events()
        body = events.event_body(
            "APPLICATION_AUTHORIZED",
            {"integration_type": 0, "scopes": ["bot"], "user": {"id": MANAGER},
             "guild": {"id": GUILD}},
        )  # fmt: skip
        assert [(await events.send(body)).status for _ in range(2)] == [204, 204]
        await stack.run_jobs()
        assert await stack.rows("SELECT guild_id FROM guilds") == [(GUILD,)]

    async def test_a_user_install_is_ignored(self, stack: Stack) -> None:
        """A user install (integration_type 1) queues nothing."""
        events = stack.events()
        body = events.event_body(
            "APPLICATION_AUTHORIZED",
            {"integration_type": 1, "scopes": ["applications.commands"], "user": {"id": MEMBER}},
        )
        assert (await events.send(body)).status == 204
        assert await jobs(stack) == []


# -- commands sync ---------------------------------------------------------------------------


class TestCommandsSync:
    async def test_sync_overwrites_once_then_changes_nothing(self, stack: Stack) -> None:
        """The first sync registers all three commands with a bulk overwrite the fake
        validates; the second finds them unchanged and does not write."""
        from streammaxing.interactions.catalog import COMMANDS
        from streammaxing.interactions.sync import sync_commands
        from tests.integration.interactions_harness import APP

        client = stack.pipeline.runtime.discord
        assert client is not None
        first = await sync_commands(client, APP, guild_id=GUILD)
        assert first.added == ("streamers", "announce", "alerts")
        registered = stack.discord.state.commands.registered(APP, GUILD)
        assert [command["name"] for command in registered] == [c["name"] for c in COMMANDS]
        second = await sync_commands(client, APP, guild_id=GUILD)
        assert not second.needs_write
        puts = stack.discord.state.requests_to("PUT", r".*/commands")
        assert len(puts) == 1

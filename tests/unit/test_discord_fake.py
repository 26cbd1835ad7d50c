"""The fake Discord behaves like Discord where our code depends on it (reference/discord.md).

Everything goes over real HTTP to the fake served by uvicorn on 127.0.0.1; time is a FakeClock.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.discord_fake import (
    BAN_MESSAGE,
    BUCKET_MESSAGE_WRITE,
    DEFAULT_BOT_PERMISSIONS,
    GUILD_FORUM,
    MENTION_EVERYONE,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    DiscordFakeState,
    FakeClock,
    FakeConfig,
    FakeDiscordServer,
    Fault,
    RouteLimit,
)
from tests.fakes.server import free_port

TOKEN = "fake-bot-token"
BOT_ID = "900000000000000001"
GUILD = "100000000000000001"
CHANNEL = "200000000000000001"
OTHER_CHANNEL = "200000000000000002"
ROLE = "300000000000000001"
QUIET_ROLE = "300000000000000002"
USER = "400000000000000001"
HEADERS = {
    "Authorization": f"Bot {TOKEN}",
    "User-Agent": "DiscordBot (https://github.com/streammaxing/streammaxing, 0.1.0)",
}
NO_PINGS = {"parse": []}
MESSAGES = f"/channels/{CHANNEL}/messages"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(server: FakeDiscordServer, clock: FakeClock) -> DiscordFakeState:
    server.state.reset(FakeConfig(), clock=clock)
    server.state.add_token(TOKEN, bot_id=BOT_ID)
    server.state.add_channel(CHANNEL, guild_id=GUILD)
    server.state.add_channel(OTHER_CHANNEL, guild_id=GUILD)
    server.state.add_role(ROLE, guild_id=GUILD, mentionable=True)
    server.state.add_role(QUIET_ROLE, guild_id=GUILD, mentionable=False)
    server.state.add_user(USER)
    return server.state


@pytest.fixture
async def http(
    server: FakeDiscordServer, state: DiscordFakeState
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.api_url, headers=HEADERS, timeout=5) as client:
        yield client


async def post(
    http: httpx.AsyncClient, body: dict[str, Any], path: str = MESSAGES
) -> httpx.Response:
    return await http.post(path, json=body)


def errors_at(response: httpx.Response, *path: str) -> list[dict[str, str]]:
    """The `_errors` list at a path of a 50035 body's `errors` tree."""
    node = response.json()["errors"]
    for part in path:
        node = node[part]
    return list(node["_errors"])


class TestRouting:
    async def test_other_api_versions_are_not_found(
        self, server: FakeDiscordServer, state: DiscordFakeState
    ) -> None:
        """Only v10 exists: /api/v9 answers 404 with Discord's code-0 body."""
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS) as client:
            response = await client.post(
                f"/api/v9/channels/{CHANNEL}/messages", json={"content": "x"}
            )
        assert response.status_code == 404
        assert response.json() == {"message": "404: Not Found", "code": 0}

    async def test_unknown_route_is_not_found(self, http: httpx.AsyncClient) -> None:
        """An unknown path answers 404 code 0."""
        response = await http.get("/guilds/1/widget.png")
        assert response.status_code == 404
        assert response.json()["code"] == 0

    async def test_wrong_method_is_405(self, http: httpx.AsyncClient) -> None:
        """A known path with a method it does not serve answers 405 code 0."""
        response = await http.put(MESSAGES, json={})
        assert response.status_code == 405
        assert response.json() == {"message": "405: Method Not Allowed", "code": 0}


class TestAuthAndHeaders:
    @pytest.mark.parametrize(
        "authorization", [None, "Bot wrong-token", f"Bearer {TOKEN}", TOKEN, "Bot"]
    )
    async def test_bad_authorization_is_401(
        self, server: FakeDiscordServer, state: DiscordFakeState, authorization: str | None
    ) -> None:
        """A missing, unknown or non-`Bot` Authorization answers nirn's exact 401 body."""
        headers = {"User-Agent": HEADERS["User-Agent"]}
        if authorization is not None:
            headers["Authorization"] = authorization
        async with httpx.AsyncClient(base_url=server.api_url, headers=headers) as client:
            response = await client.post(MESSAGES, json={"content": "x"})
        assert response.status_code == 401
        assert response.json() == {"message": "401: Unauthorized", "code": 0}

    async def test_authorization_is_checked_before_user_agent(
        self, server: FakeDiscordServer, state: DiscordFakeState
    ) -> None:
        """Without a token the answer is 401 even when the User-Agent is also wrong."""
        async with httpx.AsyncClient(base_url=server.api_url) as client:
            response = await client.get("/users/@me")
        assert response.status_code == 401

    async def test_bad_user_agent_gets_a_cloudflare_html_403(
        self, server: FakeDiscordServer, state: DiscordFakeState
    ) -> None:
        """A User-Agent not shaped `DiscordBot (url, version)` is blocked with HTML and no Via."""
        headers = {**HEADERS, "User-Agent": "python-httpx/0.28"}
        async with httpx.AsyncClient(base_url=server.api_url, headers=headers) as client:
            response = await client.post(
                MESSAGES, json={"content": "x", "allowed_mentions": NO_PINGS}
            )
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        assert "via" not in response.headers
        assert state.messages == ()

    async def test_non_json_content_type_is_invalid_form_body(
        self, http: httpx.AsyncClient
    ) -> None:
        """A form-encoded body is refused with 50035 and a CONTENT_TYPE_INVALID error."""
        response = await http.post(MESSAGES, data={"content": "x"})
        assert response.status_code == 400
        assert response.json()["code"] == 50035
        assert errors_at(response)[0]["code"] == "CONTENT_TYPE_INVALID"

    async def test_malformed_json_is_50109(self, http: httpx.AsyncClient) -> None:
        """A body that is not JSON answers 50109 'The request body contains invalid JSON.'."""
        response = await http.post(
            MESSAGES, content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json() == {
            "message": "The request body contains invalid JSON.",
            "code": 50109,
        }

    async def test_json_responses_carry_via(self, http: httpx.AsyncClient) -> None:
        """Answers from Discord's API (not Cloudflare) carry `Via: 1.1 google`."""
        ok = await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        missing = await http.get(f"/channels/{CHANNEL}/messages/1")
        assert ok.headers["via"] == "1.1 google"
        assert missing.headers["via"] == "1.1 google"


class TestResourceChecks:
    async def test_unknown_and_deleted_channels_are_10003(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """Posting to an unknown or deleted channel answers 404 Unknown Channel."""
        state.add_channel("200000000000000009", guild_id=GUILD, deleted=True)
        for channel in ("200000000000000008", "200000000000000009"):
            response = await post(http, {"content": "x"}, f"/channels/{channel}/messages")
            assert response.status_code == 404
            assert response.json() == {"message": "Unknown Channel", "code": 10003}

    async def test_bot_outside_guild_or_without_view_is_50001(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """A guild the bot left, or a channel it cannot view, answers 403 Missing Access."""
        state.add_guild("100000000000000002", bot_member=False)
        state.add_channel("200000000000000010", guild_id="100000000000000002")
        state.add_channel("200000000000000011", guild_id=GUILD, permissions=SEND_MESSAGES)
        for channel in ("200000000000000010", "200000000000000011"):
            response = await post(http, {"content": "x"}, f"/channels/{channel}/messages")
            assert response.status_code == 403
            assert response.json() == {"message": "Missing Access", "code": 50001}

    async def test_no_send_messages_is_50013(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """Viewing without SEND_MESSAGES answers 403 Missing Permissions."""
        state.update_channel(CHANNEL, permissions=VIEW_CHANNEL)
        response = await post(http, {"content": "x"})
        assert response.status_code == 403
        assert response.json() == {"message": "Missing Permissions", "code": 50013}

    async def test_forum_channel_is_40058(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """A forum channel holds only threads: posting answers 400 code 40058."""
        state.add_channel("200000000000000012", guild_id=GUILD, type=GUILD_FORUM)
        response = await post(http, {"content": "x"}, "/channels/200000000000000012/messages")
        assert response.status_code == 400
        assert response.json()["code"] == 40058

    async def test_unknown_message_is_10008(self, http: httpx.AsyncClient) -> None:
        """Editing a message that does not exist answers 404 Unknown Message."""
        response = await http.patch(
            f"{MESSAGES}/5", json={"content": "x", "allowed_mentions": NO_PINGS}
        )
        assert response.status_code == 404
        assert response.json() == {"message": "Unknown Message", "code": 10008}

    async def test_editing_another_authors_message_is_50005(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """Only the author can edit: another user's message answers 403 code 50005."""
        foreign = state.seed_message(CHANNEL, "hello", author_id=USER)
        response = await http.patch(f"{MESSAGES}/{foreign}", json={"content": "x"})
        assert response.status_code == 403
        assert response.json()["code"] == 50005

    async def test_resource_checks_come_before_the_schema(self, http: httpx.AsyncClient) -> None:
        """An invalid body to an unknown channel reports the channel, not the form."""
        response = await post(
            http, {"content": "x" * 3000}, "/channels/200000000000000008/messages"
        )
        assert response.json()["code"] == 10003


class TestFormValidation:
    async def test_content_is_limited_to_2000_code_points(self, http: httpx.AsyncClient) -> None:
        """2000 emoji (code points, not UTF-16 units or bytes) pass; 2001 characters fail."""
        ok = await post(http, {"content": "😀" * 2000, "allowed_mentions": NO_PINGS})
        too_long = await post(http, {"content": "x" * 2001, "allowed_mentions": NO_PINGS})
        assert ok.status_code == 200
        assert too_long.status_code == 400
        assert too_long.json()["code"] == 50035
        assert too_long.json()["message"] == "Invalid Form Body"
        assert errors_at(too_long, "content") == [
            {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
        ]

    async def test_embed_limits_report_nested_paths(self, http: httpx.AsyncClient) -> None:
        """Each violated limit is reported at its JSON path with a leaf code."""
        embed = {
            "title": "t" * 257,
            "description": "d" * 4097,
            "fields": [{"name": "ok", "value": "ok"}] * 3 + [{"name": "n", "value": "   "}],
            "footer": {"text": "f" * 2049},
            "author": {"name": "a" * 257},
        }
        response = await post(http, {"embeds": [embed], "allowed_mentions": NO_PINGS})
        assert response.status_code == 400
        assert errors_at(response, "embeds", "0", "title")[0]["code"] == "BASE_TYPE_MAX_LENGTH"
        assert (
            errors_at(response, "embeds", "0", "description")[0]["code"] == "BASE_TYPE_MAX_LENGTH"
        )
        assert errors_at(response, "embeds", "0", "fields", "3", "value") == [
            {"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}
        ]
        assert (
            errors_at(response, "embeds", "0", "footer", "text")[0]["code"]
            == "BASE_TYPE_MAX_LENGTH"
        )
        assert (
            errors_at(response, "embeds", "0", "author", "name")[0]["code"]
            == "BASE_TYPE_MAX_LENGTH"
        )

    async def test_limits_count_after_trimming_whitespace(self, http: httpx.AsyncClient) -> None:
        """A 256-character title padded with spaces is still within the limit."""
        response = await post(
            http, {"embeds": [{"title": "  " + "t" * 256 + "  "}], "allowed_mentions": NO_PINGS}
        )
        assert response.status_code == 200
        assert response.json()["embeds"][0]["title"] == "t" * 256

    async def test_field_count_and_embed_count(self, http: httpx.AsyncClient) -> None:
        """More than 25 fields, or more than 10 embeds, is a MAX_LENGTH error."""
        fields = [{"name": "n", "value": "v"}] * 26
        many_fields = await post(
            http, {"embeds": [{"fields": fields}], "allowed_mentions": NO_PINGS}
        )
        many_embeds = await post(
            http, {"embeds": [{"title": "t"}] * 11, "allowed_mentions": NO_PINGS}
        )
        assert errors_at(many_fields, "embeds", "0", "fields")[0]["code"] == "BASE_TYPE_MAX_LENGTH"
        assert errors_at(many_embeds, "embeds")[0]["message"] == "Must be 10 or fewer in length."

    async def test_total_size_covers_all_embeds(self, http: httpx.AsyncClient) -> None:
        """Two embeds of 3001 characters each break the 6000 total, reported at `embeds`."""
        embeds = [{"description": "d" * 3001}, {"description": "d" * 3001}]
        response = await post(http, {"embeds": embeds, "allowed_mentions": NO_PINGS})
        assert (
            errors_at(response, "embeds")[0]["message"] == "Embed size exceeds maximum size of 6000"
        )

    @pytest.mark.parametrize(
        ("embed", "path", "message"),
        [
            (
                {"title": "t", "thumbnail": {"url": "https://x.tv/t-{width}x{height}.jpg"}},
                ("thumbnail", "url"),
                "Not a well formed URL.",
            ),
            (
                {"title": "t", "image": {"url": "ftp://x.tv/a.png"}},
                ("image", "url"),
                "Scheme must be one of ('http', 'https', 'attachment').",
            ),
            (
                {"title": "t", "url": "attachment://a.png"},
                ("url",),
                "Scheme must be one of ('http', 'https').",
            ),
        ],
    )
    async def test_urls_must_be_well_formed_http(
        self, http: httpx.AsyncClient, embed: dict[str, Any], path: tuple[str, ...], message: str
    ) -> None:
        """Image URLs allow http(s) and attachment://, the embed url only http(s); no `{}`."""
        response = await post(http, {"embeds": [embed], "allowed_mentions": NO_PINGS})
        assert errors_at(response, "embeds", "0", *path) == [
            {"code": "URL_TYPE_INVALID_URL", "message": message}
        ]

    async def test_color_and_timestamp(self, http: httpx.AsyncClient) -> None:
        """color is a 24-bit int; timestamp must parse as ISO8601."""
        bad = await post(
            http,
            {
                "embeds": [{"title": "t", "color": 0x1000000, "timestamp": "yesterday"}],
                "allowed_mentions": NO_PINGS,
            },
        )
        good = await post(
            http,
            {
                "embeds": [
                    {"title": "t", "color": 0xFFFFFF, "timestamp": "2026-05-01T18:04:05+00:00"}
                ],
                "allowed_mentions": NO_PINGS,
            },
        )
        assert errors_at(bad, "embeds", "0", "color")[0]["code"] == "NUMBER_TYPE_MAX"
        assert "embeds" in bad.json()["errors"]
        assert errors_at(bad, "embeds", "0", "timestamp")
        assert good.status_code == 200

    async def test_nonce_flags_and_allowed_mentions_are_checked(
        self, http: httpx.AsyncClient
    ) -> None:
        """nonce ≤25 chars, flags only 4/4096/8192/32768, parse choices, ≤100 ids, and `parse`
        excluding a non-empty list of the same kind."""
        response = await post(
            http,
            {
                "content": "x",
                "nonce": "n" * 26,
                "flags": 64,
                "allowed_mentions": {
                    "parse": ["users", "channels"],
                    "users": [USER],
                    "roles": ["1"] * 101,
                },
            },
        )
        assert errors_at(response, "nonce")[0]["message"] == "Must be 25 or fewer in length."
        assert errors_at(response, "flags")
        assert (
            errors_at(response, "allowed_mentions", "parse", "1")[0]["code"] == "BASE_TYPE_CHOICES"
        )
        assert errors_at(response, "allowed_mentions", "roles")[0]["code"] == "BASE_TYPE_MAX_LENGTH"
        assert (
            errors_at(response, "allowed_mentions")[0]["code"]
            == "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"
        )

    async def test_empty_list_next_to_parse_is_accepted(self, http: httpx.AsyncClient) -> None:
        """`{"parse": ["users"], "users": []}` is not a conflict."""
        response = await post(
            http, {"content": "x", "allowed_mentions": {"parse": ["users"], "users": []}}
        )
        assert response.status_code == 200

    @pytest.mark.parametrize("body", [{}, {"content": ""}, {"content": "  \n "}, {"embeds": []}])
    async def test_empty_message_is_50006(
        self, http: httpx.AsyncClient, body: dict[str, Any]
    ) -> None:
        """Without content, embeds or components Discord refuses: 50006."""
        response = await post(http, {**body, "allowed_mentions": NO_PINGS})
        assert response.status_code == 400
        assert response.json() == {"message": "Cannot send an empty message", "code": 50006}

    async def test_schema_errors_come_before_the_empty_check(self, http: httpx.AsyncClient) -> None:
        """An empty message with an over-long nonce reports 50035, not 50006."""
        response = await post(http, {"content": "", "nonce": "n" * 26})
        assert response.json()["code"] == 50035

    async def test_embeds_are_dropped_without_embed_links(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """A bot without EMBED_LINKS posts the text; its embeds silently disappear."""
        state.update_channel(CHANNEL, permissions=VIEW_CHANNEL | SEND_MESSAGES)
        response = await post(
            http, {"content": "x", "embeds": [{"title": "t"}], "allowed_mentions": NO_PINGS}
        )
        assert response.status_code == 200
        assert response.json()["embeds"] == []


class TestMentions:
    async def test_the_role_only_recipe_pings_only_the_role(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """`parse: [] + roles: [role]` pings the role and nobody else, whatever the title says."""
        state.update_channel(CHANNEL, permissions=DEFAULT_BOT_PERMISSIONS | MENTION_EVERYONE)
        content = f"<@&{ROLE}> live: @everyone @here <@&{QUIET_ROLE}> <@{USER}> <@!{USER}>"
        response = await post(
            http, {"content": content, "allowed_mentions": {"parse": [], "roles": [ROLE]}}
        )
        body = response.json()
        assert body["mention_roles"] == [ROLE]
        assert body["mentions"] == []
        assert body["mention_everyone"] is False
        assert state.messages[0].pinged_role_ids == (ROLE,)

    async def test_default_allowances_parse_everything(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """Without allowed_mentions, users, roles and @everyone (with the permission) ping."""
        state.update_channel(CHANNEL, permissions=DEFAULT_BOT_PERMISSIONS | MENTION_EVERYONE)
        response = await post(http, {"content": f"@everyone <@&{QUIET_ROLE}> <@!{USER}>"})
        body = response.json()
        assert body["mention_everyone"] is True
        assert body["mention_roles"] == [QUIET_ROLE]
        assert [user["id"] for user in body["mentions"]] == [USER]
        assert state.messages[0].pinged_role_ids == (QUIET_ROLE,)

    async def test_everyone_needs_the_permission(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """@everyone is not a ping without MENTION_EVERYONE, and a non-mentionable role is listed
        in mention_roles but notifies no one."""
        response = await post(http, {"content": f"@everyone <@&{QUIET_ROLE}>"})
        assert response.json()["mention_everyone"] is False
        assert response.json()["mention_roles"] == [QUIET_ROLE]
        assert state.messages[0].pinged_role_ids == ()

    async def test_mentions_in_embeds_never_ping(self, http: httpx.AsyncClient) -> None:
        """Only `content` is parsed; a role mention inside an embed pings nobody."""
        response = await post(
            http, {"embeds": [{"title": "t", "description": f"<@&{ROLE}> @everyone"}]}
        )
        assert response.json()["mention_roles"] == []
        assert response.json()["mention_everyone"] is False

    async def test_listed_ids_absent_from_content_are_ignored(
        self, http: httpx.AsyncClient
    ) -> None:
        """Allowing a role that the text does not mention produces no phantom ping."""
        response = await post(
            http, {"content": "hi", "allowed_mentions": {"parse": [], "roles": [ROLE]}}
        )
        assert response.json()["mention_roles"] == []

    async def test_an_edit_without_allowed_mentions_reparses_with_defaults(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """PATCH without allowed_mentions parses the new content with default allowances."""
        created = await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        message_id = created.json()["id"]
        safe = await http.patch(
            f"{MESSAGES}/{message_id}",
            json={"content": f"<@&{QUIET_ROLE}>", "allowed_mentions": NO_PINGS},
        )
        unsafe = await http.patch(f"{MESSAGES}/{message_id}", json={"content": f"<@&{QUIET_ROLE}>"})
        assert safe.json()["mention_roles"] == []
        assert unsafe.json()["mention_roles"] == [QUIET_ROLE]
        assert unsafe.json()["edited_timestamp"] is not None
        assert state.message(message_id).edit_count == 2


class TestNonceDedupe:
    async def test_a_repeated_nonce_returns_the_original(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """With enforce_nonce a second POST returns the first message unchanged; one exists."""
        first = await post(
            http,
            {"content": "one", "nonce": "n-1", "enforce_nonce": True, "allowed_mentions": NO_PINGS},
        )
        second = await post(
            http,
            {"content": "two", "nonce": "n-1", "enforce_nonce": True, "allowed_mentions": NO_PINGS},
        )
        assert second.status_code == 200
        assert second.json()["id"] == first.json()["id"]
        assert second.json()["content"] == "one"
        assert second.json()["nonce"] == "n-1"
        assert [message.content for message in state.messages] == ["one"]

    async def test_the_nonce_is_not_returned_by_get(self, http: httpx.AsyncClient) -> None:
        """The nonce appears in the create response only, never when reading the message."""
        created = await post(http, {"content": "x", "nonce": "n-2", "allowed_mentions": NO_PINGS})
        read = await http.get(f"{MESSAGES}/{created.json()['id']}")
        assert created.json()["nonce"] == "n-2"
        assert "nonce" not in read.json()

    async def test_without_enforce_nonce_every_post_creates(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """A nonce without enforce_nonce does not deduplicate."""
        for _ in range(2):
            await post(http, {"content": "x", "nonce": "n-3", "allowed_mentions": NO_PINGS})
        assert len(state.messages) == 2

    async def test_dedupe_is_per_author_not_per_channel(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """The same nonce in another channel returns the first message (dedupe is per author)."""
        body = {"content": "x", "nonce": "n-4", "enforce_nonce": True, "allowed_mentions": NO_PINGS}
        first = await post(http, body)
        elsewhere = await post(http, body, f"/channels/{OTHER_CHANNEL}/messages")
        assert elsewhere.json()["id"] == first.json()["id"]
        assert elsewhere.json()["channel_id"] == CHANNEL

    async def test_another_bot_is_another_author(
        self, server: FakeDiscordServer, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """Two tokens (two authors) sending the same nonce get two messages."""
        state.add_token("second-token")
        body = {"content": "x", "nonce": "n-5", "enforce_nonce": True, "allowed_mentions": NO_PINGS}
        await post(http, body)
        headers = {**HEADERS, "Authorization": "Bot second-token"}
        async with httpx.AsyncClient(base_url=server.api_url, headers=headers) as other:
            await post(other, body)
        assert len(state.messages) == 2

    async def test_the_window_expires(
        self, http: httpx.AsyncClient, state: DiscordFakeState, clock: FakeClock
    ) -> None:
        """After the window (120 s by default) the same nonce creates a new message."""
        body = {"content": "x", "nonce": "n-6", "enforce_nonce": True, "allowed_mentions": NO_PINGS}
        first = await post(http, body)
        clock.advance(121)
        second = await post(http, body)
        assert second.json()["id"] != first.json()["id"]

    async def test_a_deleted_original_gives_10008(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """Retrying a nonce whose message was deleted answers Unknown Message, posts nothing."""
        body = {"content": "x", "nonce": "n-7", "enforce_nonce": True, "allowed_mentions": NO_PINGS}
        first = await post(http, body)
        state.delete_message(first.json()["id"])
        retry = await post(http, body)
        assert retry.status_code == 404
        assert retry.json()["code"] == 10008
        assert state.messages_in(CHANNEL) == ()


class TestRateLimits:
    async def test_message_create_bucket_headers(
        self, http: httpx.AsyncClient, state: DiscordFakeState, clock: FakeClock
    ) -> None:
        """POST messages: 5 per 5 s per channel, told in X-RateLimit-* headers."""
        responses = []
        for _ in range(5):
            responses.append(await post(http, {"content": "x", "allowed_mentions": NO_PINGS}))
            clock.advance(0.5)
        assert [r.headers["x-ratelimit-remaining"] for r in responses] == ["4", "3", "2", "1", "0"]
        first = responses[0].headers
        assert first["x-ratelimit-limit"] == "5"
        assert first["x-ratelimit-bucket"] == BUCKET_MESSAGE_WRITE
        assert first["x-ratelimit-reset-after"] == "5.000"
        assert responses[-1].headers["x-ratelimit-reset-after"] == "3.000"
        assert re.fullmatch(r"\d+\.\d{3}", first["x-ratelimit-reset"])
        assert abs(float(first["x-ratelimit-reset"]) - time.time() - 5) < 5

    async def test_over_the_bucket_is_a_user_429(
        self, http: httpx.AsyncClient, state: DiscordFakeState, clock: FakeClock
    ) -> None:
        """The sixth POST within 5 s is refused with a user-scope 429 and nothing is created."""
        for _ in range(5):
            await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        clock.advance(1.25)
        response = await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        assert response.status_code == 429
        assert response.json() == {
            "message": "You are being rate limited.",
            "retry_after": 3.75,
            "global": False,
        }
        assert response.headers["retry-after"] == "4"
        assert response.headers["x-ratelimit-scope"] == "user"
        assert response.headers["x-ratelimit-remaining"] == "0"
        assert response.headers["via"] == "1.1 google"
        assert len(state.messages) == 5
        assert state.rate_limited == {"user": 1}

    async def test_buckets_are_per_channel_and_reset(
        self, http: httpx.AsyncClient, state: DiscordFakeState, clock: FakeClock
    ) -> None:
        """An exhausted channel leaves other channels free, and refills after the window."""
        for _ in range(5):
            await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        other = await post(
            http,
            {"content": "x", "allowed_mentions": NO_PINGS},
            f"/channels/{OTHER_CHANNEL}/messages",
        )
        clock.advance(5)
        again = await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        assert other.status_code == 200
        assert again.status_code == 200
        assert again.headers["x-ratelimit-remaining"] == "4"

    async def test_edits_share_the_hash_but_not_the_counter(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """PATCH reports the POST bucket hash yet counts on its own (api#1442, api#8073)."""
        responses = [
            await post(http, {"content": "x", "allowed_mentions": NO_PINGS}) for _ in range(5)
        ]
        edit = await http.patch(
            f"{MESSAGES}/{responses[0].json()['id']}",
            json={"content": "y", "allowed_mentions": NO_PINGS},
        )
        assert edit.status_code == 200
        assert edit.headers["x-ratelimit-bucket"] == BUCKET_MESSAGE_WRITE
        assert edit.headers["x-ratelimit-remaining"] == "4"

    async def test_global_limit_per_token(
        self, http: httpx.AsyncClient, state: DiscordFakeState, clock: FakeClock
    ) -> None:
        """Beyond the global limit a 429 says global, without bucket headers."""
        state.configure(global_limit=3)
        statuses = []
        for index in range(4):
            channel = f"2000000000000001{index:02d}"
            state.add_channel(channel, guild_id=GUILD)
            response = await post(
                http,
                {"content": "x", "allowed_mentions": NO_PINGS},
                f"/channels/{channel}/messages",
            )
            statuses.append(response.status_code)
        assert statuses == [200, 200, 200, 429]
        assert response.json() == {
            "message": "You are being rate limited.",
            "retry_after": 1.0,
            "global": True,
        }
        assert response.headers["x-ratelimit-global"] == "true"
        assert response.headers["x-ratelimit-scope"] == "global"
        assert response.headers["retry-after"] == "1"
        assert "x-ratelimit-bucket" not in response.headers
        clock.advance(1)
        assert (await http.get("/users/@me")).status_code == 200
        assert state.rate_limited == {"global": 1}

    async def test_unlimited_mode_never_limits(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """In unlimited mode (throughput benchmarks) nothing is refused and headers promise room."""
        state.configure(unlimited=True)
        responses = [
            await post(http, {"content": "x", "allowed_mentions": NO_PINGS}) for _ in range(60)
        ]
        assert {r.status_code for r in responses} == {200}
        assert int(responses[-1].headers["x-ratelimit-remaining"]) > 1000

    async def test_sliding_windows_refill_before_reset(
        self, http: httpx.AsyncClient, state: DiscordFakeState, clock: FakeClock
    ) -> None:
        """In sliding mode a slot frees when its hit leaves the window, not at a common reset."""
        state.configure(sliding_windows=True, message_create=RouteLimit(2, 5.0))
        await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        clock.advance(3)
        await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        clock.advance(1)
        refused = await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        clock.advance(1.5)
        allowed = await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        assert refused.json()["retry_after"] == 1.0
        assert allowed.status_code == 200
        assert allowed.headers["x-ratelimit-remaining"] == "0"

    async def test_dm_open_has_no_rate_limit_headers(self, http: httpx.AsyncClient) -> None:
        """POST /users/@me/channels sends no X-RateLimit headers."""
        response = await http.post("/users/@me/channels", json={"recipient_id": USER})
        assert response.status_code == 200
        assert not [name for name in response.headers if name.startswith("x-ratelimit")]


class TestInvalidRequestsAndBan:
    async def test_counts_401_403_and_non_shared_429(
        self, server: FakeDiscordServer, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """401, 403 and user 429s count toward the ban budget; 404s and shared 429s do not."""
        state.update_channel(OTHER_CHANNEL, permissions=VIEW_CHANNEL)
        await post(http, {"content": "x"}, f"/channels/{OTHER_CHANNEL}/messages")  # 403
        await post(http, {"content": "x"}, "/channels/200000000000000099/messages")  # 404
        state.inject(Fault.shared_429("POST", r"/channels/\d+/messages"))
        await post(http, {"content": "x", "allowed_mentions": NO_PINGS})  # shared 429
        for _ in range(6):
            await post(http, {"content": "x", "allowed_mentions": NO_PINGS})  # 5x 200, 1x 429
        async with httpx.AsyncClient(base_url=server.api_url) as anonymous:
            await anonymous.get("/users/@me")  # 401
        assert state.invalid_request_count() == 3

    async def test_threshold_enters_ban_mode(
        self,
        server: FakeDiscordServer,
        http: httpx.AsyncClient,
        state: DiscordFakeState,
        clock: FakeClock,
    ) -> None:
        """At the threshold every request gets Cloudflare's 429: JSON, no retry_after, no Via."""
        state.configure(invalid_request_threshold=3, ban_duration_s=60)
        async with httpx.AsyncClient(base_url=server.api_url) as anonymous:
            for _ in range(3):
                await anonymous.get("/users/@me")
        banned = await http.get("/users/@me")
        assert banned.status_code == 429
        assert banned.json() == {"code": 0, "message": BAN_MESSAGE}
        assert "via" not in banned.headers
        assert "retry-after" not in banned.headers
        assert state.is_banned()
        assert state.rate_limited == {"ban": 1}
        clock.advance(60)
        assert (await http.get("/users/@me")).status_code == 200

    async def test_ban_mode_can_answer_html(
        self, server: FakeDiscordServer, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """With ban_html the ban page is Cloudflare's 'error code: 1015' HTML."""
        state.configure(invalid_request_threshold=1, ban_html=True)
        async with httpx.AsyncClient(base_url=server.api_url) as anonymous:
            await anonymous.get("/users/@me")
        banned = await http.get("/users/@me")
        assert banned.status_code == 429
        assert "1015" in banned.text
        assert banned.headers["content-type"].startswith("text/html")


class TestDirectMessages:
    async def test_open_is_idempotent(self, http: httpx.AsyncClient) -> None:
        """Opening a DM twice returns the same type-1 channel."""
        first = await http.post("/users/@me/channels", json={"recipient_id": USER})
        second = await http.post("/users/@me/channels", json={"recipient_id": USER})
        assert first.json()["type"] == 1
        assert first.json()["recipients"][0]["id"] == USER
        assert second.json()["id"] == first.json()["id"]

    @pytest.mark.parametrize("deleted", [False, True])
    async def test_unknown_or_deleted_recipient_is_50033(
        self, http: httpx.AsyncClient, state: DiscordFakeState, deleted: bool
    ) -> None:
        """An unknown or deleted user is an Invalid Recipient (400 50033)."""
        state.add_user("400000000000000002", deleted=True)
        recipient = "400000000000000002" if deleted else "400000000000000003"
        response = await http.post("/users/@me/channels", json={"recipient_id": recipient})
        assert response.status_code == 400
        assert response.json() == {"message": "Invalid Recipient(s)", "code": 50033}

    async def test_closed_dms_and_no_mutual_guild(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """Sending to a user with DMs closed is 50007; without a mutual guild 50278."""
        state.add_user("400000000000000004", dms_open=False)
        state.add_user("400000000000000005", mutual_guild=False)
        codes = []
        for user in ("400000000000000004", "400000000000000005", USER):
            channel = (await http.post("/users/@me/channels", json={"recipient_id": user})).json()[
                "id"
            ]
            response = await post(
                http,
                {"content": "hi", "allowed_mentions": NO_PINGS},
                f"/channels/{channel}/messages",
            )
            codes.append((response.status_code, response.json().get("code")))
        assert codes[:2] == [(403, 50007), (403, 50278)]
        assert codes[2][0] == 200

    async def test_opening_too_fast_is_40003(
        self, http: httpx.AsyncClient, state: DiscordFakeState, clock: FakeClock
    ) -> None:
        """New DM channels above the open rate are refused (40003); existing ones still return."""
        state.configure(dm_open_limit=2)
        users = [f"40000000000000010{index}" for index in range(3)]
        for user in users:
            state.add_user(user)
        statuses = [
            (await http.post("/users/@me/channels", json={"recipient_id": user})).status_code
            for user in users
        ]
        refused = await http.post("/users/@me/channels", json={"recipient_id": users[2]})
        existing = await http.post("/users/@me/channels", json={"recipient_id": users[0]})
        clock.advance(60)
        later = await http.post("/users/@me/channels", json={"recipient_id": users[2]})
        assert statuses == [200, 200, 403]
        assert refused.json() == {
            "message": "You are opening direct messages too fast",
            "code": 40003,
        }
        assert existing.status_code == 200
        assert later.status_code == 200


class TestFaults:
    async def test_error_fault_fires_once(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """An injected JSON 500 answers the next matching request only; nothing is created."""
        state.inject(Fault.error("POST", r"/channels/\d+/messages", 500))
        failed = await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        ok = await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        assert failed.status_code == 500
        assert failed.json()["code"] == 0
        assert ok.status_code == 200
        assert len(state.messages) == 1

    async def test_faults_match_method_and_path_in_fifo_order(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """A rule fires only for its method and path; matching rules fire in the order queued."""
        state.inject(Fault.error("PATCH", ".*", 502))
        state.inject(Fault.error("POST", r"/channels/\d+/messages", 503))
        state.inject(Fault.error("POST", r"/channels/\d+/messages", 504))
        statuses = [
            (await post(http, {"content": "x", "allowed_mentions": NO_PINGS})).status_code
            for _ in range(3)
        ]
        assert statuses == [503, 504, 200]
        assert state.pending_faults == 1

    async def test_html_5xx_has_no_via(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """A Cloudflare 502 page is HTML without Via."""
        state.inject(Fault.html_5xx(None, ".*"))
        response = await http.get("/users/@me")
        assert response.status_code == 502
        assert response.headers["content-type"].startswith("text/html")
        assert "via" not in response.headers

    async def test_shared_429(self, http: httpx.AsyncClient, state: DiscordFakeState) -> None:
        """A shared 429 has scope shared, code 20028, remaining above 0, and is not invalid."""
        state.inject(Fault.shared_429("POST", r"/channels/\d+/messages", retry_after=0.3))
        response = await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        assert response.status_code == 429
        assert response.json()["code"] == 20028
        assert response.json()["retry_after"] == 0.3
        assert response.headers["x-ratelimit-scope"] == "shared"
        assert response.headers["x-ratelimit-remaining"] == "5"
        assert response.headers["retry-after"] == "1"
        assert state.invalid_request_count() == 0
        assert state.rate_limited == {"shared": 1}

    async def test_cf_ban_fault(self, http: httpx.AsyncClient, state: DiscordFakeState) -> None:
        """A one-shot Cloudflare ban answer is a 429 without retry_after and without Via."""
        state.inject(Fault.cf_ban(None, ".*"))
        response = await http.get("/users/@me")
        assert response.status_code == 429
        assert "retry_after" not in response.json()
        assert "via" not in response.headers
        assert not state.is_banned()

    async def test_drop_after_commit_creates_then_drops(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """The message is stored, but the client gets a broken connection instead of an answer."""
        state.inject(Fault.drop_after_commit("POST", r"/channels/\d+/messages"))
        with pytest.raises(httpx.RemoteProtocolError):
            await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        assert len(state.messages) == 1
        assert state.requests[-1].fault == "drop_after_commit"
        assert (await http.get("/users/@me")).status_code == 200

    async def test_slow_answer_outlasts_the_client_timeout(
        self, server: FakeDiscordServer, state: DiscordFakeState
    ) -> None:
        """A slow fault holds the answer past the client's timeout; the message exists."""
        state.inject(Fault.slow("POST", r"/channels/\d+/messages", delay_s=30))
        async with httpx.AsyncClient(
            base_url=server.api_url, headers=HEADERS, timeout=0.3
        ) as client:
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                await post(client, {"content": "x", "allowed_mentions": NO_PINGS})
        assert time.monotonic() - started < 5
        assert len(state.messages) == 1


class TestReadRoutesAndLog:
    async def test_list_get_delete(self, http: httpx.AsyncClient, state: DiscordFakeState) -> None:
        """GET messages lists newest first up to `limit`; DELETE answers 204 and hides it."""
        ids = [
            (await post(http, {"content": str(n), "allowed_mentions": NO_PINGS})).json()["id"]
            for n in range(3)
        ]
        listed = await http.get(MESSAGES, params={"limit": 2})
        deleted = await http.delete(f"{MESSAGES}/{ids[0]}")
        gone = await http.get(f"{MESSAGES}/{ids[0]}")
        too_many = await http.get(MESSAGES, params={"limit": 101})
        assert [m["id"] for m in listed.json()] == [ids[2], ids[1]]
        assert deleted.status_code == 204
        assert gone.json()["code"] == 10008
        assert too_many.json()["code"] == 50035
        assert len(state.messages_in(CHANNEL)) == 2

    async def test_users_me_is_the_bot(self, http: httpx.AsyncClient) -> None:
        """GET /users/@me returns the bot user behind the token."""
        response = await http.get("/users/@me")
        assert response.json()["id"] == BOT_ID
        assert response.json()["bot"] is True

    async def test_request_log_redacts_the_token(
        self, http: httpx.AsyncClient, state: DiscordFakeState
    ) -> None:
        """The log keeps method, path, body, status and bot, but never the Authorization value."""
        await post(http, {"content": "x", "allowed_mentions": NO_PINGS})
        (entry,) = state.requests_to("POST", r"/channels/\d+/messages")
        assert entry.headers["authorization"] == "<redacted>"
        assert TOKEN not in repr(entry)
        assert entry.json == {"content": "x", "allowed_mentions": NO_PINGS}
        assert (entry.status, entry.bot_id, entry.client) == (200, BOT_ID, "127.0.0.1")


class TestControlApi:
    async def test_seed_inject_and_read_over_http(
        self, server: FakeDiscordServer, state: DiscordFakeState
    ) -> None:
        """Child processes can seed, configure, inject faults and read state over /_fake/*."""
        async with httpx.AsyncClient(base_url=server.url) as control:
            await control.post(
                "/_fake/seed",
                json={
                    "tokens": [{"token": "http-token"}],
                    "channels": [{"id": "200000000000000050", "guild_id": GUILD}],
                },
            )
            await control.post(
                "/_fake/config", json={"message_create": {"limit": 1, "window_s": 5.0}}
            )
            await control.post(
                "/_fake/faults",
                json={
                    "kind": "error",
                    "method": "GET",
                    "path": "/users/@me",
                    "status": 503,
                    "body": {"code": 0},
                },
            )
            headers = {**HEADERS, "Authorization": "Bot http-token"}
            async with httpx.AsyncClient(base_url=server.api_url, headers=headers) as api:
                sent = await post(
                    api,
                    {"content": "x", "allowed_mentions": NO_PINGS},
                    "/channels/200000000000000050/messages",
                )
                limited = await post(
                    api,
                    {"content": "x", "allowed_mentions": NO_PINGS},
                    "/channels/200000000000000050/messages",
                )
                faulted = await api.get("/users/@me")
            messages = (
                await control.get("/_fake/messages", params={"channel_id": "200000000000000050"})
            ).json()
            stats = (await control.get("/_fake/stats")).json()
            logged = (await control.get("/_fake/requests")).json()
        assert (sent.status_code, limited.status_code, faulted.status_code) == (200, 429, 503)
        assert [m["id"] for m in messages] == [sent.json()["id"]]
        assert stats["rate_limited"] == {"user": 1}
        assert len(logged) == 3

    def test_runs_standalone(self) -> None:
        """`python -m tests.fakes.discord_fake --port N --token T` serves the API on 127.0.0.1."""
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fakes.discord_fake",
                "--port",
                str(port),
                "--unlimited",
                "--token",
                TOKEN,
            ],
        )
        try:
            deadline = time.monotonic() + 10
            response = None
            while time.monotonic() < deadline and response is None:
                try:
                    response = httpx.get(
                        f"http://127.0.0.1:{port}/api/v10/users/@me", headers=HEADERS
                    )
                except httpx.ConnectError:
                    time.sleep(0.05)
            assert response is not None
            assert response.status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=10)

"""The guild page's streamer invites and its budget notice, over a real database and the fake
Discord: who may see, create and revoke invites, the create/list/revoke flow, and the notice
naming the streamers the EventSub budget left out."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.fakes.discord_fake import FakeDiscordServer
from tests.integration.dashboard_site import GUILD, MANAGER, OTHER, Site, csrf
from tests.integration.test_dashboard_access import ACTORS, BROADCASTER, MANAGERS, signed_in

G = f"/guilds/{GUILD}"
MINE = "mine-invite-token-0000000000000000"
THEIRS = "their-invite-token-000000000000000"


@pytest.fixture(scope="module")
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as running:
        yield running


async def seed_invites(site: Site) -> None:
    """One invite of G (by nobody in particular) and one of another installed guild."""
    await site.sql("INSERT INTO guilds (guild_id, name) VALUES (%s, 'Elsewhere')", (OTHER,))
    for token, guild in ((MINE, GUILD), (THEIRS, OTHER)):
        await site.sql(
            "INSERT INTO streamer_invites (token, guild_id, expires_at, max_uses)"
            " VALUES (%s, %s, now() + interval '1 day', 2)",
            (token, guild),
        )


async def invites_state(site: Site) -> list[tuple[object, ...]]:
    return await site.sql(
        "SELECT token, guild_id, uses, max_uses, revoked_at IS NOT NULL, created_by"
        " FROM streamer_invites ORDER BY token"
    )


async def audit_count(site: Site) -> int:
    rows = await site.sql("SELECT count(*) FROM audit_log")
    return int(rows[0][0])  # type: ignore[call-overload]


class TestInviteAccess:
    @pytest.mark.parametrize("actor", ACTORS)
    async def test_guild_page_lists_invites_only_for_managers(
        self, database_url: str, discord: FakeDiscordServer, actor: str
    ) -> None:
        """Managers see the section with G's invite link and never another guild's invite;
        a member sees the page without the section; a stranger gets 403."""
        async with signed_in(database_url, discord, actor) as (site, browser):
            await seed_invites(site)
            page = await browser.get(G)
        if actor == "stranger":
            assert page.status_code == 403
            assert MINE not in page.text
            return
        assert page.status_code == 200
        assert THEIRS not in page.text
        if actor in MANAGERS:
            assert "Streamer invites" in page.text
            assert f'value="{site.url}/invite/{MINE}"' in page.text
        else:
            assert "Streamer invites" not in page.text
            assert MINE not in page.text

    @pytest.mark.parametrize("actor", ACTORS)
    @pytest.mark.parametrize(
        ("form", "data"),
        [
            ("invite-create", {"expires_in_hours": "24", "max_uses": "3"}),
            ("invite-revoke", {"invite": MINE}),
        ],
    )
    async def test_invite_forms_by_actor(
        self,
        database_url: str,
        discord: FakeDiscordServer,
        actor: str,
        form: str,
        data: dict[str, str],
    ) -> None:
        """The operator and G's manager change G's invites (303, one audit row); a member or
        a stranger gets 403 and nothing changes."""
        async with signed_in(database_url, discord, actor) as (site, browser):
            await seed_invites(site)
            token = csrf(await browser.get("/me"))
            before, audited = await invites_state(site), await audit_count(site)
            response = await browser.post(f"{G}/{form}", data={"csrf_token": token, **data})
            after = await invites_state(site)
            if actor in MANAGERS:
                assert response.status_code == 303, response.text[:2000]
                assert response.headers["location"] == G
                assert after != before
                assert await audit_count(site) == audited + 1
            else:
                assert response.status_code == 403
                assert after == before
                assert await audit_count(site) == audited

    async def test_manager_cannot_touch_another_guilds_invite(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """Through G's form the other guild's token is not found (404); through the other
        guild's form the manager of G is refused (403). The invite stays usable."""
        async with signed_in(database_url, discord, "manager") as (site, browser):
            await seed_invites(site)
            token = csrf(await browser.get("/me"))
            before = await invites_state(site)
            via_mine = await browser.post(
                f"{G}/invite-revoke", data={"csrf_token": token, "invite": THEIRS}
            )
            via_theirs = await browser.post(
                f"/guilds/{OTHER}/invite-revoke", data={"csrf_token": token, "invite": THEIRS}
            )
            listing = await browser.post(
                f"/guilds/{OTHER}/invite-create", data={"csrf_token": token}
            )
            assert via_mine.status_code == 404
            assert via_theirs.status_code == 403
            assert listing.status_code == 403
            assert await invites_state(site) == before

    async def test_missing_form_token_is_refused(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """Without the CSRF token even a manager's invite form is a 403 that changes nothing."""
        async with signed_in(database_url, discord, "manager") as (site, browser):
            await seed_invites(site)
            before = await invites_state(site)
            response = await browser.post(f"{G}/invite-create", data={"max_uses": "2"})
            assert response.status_code == 403
            assert await invites_state(site) == before


class TestInviteFlow:
    async def test_create_list_revoke(self, database_url: str, discord: FakeDiscordServer) -> None:
        """The manager creates an invite (1 hour, 5 uses): the page lists its link, 0 / 5 uses
        and "active", and the invite page answers; revoked, it shows "revoked" without the
        link or a revoke button, and the invite page says it was withdrawn."""
        async with signed_in(database_url, discord, "manager") as (site, browser):
            page = await browser.get(G)
            assert "No invites yet." in page.text
            created = await browser.post(
                f"{G}/invite-create",
                data={"csrf_token": csrf(page), "expires_in_hours": "1", "max_uses": "5"},
            )
            assert created.status_code == 303
            rows = await site.sql(
                "SELECT token, max_uses, created_by, expires_at - created_at"
                " FROM streamer_invites WHERE guild_id = %s",
                (GUILD,),
            )
            assert len(rows) == 1
            made, max_uses, created_by, lifetime = rows[0]
            assert (max_uses, created_by, lifetime.total_seconds()) == (5, MANAGER, 3600)
            page = await browser.get(G)
            link = f"{site.url}/invite/{made}"
            assert f'value="{link}"' in page.text
            row = _invite_row(page.text, made)
            assert "0 / 5" in row
            assert "active" in row
            assert "Revoke" in row
            revoked = await browser.post(
                f"{G}/invite-revoke", data={"csrf_token": csrf(page), "invite": made}
            )
            assert revoked.status_code == 303
            page = await browser.get(G)
            assert link not in page.text
            row = _invite_row(page.text, made[:6])
            assert "revoked" in row
            assert "Revoke" not in row
            actions = await site.sql(
                "SELECT action FROM audit_log WHERE guild_id = %s ORDER BY id", (GUILD,)
            )
            assert [a for (a,) in actions][-2:] == ["invite.create", "invite.revoke"]

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            ({"expires_in_hours": "2000", "max_uses": "1"}, "expires_in_hours"),
            ({"expires_in_hours": "24", "max_uses": "0"}, "max_uses"),
            ({"expires_in_hours": "24", "max_uses": "many"}, "max_uses"),
        ],
    )
    async def test_invalid_limits_are_shown_next_to_the_field(
        self, database_url: str, discord: FakeDiscordServer, data: dict[str, str], field: str
    ) -> None:
        """Out-of-range or non-numeric limits re-render the page (422) with the field's error
        and create nothing."""
        async with signed_in(database_url, discord, "manager") as (site, browser):
            token = csrf(await browser.get(G))
            response = await browser.post(f"{G}/invite-create", data={"csrf_token": token, **data})
            assert response.status_code == 422
            assert f'id="{field}-error"' in response.text
            assert await site.sql("SELECT token FROM streamer_invites") == []


class TestLeftOutNotice:
    async def test_names_the_left_out_streamers_to_managers(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        """A tracked streamer marked left out by the budget is named in the notice with the
        advice to link; other guilds' left-out streamers are not; a member sees no notice;
        with nobody left out there is no notice."""
        async with signed_in(database_url, discord, "manager") as (site, browser):
            page = await browser.get(G)
            assert "ask the streamer to link their Twitch account" not in page.text
            await site.sql("INSERT INTO guilds (guild_id, name) VALUES (%s, 'Elsewhere')", (OTHER,))
            await site.sql(
                "WITH s AS (INSERT INTO streamers (twitch_broadcaster_id, twitch_login,"
                " eventsub_left_out_at) VALUES ('999000999', 'far_away', now()) RETURNING id)"
                " INSERT INTO guild_streamers (guild_id, streamer_id) SELECT %s, id FROM s",
                (OTHER,),
            )
            await site.sql(
                "UPDATE streamers SET eventsub_left_out_at = now(),"
                " twitch_display_name = 'TwitchDev' WHERE twitch_broadcaster_id = %s",
                (BROADCASTER,),
            )
            page = await browser.get(G)
        assert page.status_code == 200
        notice = page.text.split('id="left-out-h"', 1)[1].split("</section>", 1)[0]
        assert "<strong>TwitchDev</strong>" in notice
        assert "far_away" not in page.text
        assert "ask the streamer to link their Twitch account" in notice

    async def test_member_sees_no_notice(
        self, database_url: str, discord: FakeDiscordServer
    ) -> None:
        async with signed_in(database_url, discord, "member") as (site, browser):
            await site.sql(
                "UPDATE streamers SET eventsub_left_out_at = now()"
                " WHERE twitch_broadcaster_id = %s",
                (BROADCASTER,),
            )
            page = await browser.get(G)
        assert page.status_code == 200
        assert "left-out-h" not in page.text


def _invite_row(html: str, marker: str) -> str:
    """The table row of the invites table that mentions ``marker``."""
    table = html.split('id="invites-h"', 1)[1].split("</table>", 1)[0]
    rows = [row for row in re.split(r"<tr>", table) if marker in row]
    assert len(rows) == 1, table
    return rows[0]

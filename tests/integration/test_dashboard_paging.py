"""The dashboard's long lists read a page at a time in SQL, the pickers remembered per guild,
and the preview naming the pinged role: over a real database and the fake Discord."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest

from tests.fakes.discord_fake import FakeDiscordServer
from tests.integration.dashboard_site import (
    CHANNEL,
    GUILD,
    MANAGER,
    MEMBER,
    Site,
    csrf,
    install,
    running_site,
    sign_in,
)

ROLE = "300000000000000001"


@pytest.fixture(scope="module")
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as running:
        yield running


@pytest.fixture
async def site(database_url: str, discord: FakeDiscordServer) -> AsyncIterator[Site]:
    async with running_site(database_url, discord, with_oauth=True, idle=timedelta(hours=1)) as s:
        yield s


async def track(site: Site, guild_id: str, count: int) -> None:
    """``count`` streamers s000, s001, … (broadcaster ids 1000, 1001, …) tracked by the guild."""
    await site.sql(
        "WITH s AS (INSERT INTO streamers"
        " (twitch_broadcaster_id, twitch_login, twitch_display_name)"
        " SELECT (1000 + i)::text, 's' || lpad(i::text, 3, '0'), 'S' || lpad(i::text, 3, '0')"
        " FROM generate_series(0, %s - 1) i"
        " ON CONFLICT (twitch_broadcaster_id) DO UPDATE SET twitch_login = EXCLUDED.twitch_login"
        " RETURNING id) INSERT INTO guild_streamers (guild_id, streamer_id) SELECT %s, id FROM s",
        (count, guild_id),
    )


def listed(page: httpx.Response) -> list[str]:
    """The broadcaster ids of the streamer rows on a guild page (one toggle form per row)."""
    rows = re.findall(
        r'streamer-toggle" class="inline">\s*<input[^>]*>\s*'
        r'<input type="hidden" name="streamer" value="(\d+)">',
        page.text,
    )
    return rows


class TestGuildPage:
    async def test_streamers_are_listed_fifty_a_page_in_login_order(self, site: Site) -> None:
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await install(site, browser, GUILD)
            await track(site, GUILD, 120)
            first = await browser.get(f"/guilds/{GUILD}")
            last = await browser.get(f"/guilds/{GUILD}?page=3")
            past = await browser.get(f"/guilds/{GUILD}?page=9")
        assert listed(first) == [str(1000 + i) for i in range(50)]
        assert "Page 1 of 3 (120 streamers)" in first.text
        assert listed(last) == [str(1000 + i) for i in range(100, 120)]
        assert listed(past) == listed(last)

    async def test_a_failed_form_shows_the_page_of_its_streamer(self, site: Site) -> None:
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await install(site, browser, GUILD)
            await track(site, GUILD, 120)
            page = await browser.get(f"/guilds/{GUILD}")
            refused = await browser.post(
                f"/guilds/{GUILD}/streamer-message",
                data={"csrf_token": csrf(page), "streamer": "1107", "custom_content": "{nope}"},
            )
        assert refused.status_code == 422
        assert "Page 3 of 3" in refused.text
        assert 'id="msg-1107-error"' in refused.text

    async def test_a_member_gets_the_streamers_page_without_settings(self, site: Site) -> None:
        async with site.browser() as manager:
            await sign_in(site, manager, MANAGER)
            await install(site, manager, GUILD)
        await track(site, GUILD, 60)
        async with site.browser() as browser:
            await sign_in(site, browser, MEMBER)
            page = await browser.get(f"/guilds/{GUILD}?page=2")
        assert page.status_code == 200
        assert "config-form" not in page.text
        assert "Audit trail" not in page.text
        assert "Page 2 of 2 (60 streamers)" in page.text
        assert "S059" in page.text
        assert "S000" not in page.text


class TestPickers:
    async def test_pickers_are_remembered_until_a_save_or_a_refresh(self, site: Site) -> None:
        """A role added in Discord shows after the config is saved or on a refresh, not on a
        plain reload within the cache's lifetime."""
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await install(site, browser, GUILD)
            page = await browser.get(f"/guilds/{GUILD}")
            assert f'value="{ROLE}"' not in page.text
            site.fake.add_role(ROLE, guild_id=GUILD, name="Live pings", mentionable=True)
            again = await browser.get(f"/guilds/{GUILD}")
            assert f'value="{ROLE}"' not in again.text
            saved = await browser.post(
                f"/guilds/{GUILD}/config",
                data={"csrf_token": csrf(page), "channel_id": CHANNEL, "enabled": "on"},
            )
            assert saved.status_code == 303
            after_save = await browser.get(f"/guilds/{GUILD}")
            assert f'value="{ROLE}"' in after_save.text
            site.fake.add_role("300000000000000002", guild_id=GUILD, name="Late", mentionable=True)
            refreshed = await browser.get(f"/guilds/{GUILD}?refresh=1")
        assert 'value="300000000000000002"' in refreshed.text

    async def test_the_preview_names_the_pinged_role(self, site: Site) -> None:
        """The server-side preview shows the mention as "@Role Name", as Discord does."""
        site.fake.add_role(ROLE, guild_id=GUILD, name="Live pings", mentionable=True)
        async with site.browser() as browser:
            await sign_in(site, browser, MANAGER)
            await install(site, browser, GUILD)
            page = await browser.get(f"/guilds/{GUILD}")
            saved = await browser.post(
                f"/guilds/{GUILD}/config",
                data={
                    "csrf_token": csrf(page),
                    "channel_id": CHANNEL,
                    "enabled": "on",
                    "mention_role_id": ROLE,
                    "message_template": '{"content": "{streamer_login} is live"}',
                },
            )
            assert saved.status_code == 303
            shown = await browser.get(f"/guilds/{GUILD}")
        content = re.search(r'<p class="d-content">([^<]*)</p>', shown.text)
        assert content is not None
        assert content.group(1).startswith("@Live pings ")
        assert f"&lt;@&amp;{ROLE}&gt;" not in content.group(1)


class TestMe:
    async def test_guilds_are_paged_ten_at_a_time_with_their_first_streamers(
        self, site: Site
    ) -> None:
        """12 guilds with the bot: ten on the first page by name, two on the second; a guild's
        own streamer pages are reached with ?guild=."""
        others = [str(110000000000000000 + n) for n in range(11)]
        for n, guild_id in enumerate(others):
            site.fake.add_guild(guild_id, name=f"Zone {n:02d}")
            site.fake.add_member(guild_id, MEMBER)
        await site.sql(
            "INSERT INTO guilds (guild_id, name) SELECT g, 'Zone ' || lpad(n::text, 2, '0')"
            " FROM unnest(%s::text[]) WITH ORDINALITY AS t(g, n)",
            ([*others],),
        )
        async with site.browser() as manager:
            await sign_in(site, manager, MANAGER)
            await install(site, manager, GUILD)
        await track(site, GUILD, 60)
        async with site.browser() as browser:
            await sign_in(site, browser, MEMBER)
            await site.sql(
                "INSERT INTO user_preferences"
                " (user_id, guild_id, streamer_id, notifications_enabled)"
                " SELECT %s, %s, id, false FROM streamers WHERE twitch_broadcaster_id = '1055'",
                (MEMBER, GUILD),
            )
            first = await browser.get("/me")
            second = await browser.get("/me?guilds=2")
            past = await browser.get("/me?guilds=9")
            streamers = await browser.get(f"/me?guild={GUILD}&page=2")
        assert first.status_code == second.status_code == streamers.status_code == 200
        assert "Servers page 1 of 2 (12 servers)" in first.text
        assert "Manny&#39;s" in first.text
        assert "Zone 11" not in first.text
        assert "Zone 10" in second.text
        assert "Zone 11" in second.text
        assert "Manny&#39;s" not in second.text
        assert "Servers page 2 of 2 (12 servers)" in past.text
        assert "S049" in first.text
        assert "S050" not in first.text
        assert "Page 2 of 2 (60 streamers)" in streamers.text
        assert "Zone" not in streamers.text
        assert 'aria-label="Unmute s055"' in streamers.text
        assert 'aria-label="Mute s054"' in streamers.text

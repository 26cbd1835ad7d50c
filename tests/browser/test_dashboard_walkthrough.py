"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the
dashboard served on 127.0.0.1 with the Discord and Twitch fakes.

Without Chromium the tests skip with one line, unless the `CI` variable is set: then they fail.
The walk saves a screenshot of the guild page to docs/guild-page.png (README shows it).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from pydantic import SecretStr

from streammaxing.twitch.client import HelixClient, build_helix_http_client
from tests.fakes.discord_fake import FakeDiscordServer
from tests.fakes.server import ServerThread
from tests.fakes.twitch_fake import TwitchFakeState, create_app
from tests.integration.dashboard_site import (
    CHANNEL,
    GUILD,
    MANAGER,
    MEMBER,
    Site,
    running_site,
)

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "guild-page.png"
ROLE = "300000000000000001"
BROADCASTER = "141981764"
DEADLINE_MS = 10_000


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing; CI must install the chromium package")
    pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def discord() -> Iterator[FakeDiscordServer]:
    with FakeDiscordServer() as running:
        yield running


@pytest.fixture(scope="module")
def twitch() -> Iterator[tuple[str, TwitchFakeState]]:
    state = TwitchFakeState()
    state.add_user(BROADCASTER, "twitchdev", display_name="TwitchDev")
    with ServerThread(create_app(state)) as server:
        yield server.url, state


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), args=FLAGS)
        yield launched
        await launched.close()


@pytest.fixture
async def site(
    database_url: str, discord: FakeDiscordServer, twitch: tuple[str, TwitchFakeState]
) -> AsyncIterator[Site]:
    url, state = twitch
    helix = HelixClient(
        build_helix_http_client(
            f"{url}/helix", f"{url}/oauth2", state.client_id, SecretStr(state.client_secret)
        ),
        state.client_id,
    )
    try:
        async with running_site(
            database_url, discord, with_oauth=True, idle=timedelta(hours=1), helix=helix
        ) as running:
            running.fake.add_role(ROLE, guild_id=GUILD, name="Live pings", mentionable=True)
            running.fake.add_channel("200000000000000009", guild_id=GUILD, name="rules",
                                     permissions=0x400)  # fmt: skip
            yield running
    finally:
        await helix.aclose()


async def sign_in(site: Site, page: Page, user: str) -> None:
    """The fake Discord approves the authorize page as ``user``; we land back signed in."""
    site.fake.oauth.set_consent(user_id=user)
    await page.goto(site.url + "/")
    await page.get_by_role("link", name="Sign in with Discord").click()
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=DEADLINE_MS)


class TestWalkthrough:
    async def test_from_sign_in_to_a_muted_streamer(self, site: Site, browser: Browser) -> None:
        """A manager signs in, adds the bot, picks channel and role, edits the template while
        the preview follows, adds a streamer; a member then mutes that streamer on /me."""
        manager = await browser.new_page(viewport={"width": 1200, "height": 900})
        await sign_in(site, manager, MANAGER)

        await manager.get_by_role("link", name="Add the bot").click()
        await expect(manager).to_have_url(f"{site.url}/guilds/{GUILD}", timeout=DEADLINE_MS)
        channels = manager.locator("#channel_id option")
        await expect(channels).to_have_text(["Choose a channel", "#live"])
        await manager.select_option("#channel_id", CHANNEL)
        await manager.select_option("#mention_role_id", ROLE)

        template = (
            '{"content": "{mention_role} {streamer_display_name} is live!",\n'
            ' "embed": {"title": "{stream_title}", "description": "Playing {game_name}",'
            ' "color": 9520895, "footer": {"text": "twitch.tv/{streamer_login}"}}}'
        )
        await manager.fill("#message_template", template)
        preview = manager.locator("#preview")
        await expect(preview.locator(".d-desc")).to_have_text(
            "Playing Just Chatting", timeout=DEADLINE_MS
        )
        await expect(preview.locator(".d-content")).to_contain_text("SampleStreamer is live!")
        await manager.fill("#message_template", '{"content": "{nope}"}')
        await expect(manager.locator("#preview-error")).to_contain_text(
            "unknown variable {nope}", timeout=DEADLINE_MS
        )
        await manager.fill("#message_template", template)
        await expect(manager.locator("#preview-error")).to_be_hidden(timeout=DEADLINE_MS)
        await manager.get_by_role("button", name="Save", exact=True).click()
        await expect(manager.locator("#channel_id")).to_have_value(CHANNEL, timeout=DEADLINE_MS)
        await expect(manager.locator("#mention_role_id")).to_have_value(ROLE)

        await manager.fill("#login", "twitchdev")
        await manager.get_by_role("button", name="Add streamer").click()
        await expect(manager.get_by_role("cell", name="TwitchDev", exact=True)).to_be_visible(
            timeout=DEADLINE_MS
        )
        SCREENSHOT.parent.mkdir(exist_ok=True)
        await manager.screenshot(path=str(SCREENSHOT), full_page=True)
        config = await site.sql("SELECT channel_id, mention_role_id FROM guild_config")
        assert config == [(CHANNEL, ROLE)]

        member = await browser.new_page()
        await sign_in(site, member, MEMBER)
        await member.goto(site.url + "/me")
        await member.get_by_role("button", name="Mute twitchdev").click()
        await expect(member.get_by_role("button", name="Unmute twitchdev")).to_be_visible(
            timeout=DEADLINE_MS
        )
        muted = await site.sql("SELECT user_id, notifications_enabled FROM user_preferences")
        assert muted == [(MEMBER, False)]

"""The jobs behind deferred answers and installs (typed cores; `tasks` declares them).

`interaction_follow_up` does the slow half of a command (a Twitch lookup, a Discord post) and
edits the interaction's ``@original`` with the answer. Discord keeps an interaction token for
15 minutes: a job that starts later than `STALE_AFTER_SECONDS` after the command does nothing
(nobody can see the answer, and a late write would surprise the user). A job runs once; the
edit itself is tried a few times when Discord asks to wait or does not answer.

`discord_install` reads the guild with the bot token (which also proves the bot is in it) and
registers the install for the user Discord names as the installer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Final

import structlog

from streammaxing.discord.client import DiscordClient
from streammaxing.discord.errors import DiscordError, PermanentError, RateLimited
from streammaxing.interactions import announce, streamers
from streammaxing.interactions.context import CommandError
from streammaxing.interactions.replies import message_data
from streammaxing.interactions.wording import refusal
from streammaxing.manage.actor import DiscordUser, GuildEntry, Surface
from streammaxing.manage.errors import ManageError
from streammaxing.manage.guilds import register_install
from streammaxing.manage.models import GuildUpsert
from streammaxing.manage.services import ManageServices
from streammaxing.runtime import Runtime

log = structlog.get_logger(__name__)

STALE_AFTER_SECONDS: Final = 14 * 60
EDIT_ATTEMPTS: Final = 3
#: The longest Discord-requested wait honoured between edit attempts.
MAX_EDIT_WAIT_SECONDS: Final = 5.0


def services_of(runtime: Runtime) -> ManageServices:
    return ManageServices(pool=runtime.pool, app=runtime.app, helix=runtime.helix)


async def _work(
    runtime: Runtime,
    kind: str,
    actor: DiscordUser,
    guild_id: str,
    interaction_id: str,
    arguments: Mapping[str, Any],
) -> str:
    services = services_of(runtime)
    try:
        if kind == streamers.ADD:
            return await streamers.add_later(
                services, actor, guild_id, str(arguments["login"]),
                username=_optional(arguments, "username"), avatar=_optional(arguments, "avatar"),
            )  # fmt: skip
        if kind == announce.TEST:
            return await announce.test_later(
                services, runtime.port, actor, guild_id, interaction_id,
                ping=bool(arguments.get("ping")),
            )  # fmt: skip
    except CommandError as problem:
        return str(problem)
    except ManageError as error:
        return refusal(error)
    raise ValueError(f"unknown follow-up kind {kind!r}")


def _optional(arguments: Mapping[str, Any], key: str) -> str | None:
    value = arguments.get(key)
    return value if isinstance(value, str) else None


async def edit_original(client: DiscordClient, application_id: str, token: str, text: str) -> bool:
    """Replace the deferred "thinking…" with ``text``; whether Discord took it."""
    for attempt in range(1, EDIT_ATTEMPTS + 1):
        try:
            await client.edit_original_response(application_id, token, message_data(text))
            return True
        except PermanentError as error:
            log.warning("interaction_edit_refused", code=error.code, status=error.status)
            return False
        except DiscordError as error:
            if attempt == EDIT_ATTEMPTS:
                log.warning("interaction_edit_failed", error=type(error).__name__)
                return False
            wait = error.retry_after if isinstance(error, RateLimited) else float(attempt)
            await asyncio.sleep(min(wait, MAX_EDIT_WAIT_SECONDS))
    return False


async def interaction_follow_up(
    runtime: Runtime,
    *,
    kind: str,
    interaction_id: str,
    application_id: str,
    token: str,
    guild_id: str,
    user_id: str,
    permissions: str | None,
    deferred_at: float,
    arguments: Mapping[str, Any],
) -> bool:
    """Run the deferred work and edit the answer; whether the user got it."""
    if time.time() - deferred_at > STALE_AFTER_SECONDS:
        log.warning("interaction_follow_up_stale", interaction_id=interaction_id)
        return False
    if runtime.discord is None:
        log.warning("interaction_follow_up_skipped", reason="no Discord bot token")
        return False
    entry = GuildEntry(guild_id, permissions=permissions)
    actor = DiscordUser.from_guild_list(user_id, Surface.DISCORD, [entry])
    text = await _work(runtime, kind, actor, guild_id, interaction_id, arguments)
    delivered = await edit_original(runtime.discord, application_id, token, text)
    log.info("interaction_followed_up", interaction_id=interaction_id, delivered=delivered)
    return delivered


async def discord_install(runtime: Runtime, *, guild_id: str, user_id: str) -> bool:
    """Register a guild install Discord reported; whether the guild is recorded."""
    if runtime.discord is None:
        log.warning("discord_install_skipped", guild_id=guild_id, reason="no Discord bot token")
        return False
    try:
        guild = await runtime.discord.get_guild(guild_id)
    except PermanentError as error:
        # 10004 Unknown Guild / 50001 Missing Access: the bot is not (or no longer) in it.
        log.warning("discord_install_guild_unreadable", guild_id=guild_id, code=error.code)
        return False
    # Discord lets only members with Manage Server add a bot to a guild, so the user the event
    # names as the installer manages it.
    actor = DiscordUser(user_id, Surface.DISCORD, {guild_id: True})
    body = GuildUpsert(
        name=(guild.name or guild_id)[:100], icon=guild.icon, owner_id=guild.owner_id
    )
    _, created = await register_install(services_of(runtime), actor, guild_id, body)
    log.info("discord_install_registered", guild_id=guild_id, created=created)
    return True

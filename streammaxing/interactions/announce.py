"""``/announce channel | role | role-clear | on | off | preview | test``: the guild's config."""

from __future__ import annotations

from typing import Any, Final

from streammaxing.discord.models import GUILD_ANNOUNCEMENT, GUILD_TEXT
from streammaxing.discord.nonce import nonce_for
from streammaxing.discord.port import (
    Accepted,
    Announcement,
    DiscordPort,
    Halted,
    MustWait,
    Refused,
)
from streammaxing.interactions.context import CommandContext, CommandError
from streammaxing.interactions.replies import MAX_CONTENT, Reply, message
from streammaxing.manage import guilds as operations
from streammaxing.manage import rules
from streammaxing.manage.actor import Actor
from streammaxing.manage.errors import Invalid, NotFound
from streammaxing.manage.models import GuildConfigUpdate, PreviewRequest
from streammaxing.manage.services import ManageServices

#: The deferred work of `/announce test` (a Discord call).
TEST: Final = "announce_test"
#: What the bot needs in the announcement channel: View Channel, Send Messages, Embed Links.
NEEDED_IN_CHANNEL: Final = 0x400 | 0x800 | 0x4000
TEST_MARKER: Final = "🧪 **Test announcement** (from `/announce test`; nobody went live)"
#: How long the test post may wait for a limiter slot before the answer says "busy".
TEST_MAX_WAIT_SECONDS: Final = 5.0

NO_CHANNEL = "Pick a channel first with `/announce channel`."


async def _save(ctx: CommandContext, update: GuildConfigUpdate) -> None:
    try:
        await operations.set_config(ctx.services, ctx.actor, ctx.guild_id, update)
    except Invalid as error:
        if any(issue.path == "channel_id" for issue in error.issues):
            raise CommandError(NO_CHANNEL) from error
        raise


async def channel(ctx: CommandContext) -> Reply:
    picked = ctx.channel("channel")
    if picked.type not in (GUILD_TEXT, GUILD_ANNOUNCEMENT):
        raise CommandError("Pick a text or announcement channel.")
    if (
        picked.app_permissions is not None
        and picked.app_permissions & NEEDED_IN_CHANNEL != NEEDED_IN_CHANNEL
    ):
        raise CommandError(
            f"I can't post in <#{picked.id}>: grant me View Channel, Send Messages and Embed "
            "Links there, then try again."
        )
    await _save(ctx, GuildConfigUpdate.model_validate({"channel_id": picked.id}))
    return message(f"Announcements will be posted in <#{picked.id}>.")


async def role(ctx: CommandContext) -> Reply:
    picked = ctx.role("role")
    if picked.id == ctx.guild_id:
        raise CommandError("@everyone can't be the announcement role: pick a role.")
    if picked.managed:
        raise CommandError("That role belongs to an integration or bot: pick another one.")
    await _save(ctx, GuildConfigUpdate.model_validate({"mention_role_id": picked.id}))
    note = (
        ""
        if picked.mentionable
        else " The role is not mentionable: unless I have Mention Everyone, it will not be pinged."
    )
    return message(f"Announcements will mention <@&{picked.id}>.{note}")


async def role_clear(ctx: CommandContext) -> Reply:
    await _save(ctx, GuildConfigUpdate.model_validate({"mention_role_id": None}))
    return message("Announcements will mention no role.")


async def turn_on(ctx: CommandContext) -> Reply:
    await _save(ctx, GuildConfigUpdate.model_validate({"enabled": True}))
    return message("Announcements are on.")


async def turn_off(ctx: CommandContext) -> Reply:
    await _save(ctx, GuildConfigUpdate.model_validate({"enabled": False}))
    return message("Announcements are off. Turn them back on with `/announce on`.")


async def preview(ctx: CommandContext) -> Reply:
    try:
        rendered = await operations.preview(
            ctx.services, ctx.actor, ctx.guild_id, PreviewRequest.model_validate({})
        )
    except NotFound as error:
        raise CommandError(NO_CHANNEL) from error
    payload = rendered.payload
    content = str(payload.get("content") or "")
    return message(f"Preview (only you see this):\n{content}", embeds=payload.get("embeds") or [])


async def test(ctx: CommandContext) -> Reply:
    """Refuses non-managers at once; the post goes out from a job."""
    rules.check_manager(ctx.actor, ctx.guild_id)
    ping = ctx.interaction.boolean("ping") is True
    return await ctx.defer(TEST, {"ping": ping})


def _marked(payload: dict[str, Any]) -> dict[str, Any]:
    content = f"{TEST_MARKER}\n{payload.get('content') or ''}".rstrip()
    return {**payload, "content": content[:MAX_CONTENT]}


async def test_later(
    services: ManageServices,
    port: DiscordPort,
    actor: Actor,
    guild_id: str,
    interaction_id: str,
    *,
    ping: bool,
) -> str:
    """The deferred half of `test`: post through the delivery port (limiter, nonce,
    ``allowed_mentions``) and say what happened."""
    config = await operations.get_config(services, actor, guild_id)
    request = (
        PreviewRequest.model_validate({})
        if ping
        else PreviewRequest.model_validate({"mention_role_id": None})
    )
    rendered = await operations.preview(services, actor, guild_id, request)
    announcement = Announcement(
        guild_id=guild_id,
        channel_id=config.channel_id,
        payload=_marked(rendered.payload),
        nonce=nonce_for("test", guild_id, interaction_id),
    )
    [answer] = await port.announce([announcement], max_wait=TEST_MAX_WAIT_SECONDS)
    where = f"<#{config.channel_id}>"
    if isinstance(answer, Accepted):
        if answer.message is None:
            return f"Dry run: the test announcement for {where} was logged, not posted."
        pinged = " It mentioned the role." if ping and config.mention_role_id else ""
        return f"Posted a test announcement in {where}.{pinged}"
    if isinstance(answer, Refused):
        return f"Discord refused the test announcement in {where}: {answer.error}"
    if isinstance(answer, MustWait):
        return "Discord is rate limiting the bot right now; try again in a minute."
    if isinstance(answer, Halted):
        return f"Sending is halted for the bot: {answer.error}"
    raise AssertionError(f"unexpected answer {answer!r}")

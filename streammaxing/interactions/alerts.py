"""``/alerts mute | unmute | dm on | dm off | status``: a member's own DMs from this guild.

A member may run these before they ever signed in anywhere, so the user row is created first
(by them, for themselves) when it does not exist.
"""

from __future__ import annotations

from streammaxing.interactions.context import CommandContext, ensure_user
from streammaxing.interactions.replies import Reply, message
from streammaxing.interactions.wording import streamer_name
from streammaxing.manage import members as operations
from streammaxing.manage.errors import NotFound
from streammaxing.manage.models import PreferenceSet


async def _ensure_user(ctx: CommandContext) -> None:
    await ensure_user(ctx.services, ctx.actor, ctx.interaction.username, ctx.interaction.avatar)


async def mute(ctx: CommandContext) -> Reply:
    await _ensure_user(ctx)
    streamer = ctx.string("streamer")
    saved = await operations.set_preference(
        ctx.services, ctx.actor, ctx.actor.user_id, ctx.guild_id, streamer,
        PreferenceSet(enabled=False),
    )  # fmt: skip
    name = streamer_name(saved.streamer_login, saved.streamer_display_name)
    return message(f"Muted **{name}**: you will get no DM from this server when they go live.")


async def unmute(ctx: CommandContext) -> Reply:
    await _ensure_user(ctx)
    streamer = ctx.string("streamer")
    await operations.clear_preference(
        ctx.services, ctx.actor, ctx.actor.user_id, ctx.guild_id, streamer
    )
    return message(f"Unmuted **{streamer}**: their go-live DMs from this server are back on.")


async def dm_on(ctx: CommandContext) -> Reply:
    await _ensure_user(ctx)
    _, created = await operations.subscribe(
        ctx.services, ctx.actor, ctx.guild_id, ctx.actor.user_id
    )
    if not created:
        return message("You already get a DM when this server's streamers go live.")
    return message(
        "You will get a DM when this server's streamers go live. "
        "Mute one with `/alerts mute`; stop all with `/alerts dm off`."
    )


async def dm_off(ctx: CommandContext) -> Reply:
    try:
        await operations.unsubscribe(ctx.services, ctx.actor, ctx.guild_id, ctx.actor.user_id)
    except NotFound:
        return message("You were not getting DMs from this server.")
    return message("You will get no more go-live DMs from this server.")


async def status(ctx: CommandContext) -> Reply:
    subscribed = await operations.get_subscription(
        ctx.services, ctx.actor, ctx.guild_id, ctx.actor.user_id
    )
    if subscribed is None:
        return message(
            "You get no go-live DMs from this server. Turn them on with `/alerts dm on`."
        )
    preferences = await operations.list_preferences(ctx.services, ctx.actor, ctx.actor.user_id)
    here = [item for item in preferences.items if item.guild_id == ctx.guild_id]
    muted = [
        streamer_name(item.streamer_login, item.streamer_display_name)
        for item in here
        if not item.enabled
    ]
    lines = [f"You get a DM when this server's streamers go live ({len(here)} tracked)."]
    if muted:
        lines.append("Muted: " + ", ".join(f"**{name}**" for name in muted) + ".")
    else:
        lines.append("You muted nobody.")
    return message("\n".join(lines))

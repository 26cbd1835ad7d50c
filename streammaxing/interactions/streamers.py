"""``/streamers add | remove | list | invite``, and streamer autocomplete."""

from __future__ import annotations

from typing import Final

from pydantic import ValidationError

from streammaxing.interactions.context import CommandContext, ensure_user
from streammaxing.interactions.replies import Reply, choices, message
from streammaxing.interactions.wording import streamer_name
from streammaxing.manage import invites, rules
from streammaxing.manage import streamers as operations
from streammaxing.manage.actor import DiscordUser
from streammaxing.manage.errors import FieldIssue, Invalid
from streammaxing.manage.models import StreamerAdd
from streammaxing.manage.services import ManageServices

#: The deferred work of `/streamers add` (it asks Twitch who the login is).
ADD: Final = "streamers_add"
#: Lines `/streamers list` shows before "… and N more" (a message holds 2,000 characters).
LIST_LIMIT: Final = 40


def _login(raw: str) -> StreamerAdd:
    try:
        return StreamerAdd.model_validate({"login": raw})
    except ValidationError as error:
        issue = FieldIssue("login", f"{raw!r} is not a Twitch login (1–25 letters, digits or _)")
        raise Invalid([issue]) from error


async def add(ctx: CommandContext) -> Reply:
    """Refuses non-managers at once; the Twitch lookup and the write run in a job."""
    rules.check_manager(ctx.actor, ctx.guild_id)
    body = _login(ctx.string("login"))
    arguments = {
        "login": body.login,
        "username": ctx.interaction.username,
        "avatar": ctx.interaction.avatar,
    }
    return await ctx.defer(ADD, arguments)


async def add_later(
    services: ManageServices,
    actor: DiscordUser,
    guild_id: str,
    login: str,
    *,
    username: str | None,
    avatar: str | None,
) -> str:
    """The deferred half of `add`: the answer's text. The link names the manager as having
    added it, so their user row is made first when missing."""
    body = _login(login)
    rules.check_manager(actor, guild_id)
    await ensure_user(services, actor, username, avatar)
    link = await operations.track_streamer(services, actor, guild_id, body)
    name = streamer_name(link.login, link.display_name)
    return f"Now announcing **{name}** in this server when they go live."


async def remove(ctx: CommandContext) -> Reply:
    streamer = ctx.string("streamer")
    await operations.untrack_streamer(ctx.services, ctx.actor, ctx.guild_id, streamer)
    return message(f"Stopped announcing **{streamer}** in this server.")


async def listing(ctx: CommandContext) -> Reply:
    tracked = await operations.list_streamers(ctx.services, ctx.actor, ctx.guild_id)
    if not tracked.items:
        return message("This server announces no streamers yet. Managers add them with "
                       "`/streamers add`.")  # fmt: skip
    live = await operations.live_streamers(ctx.services, ctx.actor, ctx.guild_id)
    ordered = sorted(tracked.items, key=lambda item: (item.streamer_id not in live, item.login))
    lines = []
    for item in ordered[:LIST_LIMIT]:
        state = "🔴 live" if item.streamer_id in live else "offline"
        paused = " (announcements off)" if not item.enabled else ""
        lines.append(f"• **{streamer_name(item.login, item.display_name)}**: {state}{paused}")
    if len(ordered) > LIST_LIMIT:
        lines.append(f"… and {len(ordered) - LIST_LIMIT} more.")
    header = f"This server announces {len(ordered)} streamer{'s' if len(ordered) != 1 else ''}:"
    return message("\n".join([header, *lines]))


async def invite(ctx: CommandContext) -> Reply:
    """A new invite (one use, 7 days) through the same operation as the dashboard's form; the
    link is shown only to the manager who asked."""
    rules.check_manager(ctx.actor, ctx.guild_id)
    public_url = ctx.services.public_url
    if public_url is None:
        return message("Invites need the service's public address (PUBLIC_URL), which is not "
                       "configured; ask the service's operator.")  # fmt: skip
    await ensure_user(ctx.services, ctx.actor, ctx.interaction.username, ctx.interaction.avatar)
    made = await invites.create_invite(
        ctx.services, ctx.actor, ctx.guild_id, invites.InviteCreate()
    )
    link = public_url.rstrip("/") + made.path
    expires = int(made.expires_at.timestamp())
    return message(
        f"Send this link to the streamer: {link}\n"
        f"It works once, until <t:{expires}:f>. When they open it and link their Twitch "
        "account, this server announces them."
    )


async def suggest(ctx: CommandContext) -> Reply:
    """Tracked streamers matching what the user typed (≤ 25), from the database only."""
    focused = ctx.interaction.focused
    typed = focused[1] if focused else ""
    found = await operations.suggest_streamers(ctx.services, ctx.actor, ctx.guild_id, typed)
    return choices(
        (streamer_name(item.login, item.display_name), item.login) for item in found.items
    )

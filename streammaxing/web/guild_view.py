"""What the guild page shows: one operation's reads (`manage.guild_page`) and, for managers,
the pickers (remembered per guild for a few seconds, else read from Discord) concurrently."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from streammaxing.manage.actor import Actor
from streammaxing.manage.guild_page import guild_page
from streammaxing.manage.rules import may_manage
from streammaxing.web.deps import WebDeps
from streammaxing.web.link_parts import guild_link_parts
from streammaxing.web.paging import PAGE_SIZE, Paged
from streammaxing.web.pickers import Pickers, guild_pickers

_ROLE_MENTION = re.compile(r"<@&(\d+)>")


def role_names(payload: dict[str, Any], pickers: Pickers | None) -> dict[str, Any]:
    """The preview payload as Discord shows it: a role mention ``<@&id>`` reads "@Role Name"
    (when the role picker knows the role) in the content and the embeds' text."""
    if pickers is None:
        return payload
    names = {role.id: role.name for role in pickers.roles}

    def named(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        return _ROLE_MENTION.sub(
            lambda m: f"@{names[m.group(1)]}" if m.group(1) in names else m.group(0), text
        )

    embeds = []
    for embed in payload.get("embeds") or []:
        shown = dict(embed)
        for key in ("title", "description"):
            if key in shown:
                shown[key] = named(shown[key])
        if "fields" in shown:
            shown["fields"] = [f | {"value": named(f.get("value"))} for f in shown["fields"]]
        embeds.append(shown)
    return payload | {"content": named(payload.get("content")), "embeds": embeds}


async def _no_pickers() -> None:
    return None


async def guild_context(
    deps: WebDeps,
    actor: Actor,
    guild_id: str,
    values: dict[str, Any] | None = None,
    page: int = 1,
    *,
    refresh: bool = False,
) -> dict[str, Any]:
    """The guild page's template context; raises the operations' errors (Forbidden, …).

    With ``values`` (a failed form), the streamer page is the one holding the streamer the
    form was about. ``refresh`` reads the pickers from Discord anew."""
    manage = may_manage(actor, guild_id)
    wanted = (values or {}).get("streamer")
    data, pickers, linking = await asyncio.gather(
        guild_page(
            deps.services,
            actor,
            guild_id,
            page=page,
            size=PAGE_SIZE,
            holding=wanted if isinstance(wanted, str) and wanted else None,
        ),
        guild_pickers(deps, guild_id, refresh=refresh) if manage else _no_pickers(),
        guild_link_parts(deps, actor, guild_id),
        return_exceptions=True,
    )
    if isinstance(data, BaseException):
        raise data
    if isinstance(pickers, BaseException):
        raise pickers
    if isinstance(linking, BaseException):
        raise linking
    shown = Paged(data.streamers, data.page, data.pages, data.guild.streamer_count)
    context: dict[str, Any] = {"guild": data.guild, "streamers": shown, "manage": False}
    if not data.manage:
        return context
    config = data.config
    template = config.message_template if config else None
    context |= linking
    return context | {
        "manage": True,
        "config": config,
        "template_text": json.dumps(template, indent=2, ensure_ascii=False) if template else "",
        "preview": role_names(data.preview, pickers) if data.preview else None,
        "pickers": pickers,
        "history": data.history,
        "trail": data.trail,
        "values": values or {},
    }

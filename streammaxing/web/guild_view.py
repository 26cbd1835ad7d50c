"""What the guild page shows, gathered from the operations (and, for the pickers, Discord).

After the guild and its streamers (which decide whether the viewer may see the page at all),
a manager's parts — config, preview, pickers, recent announcements, audit trail — are
independent reads, so they run concurrently: each is its own short transaction or Discord call,
and the page waits for the slowest instead of their sum.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from streammaxing.manage import audit, guilds, streamers
from streammaxing.manage.actor import Actor
from streammaxing.manage.errors import NotFound
from streammaxing.manage.models import (
    AuditQuery,
    GuildConfigOut,
    HistoryQuery,
    PreviewRequest,
)
from streammaxing.manage.rules import may_manage
from streammaxing.web.deps import WebDeps
from streammaxing.web.link_parts import guild_link_parts
from streammaxing.web.paging import PAGE_SIZE, paginate
from streammaxing.web.pickers import guild_pickers


def _page_of(items: list[Any], values: dict[str, Any] | None, page: int) -> int:
    """The page to show: the one holding the streamer a failed form was about, else ``page``."""
    wanted = (values or {}).get("streamer")
    for index, item in enumerate(items):
        if wanted is not None and item.broadcaster_id == wanted:
            return index // PAGE_SIZE + 1
    return page


async def _config(deps: WebDeps, actor: Actor, guild_id: str) -> GuildConfigOut | None:
    try:
        return await guilds.get_config(deps.services, actor, guild_id)
    except NotFound:
        return None


async def _preview(deps: WebDeps, actor: Actor, guild_id: str) -> dict[str, Any] | None:
    try:
        body = PreviewRequest.model_validate({})
        return (await guilds.preview(deps.services, actor, guild_id, body)).payload
    except NotFound:
        return None


async def guild_context(
    deps: WebDeps,
    actor: Actor,
    guild_id: str,
    values: dict[str, Any] | None = None,
    page: int = 1,
) -> dict[str, Any]:
    """The guild page's template context; raises the operations' errors (Forbidden, …)."""
    guild = await guilds.get_guild(deps.services, actor, guild_id)
    listed = (await streamers.list_streamers(deps.services, actor, guild_id)).items
    shown = paginate(listed, _page_of(listed, values, page))
    context: dict[str, Any] = {"guild": guild, "streamers": shown, "manage": False}
    if not may_manage(actor, guild_id):
        return context
    config, preview, pickers, history, trail = await asyncio.gather(
        _config(deps, actor, guild_id),
        _preview(deps, actor, guild_id),
        guild_pickers(deps, guild_id),
        guilds.history(deps.services, actor, guild_id, HistoryQuery(limit=20)),
        audit.audit_trail(deps.services, actor, guild_id, AuditQuery(limit=20)),
    )
    template = config.message_template if config else None
    context |= await guild_link_parts(deps, actor, guild_id)
    return context | {
        "manage": True,
        "config": config,
        "template_text": json.dumps(template, indent=2, ensure_ascii=False) if template else "",
        "preview": preview,
        "pickers": pickers,
        "history": history.items,
        "trail": trail.items,
        "values": values or {},
    }

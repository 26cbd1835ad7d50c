"""The operations on guilds, their config and their history.

Every operation here and in `streammaxing.manage.streamers` / `streammaxing.manage.members` is
one async function taking `ManageServices`, the `Actor` asking and validated request models,
and returning response models; every surface (admin API, CLI, dashboard, slash commands) calls
these and nothing else. Each first asks `streammaxing.manage.rules` whether the actor may, then
runs in one transaction (`transaction`), so an error at any point leaves nothing half-written;
a write records its audit row in that same transaction. Refusals are
`streammaxing.manage.errors`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import structlog

from streammaxing.manage import rules
from streammaxing.manage.actor import Actor
from streammaxing.manage.audit import Action, record
from streammaxing.manage.errors import Conflict, FieldIssue, Invalid, NotFound
from streammaxing.manage.models import (
    PREVIEW_ENDED_AFTER,
    DeliveryOut,
    GuildConfigOut,
    GuildConfigUpdate,
    GuildOut,
    GuildPage,
    GuildUpsert,
    HistoryOut,
    HistoryQuery,
    PageQuery,
    PreviewOut,
    PreviewRequest,
)
from streammaxing.manage.services import ManageServices, transaction
from streammaxing.schema import guilds as queries
from streammaxing.schema.history import guild_history
from streammaxing.templating import (
    DEFAULT_TEMPLATE,
    SAMPLE_STREAM,
    render_announcement,
    render_ended,
    validate_template,
)

log = structlog.get_logger(__name__)

#: What ``render_announcement`` appends to the thumbnail URL in previews.
PREVIEW_CACHE_BUSTER = "preview"


def template_issues(template: Mapping[str, Any] | None, path: str) -> list[FieldIssue]:
    """``validate_template``'s findings as field issues under ``path`` (none for no template)."""
    if template is None:
        return []
    return [
        FieldIssue(f"{path}.{issue.path}" if issue.path else path, issue.message)
        for issue in validate_template(template)
    ]


# -- guilds ----------------------------------------------------------------------------------


async def upsert_guild(
    services: ManageServices, actor: Actor, guild_id: str, body: GuildUpsert
) -> tuple[GuildOut, bool]:
    """Create the guild or replace its name, icon and owner; the flag says it was created.
    The operator only."""
    rules.require_operator(actor)
    async with transaction(services) as conn:
        created = await queries.upsert_guild(
            conn, guild_id, name=body.name, icon=body.icon, owner_id=body.owner_id
        )
        row = await queries.get_guild(conn, guild_id)
        await record(conn, actor, Action.GUILD_SAVE, guild_id=guild_id, detail={"created": created})
    if row is None:
        raise Conflict(f"guild {guild_id} was deleted concurrently")
    log.info("guild_saved", guild_id=guild_id, created=created)
    return GuildOut.model_validate(row), created


async def register_install(
    services: ManageServices, actor: Actor, guild_id: str, body: GuildUpsert
) -> tuple[GuildOut, bool]:
    """Record that the bot was added to a guild, with what Discord says about it (name, icon,
    owner, read with the bot token, which also proves the bot is in it); the flag says the
    guild is new. The operator, or a user who can manage the guild in Discord: the dashboard's
    install callback, and Discord's install events (whose installer held Manage Server)."""
    rules.require_installer(actor, guild_id)
    async with transaction(services) as conn:
        created = await queries.upsert_guild(
            conn, guild_id, name=body.name, icon=body.icon, owner_id=body.owner_id
        )
        row = await queries.get_guild(conn, guild_id)
        await record(
            conn, actor, Action.GUILD_INSTALL, guild_id=guild_id, detail={"created": created}
        )
    if row is None:
        raise Conflict(f"guild {guild_id} was deleted concurrently")
    log.info("guild_installed", guild_id=guild_id, created=created, installer=actor.user_id)
    return GuildOut.model_validate(row), created


async def get_guild(services: ManageServices, actor: Actor, guild_id: str) -> GuildOut:
    """The guild, for its members."""
    async with transaction(services) as conn:
        await rules.require_member(conn, actor, guild_id)
        row = await queries.get_guild(conn, guild_id)
    if row is None:
        raise NotFound(f"guild {guild_id} not found")
    return GuildOut.model_validate(row)


async def list_guilds(services: ManageServices, actor: Actor, query: PageQuery) -> GuildPage:
    """A page of guilds in id order; ``next_cursor`` continues after the last one. The operator
    only."""
    rules.require_operator(actor)
    async with services.pool.connection() as conn:
        rows = await queries.list_guilds(conn, after=query.after, limit=query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return GuildPage(
        items=[GuildOut.model_validate(row) for row in rows],
        next_cursor=rows[-1].guild_id if more else None,
    )


async def delete_guild(services: ManageServices, actor: Actor, guild_id: str) -> None:
    """Delete the guild and everything about it (its audit trail stays); streamers no guild
    tracks any more are left to the cleanup job (which deletes their EventSub subscriptions
    first). The operator only."""
    rules.require_operator(actor)
    async with transaction(services) as conn:
        if not await queries.delete_guild(conn, guild_id):
            raise NotFound(f"guild {guild_id} not found")
        await record(conn, actor, Action.GUILD_DELETE, guild_id=guild_id)
    log.info("guild_deleted", guild_id=guild_id)


# -- config ----------------------------------------------------------------------------------


async def get_config(services: ManageServices, actor: Actor, guild_id: str) -> GuildConfigOut:
    """The guild's config, for its managers."""
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        row = await queries.get_config(conn, guild_id)
    if row is None:
        raise NotFound(f"guild {guild_id} has no config yet")
    return GuildConfigOut.model_validate(row)


async def set_config(
    services: ManageServices, actor: Actor, guild_id: str, body: GuildConfigUpdate
) -> tuple[GuildConfigOut, bool]:
    """Change the fields given; the others keep their value (defaults for a first config).
    For the guild's managers.

    New templates (``message_template``, ``offline_template``) must pass `validate_template`;
    null clears the role, the restart cooldown and the offline template back to their defaults.
    Setting ``enabled`` (an admin's decision) clears ``disabled_reason``, which the workers set
    when Discord refused the channel. The flag says the config was created.
    """
    rules.check_manager(actor, guild_id)
    issues = [
        *template_issues(body.message_template, "message_template"),
        *template_issues(body.offline_template, "offline_template"),
    ]
    if issues:
        raise Invalid(issues, "invalid template")
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        current = await queries.get_config(conn, guild_id, for_update=True)
        channel_id = body.channel_id or (current.channel_id if current else None)
        if channel_id is None:
            raise Invalid([FieldIssue("channel_id", "is required: the guild has no config yet")])
        values = _merged(body, current or _first_config(channel_id))
        row = await queries.put_config(conn, guild_id, values)
        fields = sorted(body.model_fields_set)
        detail = {"fields": fields, "created": current is None}
        await record(conn, actor, Action.CONFIG_SET, guild_id=guild_id, detail=detail)
    log.info("config_saved", guild_id=guild_id, fields=fields)
    return GuildConfigOut.model_validate(row), current is None


def _first_config(channel_id: str) -> queries.GuildConfigValues:
    return queries.GuildConfigValues(
        channel_id=channel_id,
        mention_role_id=None,
        message_template=copy.deepcopy(dict(DEFAULT_TEMPLATE)),
        enabled=True,
        dm_enabled=True,
        disabled_reason=None,
        restart_cooldown_seconds=None,
        offline_template=None,
    )


def _merged(
    body: GuildConfigUpdate, current: queries.GuildConfigValues
) -> queries.GuildConfigValues:
    """``current`` with the fields ``body`` gives; for a nullable field, null is a value."""
    given = body.model_fields_set
    return queries.GuildConfigValues(
        channel_id=body.channel_id or current.channel_id,
        mention_role_id=(
            body.mention_role_id if "mention_role_id" in given else current.mention_role_id
        ),
        message_template=(
            current.message_template if body.message_template is None else body.message_template
        ),
        enabled=current.enabled if body.enabled is None else body.enabled,
        dm_enabled=current.dm_enabled if body.dm_enabled is None else body.dm_enabled,
        disabled_reason=current.disabled_reason if body.enabled is None else None,
        restart_cooldown_seconds=(
            body.restart_cooldown_seconds
            if "restart_cooldown_seconds" in given
            else current.restart_cooldown_seconds
        ),
        offline_template=(
            body.offline_template if "offline_template" in given else current.offline_template
        ),
    )


async def preview(
    services: ManageServices, actor: Actor, guild_id: str, body: PreviewRequest
) -> PreviewOut:
    """The exact Discord body the guild's announcement would be, posted or, with form
    ``ended``, as edited when the stream ended (after `PREVIEW_ENDED_AFTER`), for the guild's
    managers.

    By default: the saved templates and role, rendered for the sample stream; the request may
    give (validated) templates, a role and stream data instead, e.g. to try before saving.
    """
    rules.check_manager(actor, guild_id)
    given = body.model_fields_set
    issues = [
        *template_issues(body.message_template, "message_template"),
        *template_issues(body.offline_template, "offline_template"),
    ]
    if "offline_template" in given and body.form != "ended":
        issues.append(FieldIssue("offline_template", "is only used by the form 'ended'"))
    if issues:
        raise Invalid(issues, "invalid template")
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        config = await queries.get_config(conn, guild_id)
    template = body.message_template
    if template is None and config is not None:
        template = config.message_template
    if template is None:
        raise NotFound(f"guild {guild_id} has no config yet; give message_template to preview")
    if "mention_role_id" in given:
        role = body.mention_role_id
    else:
        role = config.mention_role_id if config else None
    stream = body.stream.stream_info() if body.stream is not None else SAMPLE_STREAM
    if body.form == "live":
        payload = render_announcement(
            template, stream, mention_role_id=role, cache_buster=PREVIEW_CACHE_BUSTER
        )
        return PreviewOut(payload=payload)
    if "offline_template" in given:
        offline = body.offline_template
    else:
        offline = config.offline_template if config else None
    payload = render_ended(
        template,
        stream,
        duration=PREVIEW_ENDED_AFTER,
        mention_role_id=role,
        offline_template=offline,
    )
    return PreviewOut(payload=payload)


# -- history ---------------------------------------------------------------------------------


async def history(
    services: ManageServices, actor: Actor, guild_id: str, query: HistoryQuery
) -> HistoryOut:
    """The guild's most recent announcements, newest first, with where they went or why not;
    for its managers."""
    async with transaction(services) as conn:
        await rules.require_manager(conn, actor, guild_id)
        rows = await guild_history(conn, guild_id, limit=query.limit)
    return HistoryOut(items=[DeliveryOut.model_validate(row) for row in rows])

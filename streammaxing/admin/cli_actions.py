"""What each admin CLI verb does: build the request model from its arguments, call the operation
as the operator from the ``cli`` surface.

Request models are built with ``model_validate`` on the arguments given, so the CLI validates
exactly like the API (a `pydantic.ValidationError` is bad input) and fields the user did not
pass stay unset (``config set --channel …`` changes only the channel).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from streammaxing.manage import audit, guilds, members, reports, streamers
from streammaxing.manage.actor import Operator, Surface
from streammaxing.manage.errors import FieldIssue, Invalid, issues_from_validation
from streammaxing.manage.models import (
    AuditQuery,
    GuildConfigUpdate,
    GuildUpsert,
    HistoryQuery,
    PageQuery,
    PreferenceSet,
    PreviewRequest,
    StreamerAdd,
    StreamerUpdate,
    StreamSample,
    UserUpsert,
)
from streammaxing.manage.services import ManageServices

#: The value that sets an option back to its default (null in the API): ``--restart-cooldown
#: default``, ``--offline-template default``. A file named so is ``./default``.
DEFAULT: Final = "default"
#: Who every verb acts as.
CLI_ACTOR: Final = Operator(surface=Surface.CLI)


@dataclass(frozen=True)
class Outcome:
    """What a verb produced: a response model to print (None: nothing) and a one-line note."""

    result: BaseModel | None = None
    note: str | None = None


def _saved(what: str, created: bool) -> str:
    return f"{what} {'created' if created else 'updated'}"


def _read_text(source: str, field: str) -> str:
    try:
        return sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as error:
        raise Invalid([FieldIssue(field, f"cannot read {source}: {error.strerror}")]) from error


def _read_json_object(source: str, field: str) -> object:
    text = _read_text(source, field)
    try:
        return json.loads(text)
    except ValueError as error:
        raise Invalid([FieldIssue(field, f"{source} is not valid JSON: {error}")]) from error


def _stdin_at_most_once(**sources: str | None) -> None:
    """Refuse two options reading stdin ('-'): the second would read nothing."""
    readers = [field for field, source in sources.items() if source == "-"]
    if len(readers) > 1:
        raise Invalid([FieldIssue(readers[1], f"stdin ('-') is already read for {readers[0]}")])


def _template_options(args: argparse.Namespace) -> dict[str, Any]:
    """The templates the options name: files, stdin ('-') or, for the offline one, DEFAULT."""
    fields: dict[str, Any] = {}
    if args.template is not None:
        fields["message_template"] = _read_json_object(args.template, "message_template")
    if args.offline_template == DEFAULT:
        fields["offline_template"] = None
    elif args.offline_template is not None:
        fields["offline_template"] = _read_json_object(args.offline_template, "offline_template")
    return fields


def _given(**values: Any) -> dict[str, Any]:
    """The options the user actually passed (argparse leaves the others None)."""
    return {key: value for key, value in values.items() if value is not None}


# -- guilds and config -----------------------------------------------------------------------


async def guild_add(args: argparse.Namespace, s: ManageServices) -> Outcome:
    body = GuildUpsert.model_validate(
        {"name": args.name, "icon": args.icon, "owner_id": args.owner}
    )
    guild, created = await guilds.upsert_guild(s, CLI_ACTOR, args.guild_id, body)
    return Outcome(guild, _saved(f"guild {guild.guild_id}", created))


async def guild_get(args: argparse.Namespace, s: ManageServices) -> Outcome:
    return Outcome(await guilds.get_guild(s, CLI_ACTOR, args.guild_id))


async def guild_list(args: argparse.Namespace, s: ManageServices) -> Outcome:
    query = PageQuery.model_validate(_given(limit=args.limit, after=args.after))
    return Outcome(await guilds.list_guilds(s, CLI_ACTOR, query))


async def guild_delete(args: argparse.Namespace, s: ManageServices) -> Outcome:
    await guilds.delete_guild(s, CLI_ACTOR, args.guild_id)
    return Outcome(note=f"guild {args.guild_id} deleted")


async def config_get(args: argparse.Namespace, s: ManageServices) -> Outcome:
    return Outcome(await guilds.get_config(s, CLI_ACTOR, args.guild_id))


def _role_option(args: argparse.Namespace) -> dict[str, Any]:
    if args.no_role:
        return {"mention_role_id": None}
    return _given(mention_role_id=args.role)


async def config_set(args: argparse.Namespace, s: ManageServices) -> Outcome:
    fields = _given(channel_id=args.channel, enabled=args.enabled, dm_enabled=args.dm_enabled)
    fields.update(_role_option(args))
    _stdin_at_most_once(message_template=args.template, offline_template=args.offline_template)
    fields.update(_template_options(args))
    if args.restart_cooldown is not None:
        cooldown = args.restart_cooldown
        fields["restart_cooldown_seconds"] = None if cooldown == DEFAULT else cooldown
    config, created = await guilds.set_config(
        s, CLI_ACTOR, args.guild_id, GuildConfigUpdate.model_validate(fields)
    )
    return Outcome(config, _saved(f"config of guild {args.guild_id}", created))


async def config_preview(args: argparse.Namespace, s: ManageServices) -> Outcome:
    fields = _role_option(args)
    _stdin_at_most_once(
        message_template=args.template, offline_template=args.offline_template, stream=args.stream
    )
    fields.update(_template_options(args))
    if args.ended:
        fields["form"] = "ended"
    if args.stream is not None:
        text = _read_text(args.stream, "stream")
        try:
            fields["stream"] = StreamSample.model_validate_json(text)
        except ValidationError as error:
            raise Invalid(issues_from_validation(error, "stream")) from error
    body = PreviewRequest.model_validate(fields)
    return Outcome(await guilds.preview(s, CLI_ACTOR, args.guild_id, body))


async def history(args: argparse.Namespace, s: ManageServices) -> Outcome:
    query = HistoryQuery.model_validate(_given(limit=args.limit))
    return Outcome(await guilds.history(s, CLI_ACTOR, args.guild_id, query))


async def audit_trail(args: argparse.Namespace, s: ManageServices) -> Outcome:
    query = AuditQuery.model_validate(_given(limit=args.limit, before=args.before))
    return Outcome(await audit.audit_trail(s, CLI_ACTOR, args.guild_id, query))


# -- streamers -------------------------------------------------------------------------------


async def streamer_track(args: argparse.Namespace, s: ManageServices) -> Outcome:
    body = StreamerAdd.model_validate(
        _given(login=args.login, broadcaster_id=args.broadcaster_id, added_by=args.added_by)
    )
    link = await streamers.track_streamer(s, CLI_ACTOR, args.guild_id, body)
    return Outcome(link, f"guild {args.guild_id} now tracks {link.login} ({link.broadcaster_id})")


async def streamer_get(args: argparse.Namespace, s: ManageServices) -> Outcome:
    return Outcome(await streamers.get_streamer(s, CLI_ACTOR, args.guild_id, args.streamer))


async def streamer_list(args: argparse.Namespace, s: ManageServices) -> Outcome:
    return Outcome(await streamers.list_streamers(s, CLI_ACTOR, args.guild_id))


async def _set_streamer(args: argparse.Namespace, s: ManageServices, enabled: bool) -> Outcome:
    body = StreamerUpdate(enabled=enabled)
    link = await streamers.update_streamer(s, CLI_ACTOR, args.guild_id, args.streamer, body)
    return Outcome(link, f"{link.login} {'enabled' if enabled else 'disabled'}")


async def streamer_enable(args: argparse.Namespace, s: ManageServices) -> Outcome:
    return await _set_streamer(args, s, True)


async def streamer_disable(args: argparse.Namespace, s: ManageServices) -> Outcome:
    return await _set_streamer(args, s, False)


async def streamer_untrack(args: argparse.Namespace, s: ManageServices) -> Outcome:
    await streamers.untrack_streamer(s, CLI_ACTOR, args.guild_id, args.streamer)
    return Outcome(note=f"guild {args.guild_id} no longer tracks {args.streamer}")


# -- members ---------------------------------------------------------------------------------


async def user_upsert(args: argparse.Namespace, s: ManageServices) -> Outcome:
    body = UserUpsert.model_validate({"username": args.username, "avatar": args.avatar})
    user, created = await members.upsert_user(s, CLI_ACTOR, args.user_id, body)
    return Outcome(user, _saved(f"user {user.user_id}", created))


async def user_get(args: argparse.Namespace, s: ManageServices) -> Outcome:
    return Outcome(await members.get_user(s, CLI_ACTOR, args.user_id))


async def user_delete(args: argparse.Namespace, s: ManageServices) -> Outcome:
    await members.erase_user(s, CLI_ACTOR, args.user_id)
    return Outcome(note=f"user {args.user_id} and everything about them erased")


async def dm_subscribe(args: argparse.Namespace, s: ManageServices) -> Outcome:
    row, created = await members.subscribe(s, CLI_ACTOR, args.guild_id, args.user_id)
    state = "subscribed" if created else "was already subscribed"
    return Outcome(row, f"user {args.user_id} {state} to guild {args.guild_id}")


async def dm_unsubscribe(args: argparse.Namespace, s: ManageServices) -> Outcome:
    await members.unsubscribe(s, CLI_ACTOR, args.guild_id, args.user_id)
    return Outcome(note=f"user {args.user_id} unsubscribed from guild {args.guild_id}")


async def dm_list(args: argparse.Namespace, s: ManageServices) -> Outcome:
    query = PageQuery.model_validate(_given(limit=args.limit, after=args.after))
    return Outcome(await members.list_subscribers(s, CLI_ACTOR, args.guild_id, query))


async def prefs_list(args: argparse.Namespace, s: ManageServices) -> Outcome:
    return Outcome(await members.list_preferences(s, CLI_ACTOR, args.user_id))


async def _set_pref(args: argparse.Namespace, s: ManageServices, enabled: bool) -> Outcome:
    preference = await members.set_preference(
        s, CLI_ACTOR, args.user_id, args.guild_id, args.streamer, PreferenceSet(enabled=enabled)
    )
    return Outcome(preference, f"{preference.streamer_login} {'unmuted' if enabled else 'muted'}")


async def prefs_mute(args: argparse.Namespace, s: ManageServices) -> Outcome:
    return await _set_pref(args, s, False)


async def prefs_unmute(args: argparse.Namespace, s: ManageServices) -> Outcome:
    return await _set_pref(args, s, True)


async def prefs_clear(args: argparse.Namespace, s: ManageServices) -> Outcome:
    await members.clear_preference(s, CLI_ACTOR, args.user_id, args.guild_id, args.streamer)
    return Outcome(note=f"preference for {args.streamer} cleared (back to the default: on)")


async def guilds_inactive(args: argparse.Namespace, s: ManageServices) -> Outcome:
    query = reports.InactiveGuildsQuery.model_validate(_given(days=args.days))
    result = await reports.inactive_guilds(s, CLI_ACTOR, query)
    note = f"{len(result.items)} guild(s) with no announcement delivered in {query.days} days"
    return Outcome(result, note=note)

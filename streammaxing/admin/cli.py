"""Admin verbs for the ``streammaxing`` command line, 1:1 with the admin API's operations
(plus ``guilds-inactive``, a report the CLI alone offers).

``add_admin_commands(subparsers)`` adds ``guild``, ``config``, ``streamer``, ``user``, ``dm``,
``prefs``, ``history``, ``audit`` and ``guilds-inactive``; ``run_admin_command(args, services)``
runs the verb parsed, as the operator from the ``cli`` surface, and returns the exit code: 0 done,
1 forbidden / not found / conflict / Twitch or database unavailable, 2 bad input. Results go to
stdout (a short summary, or JSON with ``--json``), errors to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final, TextIO

import psycopg
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, TypeAdapter, ValidationError

from streammaxing.admin import cli_actions as actions
from streammaxing.manage.errors import Invalid, ManageError, issues_from_validation
from streammaxing.manage.models import PreviewOut, Snowflake, StreamerRef
from streammaxing.manage.services import ManageServices

__all__ = ["ADMIN_COMMANDS", "add_admin_commands", "is_admin_command", "run_admin_command"]

#: The top-level commands this module adds.
ADMIN_COMMANDS: Final = frozenset(
    {"guild", "config", "streamer", "user", "dm", "prefs", "history", "audit", "guilds-inactive"}
)

Action = Callable[[argparse.Namespace, ManageServices], Awaitable[actions.Outcome]]
# argparse has no public name for the object `add_subparsers()` returns.
Subparsers = argparse._SubParsersAction

_SNOWFLAKE: Final = TypeAdapter(Snowflake)
_STREAMER: Final = TypeAdapter(StreamerRef)


def _snowflake(value: str) -> str:
    try:
        return _SNOWFLAKE.validate_python(value)
    except ValidationError as error:
        raise argparse.ArgumentTypeError(f"{value!r} is not a Discord id (1-20 digits)") from error


def _streamer(value: str) -> str:
    try:
        return _STREAMER.validate_python(value)
    except ValidationError as error:
        raise argparse.ArgumentTypeError(f"{value!r} is not a Twitch login or id") from error


def _seconds_or_default(value: str) -> int | str:
    if value == actions.DEFAULT:
        return value
    try:
        return int(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number of seconds or {actions.DEFAULT!r}"
        ) from error


def _verb(
    verbs: Subparsers[argparse.ArgumentParser], name: str, action: Action, help: str
) -> argparse.ArgumentParser:
    parser = verbs.add_parser(name, help=help, description=help)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(admin_action=action)
    return parser


def _group(subparsers: Subparsers[argparse.ArgumentParser], name: str, help: str) -> Any:
    parser = subparsers.add_parser(name, help=help, description=help)
    return parser.add_subparsers(dest="admin_verb", required=True, metavar="VERB")


def _page_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, help="items per page (1-200, default 50)")
    parser.add_argument("--after", type=_snowflake, help="continue after this id (next_cursor)")


def _add_guild(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    verbs = _group(subparsers, "guild", "manage guilds (Discord servers)")
    add = _verb(verbs, "add", actions.guild_add, "create a guild, or update its name/icon/owner")
    add.add_argument("guild_id", type=_snowflake)
    add.add_argument("--name", required=True)
    add.add_argument("--icon", help="icon hash")
    add.add_argument("--owner", type=_snowflake, help="owner's user id")
    _verb(verbs, "get", actions.guild_get, "show a guild").add_argument("guild_id", type=_snowflake)
    _page_options(_verb(verbs, "list", actions.guild_list, "list guilds, a page at a time"))
    delete = _verb(verbs, "delete", actions.guild_delete, "delete a guild and all about it")
    delete.add_argument("guild_id", type=_snowflake)


def _role_options(parser: argparse.ArgumentParser) -> None:
    role = parser.add_mutually_exclusive_group()
    role.add_argument("--role", type=_snowflake, help="role to ping")
    role.add_argument("--no-role", action="store_true", help="ping no role")
    parser.add_argument("--template", metavar="FILE", help="template JSON file ('-': stdin)")
    parser.add_argument(
        "--offline-template",
        metavar="FILE",
        help="template JSON file for when the stream ends ('-': stdin; "
        f"'{actions.DEFAULT}': the default ended form)",
    )


def _add_config(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    verbs = _group(
        subparsers, "config", "a guild's channel, role, templates, restart cooldown and switches"
    )
    get = _verb(verbs, "get", actions.config_get, "show a guild's config")
    get.add_argument("guild_id", type=_snowflake)
    put = _verb(verbs, "set", actions.config_set, "change the options given; keep the rest")
    put.add_argument("guild_id", type=_snowflake)
    put.add_argument("--channel", type=_snowflake, help="announcement channel id")
    _role_options(put)
    switch = put.add_mutually_exclusive_group()
    switch.add_argument("--enable", dest="enabled", action="store_const", const=True)
    switch.add_argument("--disable", dest="enabled", action="store_const", const=False)
    dm = put.add_mutually_exclusive_group()
    dm.add_argument("--dm-enable", dest="dm_enabled", action="store_const", const=True)
    dm.add_argument("--dm-disable", dest="dm_enabled", action="store_const", const=False)
    put.add_argument(
        "--restart-cooldown",
        type=_seconds_or_default,
        metavar="SECONDS",
        help="a restart within this many seconds of going offline resumes the previous "
        f"announcement ('{actions.DEFAULT}': the service-wide RESTART_COOLDOWN_SECONDS)",
    )
    preview = _verb(verbs, "preview", actions.config_preview, "print the Discord payload")
    preview.add_argument("guild_id", type=_snowflake)
    _role_options(preview)
    preview.add_argument(
        "--ended", action="store_true", help="the announcement as edited when the stream ended"
    )
    preview.add_argument("--stream", metavar="FILE", help="stream data JSON file ('-': stdin)")


def _add_streamer(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    verbs = _group(subparsers, "streamer", "the Twitch streamers a guild tracks")
    track = _verb(verbs, "track", actions.streamer_track, "track a streamer by Twitch login")
    track.add_argument("guild_id", type=_snowflake)
    track.add_argument("login")
    track.add_argument("--broadcaster-id", help="Twitch user id (needed without credentials)")
    track.add_argument("--added-by", type=_snowflake, help="user id of who added it")
    for name, action, help in (
        ("get", actions.streamer_get, "show one tracked streamer"),
        ("untrack", actions.streamer_untrack, "stop tracking a streamer"),
        ("enable", actions.streamer_enable, "announce this streamer again"),
        ("disable", actions.streamer_disable, "keep tracking, stop announcing"),
    ):
        parser = _verb(verbs, name, action, help)
        parser.add_argument("guild_id", type=_snowflake)
        parser.add_argument("streamer", type=_streamer, help="broadcaster id or login")
    listing = _verb(verbs, "list", actions.streamer_list, "streamers a guild tracks")
    listing.add_argument("guild_id", type=_snowflake)


def _add_members(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    users = _group(subparsers, "user", "Discord users")
    upsert = _verb(users, "upsert", actions.user_upsert, "create a user or update its name")
    upsert.add_argument("user_id", type=_snowflake)
    upsert.add_argument("--username", required=True)
    upsert.add_argument("--avatar", help="avatar hash")
    _verb(users, "get", actions.user_get, "show a user").add_argument("user_id", type=_snowflake)
    erase = _verb(users, "delete", actions.user_delete, "erase everything about a user (GDPR)")
    erase.add_argument("user_id", type=_snowflake)

    dms = _group(subparsers, "dm", "members' personal alerts (DMs) from a guild")
    for name, action, help in (
        ("subscribe", actions.dm_subscribe, "opt a member in to a guild's personal alerts"),
        ("unsubscribe", actions.dm_unsubscribe, "opt a member out"),
    ):
        parser = _verb(dms, name, action, help)
        parser.add_argument("guild_id", type=_snowflake)
        parser.add_argument("user_id", type=_snowflake)
    listing = _verb(dms, "list", actions.dm_list, "a guild's subscribers")
    listing.add_argument("guild_id", type=_snowflake)
    _page_options(listing)

    prefs = _group(subparsers, "prefs", "a member's per-streamer DM preferences")
    _verb(prefs, "list", actions.prefs_list, "a user's guilds × streamers, on or off").add_argument(
        "user_id", type=_snowflake
    )
    for name, action, help in (
        ("mute", actions.prefs_mute, "no DMs about this streamer from this guild"),
        ("unmute", actions.prefs_unmute, "DMs about this streamer again (explicitly)"),
        ("clear", actions.prefs_clear, "forget the choice: back to the default (on)"),
    ):
        parser = _verb(prefs, name, action, help)
        parser.add_argument("user_id", type=_snowflake)
        parser.add_argument("guild_id", type=_snowflake)
        parser.add_argument("streamer", type=_streamer, help="broadcaster id or login")


def add_admin_commands(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the admin commands to the ``streammaxing`` parser's subcommands."""
    _add_guild(subparsers)
    _add_config(subparsers)
    _add_streamer(subparsers)
    _add_members(subparsers)
    history = subparsers.add_parser("history", help="a guild's recent announcements")
    history.add_argument("guild_id", type=_snowflake)
    history.add_argument("--limit", type=int, help="how many (1-200, default 50)")
    history.add_argument("--json", action="store_true", help="print the result as JSON")
    history.set_defaults(admin_action=actions.history)
    trail = subparsers.add_parser("audit", help="who changed what in a guild, newest first")
    trail.add_argument("guild_id", type=_snowflake)
    trail.add_argument("--limit", type=int, help="how many (1-200, default 50)")
    trail.add_argument("--before", type=int, help="continue below this entry id (next_cursor)")
    trail.add_argument("--json", action="store_true", help="print the result as JSON")
    trail.set_defaults(admin_action=actions.audit_trail)
    inactive = subparsers.add_parser(
        "guilds-inactive",
        help="report guilds with no announcement delivered lately (nothing is deleted)",
    )
    inactive.add_argument("--days", type=int, default=90, help="inactive for this many days")
    inactive.add_argument("--json", action="store_true", help="print the result as JSON")
    inactive.set_defaults(admin_action=actions.guilds_inactive)


def is_admin_command(args: argparse.Namespace) -> bool:
    return getattr(args, "admin_action", None) is not None


# -- output ----------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _print_table(rows: list[dict[str, Any]], out: TextIO) -> None:
    if not rows:
        print("(none)", file=out)
        return
    columns = list(rows[0])
    cells = [[_cell(row[column]) for column in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    for line in [columns, *cells]:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip(), file=out)


def _print_human(outcome: actions.Outcome, out: TextIO) -> None:
    if outcome.note:
        print(outcome.note, file=out)
    result = outcome.result
    if result is None:
        return
    if isinstance(result, PreviewOut):
        print(json.dumps(result.payload, indent=2, ensure_ascii=False), file=out)
        return
    data = result.model_dump(mode="json")
    items = data.pop("items", None)
    if isinstance(items, list):
        _print_table(items, out)
    for key, value in data.items():
        print(f"{key}: {_cell(value)}", file=out)


def _print_result(result: BaseModel | None, out: TextIO) -> None:
    if result is not None:
        print(result.model_dump_json(indent=2), file=out)


async def run_admin_command(args: argparse.Namespace, services: ManageServices) -> int:
    """Run the admin verb ``args`` holds; print its result; return the exit code."""
    action: Action = args.admin_action
    try:
        outcome = await action(args, services)
    except ValidationError as error:
        _report(Invalid(issues_from_validation(error)))
        return 2
    except Invalid as error:
        _report(error)
        return 2
    except ManageError as error:
        print(f"streammaxing: {error}", file=sys.stderr)
        return 1
    except (PoolTimeout, psycopg.OperationalError) as error:
        print(
            f"streammaxing: the database is unavailable ({type(error).__name__})", file=sys.stderr
        )
        return 1
    if args.json:
        _print_result(outcome.result, sys.stdout)
    else:
        _print_human(outcome, sys.stdout)
    return 0


def _report(error: Invalid) -> None:
    print("streammaxing: invalid input:", file=sys.stderr)
    for issue in error.issues:
        print(f"  {issue}", file=sys.stderr)

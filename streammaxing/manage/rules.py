"""Who may do what: the one place the operations ask before they read or write.

- Guilds as a whole (create, list, delete): the operator only.
- **Install** the bot in G (record the guild once Discord confirmed the bot is in it): the
  operator, or a user whose guild list marks G as managed (Discord lets only members with
  Manage Server add a bot, and the guild row does not exist yet).
- **Manage** guild G (its config, previews, tracked streamers, DM subscriber list, history and
  audit trail): the operator, or a user whose guild list marks G as managed, once the bot is
  installed in G (a ``guilds`` row exists).
- Act as a **member** of G (read the guild and its streamers; their own DM opt-in and their own
  preferences in G): the operator, or a user with G in their guild list, once the bot is
  installed.
- A user's own data (their user row, preferences, erasure): the operator, or that user.

Each check refuses from the actor alone before anything is read, so a refusal never tells
whether another guild or user exists. Only then is the guild row looked up (and locked against
deletion until the transaction ends): a missing row is `NotFound` for the operator, who may ask
about any guild, and `Forbidden` for a user, whose own guild list named it.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from streammaxing.manage.actor import Actor, Operator
from streammaxing.manage.errors import Forbidden, NotFound
from streammaxing.schema.guilds import lock_guild

__all__ = [
    "check_manager",
    "may_be_member",
    "may_manage",
    "require_installer",
    "require_manager",
    "require_member",
    "require_operator",
    "require_self",
    "require_trail_reader",
]


def may_manage(actor: Actor, guild_id: str) -> bool:
    """Whether the actor may manage the guild, as far as the actor alone tells."""
    return isinstance(actor, Operator) or actor.manages(guild_id)


def may_be_member(actor: Actor, guild_id: str) -> bool:
    """Whether the actor may act as a member of the guild, as far as the actor alone tells."""
    return isinstance(actor, Operator) or actor.is_member(guild_id)


def require_operator(actor: Actor) -> None:
    if not isinstance(actor, Operator):
        raise Forbidden("only the operator may do this")


def require_installer(actor: Actor, guild_id: str) -> None:
    """The operator, or a user who can manage the guild in Discord (no guild row needed)."""
    if not may_manage(actor, guild_id):
        raise Forbidden(f"you may not add the bot to guild {guild_id}")


def require_self(actor: Actor, user_id: str) -> None:
    """The operator, or the user ``user_id`` themselves."""
    if not isinstance(actor, Operator) and actor.user_id != user_id:
        raise Forbidden("you may only act on your own user data")


async def _require_installed(conn: AsyncConnection[Any], actor: Actor, guild_id: str) -> None:
    if await lock_guild(conn, guild_id):
        return
    if isinstance(actor, Operator):
        raise NotFound(f"guild {guild_id} not found")
    raise Forbidden(f"the bot is not installed in guild {guild_id}")


def check_manager(actor: Actor, guild_id: str) -> None:
    """`require_manager`'s refusal from the actor alone, for an operation that does other work
    (validation, a Twitch lookup) before its transaction."""
    if not may_manage(actor, guild_id):
        raise Forbidden(f"you may not manage guild {guild_id}")


async def require_manager(conn: AsyncConnection[Any], actor: Actor, guild_id: str) -> None:
    """The operator or a manager of the guild, and the guild exists (locked until commit)."""
    check_manager(actor, guild_id)
    await _require_installed(conn, actor, guild_id)


async def require_member(conn: AsyncConnection[Any], actor: Actor, guild_id: str) -> None:
    """The operator or a member of the guild, and the guild exists (locked until commit)."""
    if not may_be_member(actor, guild_id):
        raise Forbidden(f"you are not a member of guild {guild_id}")
    await _require_installed(conn, actor, guild_id)


async def require_trail_reader(conn: AsyncConnection[Any], actor: Actor, guild_id: str) -> None:
    """The guild's managers, or the operator for any guild id: the trail of a deleted guild
    survives it and stays readable by the operator."""
    if isinstance(actor, Operator):
        return
    await require_manager(conn, actor, guild_id)

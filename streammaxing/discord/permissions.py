"""What a member may do in a guild channel, computed from roles and overwrites (pure).

Discord's order: the guild-wide base is the @everyone role's permissions OR'ed with every role
the member has (ADMINISTRATOR, or owning the guild, grants everything and skips overwrites).
The channel then applies, in turn, the @everyone overwrite, all of the member's role overwrites
together (denies first, then allows), and the member's own overwrite. A member without
VIEW_CHANNEL in a channel can do nothing there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from streammaxing.discord.models import GuildChannel, Overwrite

VIEW_CHANNEL: Final = 1 << 10
SEND_MESSAGES: Final = 1 << 11
EMBED_LINKS: Final = 1 << 14
ADMINISTRATOR: Final = 1 << 3
#: Every permission bit Discord defines today, and then some: what ADMINISTRATOR grants.
ALL_PERMISSIONS: Final = (1 << 64) - 1
#: What posting an announcement needs: see the channel, send, and have embeds shown.
ANNOUNCE: Final = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS

ROLE_OVERWRITE: Final = 0
MEMBER_OVERWRITE: Final = 1


@dataclass(frozen=True, slots=True)
class MemberContext:
    """Who is asking: the guild, the member's user id and role ids, the guild's role
    permissions (role id → bitset, @everyone's id being the guild id) and whether they own it."""

    guild_id: str
    user_id: str
    role_ids: frozenset[str]
    role_permissions: Mapping[str, int]
    owner: bool = False


def base_permissions(member: MemberContext) -> int:
    """The member's guild-wide permissions, before any channel overwrite."""
    if member.owner:
        return ALL_PERMISSIONS
    permissions = member.role_permissions.get(member.guild_id, 0)
    for role_id in member.role_ids:
        permissions |= member.role_permissions.get(role_id, 0)
    if permissions & ADMINISTRATOR:
        return ALL_PERMISSIONS
    return permissions


def channel_permissions(member: MemberContext, overwrites: Iterable[Overwrite]) -> int:
    """The member's permissions in a channel with these overwrites."""
    base = base_permissions(member)
    if base == ALL_PERMISSIONS:
        return ALL_PERMISSIONS
    everyone: Overwrite | None = None
    own: Overwrite | None = None
    role_allow = role_deny = 0
    for overwrite in overwrites:
        if overwrite.type == ROLE_OVERWRITE and overwrite.id == member.guild_id:
            everyone = overwrite
        elif overwrite.type == ROLE_OVERWRITE and overwrite.id in member.role_ids:
            role_allow |= overwrite.allow
            role_deny |= overwrite.deny
        elif overwrite.type == MEMBER_OVERWRITE and overwrite.id == member.user_id:
            own = overwrite
    permissions = base
    if everyone is not None:
        permissions = (permissions & ~everyone.deny) | everyone.allow
    permissions = (permissions & ~role_deny) | role_allow
    if own is not None:
        permissions = (permissions & ~own.deny) | own.allow
    if not permissions & VIEW_CHANNEL:
        return 0
    return permissions


def can_announce(member: MemberContext, channel: GuildChannel) -> bool:
    """Whether the member can post an announcement (with its embed) in the channel."""
    return channel.can_hold_announcements and (
        channel_permissions(member, channel.overwrites) & ANNOUNCE == ANNOUNCE
    )

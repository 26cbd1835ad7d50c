"""The bot's permissions in a channel, computed from roles and overwrites like Discord does."""

from __future__ import annotations

import pytest

from streammaxing.discord.models import GuildChannel, Overwrite
from streammaxing.discord.permissions import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ANNOUNCE,
    EMBED_LINKS,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    MemberContext,
    base_permissions,
    can_announce,
    channel_permissions,
)

GUILD = "100"  # also the @everyone role's id
BOT = "900"
BOT_ROLE = "201"
OTHER_ROLE = "202"
NOT_MINE = "203"
READ_HISTORY = 1 << 16
MANAGE_MESSAGES = 1 << 13


def bot(
    everyone: int = VIEW_CHANNEL,
    roles: dict[str, int] | None = None,
    *,
    mine: tuple[str, ...] = (BOT_ROLE,),
    owner: bool = False,
) -> MemberContext:
    permissions = {GUILD: everyone, BOT_ROLE: 0, OTHER_ROLE: 0, NOT_MINE: ALL_PERMISSIONS}
    permissions |= roles or {}
    return MemberContext(GUILD, BOT, frozenset(mine), permissions, owner=owner)


def role(role_id: str, allow: int = 0, deny: int = 0) -> Overwrite:
    return Overwrite(role_id, 0, allow, deny)


def member(user_id: str, allow: int = 0, deny: int = 0) -> Overwrite:
    return Overwrite(user_id, 1, allow, deny)


def channel(*overwrites: Overwrite, type: int = 0) -> GuildChannel:
    return GuildChannel("300", "live", type, 0, None, overwrites)


class TestBasePermissions:
    @pytest.mark.parametrize(
        ("context", "expected"),
        [
            (bot(everyone=VIEW_CHANNEL), VIEW_CHANNEL),
            (bot(everyone=VIEW_CHANNEL, roles={BOT_ROLE: SEND_MESSAGES}), VIEW_CHANNEL | 0x800),
            (
                bot(everyone=0, roles={BOT_ROLE: SEND_MESSAGES, OTHER_ROLE: EMBED_LINKS},
                    mine=(BOT_ROLE, OTHER_ROLE)),
                SEND_MESSAGES | EMBED_LINKS,
            ),
            (bot(everyone=0, mine=()), 0),
            (bot(everyone=0, roles={BOT_ROLE: ADMINISTRATOR}), ALL_PERMISSIONS),
            (bot(everyone=ADMINISTRATOR, mine=()), ALL_PERMISSIONS),
            (bot(everyone=0, mine=(), owner=True), ALL_PERMISSIONS),
            (bot(everyone=0, mine=("404",)), 0),
        ],
        ids=[
            "everyone only",
            "everyone or'ed with the member's role",
            "all of the member's roles",
            "no roles, nothing from everyone",
            "administrator role grants all",
            "administrator on everyone grants all",
            "the owner has all",
            "an unknown role id adds nothing",
        ],
    )  # fmt: skip
    def test_base(self, context: MemberContext, expected: int) -> None:
        """@everyone OR the member's roles; ADMINISTRATOR and ownership mean every bit."""
        assert base_permissions(context) == expected


ANNOUNCING = bot(everyone=VIEW_CHANNEL, roles={BOT_ROLE: SEND_MESSAGES | EMBED_LINKS})


class TestChannelPermissions:
    @pytest.mark.parametrize(
        ("context", "overwrites", "expected"),
        [
            (ANNOUNCING, (), ANNOUNCE),
            (ANNOUNCING, (role(GUILD, deny=SEND_MESSAGES),), ANNOUNCE & ~SEND_MESSAGES),
            (ANNOUNCING, (role(GUILD, deny=SEND_MESSAGES), role(BOT_ROLE, allow=SEND_MESSAGES)),
             ANNOUNCE),
            (ANNOUNCING, (role(BOT_ROLE, deny=EMBED_LINKS),), ANNOUNCE & ~EMBED_LINKS),
            (ANNOUNCING, (role(BOT_ROLE, deny=SEND_MESSAGES), member(BOT, allow=SEND_MESSAGES)),
             ANNOUNCE),
            (ANNOUNCING, (role(GUILD, allow=SEND_MESSAGES), member(BOT, deny=SEND_MESSAGES)),
             ANNOUNCE & ~SEND_MESSAGES),
            (ANNOUNCING, (role(NOT_MINE, deny=SEND_MESSAGES),), ANNOUNCE),
            (ANNOUNCING, (member("901", deny=SEND_MESSAGES),), ANNOUNCE),
            (bot(everyone=VIEW_CHANNEL, roles={BOT_ROLE: SEND_MESSAGES},
                 mine=(BOT_ROLE, OTHER_ROLE)),
             (role(BOT_ROLE, allow=EMBED_LINKS), role(OTHER_ROLE, deny=EMBED_LINKS)), ANNOUNCE),
            (ANNOUNCING, (role(GUILD, deny=VIEW_CHANNEL),), 0),
            (ANNOUNCING, (role(GUILD, deny=VIEW_CHANNEL), role(BOT_ROLE, allow=VIEW_CHANNEL)),
             ANNOUNCE),
            (bot(everyone=0), (member(BOT, allow=ANNOUNCE),), ANNOUNCE),
            (bot(everyone=0, roles={BOT_ROLE: ADMINISTRATOR}),
             (member(BOT, deny=ALL_PERMISSIONS),), ALL_PERMISSIONS),
            (bot(everyone=0, mine=(), owner=True), (role(GUILD, deny=VIEW_CHANNEL),),
             ALL_PERMISSIONS),
            (ANNOUNCING, (Overwrite(BOT, 0, 0, SEND_MESSAGES),), ANNOUNCE),
            (ANNOUNCING, (Overwrite(BOT_ROLE, 1, 0, SEND_MESSAGES),), ANNOUNCE),
        ],
        ids=[
            "no overwrites: the base",
            "@everyone deny removes",
            "a role allow beats an @everyone deny",
            "a role deny removes",
            "a member allow beats a role deny",
            "a member deny beats an @everyone allow",
            "a role the member lacks changes nothing",
            "another member's overwrite changes nothing",
            "role allows win over role denies at the same level",
            "without view the channel gives nothing",
            "a role allow can give view back",
            "a member overwrite alone can grant everything",
            "administrator ignores overwrites",
            "the owner ignores overwrites",
            "a role overwrite with the member's id is not a member overwrite",
            "a member overwrite with a role's id is not a role overwrite",
        ],
    )  # fmt: skip
    def test_overwrites(
        self, context: MemberContext, overwrites: tuple[Overwrite, ...], expected: int
    ) -> None:
        """@everyone, then the member's roles together (denies, then allows), then the member."""
        assert channel_permissions(context, overwrites) == expected

    def test_order_of_overwrites_in_the_list_does_not_matter(self) -> None:
        """Discord applies the three layers in a fixed order, whatever order they arrive in."""
        layers = (member(BOT, allow=SEND_MESSAGES), role(GUILD, deny=SEND_MESSAGES))
        assert channel_permissions(ANNOUNCING, layers) == channel_permissions(
            ANNOUNCING, tuple(reversed(layers))
        )
        assert channel_permissions(ANNOUNCING, layers) == ANNOUNCE


class TestCanAnnounce:
    @pytest.mark.parametrize(
        ("context", "target", "expected"),
        [
            (ANNOUNCING, channel(), True),
            (ANNOUNCING, channel(type=5), True),
            (ANNOUNCING, channel(type=2), False),
            (ANNOUNCING, channel(type=4), False),
            (ANNOUNCING, channel(type=15), False),
            (ANNOUNCING, channel(role(GUILD, deny=VIEW_CHANNEL)), False),
            (ANNOUNCING, channel(role(BOT_ROLE, deny=SEND_MESSAGES)), False),
            (ANNOUNCING, channel(member(BOT, deny=EMBED_LINKS)), False),
            (bot(everyone=VIEW_CHANNEL | SEND_MESSAGES, mine=()), channel(), False),
            (bot(everyone=VIEW_CHANNEL | SEND_MESSAGES | READ_HISTORY | MANAGE_MESSAGES),
             channel(role(GUILD, allow=EMBED_LINKS)), True),
            (bot(everyone=0, roles={BOT_ROLE: ADMINISTRATOR}),
             channel(role(GUILD, deny=VIEW_CHANNEL)), True),
        ],
        ids=[
            "text channel with view, send and embed",
            "announcement channel",
            "voice channel",
            "category",
            "forum",
            "hidden from the bot",
            "sending denied to the bot's role",
            "embeds denied to the bot",
            "sending without embeds is not enough",
            "embed granted by an @everyone overwrite",
            "administrator can post anywhere",
        ],
    )  # fmt: skip
    def test_can_announce(
        self, context: MemberContext, target: GuildChannel, expected: bool
    ) -> None:
        """A text or announcement channel where the bot may view, send and embed links."""
        assert can_announce(context, target) is expected

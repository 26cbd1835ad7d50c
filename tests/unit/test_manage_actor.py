"""Actors: deriving "can manage" from Discord's guild data, and what an actor carries."""

from __future__ import annotations

import pytest

from streammaxing.manage.actor import (
    ADMINISTRATOR,
    MANAGE_GUILD,
    DiscordUser,
    GuildEntry,
    Operator,
    Surface,
    can_manage,
)


class TestCanManage:
    @pytest.mark.parametrize(
        ("owner", "permissions", "expected"),
        [
            pytest.param(True, None, True, id="owner-without-permissions"),
            pytest.param(True, "0", True, id="owner-with-no-bits"),
            pytest.param(False, "8", True, id="administrator"),
            pytest.param(False, "32", True, id="manage-guild"),
            pytest.param(False, str(0x8 | 0x20 | 0x400), True, id="both-and-more"),
            pytest.param(False, "0", False, id="no-bits"),
            pytest.param(False, str(0x400 | 0x800 | 0x10), False, id="other-bits-only"),
            pytest.param(False, None, False, id="missing"),
            pytest.param(False, "", False, id="empty"),
            pytest.param(False, "-8", False, id="negative"),
            pytest.param(False, "0x20", False, id="hex-is-not-decimal"),
            pytest.param(False, "٣٢", False, id="non-ascii-digits"),
        ],
    )
    def test_owner_administrator_or_manage_guild(
        self, owner: bool, permissions: str | None, expected: bool
    ) -> None:
        """The owner, ADMINISTRATOR (0x8) or MANAGE_GUILD (0x20) can manage; anything else,
        a malformed string included, cannot."""
        assert can_manage(owner=owner, permissions=permissions) is expected

    def test_bits_above_53_are_exact(self) -> None:
        """Discord's permission strings exceed a double's precision; bits are read exactly."""
        high = (1 << 60) | (1 << 53)
        assert can_manage(owner=False, permissions=str(high)) is False
        assert can_manage(owner=False, permissions=str(high | MANAGE_GUILD)) is True
        assert can_manage(owner=False, permissions=str(high | ADMINISTRATOR)) is True


class TestDiscordUser:
    def test_from_guild_list(self) -> None:
        """Every listed guild is one the user is a member of; those with the bits or owned
        are managed; unlisted guilds are neither."""
        actor = DiscordUser.from_guild_list(
            "1",
            Surface.DASHBOARD,
            [GuildEntry("10", owner=True), GuildEntry("20", permissions="1024")],
        )
        assert dict(actor.guilds) == {"10": True, "20": False}
        assert (actor.manages("10"), actor.is_member("10")) == (True, True)
        assert (actor.manages("20"), actor.is_member("20")) == (False, True)
        assert (actor.manages("30"), actor.is_member("30")) == (False, False)

    def test_guilds_cannot_change_after_construction(self) -> None:
        """The actor copies the mapping it is given and exposes it read-only."""
        given = {"10": False}
        actor = DiscordUser("1", Surface.DISCORD, given)
        given["10"] = True
        assert actor.manages("10") is False
        with pytest.raises(TypeError):
            actor.guilds["10"] = True  # type: ignore[index]

    def test_operator_has_no_user_id(self) -> None:
        """The operator is nobody's Discord account: its user id is None."""
        assert Operator(Surface.CLI).user_id is None
        assert DiscordUser("5", Surface.DISCORD).user_id == "5"

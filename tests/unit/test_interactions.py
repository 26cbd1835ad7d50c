"""The pure parts of the slash commands: the command table, interaction parsing, replies and
the registration plan."""

from __future__ import annotations

from typing import Any

import pytest

from streammaxing.interactions.catalog import ALERTS, ANNOUNCE, COMMANDS, STREAMERS
from streammaxing.interactions.dispatch import AUTOCOMPLETE_STREAMER
from streammaxing.interactions.dispatch import COMMANDS as HANDLERS
from streammaxing.interactions.model import MalformedInteraction, parse
from streammaxing.interactions.replies import choices, message
from streammaxing.interactions.sync import plan
from tests.fakes.discord_commands import validate_commands

GUILD = "810000000000000001"


def interaction(data: dict[str, Any], *, permissions: str | None = "0", **extra: Any) -> Any:
    payload: dict[str, Any] = {
        "id": "1", "application_id": "2", "token": "t", "type": 2, "data": data,
        "guild_id": GUILD,
        "member": {"user": {"id": "42", "username": "fan"}, "permissions": permissions},
        **extra,
    }  # fmt: skip
    return parse(payload)


def paths(command: dict[str, Any]) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for option in command["options"]:
        if option["type"] == 2:
            found |= {(command["name"], option["name"], sub["name"]) for sub in option["options"]}
        else:
            found.add((command["name"], option["name"]))
    return found


class TestCatalog:
    def test_discord_accepts_the_command_set(self) -> None:
        """The fake's copy of Discord's validation finds nothing wrong with the set."""
        assert not validate_commands([dict(command) for command in COMMANDS])

    def test_every_registered_subcommand_has_a_handler_and_back(self) -> None:
        """What users can invoke and what the dispatcher handles are the same set."""
        registered = set().union(*(paths(command) for command in COMMANDS))
        assert registered == set(HANDLERS)

    def test_only_announce_is_hidden_from_members(self) -> None:
        """/announce needs Manage Server to be shown; /streamers list and /alerts are for all."""
        assert ANNOUNCE["default_member_permissions"] == "32"
        assert STREAMERS["default_member_permissions"] is None
        assert ALERTS["default_member_permissions"] is None

    def test_streamer_options_autocomplete(self) -> None:
        """Every option named `streamer` autocompletes, and those are the completed ones."""
        completing = {
            (command["name"], option["name"])
            for command in COMMANDS
            for option in command["options"]
            if any(o.get("autocomplete") for o in option.get("options", []))
        }
        assert completing == set(AUTOCOMPLETE_STREAMER)

    def test_the_channel_option_offers_text_and_announcement_channels(self) -> None:
        [channel] = [o for o in ANNOUNCE["options"] if o["name"] == "channel"]
        assert channel["options"][0]["channel_types"] == [0, 5]


class TestParse:
    def test_a_subcommand_group_gives_the_full_path(self) -> None:
        """/alerts dm on parses to ("alerts", "dm", "on")."""
        data = {"name": "alerts", "options": [
            {"name": "dm", "type": 2, "options": [{"name": "on", "type": 1}]}]}  # fmt: skip
        assert interaction(data).command == ("alerts", "dm", "on")

    def test_options_keep_their_discord_type(self) -> None:
        """A string read as a channel is no channel; a resolved channel carries app_permissions."""
        data = {
            "name": "announce",
            "options": [{"name": "channel", "type": 1, "options": [
                {"name": "channel", "type": 7, "value": "5"}]}],
            "resolved": {"channels": {"5": {"id": "5", "name": "live", "type": 0,
                                            "app_permissions": "19456"}}},
        }  # fmt: skip
        parsed = interaction(data)
        assert parsed.string("channel") is None
        channel = parsed.channel("channel")
        assert channel is not None
        assert channel.app_permissions == 19456

    def test_the_focused_option_is_found(self) -> None:
        data = {"name": "alerts", "options": [{"name": "mute", "type": 1, "options": [
            {"name": "streamer", "type": 3, "value": "twi", "focused": True}]}]}  # fmt: skip
        assert interaction(data, type=4).focused == ("streamer", "twi")

    @pytest.mark.parametrize(("permissions", "manages"), [("32", True), ("8", True), ("0", False),
                                                          ("x", False), (None, False)])  # fmt: skip
    def test_the_actor_manages_from_member_permissions(
        self, permissions: str | None, manages: bool
    ) -> None:
        """MANAGE_GUILD or ADMINISTRATOR in member.permissions make a manager; a member anyway."""
        actor = interaction({"name": "x"}, permissions=permissions).actor()
        assert actor is not None
        assert actor.manages(GUILD) is manages
        assert actor.is_member(GUILD)

    def test_outside_a_guild_there_is_no_actor(self) -> None:
        parsed = parse({"id": "1", "application_id": "2", "token": "t", "type": 2,
                        "user": {"id": "42"}, "data": {"name": "alerts"}})  # fmt: skip
        assert parsed.actor() is None

    @pytest.mark.parametrize("payload", [[], {"type": 2}, {"id": "1", "token": "t", "type": "2"}])
    def test_a_payload_without_the_basics_is_malformed(self, payload: Any) -> None:
        with pytest.raises(MalformedInteraction):
            parse(payload)


class TestReplies:
    def test_choices_are_capped_at_25_and_100_characters(self) -> None:
        body = choices((f"{'n' * 120}{i}", f"v{i}") for i in range(30))
        assert len(body["data"]["choices"]) == 25
        assert all(len(c["name"]) <= 100 for c in body["data"]["choices"])

    def test_a_message_is_ephemeral_mentions_nobody_and_fits(self) -> None:
        data = message("@everyone " + "x" * 3000)["data"]
        assert data["flags"] == 64
        assert data["allowed_mentions"] == {"parse": []}
        assert len(data["content"]) == 2000


class TestSyncPlan:
    def test_nothing_registered_adds_everything(self) -> None:
        result = plan([], COMMANDS)
        assert result.added == ("streamers", "announce", "alerts")
        assert result.needs_write

    def test_the_same_set_needs_no_write(self) -> None:
        """Discord's extra fields (ids, versions) do not count as changes."""
        registered = [{**command, "id": "9", "version": "1"} for command in COMMANDS]
        result = plan(registered, COMMANDS)
        assert not result.needs_write
        assert result.unchanged == ("streamers", "announce", "alerts")

    def test_a_changed_and_a_stray_command(self) -> None:
        registered = [{**STREAMERS, "description": "old"}, {"name": "follow", "type": 1}]
        result = plan(registered, COMMANDS)
        assert result.changed == ("streamers",)
        assert result.removed == ("follow",)
        assert result.added == ("announce", "alerts")

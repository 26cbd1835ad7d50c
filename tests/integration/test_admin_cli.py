"""The admin CLI verbs, run in-process with parsed arguments against a real database.

`run_admin_command` calls the same service functions as the API; these tests check the verbs'
mapping onto them, the output, and the exit codes: 0 done, 1 not found / conflict, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import procrastinate
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr
from structlog.testing import capture_logs

from streammaxing.admin.cli import ADMIN_COMMANDS, add_admin_commands, run_admin_command
from streammaxing.manage.services import ManageServices
from streammaxing.twitch.client import HelixClient, build_helix_http_client
from tests.fakes import twitch_fake
from tests.fakes.server import ServerThread

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]

GUILD = "910000000000000001"
CHANNEL = "920000000000000001"
ROLE = "930000000000000001"
USER = "940000000000000001"
BROADCASTER = "141981764"


def parse(*argv: str) -> argparse.Namespace:
    """Parse like `streammaxing …` would, with only the admin commands added."""
    parser = argparse.ArgumentParser(prog="streammaxing")
    add_admin_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture(scope="module")
def twitch() -> Iterator[tuple[twitch_fake.TwitchFakeState, str]]:
    state = twitch_fake.TwitchFakeState()
    with ServerThread(twitch_fake.create_app(state)) as server:
        yield state, server.url


@pytest.fixture
async def services(
    pool: Pool, twitch: tuple[twitch_fake.TwitchFakeState, str]
) -> AsyncIterator[ManageServices]:
    """Services with Twitch credentials; the fake knows the login `twitchdev`."""
    state, url = twitch
    state.reset()
    state.add_user(BROADCASTER, "twitchdev", display_name="TwitchDev")
    http = build_helix_http_client(
        f"{url}/helix", f"{url}/oauth2", state.client_id, SecretStr(state.client_secret)
    )
    helix = HelixClient(http, state.client_id)
    try:
        yield ManageServices(
            pool=pool,
            app=procrastinate.App(connector=procrastinate.PsycopgConnector()),
            helix=helix,
        )
    finally:
        await helix.aclose()


@pytest.fixture
def dry_services(pool: Pool) -> ManageServices:
    """Services without Twitch credentials (dry-run)."""
    return ManageServices(
        pool=pool, app=procrastinate.App(connector=procrastinate.PsycopgConnector())
    )


class Cli:
    """Runs verbs and hands back (exit code, stdout, stderr)."""

    def __init__(self, services: ManageServices, capsys: pytest.CaptureFixture[str]) -> None:
        self.services = services
        self.capsys = capsys
        self.logs: list[dict[str, Any]] = []

    async def __call__(self, *argv: str) -> tuple[int, str, str]:
        """Run one verb; its log events (stderr in production) are kept in `logs`."""
        self.capsys.readouterr()
        with capture_logs() as logs:
            code = await run_admin_command(parse(*argv), self.services)
        self.logs = logs
        out, err = self.capsys.readouterr()
        return code, out, err

    async def json(self, *argv: str) -> Any:
        code, out, err = await self(*argv, "--json")
        assert code == 0, err
        return json.loads(out)

    async def ok(self, *argv: str) -> str:
        code, out, err = await self(*argv)
        assert code == 0, err
        return out


@pytest.fixture
def cli(services: ManageServices, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(services, capsys)


@pytest.fixture
def dry_cli(dry_services: ManageServices, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(dry_services, capsys)


def write_json(tmp_path: Path, name: str, value: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


async def rows(pool: Pool, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(query.encode(), params)
        return await cur.fetchall()


class TestParser:
    def test_adds_the_admin_commands(self) -> None:
        """`ADMIN_COMMANDS` names exactly the top-level commands added."""
        parser = argparse.ArgumentParser()
        commands = parser.add_subparsers(dest="command")
        add_admin_commands(commands)
        assert set(commands.choices) == ADMIN_COMMANDS

    @pytest.mark.parametrize(
        "argv",
        [
            ("guild", "get", "not-an-id"),
            ("config", "set", GUILD, "--channel", "#general"),
            ("streamer", "enable", GUILD, "no spaces"),
            ("config", "set", GUILD, "--role", ROLE, "--no-role"),
            ("config", "set", GUILD, "--restart-cooldown", "10m"),
            ("guild",),
        ],
    )
    def test_malformed_arguments_exit_2(self, argv: tuple[str, ...]) -> None:
        """Ids that are not snowflakes, bad logins and conflicting flags are usage errors."""
        with pytest.raises(SystemExit) as exited:
            parse(*argv)
        assert exited.value.code == 2


class TestGuildVerbs:
    async def test_add_get_list_delete(self, dry_cli: Cli) -> None:
        """`guild add` creates then updates; get/list show it; delete removes it."""
        lines = (await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")).splitlines()
        assert lines[:4] == [
            f"guild {GUILD} created",
            f"guild_id: {GUILD}",
            "name: Speedrunners",
            "icon: -",
        ]
        assert "configured: False" in lines
        updated = await dry_cli.json("guild", "add", GUILD, "--name", "Renamed", "--owner", USER)
        assert (updated["name"], updated["owner_id"]) == ("Renamed", USER)
        page = await dry_cli.json("guild", "list", "--limit", "1")
        assert [g["guild_id"] for g in page["items"]] == [GUILD]
        assert page["next_cursor"] is None
        assert await dry_cli.ok("guild", "delete", GUILD) == f"guild {GUILD} deleted\n"
        assert dry_cli.logs == [{"event": "guild_deleted", "guild_id": GUILD, "log_level": "info"}]
        code, out, err = await dry_cli("guild", "delete", GUILD)
        assert (code, out, err) == (1, "", f"streammaxing: guild {GUILD} not found\n")

    async def test_list_prints_a_table(self, dry_cli: Cli) -> None:
        """Human output of a list is a table with a header row."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        lines = (await dry_cli.ok("guild", "list")).splitlines()
        assert lines[0].split()[:2] == ["guild_id", "name"]
        assert lines[1].split()[:2] == [GUILD, "Speedrunners"]
        assert lines[-1] == "next_cursor: -"

    async def test_invalid_values_exit_2_with_the_field(self, dry_cli: Cli) -> None:
        """Values the models refuse are reported with their field on stderr, exit 2."""
        code, _, err = await dry_cli("guild", "add", GUILD, "--name", "")
        assert code == 2
        assert err.startswith("streammaxing: invalid input:\n  name: ")
        code, _, err = await dry_cli("guild", "list", "--limit", "0")
        assert code == 2
        assert "limit: " in err


class TestConfigVerbs:
    async def test_set_changes_only_the_options_given(self, dry_cli: Cli, tmp_path: Path) -> None:
        """`config set` maps to the API's PUT: options left out keep their value."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        template = {"content": "{mention_role} {streamer_login} is live"}
        created = await dry_cli.json(
            "config", "set", GUILD, "--channel", CHANNEL, "--role", ROLE,
            "--template", write_json(tmp_path, "t.json", template),
        )  # fmt: skip
        assert (created["channel_id"], created["mention_role_id"]) == (CHANNEL, ROLE)
        changed = await dry_cli.json("config", "set", GUILD, "--no-role", "--disable")
        assert changed["mention_role_id"] is None
        assert changed["enabled"] is False
        assert changed["message_template"] == template
        assert changed["dm_enabled"] is True
        assert (await dry_cli.json("config", "get", GUILD)) == changed
        dm_off = await dry_cli.json("config", "set", GUILD, "--dm-disable", "--enable")
        assert (dm_off["dm_enabled"], dm_off["enabled"]) == (False, True)

    async def test_set_restart_cooldown_and_offline_template_then_back_to_default(
        self, dry_cli: Cli, tmp_path: Path
    ) -> None:
        """`--restart-cooldown SECONDS` and `--offline-template FILE` set them, other options
        keep them, and `default` clears each back to null (the global setting, the default
        ended form); `config get` shows both."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        offline = {"content": "{streamer_display_name} was live"}
        created = await dry_cli.json(
            "config", "set", GUILD, "--channel", CHANNEL, "--restart-cooldown", "120",
            "--offline-template", write_json(tmp_path, "offline.json", offline),
        )  # fmt: skip
        assert (created["restart_cooldown_seconds"], created["offline_template"]) == (120, offline)
        kept = await dry_cli.json("config", "set", GUILD, "--disable")
        assert (kept["restart_cooldown_seconds"], kept["offline_template"]) == (120, offline)
        shown = (await dry_cli.ok("config", "get", GUILD)).splitlines()
        assert "restart_cooldown_seconds: 120" in shown
        assert f"offline_template: {json.dumps(offline)}" in shown
        cleared = await dry_cli.json(
            "config", "set", GUILD, "--restart-cooldown", "default", "--offline-template", "default"
        )
        assert (cleared["restart_cooldown_seconds"], cleared["offline_template"]) == (None, None)
        assert cleared["enabled"] is False
        shown = (await dry_cli.ok("config", "get", GUILD)).splitlines()
        assert {"restart_cooldown_seconds: -", "offline_template: -"} <= set(shown)

    async def test_bad_cooldown_or_offline_template_exits_2(
        self, dry_cli: Cli, tmp_path: Path
    ) -> None:
        """A negative cooldown and an invalid offline template are reported with their field;
        two options cannot both read stdin; nothing is saved."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        await dry_cli.ok("config", "set", GUILD, "--channel", CHANNEL)
        code, _, err = await dry_cli("config", "set", GUILD, "--restart-cooldown", "-5")
        assert code == 2
        assert "restart_cooldown_seconds: Input should be greater than or equal to 0" in err
        bad = write_json(tmp_path, "bad.json", {"content": "{nope}"})
        code, _, err = await dry_cli("config", "set", GUILD, "--offline-template", bad)
        assert code == 2
        assert "offline_template.content: " in err
        code, _, err = await dry_cli(
            "config", "set", GUILD, "--template", "-", "--offline-template", "-"
        )
        assert code == 2
        assert "offline_template: stdin ('-') is already read for message_template" in err
        config = await dry_cli.json("config", "get", GUILD)
        assert (config["restart_cooldown_seconds"], config["offline_template"]) == (None, None)

    async def test_invalid_template_exits_2_listing_each_issue(
        self, dry_cli: Cli, tmp_path: Path
    ) -> None:
        """Template issues are printed one per line with their path; nothing is saved."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        bad = write_json(tmp_path, "bad.json", {"content": "{nope}", "embed": {"colour": 1}})
        code, _, err = await dry_cli(
            "config", "set", GUILD, "--channel", CHANNEL, "--template", bad
        )
        assert code == 2
        issues = err.splitlines()[1:]
        assert [line.split(":")[0].strip() for line in issues] == [
            "message_template.content",
            "message_template.embed.colour",
        ]
        code, _, err = await dry_cli("config", "get", GUILD)
        assert (code, err) == (1, f"streammaxing: guild {GUILD} has no config yet\n")

    async def test_unreadable_or_malformed_files_exit_2(self, dry_cli: Cli, tmp_path: Path) -> None:
        """A missing file or one that is not JSON is bad input, named in the message."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        broken = tmp_path / "broken.json"
        broken.write_text("{nope", encoding="utf-8")
        for source in (str(tmp_path / "missing.json"), str(broken)):
            code, _, err = await dry_cli(
                "config", "set", GUILD, "--channel", CHANNEL, "--template", source
            )
            assert code == 2
            assert f"message_template: cannot read {source}" in err or "not valid JSON" in err

    async def test_first_config_without_channel_exits_2(self, dry_cli: Cli) -> None:
        """A guild's first config needs --channel."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        code, _, err = await dry_cli("config", "set", GUILD, "--enable")
        assert code == 2
        assert "channel_id: is required: the guild has no config yet" in err

    async def test_preview_prints_the_discord_payload(self, dry_cli: Cli, tmp_path: Path) -> None:
        """`config preview` prints the exact payload, with stream data from a file."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        await dry_cli.ok("config", "set", GUILD, "--channel", CHANNEL, "--role", ROLE)
        stream = write_json(tmp_path, "s.json", {"streamer_display_name": "Shroud"})
        payload = json.loads(await dry_cli.ok("config", "preview", GUILD, "--stream", stream))
        assert payload["content"] == f"<@&{ROLE}> Shroud is now live!"
        assert payload["allowed_mentions"] == {"parse": [], "roles": [ROLE]}
        wrapped = await dry_cli.json("config", "preview", GUILD, "--no-role")
        assert wrapped["payload"]["allowed_mentions"] == {"parse": []}
        bad_stream = write_json(tmp_path, "b.json", {"viewer_count": -1})
        code, _, err = await dry_cli("config", "preview", GUILD, "--stream", bad_stream)
        assert code == 2
        assert "stream.viewer_count: " in err

    async def test_preview_ended_prints_the_edit_payload(
        self, dry_cli: Cli, tmp_path: Path
    ) -> None:
        """`config preview --ended` prints the ended form: the default one, the saved offline
        template, or one given with `--offline-template` (`default`: the default form)."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        await dry_cli.ok("config", "set", GUILD, "--channel", CHANNEL, "--role", ROLE)
        default = json.loads(await dry_cli.ok("config", "preview", GUILD, "--ended"))
        assert default["content"] == "SampleStreamer was live — the stream ended after 2h 05m."
        assert default["allowed_mentions"] == {"parse": [], "roles": [ROLE]}
        saved = write_json(tmp_path, "saved.json", {"content": "{streamer_login} is gone"})
        await dry_cli.ok("config", "set", GUILD, "--offline-template", saved)
        by_config = json.loads(await dry_cli.ok("config", "preview", GUILD, "--ended"))
        assert by_config["content"] == "samplestreamer is gone"
        tried = write_json(tmp_path, "tried.json", {"content": "bye {streamer_display_name}"})
        given = await dry_cli.json(
            "config", "preview", GUILD, "--ended", "--offline-template", tried
        )
        assert given["payload"]["content"] == "bye SampleStreamer"
        back = await dry_cli.json(
            "config", "preview", GUILD, "--ended", "--offline-template", "default"
        )
        assert back["payload"]["content"] == default["content"]
        code, _, err = await dry_cli("config", "preview", GUILD, "--offline-template", tried)
        assert code == 2
        assert "offline_template: is only used by the form 'ended'" in err


class TestStreamerVerbs:
    async def test_track_resolves_through_helix_and_queues_the_job(
        self, cli: Cli, pool: Pool
    ) -> None:
        """`streamer track` resolves the login, links it and defers `subscribe_streamer`."""
        await cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        out = await cli.ok("streamer", "track", GUILD, "TwitchDev")
        assert out.splitlines()[0] == f"guild {GUILD} now tracks twitchdev ({BROADCASTER})"
        jobs = await rows(pool, "SELECT task_name, queue_name, args FROM procrastinate_jobs")
        streamer_id = (await rows(pool, "SELECT id::text FROM streamers"))[0][0]
        assert jobs == [("subscribe_streamer", "maintenance", {"streamer_id": streamer_id})]
        code, _, err = await cli("streamer", "track", GUILD, "twitchdev")
        assert (code, err) == (
            1,
            f"streammaxing: guild {GUILD} already tracks twitchdev ({BROADCASTER})\n",
        )

    async def test_unknown_login_exits_1(self, cli: Cli) -> None:
        """A login Twitch does not know: exit 1 with a clear message."""
        await cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        code, _, err = await cli("streamer", "track", GUILD, "nobody")
        assert (code, err) == (1, "streammaxing: no Twitch user has the login 'nobody'\n")

    async def test_dry_run_needs_broadcaster_id(self, dry_cli: Cli) -> None:
        """Without credentials, --broadcaster-id is required (exit 2), then tracking works."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        code, _, err = await dry_cli("streamer", "track", GUILD, "twitchdev")
        assert code == 2
        assert "broadcaster_id: is required" in err
        await dry_cli.ok("streamer", "track", GUILD, "twitchdev", "--broadcaster-id", BROADCASTER)

    async def test_enable_disable_get_list_untrack(self, dry_cli: Cli) -> None:
        """The other streamer verbs, naming the streamer by login or id."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        await dry_cli.ok("streamer", "track", GUILD, "twitchdev", "--broadcaster-id", BROADCASTER)
        assert (await dry_cli.ok("streamer", "disable", GUILD, "twitchdev")).startswith(
            "twitchdev disabled\n"
        )
        assert (await dry_cli.json("streamer", "get", GUILD, BROADCASTER))["enabled"] is False
        await dry_cli.ok("streamer", "enable", GUILD, BROADCASTER)
        listing = await dry_cli.json("streamer", "list", GUILD)
        assert [(s["login"], s["enabled"]) for s in listing["items"]] == [("twitchdev", True)]
        await dry_cli.ok("streamer", "untrack", GUILD, "twitchdev")
        code, _, err = await dry_cli("streamer", "untrack", GUILD, "twitchdev")
        assert (code, err) == (
            1,
            f"streammaxing: guild {GUILD} does not track streamer 'twitchdev'\n",
        )


class TestMemberVerbs:
    async def test_users_dm_subscriptions_and_preferences(self, dry_cli: Cli, pool: Pool) -> None:
        """user upsert, dm subscribe/list/unsubscribe, prefs mute/list/unmute/clear, user delete."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        await dry_cli.ok("streamer", "track", GUILD, "twitchdev", "--broadcaster-id", BROADCASTER)
        created = await dry_cli.ok("user", "upsert", USER, "--username", "alice")
        assert created.splitlines()[0] == f"user {USER} created"
        assert (await dry_cli.json("user", "get", USER))["username"] == "alice"
        subscribed = await dry_cli.ok("dm", "subscribe", GUILD, USER)
        assert subscribed.splitlines()[0] == f"user {USER} subscribed to guild {GUILD}"
        again = await dry_cli.ok("dm", "subscribe", GUILD, USER)
        assert again.splitlines()[0] == f"user {USER} was already subscribed to guild {GUILD}"
        page = await dry_cli.json("dm", "list", GUILD)
        assert [s["user_id"] for s in page["items"]] == [USER]

        await dry_cli.ok("prefs", "mute", USER, GUILD, "twitchdev")
        prefs = await dry_cli.json("prefs", "list", USER)
        assert [(p["streamer_login"], p["enabled"]) for p in prefs["items"]] == [
            ("twitchdev", False)
        ]
        await dry_cli.ok("prefs", "unmute", USER, GUILD, BROADCASTER)
        assert (await dry_cli.json("prefs", "list", USER))["items"][0]["explicit"] is True
        await dry_cli.ok("prefs", "clear", USER, GUILD, "twitchdev")
        assert (await dry_cli.json("prefs", "list", USER))["items"][0]["explicit"] is False

        await dry_cli.ok("dm", "unsubscribe", GUILD, USER)
        code, _, _ = await dry_cli("dm", "unsubscribe", GUILD, USER)
        assert code == 1
        await dry_cli.ok("user", "delete", USER)
        assert await rows(pool, "SELECT count(*) FROM users") == [(0,)]
        code, _, err = await dry_cli("prefs", "list", USER)
        assert (code, err) == (1, f"streammaxing: user {USER} not found\n")


class TestHistoryVerb:
    async def test_history_lists_recent_deliveries(self, dry_cli: Cli, pool: Pool) -> None:
        """`history GUILD` shows the guild's announcements, newest first."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        await dry_cli.ok("streamer", "track", GUILD, "twitchdev", "--broadcaster-id", BROADCASTER)
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO notification_log (guild_id, streamer_id, event_id, status, sent_at)"
                " SELECT %s, id, e, 'sent', t::timestamptz FROM streamers,"
                " (VALUES ('old', '2026-01-01T00:00:00Z'), ('new', '2026-01-02T00:00:00Z'))"
                " AS v(e, t)",
                (GUILD,),
            )
        history = await dry_cli.json("history", GUILD, "--limit", "5")
        assert [d["event_id"] for d in history["items"]] == ["new", "old"]
        table = (await dry_cli.ok("history", GUILD)).splitlines()
        assert table[0].split()[:3] == ["id", "broadcaster_id", "streamer_login"]
        assert len(table) == 3


class TestAuditVerb:
    async def test_audit_lists_changes_newest_first(self, dry_cli: Cli) -> None:
        """`audit GUILD` shows who changed what from the CLI, newest first; `--limit` and
        `--before` page through it; as JSON it carries `next_cursor`."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        await dry_cli.ok("config", "set", GUILD, "--channel", CHANNEL)
        await dry_cli.ok("streamer", "track", GUILD, "twitchdev", "--broadcaster-id", BROADCASTER)
        page = await dry_cli.json("audit", GUILD, "--limit", "2")
        assert [(e["action"], e["actor_kind"], e["surface"]) for e in page["items"]] == [
            ("streamer.track", "operator", "cli"),
            ("config.set", "operator", "cli"),
        ]
        assert page["items"][1]["detail"] == {"fields": ["channel_id"], "created": True}
        rest = await dry_cli.json("audit", GUILD, "--before", str(page["next_cursor"]))
        assert [e["action"] for e in rest["items"]] == ["guild.save"]
        assert rest["next_cursor"] is None
        table = (await dry_cli.ok("audit", GUILD)).splitlines()
        assert table[0].split()[:3] == ["id", "occurred_at", "actor_kind"]
        assert len(table) == 1 + 3 + 1  # header, three rows, the next_cursor line

    async def test_audit_of_a_deleted_guild_stays(self, dry_cli: Cli) -> None:
        """The operator still reads the trail of a guild deleted since; a limit outside
        1..200 is bad input (exit 2)."""
        await dry_cli.ok("guild", "add", GUILD, "--name", "Speedrunners")
        await dry_cli.ok("guild", "delete", GUILD)
        trail = await dry_cli.json("audit", GUILD)
        assert [e["action"] for e in trail["items"]] == ["guild.delete", "guild.save"]
        code, _, err = await dry_cli("audit", GUILD, "--limit", "0")
        assert code == 2
        assert "limit" in err

"""The inactive-guilds report: guilds with no announcement delivered for N days are listed (by
`guilds-inactive`) and counted, never deleted."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from streammaxing.admin.cli import add_admin_commands, run_admin_command
from streammaxing.manage import reports
from streammaxing.manage.actor import DiscordUser, Operator, Surface
from streammaxing.manage.errors import Forbidden
from streammaxing.manage.services import ManageServices
from streammaxing.schema.inactive_guilds import count_inactive_guilds, inactive_guilds

Pool = AsyncConnectionPool[psycopg.AsyncConnection[Any]]
NOW = datetime.now(UTC)


async def add_guild(pool: Pool, guild_id: str, *, age_days: int, last: int | None = None) -> None:
    """A guild added `age_days` ago whose remembered last delivery was `last` days ago."""
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO guilds (guild_id, name, created_at, last_delivery_at)"
            " VALUES (%s, %s, %s, %s)",
            (
                guild_id,
                f"Guild {guild_id}",
                NOW - timedelta(days=age_days),
                None if last is None else NOW - timedelta(days=last),
            ),
        )


async def log_delivery(pool: Pool, guild_id: str, *, days_ago: int, status: str = "sent") -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO notification_log (guild_id, event_id, status, sent_at)"
            " VALUES (%s, %s, %s, %s)",
            (guild_id, f"e-{guild_id}-{days_ago}-{status}", status, NOW - timedelta(days=days_ago)),
        )


@pytest.fixture
async def guilds(pool: Pool) -> Pool:
    """Six guilds: two inactive for 90 days, four not."""
    await add_guild(pool, "1", age_days=400)  # never delivered to: inactive
    await add_guild(pool, "2", age_days=400, last=120)  # last delivery remembered 120 days ago
    await add_guild(pool, "3", age_days=400, last=120)
    await log_delivery(pool, "3", days_ago=5)  # …but one in the log 5 days ago: active
    await add_guild(pool, "4", age_days=10)  # added recently: not inactive yet
    await add_guild(pool, "5", age_days=400, last=30)  # remembered 30 days ago: active
    await add_guild(pool, "6", age_days=400)
    await log_delivery(pool, "6", days_ago=3, status="resumed")  # a resumed announcement: active
    await log_delivery(pool, "1", days_ago=1, status="failed")  # a failure is no delivery
    return pool


class TestInactiveGuildsQuery:
    async def test_lists_guilds_without_a_delivery_in_the_window(self, guilds: Pool) -> None:
        """Never-delivered and long-idle guilds are listed, never-delivered first; a delivery
        remembered or still in the log, or a guild added within the window, keeps a guild off
        the list; a failed delivery does not count."""
        async with guilds.connection() as conn:
            rows = await inactive_guilds(conn, 90)
        assert [row.guild_id for row in rows] == ["1", "2"]
        assert rows[0].last_delivery_at is None
        assert rows[1].last_delivery_at is not None
        assert abs(rows[1].last_delivery_at - (NOW - timedelta(days=120))) < timedelta(seconds=1)
        assert rows[1].name == "Guild 2"

    async def test_the_last_delivery_is_the_later_of_remembered_and_logged(
        self, guilds: Pool
    ) -> None:
        """With a 4-day window, guild 3's last delivery is its log row (5 days ago), not the
        one remembered 120 days ago."""
        async with guilds.connection() as conn:
            rows = {row.guild_id: row for row in await inactive_guilds(conn, 4)}
        last = rows["3"].last_delivery_at
        assert last is not None
        assert abs(last - (NOW - timedelta(days=5))) < timedelta(seconds=1)
        assert "6" not in rows

    async def test_the_count_matches_the_list(self, guilds: Pool) -> None:
        """`count_inactive_guilds` counts what `inactive_guilds` lists."""
        async with guilds.connection() as conn:
            assert await count_inactive_guilds(conn, 90) == 2
            assert await count_inactive_guilds(conn, 4) == len(await inactive_guilds(conn, 4))

    async def test_nothing_is_deleted(self, guilds: Pool) -> None:
        """Reporting leaves every guild in place."""
        async with guilds.connection() as conn:
            await inactive_guilds(conn, 1)
            cur = await conn.execute("SELECT count(*) FROM guilds")
            assert await cur.fetchone() == (6,)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="streammaxing")
    add_admin_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


class TestGuildsInactiveVerb:
    @pytest.fixture
    def services(self, guilds: Pool) -> ManageServices:
        return ManageServices(
            pool=guilds, app=procrastinate.App(connector=procrastinate.PsycopgConnector())
        )

    async def test_prints_a_table(
        self, services: ManageServices, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`guilds-inactive` prints a count, then one line per guild with id, name and last
        delivery ('-' for never)."""
        assert await run_admin_command(parse("guilds-inactive"), services) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "2 guild(s) with no announcement delivered in 90 days"
        assert lines[1].split() == ["guild_id", "name", "last_delivery_at", "created_at"]
        assert lines[2].split()[:4] == ["1", "Guild", "1", "-"]
        assert lines[3].startswith("2  ")
        assert lines[-1] == "days: 90"

    async def test_json_with_days(
        self, services: ManageServices, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`--days N --json` prints the window and the guilds as JSON, never-delivered first
        (here guild 4, added 10 days ago, is inactive too), then the longest idle."""
        code = await run_admin_command(parse("guilds-inactive", "--days", "4", "--json"), services)
        assert code == 0
        result = json.loads(capsys.readouterr().out)
        assert result["days"] == 4
        assert [item["guild_id"] for item in result["items"]] == ["1", "4", "2", "5", "3"]
        assert set(result["items"][0]) == {"guild_id", "name", "last_delivery_at", "created_at"}

    async def test_a_window_below_one_day_is_bad_input(
        self, services: ManageServices, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`--days 0` is refused with exit code 2."""
        assert await run_admin_command(parse("guilds-inactive", "--days", "0"), services) == 2
        assert "days" in capsys.readouterr().err


class TestWhoMayAsk:
    async def test_only_the_operator_may_list_inactive_guilds(self, guilds: Pool) -> None:
        """The report spans every guild: a Discord user, even one managing a guild, is refused."""
        services = ManageServices(
            pool=guilds, app=procrastinate.App(connector=procrastinate.PsycopgConnector())
        )
        manager = DiscordUser(user_id="42", surface=Surface.DASHBOARD, guilds={"g1": True})
        with pytest.raises(Forbidden):
            await reports.inactive_guilds(services, manager, reports.InactiveGuildsQuery())
        result = await reports.inactive_guilds(
            services, Operator(Surface.API), reports.InactiveGuildsQuery()
        )
        assert result.days == 90

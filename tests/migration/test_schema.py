"""The migrations against the seed schema document, and the runner's guarantees."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from streammaxing.schema.migrate import (
    STATEMENT_NOTIFY_TRIGGER,
    load_migrations,
    migrate,
    rollback,
)
from tests.support import conninfo_to_url

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed" / "000_32b6f1cf5ac083f8.txt"
SEED_TABLES = (
    "users",
    "guilds",
    "guild_config",
    "streamers",
    "guild_streamers",
    "user_preferences",
    "eventsub_subscriptions",
    "notification_log",
)

Catalog = dict[str, Any]

#: procrastinate's per-row triggers that `migrate` turns off.
PROCRASTINATE_TRIGGERS_OFF = (
    "procrastinate_trigger_status_events_insert_v1",
    "procrastinate_jobs_notify_queue_job_inserted_v1",
)


def alter_trigger(conninfo: str, statement: str, trigger: str) -> None:
    """Run `statement` with `{}` standing for the trigger's quoted name."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(trigger)))


def trigger_states(conninfo: str) -> dict[str, str]:
    """`tgenabled` of the triggers `migrate` tunes: 'D' disabled, 'O' enabled."""
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgname = ANY(%s)",
            ([*PROCRASTINATE_TRIGGERS_OFF, STATEMENT_NOTIFY_TRIGGER],),
        ).fetchall()
    return dict(rows)


def seed_sql() -> str:
    """The seed document's CREATE TABLE / CREATE INDEX blocks, in document order."""
    text = SEED.read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    return "\n".join(b for b in blocks if b.lstrip().startswith(("CREATE TABLE", "CREATE INDEX")))


def snapshot(conninfo: str) -> Catalog:
    """Columns, constraints and indexes of the seed tables, as the catalog reports them."""
    with psycopg.connect(conninfo) as conn:
        columns = conn.execute(
            """
            SELECT table_name, column_name, data_type, is_nullable, column_default
            FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name = ANY(%s)
            ORDER BY table_name, ordinal_position
            """,
            (list(SEED_TABLES),),
        ).fetchall()
        constraints = conn.execute(
            """
            SELECT c.conrelid::regclass::text, c.contype, pg_get_constraintdef(c.oid)
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = 'public' AND c.conrelid::regclass::text = ANY(%s)
            ORDER BY 1, 2, 3
            """,
            (list(SEED_TABLES),),
        ).fetchall()
        indexes = conn.execute(
            """
            SELECT tablename, indexname, indexdef FROM pg_indexes
            WHERE schemaname = 'public' AND tablename = ANY(%s)
            ORDER BY 1, 2
            """,
            (list(SEED_TABLES),),
        ).fetchall()
    return {
        "columns": {(t, c): (ty, n, d) for t, c, ty, n, d in columns},
        "constraints": set(constraints),
        "indexes": {(t, name): d for t, name, d in indexes},
    }


def tables(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {r[0] for r in rows}


class TestInitialSchema:
    @pytest.mark.skipif(not SEED.exists(), reason="shared/seed is not beside this checkout")
    async def test_001_is_the_seed_exactly(
        self, empty_database_url: str, database_url: str
    ) -> None:
        """Migration 001 alone produces the same catalog as the seed document's own SQL."""
        with psycopg.connect(empty_database_url, autocommit=True) as conn:
            conn.execute(seed_sql().encode())
        expected = snapshot(empty_database_url)

        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        await migrate(database_url, target=1, with_procrastinate=False)
        assert snapshot(database_url) == expected
        assert len(expected["columns"]) == 46  # 5+5+6+9+5+6+5+5 columns in the seed

    @pytest.mark.skipif(not SEED.exists(), reason="shared/seed is not beside this checkout")
    def test_later_migrations_drop_nothing_of_the_seed(
        self, empty_database_url: str, database_url: str
    ) -> None:
        """After all migrations, every seed column, constraint and index is still as written."""
        with psycopg.connect(empty_database_url, autocommit=True) as conn:
            conn.execute(seed_sql().encode())
        seed = snapshot(empty_database_url)
        current = snapshot(database_url)
        for key, value in seed["columns"].items():
            assert current["columns"][key] == value, key
        assert seed["constraints"] <= current["constraints"]
        for key, value in seed["indexes"].items():
            assert current["indexes"][key] == value, key

    def test_foreign_keys_cascade_as_the_seed_says(self, database_url: str) -> None:
        """Every seed FK cascades on delete except guild_streamers.added_by (as written)."""
        constraints = snapshot(database_url)["constraints"]
        fks = {(t, d) for t, kind, d in constraints if kind == "f"}
        cascading = {(t, d) for t, d in fks if d.endswith("ON DELETE CASCADE")}
        assert fks - cascading == {
            ("guild_streamers", "FOREIGN KEY (added_by) REFERENCES users(user_id)")
        }
        assert ("notification_log", "UNIQUE (guild_id, event_id)") in {
            (t, d) for t, kind, d in constraints if kind == "u"
        }

    def test_spec_additions_exist(self, database_url: str) -> None:
        """SPEC §4's additions are created by the later migrations."""
        columns = snapshot(database_url)["columns"]
        assert columns[("guild_config", "dm_enabled")] == ("boolean", "NO", "true")
        assert ("notification_log", "channel_id") in columns
        assert ("notification_log", "message_id") in columns
        assert ("users", "dm_channel_id") in columns
        assert {"dm_subscribers", "dm_log", "eventsub_messages"} <= tables(database_url)


class TestRunner:
    async def test_up_down_up(self, empty_database_url: str) -> None:
        """Every migration reverts cleanly and applies again."""
        versions = [m.version for m in load_migrations()]
        assert await migrate(empty_database_url) == versions
        assert await rollback(empty_database_url, to_version=0) == list(reversed(versions))
        assert not (set(SEED_TABLES) & tables(empty_database_url))
        assert await migrate(empty_database_url) == versions

    async def test_second_run_is_a_no_op(self, database_url: str) -> None:
        """Migrating an up-to-date database applies nothing and changes nothing."""
        before = snapshot(database_url)
        assert await migrate(database_url) == []
        assert snapshot(database_url) == before

    def test_concurrent_migrate_processes(self, empty_database_url: str) -> None:
        """Two `streammaxing migrate` started together both exit 0; each migration runs once."""
        env = {
            **os.environ,
            "DATABASE_URL": conninfo_to_url(empty_database_url),
            "LOG_FORMAT": "json",
        }
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "streammaxing", "migrate"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        with psycopg.connect(empty_database_url) as conn:
            rows = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
            jobs_table = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        assert [r[0] for r in rows] == [m.version for m in load_migrations()]
        assert jobs_table == ("procrastinate_jobs",)


class TestProcrastinateTuning:
    def test_a_deferred_job_writes_no_event_and_status_changes_still_do(
        self, database_url: str
    ) -> None:
        """The per-job 'deferred' event is off; the events procrastinate reads are still written
        (stalled jobs read 'started', `delete_old_jobs` the newest event of a finished job)."""
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('events', 'stream_online', 0,"
                " NULL, NULL, '{}'::jsonb, NULL)::procrastinate_job_to_defer_v1])"
            ).fetchone()
            assert row is not None
            job_id = row[0][0]
            for status in ("doing", "succeeded"):
                conn.execute(
                    "UPDATE procrastinate_jobs SET status = %s WHERE id = %s", (status, job_id)
                )
            events = conn.execute(
                "SELECT type::text FROM procrastinate_events WHERE job_id = %s ORDER BY id",
                (job_id,),
            ).fetchall()
        assert [e[0] for e in events] == ["started", "succeeded"]

    def test_one_insert_notifies_each_of_its_queues_once(self, database_url: str) -> None:
        """Three jobs in two queues, one statement: one 'job_inserted' on each queue's channel
        and one on the any-queue channel (Postgres folds identical notifications of a
        transaction into one), the channels procrastinate's workers listen on."""
        with (
            psycopg.connect(database_url, autocommit=True) as listener,
            psycopg.connect(database_url, autocommit=True) as conn,
        ):
            for channel in (
                "procrastinate_queue_v1#events",
                "procrastinate_queue_v1#notify",
                "procrastinate_any_queue_v1",
            ):
                listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            conn.execute(
                "SELECT procrastinate_defer_jobs_v1(ARRAY["
                "ROW('events', 'stream_online', 0, NULL, NULL, '{}'::jsonb, NULL),"
                "ROW('events', 'stream_offline', 0, NULL, NULL, '{}'::jsonb, NULL),"
                "ROW('notify', 'send_dm', 0, NULL, NULL, '{}'::jsonb, NULL)"
                "]::procrastinate_job_to_defer_v1[])"
            )
            received = sorted(
                (n.channel, json.loads(n.payload)) for n in listener.notifies(timeout=1.0)
            )
        assert [channel for channel, _ in received] == [
            "procrastinate_any_queue_v1",
            "procrastinate_queue_v1#events",
            "procrastinate_queue_v1#notify",
        ]
        assert all(payload == {"type": "job_inserted"} for _, payload in received)

    def test_a_rolled_back_insert_notifies_nobody(self, database_url: str) -> None:
        with (
            psycopg.connect(database_url, autocommit=True) as listener,
            psycopg.connect(database_url) as conn,
        ):
            listener.execute("LISTEN procrastinate_any_queue_v1")
            conn.execute(
                "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('events', 'stream_online', 0,"
                " NULL, NULL, '{}'::jsonb, NULL)::procrastinate_job_to_defer_v1])"
            )
            conn.rollback()
            assert list(listener.notifies(timeout=0.5)) == []

    @pytest.mark.parametrize("trigger", PROCRASTINATE_TRIGGERS_OFF)
    async def test_a_procrastinate_schema_without_the_trigger_stops_migrate(
        self, database_url: str, trigger: str
    ) -> None:
        """An upgrade that renames a trigger must be reviewed, not silently ignored."""
        alter_trigger(database_url, "DROP TRIGGER {} ON procrastinate_jobs", trigger)
        with pytest.raises(RuntimeError, match=trigger):
            await migrate(database_url)

    @pytest.mark.parametrize("trigger", PROCRASTINATE_TRIGGERS_OFF)
    async def test_a_re_enabled_trigger_is_disabled_again(
        self, database_url: str, trigger: str
    ) -> None:
        alter_trigger(database_url, "ALTER TABLE procrastinate_jobs ENABLE TRIGGER {}", trigger)
        await migrate(database_url)
        assert trigger_states(database_url)[trigger] == "D"

    async def test_a_dropped_statement_notification_is_added_again_once(
        self, database_url: str
    ) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP TRIGGER {STATEMENT_NOTIFY_TRIGGER} ON procrastinate_jobs")
        await migrate(database_url)
        await migrate(database_url)
        assert trigger_states(database_url) == {
            **dict.fromkeys(PROCRASTINATE_TRIGGERS_OFF, "D"),
            STATEMENT_NOTIFY_TRIGGER: "O",
        }

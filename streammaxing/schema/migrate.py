"""The migration runner: numbered `.sql` files in `migrations/`, applied in order.

Each migration runs in its own transaction and records its version in `schema_migrations`.
Every one of those transactions first takes a transaction-scoped advisory lock and then reads
which versions are applied, so concurrent `migrate` runs are safe, through a transaction-mode
pooler too: the second waits for the first's transaction, then finds that version done.
procrastinate's schema (pinned version) is applied the same way, and then tuned (see
`_tune_procrastinate`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg
import structlog

from streammaxing.schema.locks import wait_transaction_lock

log = structlog.get_logger(__name__)

# An arbitrary constant shared by every StreamMaxing process: "streammaxing migrate" lock.
MIGRATION_LOCK_KEY = 0x5354524D4D4947  # ASCII "STRMMIG"

_FILE_RE = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up_sql: str
    down_sql: str | None


def load_migrations() -> list[Migration]:
    """Every migration shipped in the package, ordered by version."""
    folder = resources.files("streammaxing.schema").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_RE.match(entry.name)
        if not match:
            continue
        down = folder.joinpath(entry.name.removesuffix(".sql") + ".down.sql")
        found.append(
            Migration(
                version=int(match["version"]),
                name=match["name"],
                up_sql=entry.read_text(encoding="utf-8"),
                down_sql=down.read_text(encoding="utf-8") if down.is_file() else None,
            )
        )
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return found


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


async def _applied_versions(conn: psycopg.AsyncConnection[object]) -> set[int]:
    async with conn.cursor() as cur:
        await cur.execute("SELECT version FROM schema_migrations")
        return {int(row[0]) for row in await cur.fetchall()}  # type: ignore[index]


async def _procrastinate_installed(conn: psycopg.AsyncConnection[object]) -> bool:
    async with conn.cursor() as cur:
        await cur.execute("SELECT to_regclass('public.procrastinate_jobs') IS NOT NULL")
        row = await cur.fetchone()
        return bool(row and row[0])  # type: ignore[index]


def _procrastinate_schema() -> str:
    from procrastinate.schema import SchemaManager

    return str(SchemaManager.get_schema())


# procrastinate's per-row triggers on `procrastinate_jobs` that `migrate` replaces or turns off.
# procrastinate is pinned: if an upgrade renames or drops one of them, `migrate` stops with an
# error instead of silently keeping it.
#
# - The 'deferred' event: a `procrastinate_events` row for every job inserted. Nothing reads it:
#   procrastinate's stalled-job query reads the 'started' events, its `delete_old_jobs` the
#   newest event of a finished job (every status change still writes one), and this project
#   reads neither. The row is a quarter of what a job's insert costs Postgres (the ingest's accept
#   statement: ~10 of ~40 µs per job, measured with the trigger on and off), and its delete
#   cascades again when the job finishes. Disabled.
# - The new-job notification: two `pg_notify` calls per job (the queue's channel and the
#   any-queue channel), each with the job's id. A worker only reads the payload's type: any
#   'job_inserted' wakes it, and it then fetches jobs until none is left. So one notification
#   per queue and statement does the same work, and the ingest's batch of 30 jobs queues 2
#   notifications instead of 60 (EXPLAIN ANALYZE of a 2,000-job insert: the row trigger takes
#   4-8 µs per job, the statement trigger below 1 µs). Replaced by `_STATEMENT_NOTIFY`.
_DEFERRED_EVENT_TRIGGER = "procrastinate_trigger_status_events_insert_v1"
_ROW_NOTIFY_TRIGGER = "procrastinate_jobs_notify_queue_job_inserted_v1"
_DISABLED_TRIGGERS = (_DEFERRED_EVENT_TRIGGER, _ROW_NOTIFY_TRIGGER)
STATEMENT_NOTIFY_TRIGGER = "streammaxing_notify_jobs_inserted"
_TRIGGER_STATES = """
SELECT tgname, tgenabled FROM pg_trigger
WHERE tgrelid = 'procrastinate_jobs'::regclass AND tgname = ANY(%s) AND NOT tgisinternal
"""
# The payload is procrastinate's, without the job id (workers do not read it for this type).
_STATEMENT_NOTIFY = f"""
CREATE OR REPLACE FUNCTION {STATEMENT_NOTIFY_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text := json_build_object('type', 'job_inserted')::text;
BEGIN
    PERFORM pg_notify('procrastinate_queue_v1#' || queues.queue_name, payload),
            pg_notify('procrastinate_any_queue_v1', payload)
    FROM (SELECT DISTINCT queue_name FROM inserted_jobs WHERE status = 'todo') AS queues;
    RETURN NULL;
END;
$$;
CREATE TRIGGER {STATEMENT_NOTIFY_TRIGGER}
    AFTER INSERT ON procrastinate_jobs REFERENCING NEW TABLE AS inserted_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION {STATEMENT_NOTIFY_TRIGGER}();
"""


async def _tune_procrastinate(conn: psycopg.AsyncConnection[object]) -> None:
    """Turn procrastinate's per-row triggers above off and add the statement-level notification.

    Runs in `migrate`'s transaction, so a worker never sees the row notification gone and the
    statement one missing; a no-op when already done.
    """
    wanted = [*_DISABLED_TRIGGERS, STATEMENT_NOTIFY_TRIGGER]
    async with conn.cursor() as cur:
        await cur.execute(_TRIGGER_STATES, (wanted,))
        rows: list[tuple[str, str]] = await cur.fetchall()  # type: ignore[assignment]
    states = dict(rows)
    missing = [name for name in _DISABLED_TRIGGERS if name not in states]
    if missing:
        raise RuntimeError(
            f"procrastinate's trigger {', '.join(missing)} is missing: its schema changed,"
            " review what migrate tunes"
        )
    if STATEMENT_NOTIFY_TRIGGER not in states:
        await conn.execute(_STATEMENT_NOTIFY.encode())
        log.info("procrastinate_tuned", added_trigger=STATEMENT_NOTIFY_TRIGGER)
    for name in _DISABLED_TRIGGERS:
        if states[name] != "D":
            await conn.execute(f"ALTER TABLE procrastinate_jobs DISABLE TRIGGER {name}")
            log.info("procrastinate_tuned", disabled_trigger=name)


async def _locked(conn: psycopg.AsyncConnection[object]) -> set[int]:
    """Take the migration lock in the open transaction; return the versions applied so far."""
    await wait_transaction_lock(conn, MIGRATION_LOCK_KEY)
    await conn.execute(_CREATE_TABLE)
    return await _applied_versions(conn)


async def migrate(
    conninfo: str, *, target: int | None = None, with_procrastinate: bool = True
) -> list[int]:
    """Apply pending migrations up to `target` (default: all) and procrastinate's schema.

    Returns the versions applied by this call (empty when the database was up to date).
    """
    applied_now: list[int] = []
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, prepare_threshold=None
    ) as conn:
        for migration in load_migrations():
            if target is not None and migration.version > target:
                continue
            async with conn.transaction():
                if migration.version in await _locked(conn):
                    continue
                await conn.execute(migration.up_sql.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
            applied_now.append(migration.version)
            log.info("migration_applied", version=migration.version, name=migration.name)
        if with_procrastinate:
            async with conn.transaction():
                await wait_transaction_lock(conn, MIGRATION_LOCK_KEY)
                installed = await _procrastinate_installed(conn)
                if not installed:
                    await conn.execute(_procrastinate_schema().encode())
                await _tune_procrastinate(conn)
            if not installed:
                log.info("procrastinate_schema_applied")
    return applied_now


async def rollback(conninfo: str, *, to_version: int) -> list[int]:
    """Revert applied migrations newer than `to_version` with their `.down.sql`; newest first."""
    reverted: list[int] = []
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, prepare_threshold=None
    ) as conn:
        for migration in reversed(load_migrations()):
            if migration.version <= to_version:
                continue
            async with conn.transaction():
                if migration.version not in await _locked(conn):
                    continue
                if migration.down_sql is None:
                    raise RuntimeError(f"migration {migration.version} has no .down.sql")
                await conn.execute(migration.down_sql.encode())
                await conn.execute(
                    "DELETE FROM schema_migrations WHERE version = %s", (migration.version,)
                )
            reverted.append(migration.version)
            log.info("migration_reverted", version=migration.version, name=migration.name)
    return reverted

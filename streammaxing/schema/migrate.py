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


# procrastinate writes a `procrastinate_events` row of type 'deferred' for every job it inserts,
# from a per-row trigger. Nothing reads that row: procrastinate's stalled-job query reads the
# 'started' events, its `delete_old_jobs` the newest event of a finished job (every status change
# still writes one), and this project reads neither. The row is a quarter of what a job's insert
# costs Postgres (the ingest's accept statement: ~10 of ~40 µs per job, measured with the
# trigger on and off), and its delete cascades again when the job finishes. So the trigger is
# disabled. procrastinate is pinned: if an upgrade renames or drops the trigger, `migrate` stops
# with an error instead of silently keeping it.
_DEFERRED_EVENT_TRIGGER = "procrastinate_trigger_status_events_insert_v1"
_TRIGGER_STATE = """
SELECT tgenabled FROM pg_trigger
WHERE tgrelid = 'procrastinate_jobs'::regclass AND tgname = %s AND NOT tgisinternal
"""


async def _tune_procrastinate(conn: psycopg.AsyncConnection[object]) -> None:
    """Disable procrastinate's 'deferred' event trigger, once (a no-op when already done)."""
    async with conn.cursor() as cur:
        await cur.execute(_TRIGGER_STATE, (_DEFERRED_EVENT_TRIGGER,))
        row = await cur.fetchone()
    if row is None:
        raise RuntimeError(
            f"procrastinate's trigger {_DEFERRED_EVENT_TRIGGER} is missing: its schema changed,"
            " review what migrate tunes"
        )
    if row[0] != "D":  # type: ignore[index]
        await conn.execute(
            f"ALTER TABLE procrastinate_jobs DISABLE TRIGGER {_DEFERRED_EVENT_TRIGGER}"
        )
        log.info("procrastinate_tuned", disabled_trigger=_DEFERRED_EVENT_TRIGGER)


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

"""Shared fixtures: a real PostgreSQL; per test, a fresh database cloned from a migrated template.

The server is `TEST_DATABASE_URL` when set, else the embedded PostgreSQL (its own data directory,
reused across runs), so `uv run pytest` passes on a machine with no PostgreSQL installed.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg_pool import AsyncConnectionPool

from streammaxing.db import create_pool
from streammaxing.embedded_pg import data_root, start_embedded
from streammaxing.schema.migrate import migrate

TEST_RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A libpq URL of a server where tests may create and drop databases."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    embedded = start_embedded(Path(data_root()) / "pgdata-test")
    try:
        yield embedded.url
    finally:
        embedded.stop()


def database_conninfo(server_url: str, dbname: str) -> str:
    return make_conninfo(server_url, dbname=dbname)


def _admin(server_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(server_url, autocommit=True)


@pytest.fixture(scope="session")
def template_database(pg_server_url: str) -> Iterator[str]:
    """A database with every migration applied, used as the template of each test's database."""
    name = f"sm_template_{TEST_RUN_ID}"
    with _admin(pg_server_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    asyncio.run(migrate(database_conninfo(pg_server_url, name)))
    try:
        yield name
    finally:
        with _admin(pg_server_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_server_url: str, template_database: str) -> Iterator[str]:
    """A fresh, fully migrated database for this test alone."""
    name = f"sm_test_{TEST_RUN_ID}_{uuid.uuid4().hex[:8]}"
    with _admin(pg_server_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    try:
        yield database_conninfo(pg_server_url, name)
    finally:
        with _admin(pg_server_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database with nothing in it (for migration tests)."""
    name = f"sm_empty_{TEST_RUN_ID}_{uuid.uuid4().hex[:8]}"
    with _admin(pg_server_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_conninfo(pg_server_url, name)
    finally:
        with _admin(pg_server_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def pool(
    database_url: str,
) -> AsyncIterator[AsyncConnectionPool[psycopg.AsyncConnection[Any]]]:
    """An open autocommit pool on this test's database."""
    pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
        database_url, min_size=1, max_size=8, open=False, kwargs={"autocommit": True}
    )
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def timed_pool(
    database_url: str,
) -> AsyncIterator[AsyncConnectionPool[psycopg.AsyncConnection[Any]]]:
    """A pool as the services build it (`create_pool`: statements over 100 ms are reported as
    `slow_query`), named "timed", opened with one connection, at most two."""
    pool = create_pool(database_url, min_size=1, max_size=2, name="timed", slow_query_ms=100)
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()

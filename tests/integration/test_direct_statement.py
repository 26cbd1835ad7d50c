"""`DirectStatement`: a statement sent with libpq's calls on a psycopg connection answers like
`cursor.execute` — same rows, same exception classes, prepared once per connection (never on a
pooler's connections), slow statements reported, and a cancelled one never reused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from psycopg import AsyncConnection
from psycopg.errors import DivisionByZero, InvalidSqlStatementName, UndefinedTable
from psycopg_pool import AsyncConnectionPool
from structlog.testing import capture_logs

from streammaxing.db import create_pool
from streammaxing.schema.direct import DirectStatement

Pool = AsyncConnectionPool[AsyncConnection[Any]]

SERIES = DirectStatement(
    "test_series", "SELECT CASE WHEN n %% 2 = 0 THEN n::text END FROM generate_series(1, %s) n"
)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = create_pool(database_url, min_size=1, max_size=1, name="direct", slow_query_ms=100)
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


async def prepared_names(conn: AsyncConnection[Any]) -> list[str]:
    cur = await conn.execute("SELECT name FROM pg_prepared_statements ORDER BY name")
    return [str(row[0]) for row in await cur.fetchall()]


class TestDirectStatement:
    @pytest.mark.parametrize("sql", ["SELECT %(name)s", "SELECT 5 % 2", "SELECT 1 %"])
    def test_only_percent_s_placeholders_are_accepted(self, sql: str) -> None:
        with pytest.raises(ValueError, match="placeholders"):
            DirectStatement("bad", sql)

    async def test_the_first_column_comes_back_as_text_with_nulls(self, pool: Pool) -> None:
        async with pool.connection() as conn:
            assert await SERIES.first_column(conn, [b"5"]) == [None, "2", None, "4", None]
            assert await SERIES.first_column(conn, [b"0"]) == []

    async def test_prepared_once_per_connection(self, pool: Pool) -> None:
        async with pool.connection() as conn:
            for count in (b"1", b"2", b"3"):
                await SERIES.first_column(conn, [count])
            assert await prepared_names(conn) == ["test_series"]

    async def test_nothing_is_prepared_on_a_poolers_connection(self, database_url: str) -> None:
        """`prepare_threshold` None (`create_pool(pooled=True)`): sent unprepared each time."""
        async with await AsyncConnection.connect(
            database_url, autocommit=True, prepare_threshold=None
        ) as conn:
            assert await SERIES.first_column(conn, [b"2"]) == [None, "2"]
            assert await SERIES.first_column(conn, [b"2"]) == [None, "2"]
            assert await prepared_names(conn) == []

    async def test_an_error_raises_psycopgs_class_and_the_connection_stays_usable(
        self, pool: Pool
    ) -> None:
        divide = DirectStatement("test_divide", "SELECT (1 / %s::int)::text")
        async with pool.connection() as conn:
            with pytest.raises(DivisionByZero, match="division by zero"):
                await divide.first_column(conn, [b"0"])
            assert await divide.first_column(conn, [b"1"]) == ["1"]
            cur = await conn.execute("SELECT 1")
            assert await cur.fetchone() == (1,)

    async def test_a_statement_that_cannot_be_prepared_raises_and_is_tried_again(
        self, pool: Pool
    ) -> None:
        late = DirectStatement("test_late", "SELECT label FROM late_table WHERE n = %s::int")
        async with pool.connection() as conn:
            with pytest.raises(UndefinedTable):
                await late.first_column(conn, [b"1"])
            await conn.execute("CREATE TABLE late_table (n int, label text)")
            await conn.execute("INSERT INTO late_table VALUES (1, 'one')")
            assert await late.first_column(conn, [b"1"]) == ["one"]

    async def test_a_deallocated_statement_fails_once_then_is_prepared_again(
        self, pool: Pool
    ) -> None:
        async with pool.connection() as conn:
            await SERIES.first_column(conn, [b"1"])
            await conn.execute("DEALLOCATE test_series")
            with pytest.raises(InvalidSqlStatementName):
                await SERIES.first_column(conn, [b"1"])
            assert await SERIES.first_column(conn, [b"2"]) == [None, "2"]

    async def test_calls_sharing_a_connection_take_turns(self, pool: Pool) -> None:
        async with pool.connection() as conn:
            answers = await asyncio.gather(
                *(SERIES.first_column(conn, [str(n).encode()]) for n in range(2, 12))
            )
        assert [len(answer) for answer in answers] == list(range(2, 12))

    async def test_a_slow_statement_is_reported_after_its_caller(self, pool: Pool) -> None:
        sleepy = DirectStatement("test_sleepy", "SELECT pg_sleep(0.15)::text, %s::text")
        with capture_logs() as logs:
            async with pool.connection() as conn:
                await sleepy.first_column(conn, [b"someone@example.com"])
        [event] = [entry for entry in logs if entry["event"] == "slow_query"]
        assert event["query"] == (
            f"{__name__}.TestDirectStatement.test_a_slow_statement_is_reported_after_its_caller"
        )
        assert event["rows"] == 1
        assert "someone@example.com" not in repr(event)

    async def test_a_cancelled_statement_leaves_no_busy_connection_behind(self, pool: Pool) -> None:
        """Cancelled mid-wait (the ingest's commit deadline): the pool does not hand that
        connection out again, and the next statement runs."""
        sleepy = DirectStatement("test_cancelled", "SELECT pg_sleep(%s::float8)::text")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2), pool.connection() as conn:
                await sleepy.first_column(conn, [b"5"])
        async with pool.connection() as conn:
            assert await SERIES.first_column(conn, [b"2"]) == [None, "2"]

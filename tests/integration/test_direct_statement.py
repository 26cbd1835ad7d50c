"""`DirectStatement`: a statement sent with libpq's calls on a psycopg connection answers like
`cursor.execute` — same rows, same exception classes, prepared once per connection (never on a
pooler's connections), slow statements reported, and one past its deadline cancelled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from psycopg import AsyncConnection
from psycopg.errors import DivisionByZero, InvalidSqlStatementName, UndefinedTable
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool
from structlog.testing import capture_logs

from streammaxing.schema.direct import DirectStatement

Pool = AsyncConnectionPool[AsyncConnection[Any]]

SERIES_SQL = "SELECT CASE WHEN n %% 2 = 0 THEN n::text END FROM generate_series(1, %s) n"
SERIES = DirectStatement("test_series", SERIES_SQL)


async def prepared_names(conn: AsyncConnection[Any]) -> list[str]:
    cur = await conn.execute("SELECT name FROM pg_prepared_statements ORDER BY name")
    return [str(row[0]) for row in await cur.fetchall()]


class TestDirectStatement:
    @pytest.mark.parametrize("sql", ["SELECT %(name)s", "SELECT 5 % 2", "SELECT 1 %"])
    def test_only_percent_s_placeholders_are_accepted(self, sql: str) -> None:
        with pytest.raises(ValueError, match="placeholders"):
            DirectStatement("bad", sql)

    def test_a_name_stands_for_one_statement(self) -> None:
        with pytest.raises(ValueError, match="test_series"):
            DirectStatement("test_series", "SELECT %s")

    async def test_the_first_column_comes_back_as_text_with_nulls(self, timed_pool: Pool) -> None:
        async with timed_pool.connection() as conn:
            assert await SERIES.first_column(conn, [b"5"]) == [None, "2", None, "4", None]
            assert await SERIES.first_column(conn, [b"0"]) == []

    async def test_prepared_once_per_connection(self, timed_pool: Pool) -> None:
        async with timed_pool.connection() as conn:
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
        self, timed_pool: Pool
    ) -> None:
        divide = DirectStatement("test_divide", "SELECT (1 / %s::int)::text")
        async with timed_pool.connection() as conn:
            with pytest.raises(DivisionByZero, match="division by zero"):
                await divide.first_column(conn, [b"0"])
            assert await divide.first_column(conn, [b"1"]) == ["1"]
            cur = await conn.execute("SELECT 1")
            assert await cur.fetchone() == (1,)

    async def test_a_statement_that_cannot_be_prepared_raises_and_is_tried_again(
        self, timed_pool: Pool
    ) -> None:
        late = DirectStatement("test_late", "SELECT label FROM late_table WHERE n = %s::int")
        async with timed_pool.connection() as conn:
            with pytest.raises(UndefinedTable):
                await late.first_column(conn, [b"1"])
            await conn.execute("CREATE TABLE late_table (n int, label text)")
            await conn.execute("INSERT INTO late_table VALUES (1, 'one')")
            assert await late.first_column(conn, [b"1"]) == ["one"]

    async def test_a_deallocated_statement_fails_once_then_is_prepared_again(
        self, timed_pool: Pool
    ) -> None:
        async with timed_pool.connection() as conn:
            await SERIES.first_column(conn, [b"1"])
            await conn.execute("DEALLOCATE test_series")
            with pytest.raises(InvalidSqlStatementName):
                await SERIES.first_column(conn, [b"1"])
            assert await SERIES.first_column(conn, [b"2"]) == [None, "2"]

    async def test_a_statement_prepared_elsewhere_under_its_name_is_used(
        self, timed_pool: Pool
    ) -> None:
        """The session already holds the name (a `DirectStatement` of the same statement that
        was not kept, say): preparing it again is not an error."""
        async with timed_pool.connection() as conn:
            await DirectStatement("test_series", SERIES_SQL).first_column(conn, [b"1"])
            assert await SERIES.first_column(conn, [b"2"]) == [None, "2"]

    async def test_calls_sharing_a_connection_take_turns(self, timed_pool: Pool) -> None:
        async with timed_pool.connection() as conn:
            answers = await asyncio.gather(
                *(SERIES.first_column(conn, [str(n).encode()]) for n in range(2, 12))
            )
        assert [len(answer) for answer in answers] == list(range(2, 12))

    async def test_a_slow_statement_is_reported_after_its_caller(self, timed_pool: Pool) -> None:
        sleepy = DirectStatement("test_sleepy", "SELECT pg_sleep(0.15)::text, %s::text")
        with capture_logs() as logs:
            async with timed_pool.connection() as conn:
                await sleepy.first_column(conn, [b"someone@example.com"])
        [event] = [entry for entry in logs if entry["event"] == "slow_query"]
        assert event["query"] == (
            f"{__name__}.TestDirectStatement.test_a_slow_statement_is_reported_after_its_caller"
        )
        assert event["rows"] == 1
        assert "someone@example.com" not in repr(event)

    async def test_a_statement_past_its_deadline_is_cancelled_and_the_connection_reused(
        self, timed_pool: Pool
    ) -> None:
        """Cancelled mid-wait (the ingest's commit deadline): the server stops the statement
        and the connection is idle again, in the same block and from the pool."""
        sleepy = DirectStatement("test_cancelled", "SELECT pg_sleep(%s::float8)::text")
        async with timed_pool.connection() as conn:
            backend = conn.info.backend_pid
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await sleepy.first_column(conn, [b"30"])
            assert time.monotonic() - started < 10
            assert conn.info.transaction_status == TransactionStatus.IDLE
            assert await SERIES.first_column(conn, [b"2"]) == [None, "2"]
        async with timed_pool.connection() as conn:
            assert conn.info.backend_pid == backend
            assert await SERIES.first_column(conn, [b"1"]) == [None]

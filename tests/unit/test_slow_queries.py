"""Slow-query events: one `slow_query` event per statement over the threshold, named after the
code that ran it, with its duration and row count and never its parameters; counted per pool."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from psycopg import AsyncConnection
from psycopg.errors import DivisionByZero
from psycopg_pool import AsyncConnectionPool
from structlog.testing import capture_logs

from streammaxing.metrics import Metrics
from streammaxing.slow_queries import caller_name, slow_queries_of

Pool = AsyncConnectionPool[AsyncConnection[Any]]
PERSONAL = "someone@example.com"


async def run_slow_statement(pool: Pool) -> None:
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_sleep(0.15), %s::text AS email", (PERSONAL,))


def slow_events(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == "slow_query"]


class TestSlowQueryEvent:
    async def test_a_slow_statement_logs_one_event(self, timed_pool: Pool) -> None:
        """A 150 ms statement over a 100 ms threshold logs one `slow_query` naming the
        function that ran it, with its duration in ms, its row count and the pool."""
        with capture_logs() as logs:
            await run_slow_statement(timed_pool)
        [event] = slow_events(logs)
        assert event["query"] == f"{__name__}.run_slow_statement"
        assert 150 <= event["ms"] < 5_000
        assert event["rows"] == 1
        assert event["pool"] == "timed"
        assert event["log_level"] == "warning"

    async def test_parameters_are_never_logged(self, timed_pool: Pool) -> None:
        """The statement's parameter values appear nowhere in the event."""
        with capture_logs() as logs:
            await run_slow_statement(timed_pool)
        [event] = slow_events(logs)
        assert PERSONAL not in repr(event)
        assert set(event) == {"event", "log_level", "query", "ms", "rows", "pool", "threshold_ms"}

    async def test_a_fast_statement_logs_nothing(self, timed_pool: Pool) -> None:
        """Statements under the threshold log nothing and count nothing."""
        with capture_logs() as logs:
            async with timed_pool.connection() as conn:
                cur = await conn.execute("SELECT %s::text", (PERSONAL,))
                assert await cur.fetchone() == (PERSONAL,)
        assert slow_events(logs) == []
        slow = slow_queries_of(timed_pool)
        assert slow is not None
        assert slow.count == 0

    async def test_cursors_and_executemany_are_timed_too(self, timed_pool: Pool) -> None:
        """A cursor's `execute` and an `executemany` whose batch is slow are reported as well."""
        with capture_logs() as logs:
            async with timed_pool.connection() as conn, conn.cursor() as cur:
                await cur.execute("SELECT pg_sleep(0.12) FROM generate_series(1, 1)")
                await cur.executemany("SELECT pg_sleep(%s)", [(0.06,), (0.06,)])
        assert len(slow_events(logs)) == 2

    async def test_a_slow_statement_that_fails_is_reported(self, timed_pool: Pool) -> None:
        """A statement that runs past the threshold and then fails is still a slow query."""
        async with timed_pool.connection() as conn:
            with capture_logs() as logs, pytest.raises(DivisionByZero):
                await conn.execute("SELECT 1 / (pg_sleep(0.12)::text <> '')::int")
        [event] = slow_events(logs)
        assert event["query"].endswith("test_a_slow_statement_that_fails_is_reported")

    async def test_slow_statements_are_counted_per_pool(self, timed_pool: Pool) -> None:
        """`db_slow_queries_total{pool}` counts the slow statements of that pool."""
        metrics = Metrics(pools=[timed_pool])
        with capture_logs():
            await run_slow_statement(timed_pool)
            await run_slow_statement(timed_pool)
        value = metrics.registry.get_sample_value("db_slow_queries_total", {"pool": "timed"})
        assert value == 2

    async def test_a_pool_built_elsewhere_is_not_timed(self, pool: Pool) -> None:
        """A pool not built by `create_pool` has no slow-query counter (and exports 0)."""
        assert slow_queries_of(pool) is None


class TestCallerName:
    def test_the_first_frame_outside_the_database_machinery(self) -> None:
        """The name is `module.qualname` of the nearest frame that is not psycopg's."""
        assert caller_name(sys._getframe()) == (
            f"{__name__}.TestCallerName.test_the_first_frame_outside_the_database_machinery"
        )

    def test_no_frame(self) -> None:
        """Without a frame the name is `unknown`."""
        assert caller_name(None) == "unknown"

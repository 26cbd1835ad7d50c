"""Connection-pool statistics exported at scrape time, per pool, from a real pool."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from streammaxing.db import create_pool
from streammaxing.metrics import Metrics
from streammaxing.pool_metrics import METRIC_NAMES

Pool = AsyncConnectionPool[AsyncConnection[Any]]


@pytest.fixture
async def small_pool(database_url: str) -> AsyncIterator[Pool]:
    pool = create_pool(database_url, min_size=1, max_size=1, name="small")
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


def sample(metrics: Metrics, name: str, pool: str = "small") -> float:
    value = metrics.registry.get_sample_value(name, {"pool": pool})
    assert value is not None, f"{name}{{pool={pool!r}}} is not exported"
    return value


async def until(predicate: Any) -> None:
    """Poll `predicate` until it holds, for at most 5 seconds."""
    deadline = time.monotonic() + 5.0
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.01)


class TestPoolCollector:
    async def test_sizes_are_the_pools_own(self, small_pool: Pool) -> None:
        """The configured bounds and the connections open are exported as gauges."""
        metrics = Metrics(pools=[small_pool])
        assert sample(metrics, "db_pool_min_size") == 1
        assert sample(metrics, "db_pool_max_size") == 1
        assert sample(metrics, "db_pool_size") == 1
        assert sample(metrics, "db_pool_available") == 1

    async def test_in_use_rises_while_a_connection_is_held(self, small_pool: Pool) -> None:
        """A connection handed out counts as in use until it is returned; each scrape reads
        the pool afresh."""
        metrics = Metrics(pools=[small_pool])
        assert sample(metrics, "db_pool_in_use") == 0
        async with small_pool.connection():
            assert sample(metrics, "db_pool_in_use") == 1
            assert sample(metrics, "db_pool_available") == 0
        assert sample(metrics, "db_pool_in_use") == 0
        assert sample(metrics, "db_pool_requests_total") == 1
        assert sample(metrics, "db_pool_usage_seconds_total") >= 0

    async def test_waiting_requests_and_timeouts_are_counted(self, small_pool: Pool) -> None:
        """A request for a connection of an exhausted pool is seen waiting, and counted as an
        error when it times out."""
        metrics = Metrics(pools=[small_pool])

        async def ask() -> None:
            async with small_pool.connection(timeout=0.3):
                pass

        async with small_pool.connection():
            waiter = asyncio.create_task(ask())
            await until(lambda: sample(metrics, "db_pool_requests_waiting") == 1)
            with pytest.raises(PoolTimeout):
                await waiter
        assert sample(metrics, "db_pool_requests_waiting") == 0
        assert sample(metrics, "db_pool_requests_queued_total") == 1
        assert sample(metrics, "db_pool_requests_errors_total") == 1
        assert sample(metrics, "db_pool_requests_wait_seconds_total") >= 0.25

    async def test_every_pool_is_labelled_by_its_name(
        self, small_pool: Pool, database_url: str
    ) -> None:
        """Each pool the process serves from has its own series, labelled with its name."""
        other = create_pool(database_url, min_size=2, max_size=3, name="other")
        await other.open(wait=True)
        try:
            metrics = Metrics(pools=[small_pool, other])
            assert sample(metrics, "db_pool_max_size", "small") == 1
            assert sample(metrics, "db_pool_max_size", "other") == 3
            text = metrics.render().decode()
            assert 'db_pool_size{pool="other"} 2.0' in text
        finally:
            await other.close()

    def test_without_pools_the_families_are_declared_without_samples(self) -> None:
        """A process with no pool exports the families (names, help, type) and no series."""
        families = {family.name: family for family in Metrics().registry.collect()}
        assert set(families) >= METRIC_NAMES
        assert all(not families[name].samples for name in METRIC_NAMES)

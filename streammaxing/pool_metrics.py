"""Connection-pool metrics: psycopg_pool's own statistics, read when Prometheus scrapes.

`PoolCollector` is registered on a process's `Metrics` registry; each pool it watches is read
with `pool.get_stats()` at collection time (no background task, no reset: psycopg_pool's
counters only grow, which is what a Prometheus counter is). Every series is labelled with the
pool's name (`ingest`, `worker`, …). The slow statements each pool's connections ran
(`streammaxing.slow_queries`) are counted here too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from streammaxing.slow_queries import slow_queries_of

Pool = AsyncConnectionPool[AsyncConnection[Any]]
Family = GaugeMetricFamily | CounterMetricFamily

#: Gauges: (metric name, help, how to read it from `get_stats()`).
_GAUGES: Final = (
    ("db_pool_min_size", "Connections the pool keeps open at least", "pool_min"),
    ("db_pool_max_size", "Connections the pool may open at most", "pool_max"),
    ("db_pool_size", "Connections open or being opened by the pool", "pool_size"),
    ("db_pool_available", "Connections idle in the pool, ready to be handed out", "pool_available"),
    ("db_pool_requests_waiting", "Requests queued for a connection right now", "requests_waiting"),
)
#: Counters: (metric name without `_total`, help, `get_stats()` key, scale to the unit).
_COUNTERS: Final = (
    ("db_pool_requests", "Connections requested from the pool", "requests_num", 1.0),
    (
        "db_pool_requests_queued",
        "Requests that had to wait because no connection was idle",
        "requests_queued",
        1.0,
    ),
    (
        "db_pool_requests_errors",
        "Requests that got no connection: timed out, or refused with too many waiting",
        "requests_errors",
        1.0,
    ),
    (
        "db_pool_requests_wait_seconds",
        "Time requests spent waiting for a connection",
        "requests_wait_ms",
        0.001,
    ),
    ("db_pool_usage_seconds", "Time connections spent handed out", "usage_ms", 0.001),
    ("db_pool_connections", "Connections the pool opened", "connections_num", 1.0),
    (
        "db_pool_connections_errors",
        "Connection attempts that failed",
        "connections_errors",
        1.0,
    ),
    (
        "db_pool_connections_lost",
        "Connections found broken by the pool's checks",
        "connections_lost",
        1.0,
    ),
    (
        "db_pool_returns_bad",
        "Connections returned in a bad state and discarded",
        "returns_bad",
        1.0,
    ),
)
IN_USE: Final = "db_pool_in_use"
SLOW_QUERIES: Final = "db_slow_queries"

#: Every metric family this collector exports (counters without their `_total` suffix).
METRIC_NAMES: Final = frozenset(
    {IN_USE, SLOW_QUERIES, *(g[0] for g in _GAUGES), *(c[0] for c in _COUNTERS)}
)


class PoolCollector:
    """Exports the statistics of the pools it watches; register it on a `CollectorRegistry`."""

    def __init__(self) -> None:
        self._pools: list[Pool] = []

    def watch(self, pool: Pool) -> None:
        """Export `pool`'s statistics from now on, labelled with `pool.name`."""
        self._pools.append(pool)

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        families = {family.name: family for family in self._families()}
        for pool in self._pools:
            stats = pool.get_stats()
            labels = [pool.name]
            for name, _help, key, *_ in _GAUGES:
                families[name].add_metric(labels, stats.get(key, 0))
            # A connection being opened counts in `pool_size` and is not available either: the
            # figure can run ahead of the connections actually handed out by those few.
            in_use = stats.get("pool_size", 0) - stats.get("pool_available", 0)
            families[IN_USE].add_metric(labels, max(0, in_use))
            for name, _help, key, scale in _COUNTERS:
                families[name].add_metric(labels, stats.get(key, 0) * scale)
            slow = slow_queries_of(pool)
            families[SLOW_QUERIES].add_metric(labels, slow.count if slow is not None else 0)
        return families.values()

    def _families(self) -> Iterator[Family]:
        for name, help_text, *_ in _GAUGES:
            yield GaugeMetricFamily(name, help_text, labels=["pool"])
        yield GaugeMetricFamily(IN_USE, "Connections handed out by the pool", labels=["pool"])
        for name, help_text, *_ in _COUNTERS:
            yield CounterMetricFamily(name, help_text, labels=["pool"])
        yield CounterMetricFamily(
            SLOW_QUERIES,
            "Statements slower than SLOW_QUERY_MS on the pool's connections",
            labels=["pool"],
        )

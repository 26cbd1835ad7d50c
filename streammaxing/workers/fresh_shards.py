"""Telling running delivery jobs that a go-live was fanned out into their shard meanwhile.

A shard's job holds its shard's lock, so a fan-out's fresh job for that shard waits behind it.
While any delivery job of the process runs, one watcher per pool (so per process) looks for such
waiting jobs every POLL_SECONDS, in one query for all shards, and wakes the jobs of their shards
so they read their pending rows again: one query per process instead of one per shard.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
import structlog
from psycopg_pool import AsyncConnectionPool

from streammaxing.queues import Queue, Task
from streammaxing.schema.announce_jobs import fresh_announce_shards

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.5


class FreshShards:
    """Wakes the registered events of shards that a fresh delivery job is waiting for."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._events: dict[int, set[asyncio.Event]] = {}
        self._after = 0
        self._task: asyncio.Task[None] | None = None
        self._querying = False

    @contextlib.asynccontextmanager
    async def watch(self, shard: int, event: asyncio.Event) -> AsyncIterator[None]:
        """Set `event` whenever a fresh job of `shard` is seen, while the block runs."""
        self._events.setdefault(shard, set()).add(event)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll())
        try:
            yield
        finally:
            events = self._events[shard]
            events.discard(event)
            if not events:
                del self._events[shard]
            await self._stop_when_unwatched()

    async def _stop_when_unwatched(self) -> None:
        task = self._task
        if self._events or task is None:
            return
        self._task = None
        if not self._querying:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _poll(self) -> None:
        while self._events and self._task is asyncio.current_task():
            await asyncio.sleep(POLL_SECONDS)
            if not self._events:
                return
            self._querying = True
            try:
                async with self._pool.connection() as conn:
                    self._after, shards = await fresh_announce_shards(
                        conn,
                        after=self._after,
                        queue=Queue.ANNOUNCE.value,
                        task=Task.ANNOUNCE.value,
                    )
            except psycopg.Error as error:
                # The jobs go on without being woken; their follow-ups read the rows later.
                log.warning("fresh_shards_poll_failed", error=str(error))
                continue
            finally:
                self._querying = False
            for shard in shards:
                for event in self._events.get(shard, ()):
                    event.set()


_watchers: WeakKeyDictionary[AsyncConnectionPool[Any], FreshShards] = WeakKeyDictionary()


def fresh_shards(pool: AsyncConnectionPool[Any]) -> FreshShards:
    """The pool's watcher (one per process)."""
    watcher = _watchers.get(pool)
    if watcher is None:
        watcher = _watchers[pool] = FreshShards(pool)
    return watcher

"""Run one coroutine per item with at most `limit` in flight, results in input order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def bounded_map(
    items: Sequence[T], call: Callable[[T], Awaitable[R]], *, limit: int
) -> list[R]:
    """`[await call(item) for item in items]`, `limit` at a time; an error cancels the rest."""
    if not items:
        return []
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with gate:
            return await call(item)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(item)) for item in items]
    return [task.result() for task in tasks]

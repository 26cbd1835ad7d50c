"""MicroBatcher: concurrent callers share one flush, each gets its own result."""

from __future__ import annotations

import asyncio

import pytest

from streammaxing.batching import MicroBatcher


class Recorder:
    """A flush that doubles each item and remembers the batches it was given."""

    def __init__(self, *, delay: float = 0.0, fail: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.delay = delay
        self.fail = fail

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return [item * 2 for item in items]


async def test_callers_of_one_turn_share_one_flush() -> None:
    flush = Recorder()
    batcher = MicroBatcher[int, int](flush)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(10)))
    assert results == [n * 2 for n in range(10)]
    assert flush.batches == [list(range(10))]


async def test_a_lone_caller_is_flushed_at_once() -> None:
    flush = Recorder()
    batcher = MicroBatcher[int, int](flush)
    assert await batcher.submit(7) == 14
    assert await batcher.submit(8) == 16
    assert flush.batches == [[7], [8]]


async def test_items_arriving_during_a_flush_form_the_next_batch() -> None:
    flush = Recorder(delay=0.05)
    batcher = MicroBatcher[int, int](flush)
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0.01)  # the first flush is in flight now
    later = await asyncio.gather(*(batcher.submit(n) for n in (2, 3, 4)))
    assert await first == 2
    assert later == [4, 6, 8]
    assert flush.batches == [[1], [2, 3, 4]]


async def test_max_batch_splits_a_crowd() -> None:
    flush = Recorder()
    batcher = MicroBatcher[int, int](flush, max_batch=4)
    await asyncio.gather(*(batcher.submit(n) for n in range(10)))
    assert flush.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


async def test_a_failed_flush_fails_every_caller_of_its_batch_only() -> None:
    flush = Recorder(fail=RuntimeError("database down"))
    batcher = MicroBatcher[int, int](flush)
    outcomes = await asyncio.gather(*(batcher.submit(n) for n in range(3)), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) and str(o) == "database down" for o in outcomes)
    flush.fail = None
    assert await batcher.submit(5) == 10


async def test_a_flush_answering_the_wrong_count_is_an_error() -> None:
    async def short(items: list[int]) -> list[int]:
        return items[:-1]

    batcher = MicroBatcher[int, int](short)
    with pytest.raises(RuntimeError, match="2 results for 3 items"):
        await asyncio.gather(*(batcher.submit(n) for n in range(3)))


async def test_a_cancelled_callers_result_goes_to_on_orphan() -> None:
    orphans: list[tuple[int, int]] = []
    flush = Recorder(delay=0.05)
    batcher = MicroBatcher[int, int](
        flush, on_orphan=lambda item, result: orphans.append((item, result))
    )
    gone = asyncio.create_task(batcher.submit(1))
    stays = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0.01)
    gone.cancel()
    assert await stays == 4
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert orphans == [(1, 2)]


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher[int, int](Recorder(), max_batch=0)


async def test_linger_gathers_callers_that_arrive_a_little_apart() -> None:
    """Callers 5 ms apart: without linger each gets its own flush; with 100 ms, the first is
    flushed at once and the others share the next flush."""

    async def staggered(batcher: MicroBatcher[int, int]) -> list[int]:
        async def later(n: int) -> int:
            await asyncio.sleep(0.005 * n)
            return await batcher.submit(n)

        return list(await asyncio.gather(*(later(n) for n in range(4))))

    eager, lingering = Recorder(), Recorder()
    assert await staggered(MicroBatcher[int, int](eager)) == [0, 2, 4, 6]
    assert await staggered(MicroBatcher[int, int](lingering, linger=0.1)) == [0, 2, 4, 6]
    assert len(eager.batches) == 4
    assert lingering.batches == [[0], [1, 2, 3]]

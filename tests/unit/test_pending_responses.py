"""PendingResponses: responses ride along with the next slot round trip, or are flushed alone."""

from __future__ import annotations

import asyncio

import pytest

from streammaxing.discord.pending_responses import PendingResponses


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """Each sleep is recorded and lasts until `release()` (the clock moves by its length)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.asked: list[float] = []
        self._go = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self._go.wait()
        self._go.clear()
        self.clock.now += seconds

    def release(self) -> None:
        self._go.set()


class Flushes:
    def __init__(self, *, error: Exception | None = None) -> None:
        self.batches: list[list[str]] = []
        self.error = error

    async def __call__(self, items: list[str]) -> list[str]:
        self.batches.append(items)
        if self.error is not None:
            raise self.error
        return [f"flushed {item}" for item in items]


def make(
    flushes: Flushes, sleeps: Sleeps, clock: Clock, *, round_due: list[bool]
) -> PendingResponses[str, str]:
    return PendingResponses(
        flushes,
        linger=0.5,
        min_gap=0.25,
        round_due=lambda: round_due[0],
        sleep=sleeps,
        clock=clock,
    )


async def settle_loop() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_round_trip_that_is_due_takes_the_responses_and_no_flush_runs() -> None:
    clock = Clock()
    sleeps, flushes = Sleeps(clock), Flushes()
    pending = make(flushes, sleeps, clock, round_due=[True])
    submitted = [asyncio.create_task(pending.submit(item)) for item in ("a", "b")]
    await settle_loop()
    assert sleeps.asked == [0.5]  # the fallback waits the whole linger for the round trip
    taken = pending.take()
    assert [waiting.item for waiting in taken] == ["a", "b"]
    PendingResponses.settle(taken, ["rode a", "rode b"])
    assert await asyncio.gather(*submitted) == ["rode a", "rode b"]
    sleeps.release()
    await settle_loop()
    assert flushes.batches == []


async def test_when_no_round_trip_takes_them_within_the_linger_they_are_flushed_alone() -> None:
    clock = Clock()
    sleeps, flushes = Sleeps(clock), Flushes()
    pending = make(flushes, sleeps, clock, round_due=[True])
    submitted = asyncio.create_task(pending.submit("a"))
    await settle_loop()
    sleeps.release()
    assert await submitted == "flushed a"
    assert flushes.batches == [["a"]]


async def test_with_no_round_trip_due_they_are_flushed_at_once_then_at_most_every_gap() -> None:
    clock = Clock()
    sleeps, flushes = Sleeps(clock), Flushes()
    pending = make(flushes, sleeps, clock, round_due=[False])
    assert await pending.submit("a") == "flushed a"
    assert sleeps.asked == []
    clock.now += 0.1
    later = [asyncio.create_task(pending.submit(item)) for item in ("b", "c")]
    await settle_loop()
    assert sleeps.asked == [pytest.approx(0.15)]  # the rest of the gap since the last flush
    sleeps.release()
    assert await asyncio.gather(*later) == ["flushed b", "flushed c"]
    assert flushes.batches == [["a"], ["b", "c"]]


async def test_a_flush_that_fails_fails_every_response_of_it() -> None:
    clock = Clock()
    sleeps, flushes = Sleeps(clock), Flushes(error=RuntimeError("database gone"))
    pending = make(flushes, sleeps, clock, round_due=[False])
    with pytest.raises(RuntimeError, match="database gone"):
        await pending.submit("a")


async def test_a_round_trip_that_fails_fails_the_responses_it_took() -> None:
    clock = Clock()
    sleeps, flushes = Sleeps(clock), Flushes()
    pending = make(flushes, sleeps, clock, round_due=[True])
    submitted = asyncio.create_task(pending.submit("a"))
    await settle_loop()
    PendingResponses.fail(pending.take(), RuntimeError("round trip failed"))
    with pytest.raises(RuntimeError, match="round trip failed"):
        await submitted
    sleeps.release()
    await settle_loop()
    assert flushes.batches == []

"""SlotQueue: a process's callers waiting for a lane, asked for a few at a time, urgent first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from streammaxing.discord.slot_queue import MIN_NAP_SECONDS, Answer, SlotQueue
from streammaxing.schema.ratelimits import WAITING_FOR_LANE, AcquireOutcome, AcquireRequest

NOW = datetime(2026, 12, 3, tzinfo=UTC)
GRANTED = AcquireOutcome(True, 0.0, 0.0, None, None, None, NOW)


def lane_wait(seconds: float) -> AcquireOutcome:
    return AcquireOutcome(False, None, seconds, WAITING_FOR_LANE, None, None, NOW)


class Flush:
    """Grants everything, except that the first `refusals` rounds are told to wait `wait` s."""

    def __init__(self, *, refusals: int = 0, wait: float = 0.3) -> None:
        self.batches: list[list[str]] = []
        self.refusals = refusals
        self.wait = wait

    async def __call__(self, requests: list[AcquireRequest]) -> list[AcquireOutcome]:
        self.batches.append([r.major for r in requests])
        if len(self.batches) <= self.refusals:
            return [lane_wait(self.wait)] * len(requests)
        return [GRANTED] * len(requests)


def make_queue(flush: Flush, naps: list[float], *, max_ask: int = 2) -> SlotQueue:
    async def sleep(seconds: float) -> None:
        naps.append(seconds)

    return SlotQueue(
        flush,
        give_back=lambda request, outcome: None,
        sleep=sleep,
        clock=asyncio.get_running_loop().time,
        max_ask=max_ask,
    )


async def test_urgent_callers_go_first_and_others_a_few_per_round_trip() -> None:
    flush, naps = Flush(), []
    queue = make_queue(flush, naps)

    async def ask(major: str, urgent: bool = False) -> Answer:
        return await queue.ask("r", major, reach=0.25, deadline=1e9, urgent=urgent)

    outcomes = await asyncio.gather(*(ask(f"n{k}") for k in range(5)), ask("u", urgent=True))
    assert all(o.outcome.granted for o in outcomes)
    assert flush.batches == [["u", "n0", "n1"], ["n2", "n3"], ["n4"]]
    assert naps == []


async def test_a_caller_out_of_reach_waits_in_the_queue_not_in_the_database() -> None:
    """Told to wait 0.3 s for a slot within 0.25 s: the pump sleeps (at least MIN_NAP) and asks
    again for the same callers, in order; the callers themselves never re-ask."""
    flush, naps = Flush(refusals=1), []
    queue = make_queue(flush, naps)
    outcomes = await asyncio.gather(
        *(queue.ask("r", m, reach=0.25, deadline=1e9, urgent=False) for m in ("a", "b"))
    )
    assert all(o.outcome.granted for o in outcomes)
    assert flush.batches == [["a", "b"], ["a", "b"]]
    assert naps == [MIN_NAP_SECONDS]


async def test_a_caller_whose_slot_comes_after_its_deadline_is_answered_at_once() -> None:
    flush, naps = Flush(refusals=1, wait=5.0), []
    queue = make_queue(flush, naps)
    deadline = asyncio.get_running_loop().time() + 1.0
    answer = await queue.ask("r", "a", reach=0.25, deadline=deadline, urgent=False)
    outcome = answer.outcome
    assert not outcome.granted
    assert outcome.wait_seconds == 5.0
    assert flush.batches == [["a"]]

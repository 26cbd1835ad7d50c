"""`patiently`: a job's Helix call waits for the rate-limit bucket instead of failing."""

from __future__ import annotations

import pytest

from streammaxing.jobs.patience import patiently
from streammaxing.twitch.errors import TwitchRateLimited


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class TestPatiently:
    async def test_waits_until_the_reset_then_succeeds(self) -> None:
        """An empty bucket (reset in 60 s) is waited out once; the call then succeeds."""
        clock = Clock()
        attempts: list[float] = []

        async def call() -> str:
            attempts.append(clock.now)
            if len(attempts) == 1:
                raise TwitchRateLimited(clock.now + 60)
            return "ok"

        assert await patiently(call, sleep=clock.sleep, clock=clock) == "ok"
        assert len(attempts) == 2
        assert clock.sleeps == [pytest.approx(60.25)]

    async def test_gives_up_beyond_its_budget(self) -> None:
        """Waiting longer than the budget re-raises, so the job is retried later."""
        clock = Clock()

        async def call() -> str:
            raise TwitchRateLimited(clock.now + 100)

        with pytest.raises(TwitchRateLimited):
            await patiently(call, budget_s=250, sleep=clock.sleep, clock=clock)
        assert len(clock.sleeps) == 2

    async def test_other_errors_are_not_its_business(self) -> None:
        """Only the rate limit is waited for; anything else propagates at once."""
        clock = Clock()

        async def call() -> str:
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await patiently(call, sleep=clock.sleep, clock=clock)
        assert clock.sleeps == []

"""Cross-process proof: separate Python processes on one database share one Discord budget.

The test starts this module as a script in four processes (`python -m tests.integration.
test_discord_limiter_processes URL OUT`). Each process opens its own pool and limiter, reports
`ready`, waits for `go` on stdin, then acquires as fast as it can (several callers at once) for a
few seconds at global_rate 50 and writes the wall-clock time of every grant to OUT as JSON.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from streammaxing.discord.limiter import DiscordLimiter, Lane, token_fingerprint
from streammaxing.discord.ratelimit_headers import RateLimitInfo

REPO_ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
CALLERS_PER_PROCESS = 3
RUN_SECONDS = 3.0
GLOBAL_RATE = 50.0
ROUTE = "POST /channels/{channel_id}/messages"
ROOMY_BUCKET = RateLimitInfo(limit=100_000, remaining=99_999, reset_after=60.0, bucket="proof")


def max_in_any_window(stamps: list[float], width: float = 1.0) -> int:
    """The most timestamps any half-open window [t, t + width) holds (sliding, not fixed)."""
    ordered = sorted(stamps)
    return max(
        (bisect.bisect_left(ordered, start + width) - i for i, start in enumerate(ordered)),
        default=0,
    )


class TestSharedBudget:
    def test_four_processes_stay_within_one_global_limit(
        self, database_url: str, tmp_path: Path
    ) -> None:
        """Across all processes no 1 s window exceeds 50 grants, and they use ≥ 90 % of 50/s."""
        outputs = [tmp_path / f"grants-{n}.json" for n in range(PROCESSES)]
        with contextlib.ExitStack() as stack:
            workers = [
                stack.enter_context(
                    subprocess.Popen(
                        [sys.executable, "-m", __name__, database_url, str(output)],
                        cwd=REPO_ROOT,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                )
                for output in outputs
            ]
            try:
                for worker in workers:
                    assert worker.stdout is not None
                    assert worker.stdout.readline().strip() == "ready"
                for worker in workers:
                    assert worker.stdin is not None
                    worker.stdin.write("go\n")
                    worker.stdin.flush()
                for worker in workers:
                    assert worker.wait(timeout=RUN_SECONDS + 15) == 0
            finally:
                for worker in workers:
                    if worker.poll() is None:
                        worker.kill()
                        worker.wait()

        per_process = [json.loads(output.read_text()) for output in outputs]
        stamps = [stamp for grants in per_process for stamp in grants]
        assert all(grants for grants in per_process), "every process got some of the budget"
        assert max_in_any_window(stamps) <= GLOBAL_RATE
        span = max(stamps) - min(stamps)
        assert span >= RUN_SECONDS - 0.5
        assert (len(stamps) - 1) / span >= 0.9 * GLOBAL_RATE


class TestWindowCount:
    def test_counts_a_sliding_window(self) -> None:
        """The window may start at any grant: [0.5, 1.5) holds three of these."""
        assert max_in_any_window([0.0, 0.5, 0.9, 1.4, 1.5]) == 3
        assert max_in_any_window([]) == 0


async def _send_for(limiter: DiscordLimiter, until: float, grants: list[float]) -> None:
    while time.time() < until:
        await limiter.acquire(Lane.ANNOUNCE, ROUTE, "1")
        grants.append(time.time())
        await limiter.record(ROUTE, "1", 200, ROOMY_BUCKET)


async def _worker(database_url: str) -> list[float]:
    pool: AsyncConnectionPool = AsyncConnectionPool(
        database_url,
        min_size=CALLERS_PER_PROCESS,
        max_size=CALLERS_PER_PROCESS,
        open=False,
        kwargs={"autocommit": True},
    )
    await pool.open(wait=True)
    try:
        limiter = DiscordLimiter(
            pool, global_rate=GLOBAL_RATE, token_fingerprint=token_fingerprint("proof-token")
        )
        print("ready", flush=True)
        if (await asyncio.to_thread(sys.stdin.readline)).strip() != "go":
            raise SystemExit("expected 'go' on stdin")
        until = time.time() + RUN_SECONDS
        grants: list[float] = []
        await asyncio.gather(
            *(_send_for(limiter, until, grants) for _ in range(CALLERS_PER_PROCESS))
        )
        return grants
    finally:
        await pool.close()


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(json.dumps(asyncio.run(_worker(sys.argv[1]))))

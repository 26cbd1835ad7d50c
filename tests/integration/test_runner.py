"""Every job runs under one middleware: a time limit, log context, outcome counts, and results
that ask to be retried — checked with a real procrastinate worker on a real database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import procrastinate
import pytest
import structlog
from structlog.testing import capture_logs

from streammaxing.bootstrap import worker_options
from streammaxing.db import create_pool
from streammaxing.discord.dry_run_port import DryRunPort
from streammaxing.metrics import Metrics
from streammaxing.queues import Queue, Task
from streammaxing.runner import TaskSpec, register
from streammaxing.runtime import Runtime
from streammaxing.settings import load_settings

#: Retried at once, so one worker run sees the first attempt and the retry.
AT_ONCE = procrastinate.RetryStrategy(max_attempts=2, wait=0)


@dataclass(frozen=True)
class Incomplete:
    retry_later: bool


@pytest.fixture(name="runtime")
async def runtime_fixture(database_url: str) -> AsyncIterator[Runtime]:
    pool = create_pool(database_url, min_size=1, max_size=4, name="test-runner")
    await pool.open(wait=True)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector())
    await app.open_async(pool=pool)
    settings = load_settings(dry_run=True, _env_file=None)
    try:
        yield Runtime(settings=settings, pool=pool, metrics=Metrics(), app=app, port=DryRunPort())
    finally:
        await app.close_async()
        await pool.close()


async def run_once(runtime: Runtime, spec: TaskSpec, *, time_limit: float = 5.0) -> str:
    """Register `spec`, defer it as its scheduler would, run a worker until nothing is left;
    return the job's final status."""
    register(runtime.app, [spec], schedule=False)
    job_id = await runtime.app.configure_task(spec.name, queue=spec.queue).defer_async(timestamp=0)
    await runtime.app.run_worker_async(
        **worker_options(runtime, time_limit=time_limit),
        queues=[spec.queue],
        wait=False,
        concurrency=1,
        install_signal_handlers=False,
        delete_jobs="never",
    )
    async with runtime.pool.connection() as conn:
        cur = await conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", (job_id,))
        row = await cur.fetchone()
    assert row is not None
    return str(row[0])


def outcomes(runtime: Runtime, task: Task) -> dict[str, float]:
    return {
        sample.labels["outcome"]: sample.value
        for metric in runtime.metrics.jobs.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels["task"] == task
    }


class TestTimeLimit:
    async def test_a_hanging_periodic_job_is_cut_off_and_retried(self, runtime: Runtime) -> None:
        """A periodic job stuck past its time limit is cancelled, counted as timed out and run
        again by its retry strategy; the retry finishes."""
        attempts: list[int] = []

        async def hangs_first(runtime: Runtime, **_: Any) -> None:
            attempts.append(len(attempts))
            if len(attempts) == 1:
                await asyncio.Event().wait()

        spec = TaskSpec(
            Task.PRUNE, Queue.MAINTENANCE, hangs_first, AT_ONCE, lock=Task.PRUNE, cron="* * * * *"
        )
        with capture_logs() as logs:
            status = await run_once(runtime, spec, time_limit=0.3)

        assert status == "succeeded"
        assert attempts == [0, 1]
        assert outcomes(runtime, Task.PRUNE) == {"timed_out": 1.0, "succeeded": 1.0}
        assert [e["event"] for e in logs if e["log_level"] == "error"] == ["job_timed_out"]


class TestOutcomes:
    async def test_a_result_asking_to_retry_later_is_retried(self, runtime: Runtime) -> None:
        """A result with `retry_later` set makes the job fail for now and run again."""
        results = [Incomplete(retry_later=True), Incomplete(retry_later=False)]

        async def partly(runtime: Runtime, **_: Any) -> Incomplete:
            return results.pop(0)

        status = await run_once(runtime, TaskSpec(Task.PRUNE, Queue.MAINTENANCE, partly, AT_ONCE))

        assert status == "succeeded"
        assert results == []
        assert outcomes(runtime, Task.PRUNE) == {"incomplete": 1.0, "succeeded": 1.0}

    async def test_an_exception_is_counted_logged_and_left_to_the_retry_strategy(
        self, runtime: Runtime
    ) -> None:
        """A failing job is counted `failed` and logged with its trace on every attempt: the
        first run and its two retries."""

        async def broken(runtime: Runtime, **_: Any) -> None:
            raise RuntimeError("boom")

        with capture_logs() as logs:
            status = await run_once(
                runtime, TaskSpec(Task.PRUNE, Queue.MAINTENANCE, broken, AT_ONCE)
            )

        assert status == "failed"
        assert outcomes(runtime, Task.PRUNE) == {"failed": 3.0}
        assert [e["event"] for e in logs if e["log_level"] == "error"] == ["job_failed"] * 3


class TestLogContext:
    async def test_job_ids_are_bound_while_it_runs_and_cleared_after(
        self, runtime: Runtime
    ) -> None:
        """Events logged by a job carry its id, task name and attempt; nothing stays bound."""
        seen: list[dict[str, Any]] = []

        async def looks(runtime: Runtime, **_: Any) -> None:
            seen.append(structlog.contextvars.get_contextvars())

        await run_once(runtime, TaskSpec(Task.PRUNE, Queue.MAINTENANCE, looks, False))

        assert len(seen) == 1
        assert seen[0]["task"] == "prune"
        assert seen[0]["attempt"] == 0
        assert isinstance(seen[0]["job_id"], int)
        assert seen[0]["scheduled_for"] == 0
        assert structlog.contextvars.get_contextvars() == {}

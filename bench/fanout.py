"""Fan-out throughput: one `stream.online` to 2,000 guilds, against an unlimited Discord.

Runs the real `streammaxing ingest` and 1, then 2, `streammaxing worker` processes (concurrency
20 each, as deployed) against the Discord fake in `--unlimited` mode (no buckets, no global
limit) and the Twitch fake (seeded with the stream, so Helix answers at once), each fake in its
own process; the workers consume the go-live queues (events, announce, dm). A first go-live to
`--warm-up-guilds` other guilds (unmeasured) warms the workers up, as in a running service;
then one signed `stream.online` is POSTed to the ingest, and the run ends when the fake holds
one message in each of the 2,000 channels and no outbox row is pending.

The service's own limiter still takes a token before and records the response after every POST
(that cost is part of what is measured); its global budget is set to `--global-rate` (default
10,000 req/s: a bot whose global limit Discord raised), so it does not pace an unlimited fake.

Per run: announcements/s = messages / (webhook 2xx → last POST received by the fake), the wall
time, the time to the first POST, the sending pace (first → last POST) and each worker's peak
RSS (VmHWM), plus the CPU the workers and Postgres spent per message (less disturbed by other
load than the rates). Prints ONE JSON line: medians over `--repetitions` runs per worker count,
every run, and the targets (≥ 500 announcements/s with 2 workers, ≤ 150 MB RSS per worker).
Other processes on this 2-core machine add noise: hence medians.

    uv run python bench/fanout.py [--guilds 2000] [--workers 1,2] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from _stack import (
    BenchError,
    FanoutRun,
    bench_database,
    discord_fake,
    median,
    progress,
    quiet_library_logs,
    run_fanout,
    twitch_fake,
)

TARGETS = {"announcements_per_s_2_workers": 500, "worker_rss_mib": 150}


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    counts = [int(n) for n in args.workers.split(",")]
    runs: dict[int, list[FanoutRun]] = {n: [] for n in counts}
    with (
        tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp,
        bench_database("bench_fanout") as database,
        discord_fake(Path(tmp), unlimited=True, global_limit=None) as discord,
        twitch_fake(Path(tmp)) as twitch,
    ):
        for repetition in range(args.repetitions):
            for count in counts:
                run = run_fanout(
                    database,
                    discord,
                    twitch,
                    Path(tmp),
                    worker_count=count,
                    guilds=args.guilds,
                    fake_config={"unlimited": True, "global_limit": None},
                    extra_env={"DISCORD_GLOBAL_RATE_LIMIT": str(args.global_rate)},
                    timeout=300,
                    warm_up_guilds=args.warm_up_guilds,
                )
                runs[count].append(run)
                progress(f"repetition {repetition + 1}, {count} worker(s): {run.summary()}")
    results: dict[str, Any] = {}
    for count, measured in runs.items():
        results[f"{count}_workers"] = {
            "announcements_per_s": median([r.announcements_per_s for r in measured]),
            "wall_s": median([r.wall_seconds for r in measured]),
            "first_post_s": median([r.first_post_seconds for r in measured]),
            "delivery_per_s": median([r.delivery_per_s for r in measured]),
            "cpu_ms_per_message": median([r.cpu_ms_per_message for r in measured]),
            "worker_peak_rss_mib": max(max(r.worker_peak_rss_mib) for r in measured),
            "runs": [r.summary() for r in measured],
        }
    two = results.get("2_workers")
    peak_rss = max(v["worker_peak_rss_mib"] for v in results.values())
    return {
        "bench": "fanout",
        "cpu_count": os.cpu_count(),
        "noise": "workers, ingest, fakes and Postgres share these CPUs; medians of repetitions",
        "guilds": args.guilds,
        "repetitions": args.repetitions,
        "warm_up_guilds": args.warm_up_guilds,
        "database": database.source,
        "discord_fake": "unlimited",
        "limiter_global_rate": args.global_rate,
        "results": results,
        "check": "one message per channel, every outbox row sent",
        "targets": TARGETS,
        "targets_met": two is not None
        and two["announcements_per_s"] >= TARGETS["announcements_per_s_2_workers"]
        and peak_rss <= TARGETS["worker_rss_mib"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guilds", type=int, default=2000)
    parser.add_argument("--workers", default="1,2", help="worker process counts to run")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--global-rate", type=float, default=10_000.0)
    parser.add_argument(
        "--warm-up-guilds",
        type=int,
        default=64,
        help="guilds of a go-live sent first, unmeasured, so the workers are warm (0: cold)",
    )
    args = parser.parse_args()
    quiet_library_logs()
    try:
        report = run_benchmark(args)
    except BenchError as error:
        print(json.dumps({"bench": "fanout", "error": str(error)}))
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rate-limited fan-out: one `stream.online` to 2,000 guilds against Discord's real limits.

Like `bench/fanout.py`, but the Discord fake enforces Discord's limits — 50 requests per second
per bot token (global) and 5 messages per 5 seconds per channel, answering 429s with real
headers — and 4 `streammaxing worker` processes share one rate-limit budget through the Postgres
limiter (its default global budget: 50 req/s, `DISCORD_GLOBAL_RATE_LIMIT` unset). As there, a
warm-up go-live to `--warm-up-guilds` other guilds goes first and is not counted.

Per run: the achieved request rate between the fake's first and last message POST (429s
included), as a share of the 50 req/s Discord allows; the most POSTs the fake saw in any 1-second
window; and the fake's 429 count by scope (user, global, shared) with when each came.

Cost: the workers' and Postgres' CPU per announcement. It scales with the host's speed, so each
repetition also runs the same fan-out unpaced (fake and limiter without limits, as in
`bench/fanout.py`) back to back with the paced one, alternating which goes first, and reports
`paced_to_unpaced_cpu`: what pacing adds, on any host (`--no-unpaced-reference` skips it).

Prints ONE JSON line: medians over `--repetitions` runs, every run, the targets (≥ 95 %
utilisation, zero user and global 429s) and the cost targets (≤ 3 ms per announcement, set on
a host where the unpaced fan-out cost 1.5 ms; so ≤ 2× the unpaced cost). Other processes on this
2-core machine add noise: hence medians.

    uv run python bench/fanout_limited.py [--guilds 2000] [--workers 4] [--repetitions 3]
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

DISCORD_GLOBAL_LIMIT = 50
# The Discord fake without limits and the limiter's budget out of the way: the reference run.
UNPACED_RATE = 10_000
TARGETS = {"utilisation_pct": 95.0, "user_429": 0, "global_429": 0}
# CPU (workers + Postgres) per announcement while paced, absolute and as a multiple of the same
# fan-out's unpaced cost on the same machine: 3 ms was set where unpaced cost 1.5 ms.
COST_TARGETS = {"cpu_ms_per_message": 3.0, "paced_to_unpaced_cpu": 2.0}


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most timestamps found in any half-open window of `window` seconds."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def summarize(run: FanoutRun, unpaced: FanoutRun | None) -> dict[str, Any]:
    achieved = (run.posts - 1) / run.delivery_seconds if run.delivery_seconds else 0.0
    reference: dict[str, Any] = {}
    if unpaced is not None:
        summary = unpaced.summary()
        reference = {
            "unpaced": {
                key: summary[key]
                for key in ("wall_s", "worker_cpu_s", "postgres_cpu_s", "cpu_ms_per_message")
            },
            "paced_to_unpaced_cpu": round(run.cpu_ms_per_message / unpaced.cpu_ms_per_message, 3),
        }
    return {
        **run.summary(),
        **reference,
        "achieved_req_per_s": round(achieved, 2),
        "utilisation_pct": round(100 * achieved / DISCORD_GLOBAL_LIMIT, 2),
        "max_posts_in_1s": max_in_window(list(run.post_times)),
        "user_429": run.rate_limited.get("user", 0),
        "global_429": run.rate_limited.get("global", 0),
        "shared_429": run.rate_limited.get("shared", 0),
        # When each 429 came, in seconds after the first POST (where in the burst it happens).
        "429_at_s": [
            round(t - run.post_times[0], 3)
            for t, status in zip(run.post_times, run.post_statuses, strict=True)
            if status == 429
        ],
    }


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-fanout-limited-") as tmp,
        bench_database("bench_fanout_limited") as database,
        discord_fake(Path(tmp), unlimited=False, global_limit=DISCORD_GLOBAL_LIMIT) as discord,
        twitch_fake(Path(tmp)) as twitch,
    ):

        def fan_out(*, paced: bool) -> FanoutRun:
            return run_fanout(
                database,
                discord,
                twitch,
                Path(tmp),
                worker_count=args.workers,
                guilds=args.guilds,
                fake_config=(
                    {"unlimited": False, "global_limit": DISCORD_GLOBAL_LIMIT}
                    if paced
                    else {"unlimited": True, "global_limit": None}
                ),
                extra_env={} if paced else {"DISCORD_GLOBAL_RATE_LIMIT": str(UNPACED_RATE)},
                timeout=args.guilds / 20 + 120,
                warm_up_guilds=args.warm_up_guilds,
            )

        for repetition in range(args.repetitions):
            # The unpaced reference runs beside each paced run, first in every other repetition,
            # so that drift in the machine's speed falls on both alike.
            unpaced_first = args.unpaced_reference and repetition % 2 == 1
            unpaced = fan_out(paced=False) if unpaced_first else None
            run = fan_out(paced=True)
            if args.unpaced_reference and unpaced is None:
                unpaced = fan_out(paced=False)
            summary = summarize(run, unpaced)
            runs.append(summary)
            progress(f"repetition {repetition + 1}: {summary}")
    result = {
        "utilisation_pct": median([r["utilisation_pct"] for r in runs]),
        "achieved_req_per_s": median([r["achieved_req_per_s"] for r in runs]),
        "max_posts_in_1s": max(r["max_posts_in_1s"] for r in runs),
        "user_429": sum(r["user_429"] for r in runs),
        "global_429": sum(r["global_429"] for r in runs),
        "shared_429": sum(r["shared_429"] for r in runs),
        "wall_s": median([r["wall_s"] for r in runs]),
        "worker_peak_rss_mib": max(max(r["worker_peak_rss_mib"]) for r in runs),
        "cpu_ms_per_message": median([r["cpu_ms_per_message"] for r in runs]),
    }
    if args.unpaced_reference:
        result["unpaced_cpu_ms_per_message"] = median(
            [r["unpaced"]["cpu_ms_per_message"] for r in runs]
        )
        result["paced_to_unpaced_cpu"] = median([r["paced_to_unpaced_cpu"] for r in runs])
    return {
        "bench": "fanout_limited",
        "cpu_count": os.cpu_count(),
        "noise": "workers, ingest, fakes and Postgres share these CPUs; medians of repetitions",
        "guilds": args.guilds,
        "workers": args.workers,
        "repetitions": args.repetitions,
        "warm_up_guilds": args.warm_up_guilds,
        "database": database.source,
        "discord_fake": f"global {DISCORD_GLOBAL_LIMIT}/s per token, 5 per 5 s per channel",
        "limiter_global_rate": DISCORD_GLOBAL_LIMIT,
        "result": result,
        "runs": runs,
        "check": "one message per channel, every outbox row sent",
        "targets": TARGETS,
        "targets_met": result["utilisation_pct"] >= TARGETS["utilisation_pct"]
        and result["user_429"] == 0
        and result["global_429"] == 0,
        "cost_targets": COST_TARGETS,
        "cost_targets_met": {
            key: result[key] <= target for key, target in COST_TARGETS.items() if key in result
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guilds", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument(
        "--unpaced-reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the same fan-out unpaced beside each paced run: the cost ratio is host-neutral",
    )
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
        print(json.dumps({"bench": "fanout_limited", "error": str(error)}))
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fairness: how long a small go-live waits while a big fan-out drains at Discord's pace.

A streamer tracked by `--guilds` guilds (2,000) goes live; once its announcements are flowing,
`--small` small streamers, each tracked by one guild of its own, go live one after the other,
`--gap` seconds apart. The Discord fake enforces Discord's limits (50 requests/s per token,
5 per 5 s per channel) and `--workers` `streammaxing worker` processes share the Postgres
limiter, as in `bench/fanout_limited.py`. A warm-up go-live goes first and is not counted.

Per run: each small go-live's latency (webhook 2xx → its message POST at the fake), the big
fan-out's utilisation of the 50 req/s (first → last POST of the run, 429s included) and 429s by
scope. Checks: one message per channel, every outbox row sent. Prints ONE JSON line: medians
over `--repetitions` runs, every run, and the targets (small go-live within 2 s, utilisation
≥ 95 %, no user or global 429).

    uv run python bench/fairness.py [--guilds 2000] [--small 5] [--workers 4] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from _stack import (
    BenchError,
    Database,
    DiscordFake,
    TwitchFake,
    bench_database,
    discord_fake,
    ingest,
    median,
    message_posts,
    pending_rows,
    percentile,
    progress,
    quiet_library_logs,
    seed_guilds,
    send_online,
    service_env,
    twitch_fake,
    wait_until,
    workers,
)

DISCORD_GLOBAL_LIMIT = 50
TARGETS = {"small_max_s": 2.0, "utilisation_pct": 95.0, "user_429": 0, "global_429": 0}
BIG = ("5151", "88001")
WARM_UP = ("5252", "88002")
SMALL_FIRST_BROADCASTER = 6000
SMALL_FIRST_STREAM = 89000


def _add_streamer(twitch: TwitchFake, broadcaster_id: str, stream_id: str) -> None:
    twitch.add_user(broadcaster_id, f"login{broadcaster_id}")
    twitch.add_stream(broadcaster_id, f"login{broadcaster_id}", stream_id, "Fairness bench")


def one_run(
    database: Database,
    discord: DiscordFake,
    twitch: TwitchFake,
    workdir: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    database.reset()
    discord.reset(unlimited=False, global_limit=DISCORD_GLOBAL_LIMIT)
    _add_streamer(twitch, *BIG)
    _add_streamer(twitch, *WARM_UP)
    big_channels = seed_guilds(database, discord, broadcaster_id=BIG[0], count=args.guilds)
    first = args.guilds
    seed_guilds(database, discord, broadcaster_id=WARM_UP[0], count=64, first=first)
    first += 64
    small: list[tuple[str, str, str]] = []  # (broadcaster, stream, channel)
    for n in range(args.small):
        broadcaster, stream = str(SMALL_FIRST_BROADCASTER + n), str(SMALL_FIRST_STREAM + n)
        _add_streamer(twitch, broadcaster, stream)
        (channel,) = seed_guilds(
            database, discord, broadcaster_id=broadcaster, count=1, first=first
        )
        first += 1
        small.append((broadcaster, stream, channel))
    total = args.guilds + 64 + args.small
    env = service_env(database, discord, twitch)
    run_dir = workdir / f"run-{uuid.uuid4().hex[:6]}"
    run_dir.mkdir()
    with (
        ingest(env, run_dir) as ingest_url,
        workers(database, env, run_dir, args.workers) as procs,
        httpx.Client(timeout=10) as client,
    ):

        def messages_at_least(count: int) -> bool:
            for process in procs:
                if not process.alive():
                    raise BenchError(f"{process.name} died:\n{process.log_tail()}")
            return int(discord.stats()["messages"]) >= count

        time.sleep(1.0)
        send_online(client, ingest_url, broadcaster_id=WARM_UP[0], stream_id=WARM_UP[1])
        wait_until(lambda: messages_at_least(64), timeout=60, what="the warm-up messages")
        wait_until(lambda: pending_rows(database) == 0, timeout=30, what="no pending rows")
        limited_before = dict(discord.stats()["rate_limited"])
        cpu_before = [p.cpu_seconds() for p in procs]
        send_online(client, ingest_url, broadcaster_id=BIG[0], stream_id=BIG[1])
        # Let the big fan-out reach its full pace (its backlog queued in every shard).
        wait_until(lambda: messages_at_least(64 + 200), timeout=60, what="the big fan-out")
        accepted: dict[str, float] = {}
        for broadcaster, stream, channel in small:
            accepted[channel] = send_online(
                client, ingest_url, broadcaster_id=broadcaster, stream_id=stream
            )
            time.sleep(args.gap)
        big_backlog_at_last_small = args.guilds - sum(
            1 for m in discord.messages() if m["channel_id"] in set(big_channels)
        )
        wait_until(
            lambda: messages_at_least(total), timeout=args.guilds / 20 + 120, what="every message"
        )
        wait_until(lambda: pending_rows(database) == 0, timeout=30, what="no pending rows")
        cpu = [round(p.cpu_seconds() - c, 2) for p, c in zip(procs, cpu_before, strict=True)]
    limited_after = dict(discord.stats()["rate_limited"])
    messages = discord.messages()
    per_channel: dict[str, int] = {}
    for message in messages:
        per_channel[message["channel_id"]] = per_channel.get(message["channel_id"], 0) + 1
    if len(per_channel) != total or max(per_channel.values()) != 1:
        raise BenchError(f"expected one message in each of {total} channels: {len(messages)}")
    unsent = database.sql("SELECT count(*) FROM notification_log WHERE status <> 'sent'")[0][0]
    if unsent:
        raise BenchError(f"{unsent} outbox rows not sent")
    measured = set(big_channels) | {channel for _, _, channel in small}
    posts = [r for r in message_posts(discord) if r["path"].split("/")[4] in measured]
    created = {r["path"].split("/")[4]: r["time"] for r in posts if r["status"] == 200}
    latencies = [created[channel] - accepted[channel] for _, _, channel in small]
    times = sorted(r["time"] for r in posts)
    achieved = (len(posts) - 1) / (times[-1] - times[0])
    return {
        "small_latency_s": [round(v, 3) for v in latencies],
        "small_p50_s": round(percentile(latencies, 0.5), 3),
        "small_max_s": round(max(latencies), 3),
        "big_backlog_at_last_small": big_backlog_at_last_small,
        "utilisation_pct": round(100 * achieved / DISCORD_GLOBAL_LIMIT, 2),
        "posts": len(posts),
        "rate_limited": {
            scope: n - limited_before.get(scope, 0)
            for scope, n in limited_after.items()
            if n > limited_before.get(scope, 0)
        },
        "worker_cpu_s": cpu,
    }


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-fairness-") as tmp,
        bench_database("bench_fairness") as database,
        discord_fake(Path(tmp), unlimited=False, global_limit=DISCORD_GLOBAL_LIMIT) as discord,
        twitch_fake(Path(tmp)) as twitch,
    ):
        for repetition in range(args.repetitions):
            run = one_run(database, discord, twitch, Path(tmp), args)
            runs.append(run)
            progress(f"repetition {repetition + 1}: {run}")
    result = {
        "small_p50_s": median([r["small_p50_s"] for r in runs]),
        "small_max_s": max(r["small_max_s"] for r in runs),
        "utilisation_pct": median([r["utilisation_pct"] for r in runs]),
        "user_429": sum(r["rate_limited"].get("user", 0) for r in runs),
        "global_429": sum(r["rate_limited"].get("global", 0) for r in runs),
    }
    return {
        "bench": "fairness",
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg(),
        "guilds": args.guilds,
        "small_go_lives": args.small,
        "gap_s": args.gap,
        "workers": args.workers,
        "repetitions": args.repetitions,
        "database": database.source,
        "discord_fake": f"global {DISCORD_GLOBAL_LIMIT}/s per token, 5 per 5 s per channel",
        "result": result,
        "runs": runs,
        "check": "one message per channel, every outbox row sent",
        "targets": TARGETS,
        "targets_met": result["small_max_s"] <= TARGETS["small_max_s"]
        and result["utilisation_pct"] >= TARGETS["utilisation_pct"]
        and result["user_429"] == 0
        and result["global_429"] == 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guilds", type=int, default=2000)
    parser.add_argument("--small", type=int, default=5)
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between small go-lives")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    quiet_library_logs()
    try:
        report = run_benchmark(args)
    except BenchError as error:
        print(json.dumps({"bench": "fairness", "error": str(error)}))
        return 1
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

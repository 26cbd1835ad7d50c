"""Slash commands under load: signed interactions at a fixed rate against the real ingest,
with Twitch webhooks measured at the same time. Prints one JSON line.

    uv run python bench/interactions.py [--rate 200] [--seconds 30] [--webhook-rate 10]

The ingest (`streammaxing ingest`, production settings, `DISCORD_PUBLIC_KEY` set) runs as a
subprocess with the Discord and Twitch fakes. The load is a mix of inline commands
(`/streamers list`, `/alerts status`, `/alerts mute`/`unmute`, autocomplete) from 50 members of
one guild tracking 100 streamers. Reported: the server's own time per interaction (the `ms` of
its `interaction` log event) p50/p99 for inline answers, answers slower than 3 s at the client,
and the Twitch webhook's client latency p50/p99 during the run and alone before it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import (
    bench_database,
    discord_fake,
    ingest,
    online_message,
    percentile,
    progress,
    service_env,
    twitch_fake,
)
from tests.fakes.discord_signing import SigningKey

APP = "700000000000000001"
GUILD = "810000000000000001"
MEMBERS = [str(840_000_000_000_000_000 + n) for n in range(50)]
STREAMERS = 100


def seed(database: Any) -> None:
    database.sql("INSERT INTO guilds (guild_id, name) VALUES (%s, 'Bench')", (GUILD,))
    database.sql(
        "WITH s AS (INSERT INTO streamers (twitch_broadcaster_id, twitch_login) "
        "SELECT 'b' || n, 'streamer' || n FROM generate_series(1, %s) n RETURNING id) "
        "INSERT INTO guild_streamers (guild_id, streamer_id) SELECT %s, id FROM s",
        (STREAMERS, GUILD),
    )
    database.sql(
        "INSERT INTO users (user_id, username) SELECT unnest(%s::text[]), 'member'", (MEMBERS,)
    )


def interaction(n: int) -> dict[str, Any]:
    """The n-th interaction of the mix (each kind answers inline)."""
    user = MEMBERS[n % len(MEMBERS)]
    streamer = f"streamer{n % STREAMERS + 1}"
    kind = n % 5
    options: list[dict[str, Any]]
    if kind == 0:
        name, options, itype = "streamers", [{"name": "list", "type": 1}], 2
    elif kind == 1:
        name, options, itype = "alerts", [{"name": "status", "type": 1}], 2
    elif kind in (2, 3):
        sub = "mute" if kind == 2 else "unmute"
        options = [{"name": sub, "type": 1,
                    "options": [{"name": "streamer", "type": 3, "value": streamer}]}]  # fmt: skip
        name, itype = "alerts", 2
    else:
        options = [{"name": "mute", "type": 1, "options": [
            {"name": "streamer", "type": 3, "value": "streamer1", "focused": True}]}]  # fmt: skip
        name, itype = "alerts", 4
    return {
        "id": str(900_000_000_000_000_000 + n), "application_id": APP, "type": itype,
        "token": f"token{n}", "version": 1, "guild_id": GUILD, "channel_id": "1",
        "member": {"user": {"id": user, "username": "member"}, "permissions": "0"},
        "data": {"id": "1", "name": name, "type": 1, "options": options},
    }  # fmt: skip


async def run_interactions(
    client: httpx.AsyncClient, url: str, key: SigningKey, rate: float, seconds: float
) -> list[float]:
    """Send at `rate`/s for `seconds`; each answer's client latency (s); errors raise."""
    latencies: list[float] = []

    async def one(n: int) -> None:
        body = json.dumps(interaction(n), separators=(",", ":")).encode()
        stamp = str(int(time.time()))
        headers = {"X-Signature-Ed25519": key.sign(stamp, body), "X-Signature-Timestamp": stamp,
                   "Content-Type": "application/json"}  # fmt: skip
        started = time.monotonic()
        response = await client.post(f"{url}/interactions", content=body, headers=headers)
        latencies.append(time.monotonic() - started)
        if response.status_code != 200:
            raise RuntimeError(f"interaction answered {response.status_code}")

    tasks = []
    start = time.monotonic()
    total = int(rate * seconds)
    for n in range(total):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    return latencies


async def run_webhooks(
    client: httpx.AsyncClient, url: str, rate: float, seconds: float, tag: str
) -> list[float]:
    latencies: list[float] = []
    start = time.monotonic()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        headers, body = online_message(broadcaster_id="b1", stream_id=f"{tag}-{n}")
        began = time.monotonic()
        response = await client.post(f"{url}/webhooks/twitch", headers=headers, content=body)
        latencies.append(time.monotonic() - began)
        if not response.is_success:
            raise RuntimeError(f"webhook answered {response.status_code}")
    return latencies


def server_times(log_path: Path) -> list[float]:
    times = []
    for line in log_path.read_text(errors="replace").splitlines():
        if '"interaction"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "interaction" and record.get("reply_type") in (4, 8):
            times.append(float(record["ms"]))
    return times


async def measure(url: str, key: SigningKey, args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        alone = await run_webhooks(client, url, args.webhook_rate, 5, "alone")
        loaded, webhooks = await asyncio.gather(
            run_interactions(client, url, key, args.rate, args.seconds),
            run_webhooks(client, url, args.webhook_rate, args.seconds, "loaded"),
        )
    return {
        "interactions": len(loaded),
        "client_p99_ms": round(percentile(loaded, 0.99) * 1000, 1),
        "later_than_3s": sum(1 for latency in loaded if latency > 3.0),
        "webhook_alone_p50_ms": round(percentile(alone, 0.5) * 1000, 1),
        "webhook_alone_p99_ms": round(percentile(alone, 0.99) * 1000, 1),
        "webhook_loaded_p50_ms": round(percentile(webhooks, 0.5) * 1000, 1),
        "webhook_loaded_p99_ms": round(percentile(webhooks, 0.99) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--webhook-rate", type=float, default=10.0)
    args = parser.parse_args()
    key = SigningKey()
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_database("bench_interactions") as database,
        discord_fake(Path(tmp), unlimited=True) as discord,
        twitch_fake(Path(tmp)) as twitch,
    ):
        seed(database)
        env = service_env(database, discord, twitch, DISCORD_PUBLIC_KEY=key.public_key_hex,
                          DISCORD_APPLICATION_ID=APP)  # fmt: skip
        with ingest(env, Path(tmp)) as url:
            progress(f"{args.rate}/s interactions for {args.seconds} s")
            result = asyncio.run(measure(url, key, args))
            logs = sorted(Path(tmp).glob("ingest*.log"))
            times = [t for log in logs for t in server_times(log)]
        result |= {
            "inline_server_p50_ms": round(percentile(times, 0.5), 2) if times else None,
            "inline_server_p99_ms": round(percentile(times, 0.99), 2) if times else None,
            "rate": args.rate,
            "seconds": args.seconds,
        }
    print(json.dumps({"bench": "interactions", **result}))


if __name__ == "__main__":
    main()

"""Prometheus metrics: one `Metrics` object (own registry) per process, built at the root."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from streammaxing.pool_metrics import Pool, PoolCollector

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Every metric StreamMaxing exports; `pools`: the connection pools the process serves
    from, whose statistics (size, in use, waiting, timeouts…) are read at each scrape."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, pools: Iterable[Pool] = ()
    ) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.pools = PoolCollector()
        r.register(self.pools)
        for pool in pools:
            self.pools.watch(pool)
        self.webhooks = Counter(
            "webhooks",
            "EventSub webhook requests by message type and outcome",
            ["type", "outcome"],
            registry=r,
        )
        self.webhook_latency = Histogram(
            "webhook_latency_seconds",
            "Time to answer an EventSub webhook",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.jobs = Counter("jobs", "Jobs run by task and outcome", ["task", "outcome"], registry=r)
        self.discord_requests = Counter(
            "discord_requests",
            "Discord API requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.discord_rate_limited = Counter(
            "discord_rate_limited", "Discord 429 responses by scope", ["scope"], registry=r
        )
        self.discord_slots_missed = Counter(
            "discord_limiter_slots_missed",
            "Rate-limit slots missed by more than 20 ms, so not sent in (the bucket given back, "
            "a later slot taken), by where: 'wake' (slept past it), 'before_write' (held up "
            "after it was granted)",
            ["at"],
            registry=r,
        )
        self.send_latency = Histogram(
            "announcement_latency_seconds",
            "Stream start to Discord message created",
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=r,
        )
        self.dms_dropped_stale = Counter(
            "dms_dropped_stale",
            "DMs dropped unsent because they were still pending DM_MAX_AGE after the go-live",
            registry=r,
        )
        self.fanout_size = Histogram(
            "fanout_guilds",
            "Guilds per stream.online fan-out",
            buckets=(1, 5, 10, 50, 100, 500, 1000, 5000, 10000),
            registry=r,
        )
        self.queue_depth = Gauge("queue_depth", "Jobs waiting in the queue", ["queue"], registry=r)
        self.discord_sending_halted = Gauge(
            "discord_sending_halted",
            "Bot tokens whose Discord sending is halted now, by reason "
            "(unauthorized, cloudflare_ban, invalid_request_breaker)",
            ["reason"],
            registry=r,
        )
        self.discord_invalid_requests = Gauge(
            "discord_invalid_requests",
            "Invalid Discord requests (401, 403, non-shared 429) in the breaker's 10-minute "
            "window; sending halts at 2500",
            registry=r,
        )
        self.inactive_guilds = Gauge(
            "inactive_guilds",
            "Guilds with no announcement delivered in `days` days (refreshed by the daily prune)",
            ["days"],
            registry=r,
        )
        self.twitch_subscription_cost = Gauge(
            "twitch_eventsub_total_cost", "EventSub total_cost reported by Twitch", registry=r
        )
        self.eventsub_streamers_left_out = Gauge(
            "eventsub_streamers_left_out",
            "Tracked streamers the EventSub cost budget could not cover at the last reconcile",
            registry=r,
        )
        self.twitch_subscription_max_cost = Gauge(
            "twitch_eventsub_max_total_cost",
            "EventSub max_total_cost reported by Twitch",
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

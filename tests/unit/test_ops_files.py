"""The alert rules and the Grafana dashboard under ops/: well formed, and every metric they
query is one the processes export (`Metrics`, with the pool collector)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from streammaxing.metrics import Metrics

OPS = Path(__file__).resolve().parents[2] / "ops"
ALERTS = OPS / "prometheus" / "alerts.yml"
DASHBOARD = OPS / "grafana" / "streammaxing.json"

# The sample names a family of each type exposes, besides its own name for gauges.
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
    | {"bool", "offset", "inf", "nan"}
)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_TOKENS = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*(?:\s*\()?|\d+(?:\.\d+)?(?:e[+-]?\d+)?")


def known_metrics() -> frozenset[str]:
    """Every sample name the processes can export."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return frozenset(names)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are neither functions
    (followed by '('), keywords, label names of a grouping clause, nor inside a string, a
    label matcher or a range."""
    stripped = _RANGES.sub(" ", _MATCHERS.sub(" ", _STRINGS.sub('""', expr)))
    stripped = _GROUPING.sub(" ", stripped)
    names: set[str] = set()
    for token in _TOKENS.findall(stripped):
        if token[0].isdigit() or token.endswith("(") or token.lower() in _KEYWORDS:
            continue
        names.add(token)
    return names


def balanced(expr: str) -> bool:
    """Parentheses, braces and brackets nest properly (outside strings)."""
    closing = {")": "(", "}": "{", "]": "["}
    stack: list[str] = []
    for char in _STRINGS.sub('""', expr):
        if char in "({[":
            stack.append(char)
        elif char in closing and (not stack or stack.pop() != closing[char]):
            return False
    return not stack


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def targets() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        target
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


class TestExpressionChecks:
    """The checks below are only as good as these helpers: they must catch what they claim."""

    def test_metric_names_skip_functions_keywords_labels_and_ranges(self) -> None:
        """Only metric names come out of an expression."""
        expr = (
            'sum by (pool, le) (rate(db_slow_queries_total{pool=~"w.*"}[5m])) > 1e3 '
            "and on (pool) histogram_quantile(0.99, webhook_latency_seconds_bucket) or vector(1)"
        )
        assert metric_names(expr) == {"db_slow_queries_total", "webhook_latency_seconds_bucket"}

    def test_an_unknown_metric_is_found(self) -> None:
        """A misspelt metric name is reported as not exported."""
        assert metric_names("rate(webhook_total[5m])") - known_metrics() == {"webhook_total"}

    def test_unbalanced_parentheses_are_caught(self) -> None:
        """A missing closing parenthesis or bracket fails the balance check."""
        assert balanced('sum(rate(x{a="("}[5m]))')
        assert not balanced("sum(rate(x[5m])")
        assert not balanced("sum(rate(x[5m)))")


class TestAlertRules:
    def test_every_rule_is_complete(self) -> None:
        """Each rule has alert, expr, for, a severity label and a summary annotation."""
        found = rules()
        assert found
        for rule in found:
            assert {"alert", "expr", "for", "labels", "annotations"} <= set(rule), rule
            assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
            assert rule["annotations"]["summary"], rule["alert"]
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]

    def test_alert_names_are_unique(self) -> None:
        """No two rules share an alert name."""
        names = [rule["alert"] for rule in rules()]
        assert len(names) == len(set(names))

    @pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
    def test_expressions_query_exported_metrics(self, rule: dict[str, Any]) -> None:
        """Every metric a rule queries is exported, and its parentheses balance."""
        expr = rule["expr"]
        assert balanced(expr)
        names = metric_names(expr)
        assert names, "an alert must query a metric"
        assert names <= known_metrics(), names - known_metrics()

    def test_the_operator_concerns_are_covered(self) -> None:
        """Pool exhaustion, queue growth, Discord halts, the breaker, EventSub cost and 503
        webhooks each have a rule."""
        queried = " ".join(rule["expr"] for rule in rules())
        for needle in (
            "db_pool_requests_waiting",
            "db_pool_requests_errors_total",
            "queue_depth",
            'reason="unauthorized"',
            'reason="cloudflare_ban"',
            'reason="invalid_request_breaker"',
            "twitch_eventsub_max_total_cost",
            'outcome="unavailable"',
        ):
            assert needle in queried, needle


class TestDashboard:
    def test_panels_have_targets(self) -> None:
        """The dashboard is Grafana JSON with panels, each (but rows) with PromQL targets."""
        dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
        assert dashboard["uid"]
        assert dashboard["title"]
        panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
        assert len(panels) >= 8
        for panel in panels:
            assert panel["title"]
            assert panel["targets"], panel["title"]
            assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])

    @pytest.mark.parametrize("target", targets(), ids=lambda target: target["expr"][:60])
    def test_targets_query_exported_metrics(self, target: dict[str, Any]) -> None:
        """Every metric a panel queries is exported, and its parentheses balance."""
        expr = target["expr"]
        assert balanced(expr)
        names = metric_names(expr)
        assert names
        assert names <= known_metrics(), names - known_metrics()

    def test_the_first_look_panels_are_there(self) -> None:
        """Webhooks, their latency, queue depth, jobs, Discord statuses, 429s and missed limiter
        slots, announcement latency, pool usage and EventSub cost are all on the dashboard."""
        queried = " ".join(target["expr"] for target in targets())
        for metric in (
            "webhooks_total",
            "webhook_latency_seconds_bucket",
            "queue_depth",
            "jobs_total",
            "discord_requests_total",
            "discord_rate_limited_total",
            "discord_limiter_slots_missed_total",
            "announcement_latency_seconds_bucket",
            "db_pool_in_use",
            "twitch_eventsub_total_cost",
        ):
            assert metric in queried, metric

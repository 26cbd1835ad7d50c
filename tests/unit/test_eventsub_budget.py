"""Filling a short EventSub budget: linked streamers free, then the most-tracked first."""

from __future__ import annotations

import pytest

from streammaxing.jobs.eventsub.budget import (
    BudgetPlan,
    Candidate,
    plan_budget,
    points_available,
)


def c(broadcaster_id: str, guilds: int, *, linked: bool = False, topics: int = 3) -> Candidate:
    return Candidate(broadcaster_id, guilds, linked, topics)


def left_out(plan: BudgetPlan) -> list[str]:
    return [candidate.broadcaster_id for candidate in plan.left_out]


class TestPlanBudget:
    @pytest.mark.parametrize(
        ("case", "candidates", "available", "admitted", "excluded", "cost"),
        [
            ("nothing to plan", [], 10, set(), [], 0),
            ("everyone fits", [c("a", 1), c("b", 2)], 10, {"a", "b"}, [], 6),
            ("exactly full", [c("a", 1), c("b", 2)], 6, {"a", "b"}, [], 6),
            ("most guilds first", [c("a", 1), c("b", 5), c("c", 3)], 6, {"b", "c"}, ["a"], 6),
            ("no points at all", [c("a", 9), c("b", 1)], 0, set(), ["a", "b"], 0),
            (
                "linked streamers cost nothing and always fit",
                [c("a", 1, linked=True), c("b", 9), c("c", 8, linked=True)],
                3,
                {"a", "b", "c"},
                [],
                3,
            ),
            (
                "linked fit even with no points left",
                [c("a", 1, linked=True), c("b", 9)],
                0,
                {"a"},
                ["b"],
                0,
            ),
            (
                "a smaller streamer still fits after a bigger one did not",
                [c("big", 9, topics=3), c("small", 1, topics=1)],
                2,
                {"small"},
                ["big"],
                1,
            ),
            (
                "a streamer fits whole or not at all",
                [c("a", 5), c("b", 4)],
                5,
                {"a"},
                ["b"],
                3,
            ),
            ("ties go by broadcaster id", [c("b", 2), c("a", 2)], 3, {"a"}, ["b"], 3),
            (
                "left out are listed most-tracked first",
                [c("x", 1), c("y", 7), c("z", 4), c("w", 10)],
                3,
                {"w"},
                ["y", "z", "x"],
                3,
            ),
            ("no budget known: everyone", [c("a", 1), c("b", 1)], None, {"a", "b"}, [], 6),
            ("a streamer with no topics to pay for", [c("a", 1, topics=0)], 0, {"a"}, [], 0),
        ],
    )
    def test_table(
        self,
        case: str,
        candidates: list[Candidate],
        available: int | None,
        admitted: set[str],
        excluded: list[str],
        cost: int,
    ) -> None:
        """Each case: who is admitted, who is left out (in order) and the points taken."""
        plan = plan_budget(candidates, available=available)
        assert plan.admitted == admitted
        assert left_out(plan) == excluded
        assert plan.cost == cost
        assert plan.cost <= (available if available is not None else plan.cost)

    def test_every_candidate_is_either_admitted_or_left_out(self) -> None:
        """No streamer is lost or counted twice, whatever the budget."""
        candidates = [c(str(n), n % 7, linked=n % 5 == 0, topics=1 + n % 3) for n in range(60)]
        for available in range(0, 80, 7):
            plan = plan_budget(candidates, available=available)
            ids = {candidate.broadcaster_id for candidate in candidates}
            assert plan.admitted | set(left_out(plan)) == ids
            assert not plan.admitted & set(left_out(plan))


class TestPointsAvailable:
    @pytest.mark.parametrize(
        ("max_total_cost", "total_cost", "our_cost", "expected"),
        [
            (10_000, 0, 0, 10_000),
            (10_000, 300, 300, 10_000),
            (10_000, 300, 100, 9_800),
            (10, 15, 0, 0),
        ],
    )
    def test_subscriptions_not_ours_take_their_share_first(
        self, max_total_cost: int, total_cost: int, our_cost: int, expected: int
    ) -> None:
        """Our own current subscriptions are re-planned, so only others' cost is subtracted."""
        assert (
            points_available(
                max_total_cost=max_total_cost, total_cost=total_cost, our_cost=our_cost
            )
            == expected
        )

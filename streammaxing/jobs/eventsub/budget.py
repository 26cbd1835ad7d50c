"""Which streamers get EventSub subscriptions when Twitch's cost budget cannot cover them all.

Twitch charges each subscription that names a broadcaster 1 point of `max_total_cost` (10,000
by default), unless that broadcaster authorized our client (linked their Twitch account): then
0. A streamer needs one subscription per topic. Linked streamers therefore always fit; the
points left — after subscriptions that are not ours (another callback of the same client) —
go to unlinked streamers in order of how many guilds track them, most first, so a short budget
costs the fewest guilds their webhook. A streamer that does not fit whole is left out and the
next ones are still tried; left-out streamers are still announced by the catch-up poll, only
later. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    """A tracked streamer: how many guilds track it, and what its subscriptions would cost."""

    broadcaster_id: str
    guilds: int
    linked: bool
    topics: int

    @property
    def cost(self) -> int:
        """Points all its subscriptions take: nothing when it authorized our client."""
        return 0 if self.linked else self.topics


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    admitted: frozenset[str]
    """Broadcaster ids whose subscriptions are kept and created."""
    left_out: tuple[Candidate, ...]
    """The streamers that did not fit, most-tracked first."""
    cost: int
    """The points our admitted streamers take."""


def plan_budget(candidates: Iterable[Candidate], *, available: int | None) -> BudgetPlan:
    """Admit streamers until `available` points are spent (None: Twitch told no budget, so
    every streamer is admitted)."""
    ranked = sorted(candidates, key=lambda c: (c.cost > 0, -c.guilds, c.broadcaster_id))
    if available is None:
        return BudgetPlan(
            frozenset(c.broadcaster_id for c in ranked), (), sum(c.cost for c in ranked)
        )
    admitted: list[str] = []
    left_out: list[Candidate] = []
    spent = 0
    for candidate in ranked:
        if spent + candidate.cost <= available:
            admitted.append(candidate.broadcaster_id)
            spent += candidate.cost
        else:
            left_out.append(candidate)
    left_out.sort(key=lambda c: (-c.guilds, c.broadcaster_id))
    return BudgetPlan(frozenset(admitted), tuple(left_out), spent)


def points_available(*, max_total_cost: int, total_cost: int, our_cost: int) -> int:
    """The points our streamers may take: the maximum, less what subscriptions that are not
    ours (`total_cost - our_cost`) already take."""
    return max(0, max_total_cost - (total_cost - our_cost))

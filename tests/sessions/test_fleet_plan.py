"""The fleet's plan: each live worker's share, and what a worker beyond it hands over."""

from __future__ import annotations

import pytest

from wagate.sessions.fleet import FleetPlan
from wagate.store.repositories.sessions import Ranked


def _ranked(*owners: str | None) -> list[Ranked]:
    return [Ranked(f"ses_{n}", owner) for n, owner in enumerate(owners)]


@pytest.mark.parametrize(
    ("capacities", "sessions", "shares"),
    [
        ({"a": 500, "b": 500, "c": 500}, 200, {"a": 67, "b": 67, "c": 67}),
        ({"a": 6, "b": 2}, 4, {"a": 3, "b": 1}),
        ({"a": 6, "b": 2}, 5, {"a": 4, "b": 2}),
        ({"a": 3, "b": 1}, 10, {"a": 3, "b": 1}),  # more sessions than places: capacity
        ({"a": 10}, 0, {"a": 0}),
        ({"a": 10, "b": 0}, 4, {"a": 4, "b": 0}),
    ],
)
def test_shares_follow_capacity_cover_the_target_and_never_exceed_a_capacity(
    capacities: dict[str, int], sessions: int, shares: dict[str, int]
) -> None:
    plan = FleetPlan(capacities, _ranked(*[None] * sessions))
    assert {worker: plan.share(worker) for worker in capacities} == shares
    assert sum(shares.values()) >= plan.target
    assert all(shares[w] <= capacities[w] for w in capacities)


def test_a_worker_beyond_its_share_hands_over_what_others_have_room_for() -> None:
    plan = FleetPlan({"a": 10, "b": 10}, _ranked(*["a"] * 6))
    assert plan.excess("a") == 3  # shares 3 and 3: B has room for three
    assert plan.excess("b") == 0


def test_sessions_nobody_holds_fill_the_room_first() -> None:
    plan = FleetPlan({"a": 10, "b": 10}, _ranked("a", "a", "a", "a", "a", None))
    assert plan.excess("a") == 2  # B's room of three: the free session, and two of A's


def test_nothing_moves_when_the_others_are_full_or_dead() -> None:
    full = FleetPlan({"a": 10, "b": 2}, _ranked("a", "a", "a", "a", "b", "b"))
    assert full.excess("a") == 0  # shares 5 and 1... B already holds two
    alone = FleetPlan({"a": 10}, _ranked("a", "a", None, None))  # a dead worker's lapsed
    assert alone.excess("a") == 0


def test_a_worker_within_its_share_never_gives_up() -> None:
    plan = FleetPlan({"a": 4, "b": 4}, _ranked("a", "a", "b"))
    assert plan.excess("a") == 0
    assert plan.excess("b") == 0

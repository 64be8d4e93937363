"""Weekly pair programming: maximum-weight matching that avoids repeats and prefers people who
share free hours that week; a trio when the count is odd, so nobody sits out.

Repeats are penalised rather than forbidden, which keeps every round feasible however small or
churned the cohort gets. Weights are integers, since networkx's matching can be suboptimal with
floats.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

import networkx as nx

from study_group.participants import Member
from study_group.timeslots import overlap_seconds, shared, utc_intervals

BASE = 3000
REPEAT_PENALTY = 1000
MAX_OVERLAP_HOURS = 40  # overlap only breaks ties between equally new partners
NEIGHBOURS = 30  # edges kept per person: the matching is O(n^3), and the best partners are among these


@dataclass(frozen=True)
class Pairing:
    members: tuple[int, ...]  # 2, or 3 for the odd one out
    overlap_minutes: int
    first_shared_at: int | None = None  # UTC epoch of the first hour they are all free that week


@dataclass
class PairRound:
    week: int
    pairs: list[Pairing]
    seconds: float = 0.0
    repeats: int = 0
    skipped: list[int] = field(default_factory=list)  # opted out


def pair_week(
    members: list[Member], week: int, week_start: dt.date, history: list[tuple[int, ...]], seed: int
) -> PairRound:
    started = time.perf_counter()
    eligible = [m for m in members if m.role == "learner" and not m.pairing_opt_out]
    random.Random(seed * 1000 + week).shuffle(eligible)  # varies ties between weeks, reproducibly
    met = Counter(frozenset(p) for group in history for p in combinations(sorted(group), 2))
    free = {m.id: utc_intervals(m.timezone, m.availability, week_start) for m in eligible}

    def overlap(a: int, b: int) -> int:
        return int(overlap_seconds(free[a], free[b]) // 60)

    def weight(a: int, b: int) -> int:
        hours = min(MAX_OVERLAP_HOURS, overlap(a, b) // 60)
        return max(1, BASE - REPEAT_PENALTY * met[frozenset((a, b))]) + hours

    ids = [m.id for m in eligible]
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    for a in ids:
        best = heapq.nlargest(NEIGHBOURS, ((weight(a, b), b) for b in ids if b != a))
        graph.add_weighted_edges_from((a, b, w) for w, b in best)
    matching = nx.max_weight_matching(graph, maxcardinality=True)
    groups: list[tuple[int, ...]] = [tuple(sorted(edge)) for edge in matching]
    left = [i for i in ids if not any(i in g for g in groups)]
    if left and groups:  # an odd count leaves exactly one: make a trio rather than a bye
        groups = _trio(left[0], groups, weight, lambda a, b: met[frozenset((a, b))] == 0)
    pairs = [
        Pairing(tuple(sorted(g)), min(overlap(a, b) for a, b in combinations(g, 2)), _first_hour(g, free))
        for g in groups
    ]
    pairs.sort(key=lambda p: p.members)
    repeats = sum(1 for p in pairs for a, b in combinations(p.members, 2) if met[frozenset((a, b))])
    skipped = sorted(m.id for m in members if m.role == "learner" and m.pairing_opt_out)
    return PairRound(week, pairs, time.perf_counter() - started, repeats, skipped)


def _first_hour(group: tuple[int, ...], free: dict[int, list[tuple[float, float]]]) -> int | None:
    """When the whole group is first free together for an hour that week, to suggest in the DM."""
    common = free[group[0]]
    for member in group[1:]:
        common = shared(common, free[member])
    return next((int(lo) for lo, hi in common if hi - lo >= 3600), None)


def _trio(
    odd: int, groups: list[tuple[int, ...]], weight: Callable[[int, int], int], fresh: Callable[[int, int], bool]
) -> list[tuple[int, ...]]:
    """Add the odd one out to a pair where they know nobody; failing that, let them swap with
    someone who can join another pair as a stranger; failing that, the best-weighted pair."""

    def score(member: int, group: tuple[int, ...]) -> int:
        return sum(weight(member, x) for x in group)

    options = [i for i, g in enumerate(groups) if all(fresh(odd, x) for x in g)]
    if options:
        best = max(options, key=lambda i: score(odd, groups[i]))
        return [(*g, odd) if i == best else g for i, g in enumerate(groups)]
    swaps = [
        (score(odd, (partner,)) + score(moved, groups[j]), i, moved, j)
        for i, (a, b) in enumerate(groups)
        for moved, partner in ((a, b), (b, a))
        if fresh(odd, partner)
        for j, other in enumerate(groups)
        if j != i and all(fresh(moved, x) for x in other)
    ]
    if swaps:
        _, i, moved, j = max(swaps)
        out = list(groups)
        out[i] = (*(x for x in groups[i] if x != moved), odd)
        out[j] = (*groups[j], moved)
        return out
    best = max(range(len(groups)), key=lambda i: score(odd, groups[i]))
    return [(*g, odd) if i == best else g for i, g in enumerate(groups)]

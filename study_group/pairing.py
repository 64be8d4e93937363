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
from dataclasses import dataclass, field
from itertools import combinations

import networkx as nx

from study_group.participants import Member
from study_group.timeslots import overlap_seconds, utc_intervals

BASE = 3000
REPEAT_PENALTY = 1000
MAX_OVERLAP_HOURS = 40  # overlap only breaks ties between equally new partners
NEIGHBOURS = 30  # edges kept per person: the matching is O(n^3), and the best partners are among these


@dataclass(frozen=True)
class Pairing:
    members: tuple[int, ...]  # 2, or 3 for the odd one out
    overlap_minutes: int


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
    groups = [tuple(sorted(edge)) for edge in matching]
    left = [i for i in ids if not any(i in g for g in groups)]
    for odd in left:  # with an odd count exactly one is left; join the pair that suits them best
        if not groups:
            break
        best_i = max(range(len(groups)), key=lambda i: sum(weight(odd, x) for x in groups[i]))
        groups[best_i] = tuple(sorted((*groups[best_i], odd)))
    pairs = [Pairing(g, min(overlap(a, b) for a, b in combinations(g, 2))) for g in sorted(groups)]
    repeats = sum(1 for p in pairs for a, b in combinations(p.members, 2) if met[frozenset((a, b))])
    skipped = sorted(m.id for m in members if m.role == "learner" and m.pairing_opt_out)
    return PairRound(week, pairs, time.perf_counter() - started, repeats, skipped)

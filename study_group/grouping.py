"""Study groups by availability: a CP-SAT model in the spirit of BlueDot's scheduler.

Each facilitator may lead one group; the solver picks which groups run, the weekly slot of each
(one both the facilitator and every member can attend in all weeks, in their own time zones),
and who joins which, maximising people placed, then balance (smallest spread between the largest
and smallest group), then groups with at least one experienced member. Fixed seed, one worker
and a deterministic time limit make a re-run give the same groups.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from study_group.config import Cohort
from study_group.participants import Member
from study_group.timeslots import Slot, SlotGrid

W_PLACED, W_SPREAD, W_MIX = 1000, 10, 3


@dataclass(frozen=True)
class PlannedGroup:
    number: int
    slot: Slot
    facilitator: int
    members: tuple[int, ...]  # learners, facilitator excluded


@dataclass
class GroupingResult:
    groups: list[PlannedGroup]
    unplaced: dict[int, str] = field(default_factory=dict)  # learner id -> why
    seconds: float = 0.0
    status: str = ""

    def placed_share(self, learners: int) -> float:
        return 1.0 if learners == 0 else sum(len(g.members) for g in self.groups) / learners


def form_groups(
    cohort: Cohort, members: list[Member], seed: int | None = None, time_limit_s: float | None = None
) -> GroupingResult:
    started = time.perf_counter()
    grid = SlotGrid(cohort)
    feasible = _distinct_slots(grid, {m.id: grid.feasible(m.timezone, m.availability) for m in members})
    learners = [m for m in members if m.role == "learner"]
    leads = [m for m in members if m.role == "facilitator" and feasible[m.id]]
    lo_size, hi_size = cohort.meeting.min_group_size, cohort.meeting.max_group_size

    model = cp_model.CpModel()
    y: dict[tuple[int, int], cp_model.IntVar] = {}
    used = {}
    for g, lead in enumerate(leads):
        for s in feasible[lead.id]:
            y[g, s] = model.new_bool_var(f"y{g}_{s}")
        used[g] = model.new_bool_var(f"used{g}")
        model.add(sum(y[g, s] for s in feasible[lead.id]) == used[g])

    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for p in learners:
        for g, lead in enumerate(leads):
            common = feasible[p.id] & feasible[lead.id]
            if common:
                x[p.id, g] = var = model.new_bool_var(f"x{p.id}_{g}")
                model.add(var <= sum(y[g, s] for s in common))
        options = [x[p.id, g] for g in range(len(leads)) if (p.id, g) in x]
        if options:
            model.add_at_most_one(options)

    sizes = {}
    hi = model.new_int_var(0, hi_size, "largest")
    lo = model.new_int_var(0, hi_size, "smallest")
    mixed = []
    experienced = {m.id for m in learners if m.experience != "beginner"}
    for g in range(len(leads)):
        sizes[g] = size = sum(var for (pid, gg), var in x.items() if gg == g)
        model.add(size >= lo_size * used[g])
        model.add(size <= hi_size * used[g])
        model.add(hi >= size)
        model.add(lo <= size + hi_size * (1 - used[g]))
        has_mix = model.new_bool_var(f"mix{g}")
        model.add(has_mix <= sum(var for (pid, gg), var in x.items() if gg == g and pid in experienced))
        mixed.append(has_mix)
    hint_slots, hint_members = _greedy(learners, leads, feasible, hi_size, lo_size)
    for (g, s), var in y.items():
        model.add_hint(var, hint_slots.get(g) == s)
    for g in used:
        model.add_hint(used[g], g in hint_slots)
    for (pid, g), var in x.items():
        model.add_hint(var, hint_members.get(pid) == g)
    placed = sum(x.values())
    model.maximize(W_PLACED * placed - W_SPREAD * (hi - lo) + W_MIX * sum(mixed))

    solver = cp_model.CpSolver()
    solver.parameters.random_seed = cohort.grouping_seed if seed is None else seed
    solver.parameters.num_workers = 1
    solver.parameters.max_deterministic_time = cohort.grouping_time_limit_s if time_limit_s is None else time_limit_s
    solver.parameters.linearization_level = 2  # a much tighter bound: proves optimality ~5x sooner
    status = solver.solve(model)

    groups: list[PlannedGroup] = []
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        for g, lead in enumerate(leads):
            if not solver.boolean_value(used[g]):
                continue
            slot_index = next(s for s in feasible[lead.id] if solver.boolean_value(y[g, s]))
            chosen = tuple(sorted(pid for (pid, gg), var in x.items() if gg == g and solver.boolean_value(var)))
            groups.append(PlannedGroup(0, grid.slots[slot_index], lead.id, chosen))
    groups = [
        PlannedGroup(n, g.slot, g.facilitator, g.members)
        for n, g in enumerate(sorted(groups, key=lambda g: (g.slot, g.facilitator)), start=1)
    ]
    result = GroupingResult(groups, seconds=time.perf_counter() - started, status=solver.status_name(status))
    result.unplaced = _explain(cohort, grid, learners, leads, feasible, groups)
    return result


def _greedy(
    learners: list[Member], leads: list[Member], feasible: dict[int, set[int]], hi_size: int, lo_size: int
) -> tuple[dict[int, int], dict[int, int]]:
    """A quick first answer to start the solver from (its own first solutions are poor at scale):
    each facilitator in turn takes the slot most free learners can attend, least flexible first."""
    slots: dict[int, int] = {}
    assigned: dict[int, int] = {}
    for g, lead in sorted(enumerate(leads), key=lambda item: len(feasible[item[1].id])):
        free = [p for p in learners if p.id not in assigned]
        best = max(
            feasible[lead.id],
            key=lambda s: (sum(s in feasible[p.id] for p in free), -s),
            default=None,
        )
        if best is None:
            continue
        takers = sorted((p for p in free if best in feasible[p.id]), key=lambda p: (len(feasible[p.id]), p.id))[
            :hi_size
        ]
        if len(takers) >= lo_size:
            slots[g] = best
            assigned.update((p.id, g) for p in takers)
    return slots, assigned


def _distinct_slots(grid: SlotGrid, feasible: dict[int, set[int]]) -> dict[int, set[int]]:
    """Keep one slot of each set of slots that exactly the same people can attend (the one
    nearest 18:00, a sociable hour for the organiser).

    Such slots are interchangeable in the model, and neighbouring half-hours usually are, so this
    shrinks the model several-fold without changing its optimum.
    """
    attendees: dict[int, set[int]] = {}
    for pid, slots in feasible.items():
        for s in slots:
            attendees.setdefault(s, set()).add(pid)
    keep: dict[frozenset[int], int] = {}
    for s in sorted(attendees, key=lambda s: (abs(grid.slots[s].start - 18 * 60), s)):
        keep.setdefault(frozenset(attendees[s]), s)
    kept = set(keep.values())
    return {pid: slots & kept for pid, slots in feasible.items()}


def _explain(
    cohort: Cohort,
    grid: SlotGrid,
    learners: list[Member],
    leads: list[Member],
    feasible: dict[int, set[int]],
    groups: list[PlannedGroup],
) -> dict[int, str]:
    """Why each unplaced learner is unplaced, most fundamental reason first."""
    placed = {pid for g in groups for pid in g.members}
    lead_slots = set().union(*(feasible[lead.id] for lead in leads)) if leads else set()
    slot_index = {s: i for i, s in enumerate(grid.slots)}
    minutes = cohort.meeting.minutes
    out = {}
    for p in learners:
        if p.id in placed:
            continue
        if not p.availability:
            out[p.id] = "gave no availability"
        elif not feasible[p.id]:
            out[p.id] = f"no {minutes}-minute slot fits their availability ({p.timezone}) in every week of the cohort"
        elif not feasible[p.id] & lead_slots:
            out[p.id] = "no facilitator is free at any time they are"
        else:
            open_groups = [g for g in groups if slot_index[g.slot] in feasible[p.id]]
            if open_groups:
                out[p.id] = (
                    f"the {len(open_groups)} group(s) at times they can attend are full ({cohort.meeting.max_group_size})"
                )
            else:
                out[p.id] = (
                    f"too few people share their times to form a group of {cohort.meeting.min_group_size} with a facilitator"
                )
    return out

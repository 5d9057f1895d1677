"""The planner: day/week plans for assistants, with visits, explanations and a proven gap.

:func:`plan` is the one entry point: data in, a :class:`~va_engine.model.Plan`
out, no I/O and no clock (``now`` is passed in). It compiles the problem to
minutes, builds a greedy plan (polished by a short local search; on big weeks
by exact re-solves of a few assistant-days at a time, see
:mod:`~va_engine.planner.decompose`), hands it to CP-SAT as a hint, and returns
the best plan found with its bound and status. The bound also comes from a
time-indexed linear relaxation (:mod:`~va_engine.planner.bound`), far stronger
than CP-SAT's own once visits or many tasks compete for the week; CP-SAT stops as
soon as a plan meets it. On big weeks the relaxation's days also give a second
start plan (:mod:`~va_engine.planner.lp_start`); the re-solves improve both at
once, one on each core.
If CP-SAT finds nothing in time the greedy plan is returned, so a plan is
always produced and every task left out carries a reason.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import partial

from va_engine.model import Plan, PlanningProblem, PlanStatus
from va_engine.planner.baseline import greedy_placement, greedy_plan
from va_engine.planner.bound import RelaxationBound, relaxation_bound, stronger
from va_engine.planner.decompose import Decomposed, decompose_placement
from va_engine.planner.explain import assemble_plan
from va_engine.planner.lp_start import relaxation_plan
from va_engine.planner.params import ObjectiveWeights, PlanLimits
from va_engine.planner.schedule import Placement, compile_problem, evaluate, solve_cpsat
from va_engine.planner.spawn import run_aside
from va_engine.planner.travel import TravelModel
from va_engine.planner.validate import Violation, validate_plan

#: from this many jobs on, the day re-solves (and on two cores the relaxation's start
#: plan) improve the greedy before CP-SAT. 150 until 2026-12-05; at 60, 20-30 s runs
#: of generated weeks: one assistant, 65 jobs, 6 weeks, twice: never worse, 1.8-2 %
#: lower in total (one week a whole task better); two assistants, 130 jobs: 1.207e7 →
#: 1.114e7 and 2.536e7 → 2.425e7; the 100-task week reaches its optimum either way.
#: OR-Library's 40-job single-machine instances stay on the full model's search
DECOMPOSE_MIN_JOBS = 60
#: on such weeks the re-solves of a few assistant-days at a time stop at this share of
#: the time limit; the full model's search gains less per second there (300-task week,
#: four 30 s runs: 0.35 → 0.75 of the time for the re-solves took the mean from
#: 4.34e7 to 4.06e7, better in all four); the rest goes to the final full solve
RESOLVES_UNTIL = 0.85
#: share left to the greedy's local search on such problems (by default 30 %)
GREEDY_SHARE_BIG = 0.05
#: share of the time limit for planning the visits alone, for the start plan that
#: puts desk work where the relaxation put it (:mod:`~va_engine.planner.lp_start`)
VISITS_SHARE = 0.1

#: what the second core gives: the relaxation, and the plan improved from its days
_Side = tuple[RelaxationBound, Decomposed | None]

__all__ = [
    "ObjectiveWeights",
    "PlanLimits",
    "Violation",
    "greedy_plan",
    "plan",
    "validate_plan",
]


def plan(
    problem: PlanningProblem,
    limits: PlanLimits | None = None,
    *,
    now: datetime,
    previous: Plan | None = None,
    frozen_until: datetime | None = None,
    progress: Callable[[float, float | None], None] | None = None,
    travel: TravelModel | None = None,
) -> Plan:
    """Plan ``problem`` as well as possible within ``limits``.

    Nothing is placed before ``now`` (nor before ``frozen_until``). With
    ``previous`` and ``frozen_until``, blocks of ``previous`` that start before
    ``frozen_until`` are kept exactly, and moving any other block of
    ``previous`` is penalised, so a re-plan changes little. ``progress`` is called
    with (objective, bound) on every improving solution. ``travel`` defaults to
    :class:`~va_engine.planner.travel.HaversineTravel`.
    """
    limits = limits or PlanLimits()
    started = _time.perf_counter()
    comp = compile_problem(
        problem,
        now=now,
        weights=limits.weights,
        max_chunks=limits.max_chunks,
        travel=travel,
        previous=previous,
        frozen_until=frozen_until,
    )
    big = len(comp.jobs) >= DECOMPOSE_MIN_JOBS and limits.use_greedy_hint
    improve = limits.improve_seconds
    if big and limits.improve_s is None:
        # the day re-solves below gain far more per second than the greedy's own
        # local search (300-task week: 6.25e7 → 4.1e7 in 10 s; the local search:
        # 6.25e7 → 6.25e7 in 9 s)
        improve = GREEDY_SHARE_BIG * limits.time_limit_s
    deadline = _time.time() + RESOLVES_UNTIL * limits.time_limit_s
    lp_seconds = limits.relaxation_share * limits.time_limit_s

    def bound_only() -> _Side:
        return relaxation_bound(comp, time_limit_s=lp_seconds), None

    side: Callable[[], _Side | None] = lambda: None  # noqa: E731
    if limits.relaxation is not False:
        if big and limits.workers >= 2:
            # the second core: the relaxation, then a start plan from its days, improved
            # by the re-solves while this process improves the greedy's plan
            side = run_aside(
                partial(
                    relaxation_plan,
                    comp,
                    lp_seconds=lp_seconds,
                    visit_seconds=VISITS_SHARE * limits.time_limit_s,
                    deadline=deadline,
                    seed=limits.seed,
                ),
                instead=bound_only,
                give_up=deadline + 15.0,  # spawning and imports: a few seconds
            )
        else:
            here = bound_only()
            side = lambda: here  # noqa: E731
    rejected: list[str] = []

    def checks(candidate: Placement, source: str) -> bool:
        """Is the pieced-together plan valid? A safety net: the re-solves merge exact
        day plans by hand, and a plan that breaks a rule must never reach the user."""
        trial = assemble_plan(
            comp,
            candidate,
            status=PlanStatus.HEURISTIC,
            solver=source,
            objective=0.0,
            bound=None,
            seconds=0.0,
        )
        broken = validate_plan(problem, trial, travel=travel)
        if broken:
            rejected.append(f"{source} plan rejected: {broken[0]}")
        return not broken

    placement, breaks, value = greedy_placement(
        comp, improve_s=improve, seed=limits.seed, thorough=True
    )
    if big:
        better = decompose_placement(
            comp,
            placement,
            breaks,
            budget=deadline - _time.time(),
            seed=limits.seed,
            on_better=None if progress is None else lambda v: progress(float(v), None),
        )
        if better.value < value and checks(better.placement, "re-solved"):
            placement, breaks, value = better.placement, better.breaks, better.value
    got = side()  # in before CP-SAT takes both cores
    relaxed_bound = got[0].bound if got is not None else None
    start = got[1] if got is not None else None
    if start is not None and start.value < value and checks(start.placement, "relaxation-start"):
        placement, breaks, value = start.placement, start.breaks, start.value
    if progress is not None:
        progress(float(value), relaxed_bound)

    def answer(
        chosen: Placement, status: PlanStatus, solver: str, objective: float, bound: float | None
    ) -> Plan:
        return assemble_plan(
            comp,
            chosen,
            status=status,
            solver="; ".join([solver, *rejected]),
            objective=objective,
            bound=bound,
            seconds=_time.perf_counter() - started,
        )

    if relaxed_bound is not None and value <= relaxed_bound:
        # the relaxation meets the plan already: nothing better exists, CP-SAT can rest
        return answer(placement, PlanStatus.OPTIMAL, "greedy", float(value), relaxed_bound)
    remaining = limits.time_limit_s - (_time.perf_counter() - started)
    outcome = solve_cpsat(
        comp,
        replace(limits, time_limit_s=max(0.5, remaining)),
        hint=placement if limits.use_greedy_hint else None,
        hint_breaks=breaks if limits.use_greedy_hint else None,
        progress=progress,
        known_bound=relaxed_bound,
    )
    bound = stronger(outcome.bound, relaxed_bound)
    if outcome.placement is None:
        solver = f"greedy (cp-sat: {outcome.status.value})"
        return answer(placement, PlanStatus.HEURISTIC, solver, float(value), bound)
    objective = evaluate(comp, outcome.placement)
    if objective > value:  # cannot happen with a feasible hint, but never return worse
        return answer(placement, PlanStatus.FEASIBLE, "greedy", float(value), bound)
    status = outcome.status
    if bound is not None and objective <= bound:
        status = PlanStatus.OPTIMAL  # the relaxation met the plan: nothing better exists
    return answer(outcome.placement, status, "cp-sat", float(objective), bound)

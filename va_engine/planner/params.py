"""Tunables of the planner: solve limits and objective weights.

They are plain frozen dataclasses passed into :func:`va_engine.planner.plan`; the
solver never reads configuration itself, so a benchmark, a test and the daemon
can each choose their own without touching global state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ObjectiveWeights", "PlanLimits"]


@dataclass(frozen=True)
class ObjectiveWeights:
    """Integer weights of the objective terms; the defaults make them nearly lexicographic.

    unplanned (per task weight unit, or per missing habit session)
        ≫ weighted tardiness (per weight × minute late)
        ≫ travel (per minute on the road)
        ≫ fragmentation (per extra chunk of a split task, per client worked on per
          assistant-day, a proxy for context switches between clients)
        ≫ deviation from the previous plan (per moved block).

    One unplanned task of weight 1 costs as much as 50 000 weighted minutes of
    tardiness, more than a task left a whole month late.
    """

    unplanned: int = 1_000_000
    tardiness: int = 20
    travel: int = 4
    chunk: int = 2
    client_day: int = 1
    moved: int = 1


@dataclass(frozen=True)
class PlanLimits:
    """How long and how hard to search.

    ``time_limit_s`` bounds the CP-SAT search; ``workers`` its threads (≥ 2 enables
    the portfolio with a lower-bound worker so a gap can be proven).
    ``improve_s`` is the time given to the local search that polishes the greedy
    plan before it is used as a hint (default: 30 % of the time limit).
    ``max_chunks`` caps how many pieces a splittable task may be cut into.
    ``lns_share`` of the remaining time goes to a large-neighbourhood search
    around that plan before the final full solve, which proves the bound.
    ``energy_cuts`` adds per assistant-day capacity rows (work + least travel +
    breaks ≤ free minutes) that tighten the LP bound; off only to measure them.
    ``relaxation`` solves the time-indexed LP of :mod:`~va_engine.planner.bound`
    for a second, stronger bound (``None``: on every week; ``False``: CP-SAT's own
    bound only, for tests that measure it); it takes at most ``relaxation_share``
    of the time limit (a tenth of a second on a one-assistant week, 8–15 s on the
    300-task week, where it runs on the second core). CP-SAT stops as soon as a
    plan meets it.
    """

    time_limit_s: float = 10.0
    workers: int = 2
    seed: int = 0
    use_greedy_hint: bool = True
    improve_s: float | None = None
    max_chunks: int = 4
    lns_share: float = 0.6
    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)
    log_search: bool = False
    energy_cuts: bool = True
    relaxation: bool | None = None
    relaxation_share: float = 0.4

    @property
    def improve_seconds(self) -> float:
        return 0.3 * self.time_limit_s if self.improve_s is None else self.improve_s

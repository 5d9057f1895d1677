"""Visit patterns of one assistant-day, priced by column generation for the relaxation.

The drive rows of :mod:`~va_engine.planner.bound` bound a day's minutes of driving
but not which visits fit together in their windows: the LP packs a client's
afternoon with visits from three towns and pays the drives of one. A *pattern* is
a set of visits that one route from home and back can make, each inside one of
its windows that day, with the least drive of such a route. Every plan's day
makes exactly one pattern (maybe the empty one), so the LP chooses a convex
combination of patterns per assistant-day: a visit's minutes that day are at
most its duration times the share of the patterns holding it, and the day's
drive is at least the patterns' drive.

There are far too many patterns to write down, so they come in as they are
needed: after each solve, :meth:`DayPatterns.price` finds the pattern of least
reduced cost by a labelling search over the visits the duals pay for (an
elementary shortest path with time windows and prizes). While some pattern
prices out, the LP's value is no bound; the Lagrangian bound is: the LP's value
plus each day's least reduced cost (a day holds patterns of total share at most 1).

Routes here ignore desk work (it can lie anywhere else) and drive the shortest
chain of legs between two places (the legs' closure, which obeys the triangle
rule), so every pattern's drive is at most the plan's. Pricing reads every set of
visits a route makes under the plan's own drive rule, found once per day
(:attr:`DayRoutes.reach`); where there are too many, it searches the paid visits
alone under a looser rule, under which a route less one stop is a route too, so
a visit that pays nothing never helps (see :class:`DayRoutes` for both rules).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ortools.linear_solver import pywraplp

from va_engine.planner.schedule import Compiled, Job, merge

__all__ = ["DayPatterns", "DayRoutes", "Priced", "day_patterns", "day_routes"]

#: labels one pricing may make before it settles for a weaker, still valid, bound
LABEL_BUDGET = 40_000
#: new patterns a day takes per pricing (the most negative reduced costs)
NEW_PER_DAY = 8
#: reduced costs above this count as zero (the objective is in the millions)
TOLERANCE = 1e-3

Expr = Any


@dataclass(frozen=True)
class Priced:
    """A day's least reduced cost (≤ 0; only a lower bound of it when the search ran too
    long) and the patterns (visit mask, drive minutes) that price out."""

    least: float
    found: list[tuple[int, int]]


@dataclass(frozen=True)
class DayRoutes:
    """The routes one assistant can drive on one day: visits, their windows, the legs.

    ``windows[k]`` holds visit ``k``'s regions that day, each with the ends of the
    free stretch around it; ``rests`` are the day's breaks (earliest start, latest
    start, minutes), each in free time. Two rules for a drive:

    - *strict*, as in a plan: the drive to a visit lies in the free stretch right
      before it, the drive home in the stretch right after the last visit. A set
      of visits may then be possible only with a further stop (the assistant waits
      near the next visit through a busy hour), so leaving a stop out can make a
      route impossible;
    - *loose*: a drive takes free minutes anywhere between the stops it joins.
      More routes, and a route less one stop is a route too (legs are the closure
      of the drives, so a leg that replaces two is no longer).

    Both admit every plan's route. What the bound concludes from a *missing* set
    must hold for all larger sets too: pricing reads the strict sets whole (every
    set some route makes, :attr:`reach`), or, where there are too many, the loose
    ones; the conflict rows read the loose ones.
    Pure data in, sets of visits out: no LP here.
    """

    durations: list[int]
    windows: list[list[tuple[int, int, int, int]]]
    legs: list[list[int]]  # closure of the drives; node 0 is home, node k + 1 visit k
    stretches: list[tuple[int, int]]
    rests: list[tuple[int, int, int]]

    @cached_property
    def reach(self) -> dict[int, int] | None:
        """Every set of visits a strict route makes, with its least drive (None: more
        than the search may make)."""
        out: dict[int, int] = {}
        return out if self.routes(list(range(len(self.durations))), out, strict=True) else None

    def alone(self) -> dict[int, int]:
        """Each visit a loose route makes alone, by its mask ``1 << k``, with the least
        drive (n labels: always within the budget)."""
        out: dict[int, int] = {}
        self.routes(list(range(len(self.durations))), out, most=1)
        return out

    def clashes(self) -> tuple[list[int], list[list[int]]]:
        """The visits some route makes, and groups of them no route makes two of: cliques
        of the conflict graph that together cover every conflicting pair.

        Loose rule, one search of the sets of at most two: a visit or pair no route
        makes alone is one no route makes with other stops either. (The strict sets
        would do only read whole, as :attr:`reach`: too dear on a 300-task week,
        8–11 s more.) Past the label budget only the single visits count.
        """
        found: dict[int, int] = {}
        everyone = list(range(len(self.durations)))
        if not self.routes(everyone, found, most=2):
            found = self.alone()
            return [k for k in everyone if 1 << k in found], []
        able = [k for k in everyone if 1 << k in found]
        clash = {k: {j for j in able if j != k and (1 << k | 1 << j) not in found} for k in able}
        groups: list[list[int]] = []
        covered: set[tuple[int, int]] = set()
        for k in able:
            for j in sorted(clash[k]):
                if (k, j) in covered:
                    continue
                group = [k, j]
                for m in sorted(clash[k] & clash[j]):
                    if all(m in clash[g] for g in group):
                        group.append(m)
                covered |= {(g, h) for g in group for h in group}
                groups.append(group)
        return able, groups

    def routes(
        self,
        paid: list[int],
        best: dict[int, int],
        most: int | None = None,
        *,
        strict: bool = False,
    ) -> bool:
        """Every set of ``paid`` visits one route can make (of at most ``most``; under the
        ``strict`` rule or the loose one), with its least drive, into ``best``.

        Labels (visits made, last stop, breaks taken) hold Pareto sets of (time,
        drive): being earlier never hurts a later stop, as waiting is allowed. Under
        the loose rule any label may drive home (after its last visit, or after a
        break taken since); under the strict one the drive home follows the last
        visit at once, in whichever of its windows holds it. False when the search
        outgrew :data:`LABEL_BUDGET`.
        """
        legs = self.legs
        fronts: dict[tuple[int, int, int], list[tuple[int, int]]] = defaultdict(list)
        first = self.stretches[0][0]
        level = [(0, -1, 0, first, 0)]  # (mask, last visit or -1: home, breaks, time, drive)
        made = 1
        full = len(self.durations) if most is None else most
        while level:
            nxt: list[tuple[int, int, int, int, int]] = []
            for mask, last, taken, time, drive in level:
                if mask and (time, drive) not in fronts[(mask, last, taken)]:
                    continue  # dominated since it was made
                home = drive + legs[last + 1][0]
                if (
                    mask
                    and not strict
                    and home < best.get(mask, 1 << 30)
                    and self._home(taken, self._after(time, legs[last + 1][0]))
                ):
                    best[mask] = home
                for i in range(len(self.rests)):
                    if not taken >> i & 1 and (after := self._rest(i, time)) is not None:
                        key = (mask, last, taken | 1 << i)
                        if _keep(fronts[key], after, drive):
                            nxt.append((*key, after, drive))
                for k in paid if mask.bit_count() < full else ():
                    if mask >> k & 1:
                        continue
                    leg = legs[last + 1][k + 1]
                    done = self._finish(k, time, leg, strict)
                    if done is None:
                        continue
                    key = (mask | 1 << k, k, taken)
                    home = drive + leg + legs[k + 1][0]
                    # strict: the drive home follows the visit at once, in its free
                    # stretch; a later window may hold it where the earliest does not
                    if (
                        strict
                        and home < best.get(key[0], 1 << 30)
                        and self._home(taken, self._back(k, time, leg))
                    ):
                        best[key[0]] = home
                    if _keep(fronts[key], done, drive + leg):
                        nxt.append((*key, done, drive + leg))
            made += len(nxt)
            if made > LABEL_BUDGET:
                return False
            level = nxt
        return True

    def _finish(self, k: int, ready: int, leg: int, strict: bool) -> int | None:
        """When visit ``k`` ends at the earliest after a drive of ``leg`` minutes that
        starts no earlier than ``ready``."""
        arrive = ready + leg if strict else self._after(ready, leg)
        if arrive is None:
            return None
        need = self.durations[k]
        for lo, hi, free, _ in self.windows[k]:
            start = max(arrive, lo, free + leg) if strict else max(arrive, lo)
            if start + need <= hi:
                return start + need
        return None

    def _back(self, k: int, ready: int, leg: int) -> int | None:
        """Strict: when the assistant is home at the earliest if visit ``k`` (its drive
        starting no earlier than ``ready``) ends the route, in a window whose free
        stretch also holds the drive home."""
        need, back = self.durations[k], self.legs[k + 1][0]
        for lo, hi, free, until in self.windows[k]:
            end = max(ready + leg, lo, free + leg) + need
            if end <= hi and end + back <= until:
                return end + back
        return None

    def _home(self, taken: int, home: int | None) -> bool:
        """Can the breaks not yet ``taken`` follow the drive home, ended at ``home``?"""
        for i in range(len(self.rests)):
            if home is None:
                return False
            if not taken >> i & 1:
                home = self._rest(i, home)
        return home is not None

    def _after(self, ready: int, leg: int) -> int | None:
        """When a drive of ``leg`` minutes from ``ready`` on ends at the earliest, counting
        only free minutes (None: the day has too few left).

        A real drive is one stretch of free time right before the visit; letting it
        take free minutes on both sides of a busy hour makes more routes possible, and
        so a route less one stop is possible whenever the route is: the shorter leg
        that replaces two fits in the free minutes they and the stop took.
        """
        left = leg
        for s, e in self.stretches:
            if e <= ready:
                continue
            lo = max(s, ready)
            if e - lo >= left:
                return lo + left
            left -= e - lo
        return None if left else ready

    def _rest(self, i: int, ready: int) -> int | None:
        """When break ``i`` ends at the earliest if it starts no earlier than ``ready``."""
        lo, hi, minutes = self.rests[i]
        for s, e in self.stretches:
            start = max(ready, lo, s)
            if start + minutes <= e:
                return start + minutes if start <= hi else None
        return None


@dataclass
class DayPatterns:
    """The patterns of one assistant-day in the LP, and the rows that tie them to it."""

    day: DayRoutes
    link: list[pywraplp.Constraint]
    convex: pywraplp.Constraint
    cover: pywraplp.Constraint
    drive: pywraplp.Variable
    known: dict[int, pywraplp.Variable] = field(default_factory=dict)

    def enable(self, on: bool) -> None:
        """Tie the day's visits to its patterns (or set them free of them)."""
        for row in self.link:
            row.SetUb(0 if on else math.inf)

    def add(self, solver: pywraplp.Solver, mask: int, minutes: int) -> None:
        """Offer the LP the pattern of the visits in ``mask``, driving ``minutes``."""
        if mask in self.known:
            return
        share = solver.NumVar(0, 1, "")
        self.known[mask] = share
        self.convex.SetCoefficient(share, 1)
        self.cover.SetCoefficient(share, minutes)
        for k, minutes_k in enumerate(self.day.durations):
            if mask >> k & 1:
                self.link[k].SetCoefficient(share, -minutes_k)

    def price(self) -> Priced:
        """The least reduced cost of any pattern under the last solve's duals.

        Read before the model changes: a changed model has no duals.
        """
        fixed = -self.convex.dual_value()
        per_minute = max(0.0, -self.cover.dual_value())
        prize = [
            -need * row.dual_value()
            for need, row in zip(self.day.durations, self.link, strict=True)
        ]
        paid = [k for k, p in enumerate(prize) if p > 1e-9]
        best = self.day.reach  # mask → least drive of a route making it
        if best is None:
            # too many strict sets: the loose ones, where a visit that pays nothing
            # never helps, so the paid visits alone are searched
            best = {}
            if not self.day.routes(paid, best):
                return Priced(min(0.0, fixed - sum(prize[k] for k in paid)), [])
        costs = sorted(
            (fixed + per_minute * drive - sum(prize[k] for k in paid if mask >> k & 1), mask)
            for mask, drive in best.items()
        )
        least = min(0.0, costs[0][0]) if costs else 0.0
        found = [(mask, best[mask]) for rc, mask in costs[:NEW_PER_DAY] if rc < -TOLERANCE]
        return Priced(least, [f for f in found if f[0] not in self.known])


def _keep(front: list[tuple[int, int]], time: int, drive: int) -> bool:
    """Add (time, drive) to a Pareto front unless some label there is as early and as short."""
    if any(t <= time and d <= drive for t, d in front):
        return False
    front[:] = [(t, d) for t, d in front if not (time <= t and drive <= d)]
    front.append((time, drive))
    return True


def day_routes(comp: Compiled, slot: tuple[int, int], visits: list[Job]) -> DayRoutes:
    """The routes of assistant-day ``slot`` among ``visits`` (each with regions that day)."""
    a, d = slot
    cal = comp.calendars[a]
    stretches = merge((seg.start, seg.end) for seg in cal.segments if seg.day == d)
    places = [cal.assistant.home] + [job.location for job in visits]
    return DayRoutes(
        durations=[job.duration for job in visits],
        windows=[_windows(job, a, d, stretches) for job in visits],
        legs=_closure([[comp.travel_minutes(a, p, q) for q in places] for p in places]),
        stretches=stretches,
        rests=[(br.lo, br.hi, br.minutes) for br in cal.breaks if br.day == d],
    )


def day_patterns(solver: pywraplp.Solver, day: DayRoutes, spent: list[list[Expr]]) -> DayPatterns:
    """The pattern rows of one assistant-day, seeded with every visit a route makes alone.

    ``spent[k]`` are visit ``k``'s minutes in the day's buckets. The day's drive
    variable is at least every chosen pattern's drive; the caller charges it and
    counts it against the day's time.
    """
    drive = solver.NumVar(0, solver.infinity(), "")
    rows = DayPatterns(
        day=day,
        link=[solver.Add(solver.Sum(minutes) <= 0) for minutes in spent],
        convex=solver.Constraint(-solver.infinity(), 1),
        cover=solver.Constraint(-solver.infinity(), 0),
        drive=drive,
    )
    rows.cover.SetCoefficient(drive, -1)
    if day.reach is not None:
        seeds = {mask: minutes for mask, minutes in day.reach.items() if mask.bit_count() == 1}
    else:
        seeds = day.alone()
    for mask, minutes in seeds.items():
        rows.add(solver, mask, minutes)
    return rows


def _windows(
    job: Job, a: int, d: int, stretches: list[tuple[int, int]]
) -> list[tuple[int, int, int, int]]:
    """``job``'s regions on assistant ``a``'s day ``d``, each with its free stretch's ends."""
    out = []
    for r in sorted(job.regions.get(a, []), key=lambda r: r.start):
        if r.day == d:
            free, until = next(((s, e) for s, e in stretches if s <= r.start < e), (r.start, r.end))
            out.append((r.start, r.end, free, until))
    return out


def _closure(legs: list[list[int]]) -> list[list[int]]:
    """Shortest chains of legs (Floyd–Warshall): never longer than a leg, and triangular."""
    n = len(legs)
    dist = [row[:] for row in legs]
    for m in range(n):
        via = dist[m]
        for i in range(n):
            to_m = dist[i][m]
            row = dist[i]
            for j in range(n):
                if to_m + via[j] < row[j]:
                    row[j] = to_m + via[j]
    return dist

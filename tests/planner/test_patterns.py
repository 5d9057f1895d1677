"""Visit patterns (patterns.py): the labelling search finds every route a brute force finds."""

from __future__ import annotations

import itertools
import random

import pytest

from va_engine.planner.patterns import DayRoutes, _closure

Stretch = tuple[int, int]


def _day(rng: random.Random, n: int) -> DayRoutes:
    """A random day: a busy block at 12:00-12:30, visits with one or two windows, maybe lunch."""
    stretches = [(480, 720), (750, 1020)]
    windows = []
    for _ in range(n):
        spans = []
        for _ in range(rng.randint(1, 2)):
            lo, hi = rng.choice(stretches)
            start = rng.randrange(lo, hi - 60, 15)
            spans.append((start, min(hi, start + rng.choice([60, 90, 120, 180])), lo, hi))
        windows.append(sorted(spans))
    legs = [[0 if i == j else rng.randint(5, 45) for j in range(n + 1)] for i in range(n + 1)]
    return DayRoutes(
        durations=[rng.choice([20, 30, 45, 60]) for _ in range(n)],
        windows=windows,
        legs=_closure(legs),
        stretches=stretches,
        rests=[(660, 780, 30)] if rng.random() < 0.5 else [],
    )


def _ends(day: DayRoutes, k: int, ready: int, leg: int) -> list[tuple[int, int]]:
    """(earliest end, end of its free stretch) of visit ``k`` in each window it fits."""
    need, out = day.durations[k], []
    for lo, hi, free, until in day.windows[k]:
        start = max(ready + leg, lo, free + leg)  # the drive ends as the visit starts, in free time
        if start + need <= hi:
            out.append((start + need, until))
    return out


def _rest(day: DayRoutes, ready: int) -> int | None:
    lo, hi, minutes = day.rests[0]
    for s, e in day.stretches:
        start = max(ready, lo, s)
        if start + minutes <= e:
            return start + minutes if start <= hi else None
    return None


def _drive(day: DayRoutes, order: tuple[int, ...], rest_at: int | None) -> int | None:
    """The drive of visiting ``order`` from home and back, lunch before stop ``rest_at``
    (len(order): after coming home), or None if the route does not fit. A stop on the
    way ends as early as it can; the last one may take a later window, where the
    drive home fits in free time."""
    time, here, drive = day.stretches[0][0], 0, 0
    for i, k in enumerate(order):
        if rest_at == i and (time := _rest(day, time)) is None:  # type: ignore[assignment]
            return None
        leg = day.legs[here][k + 1]
        ends = _ends(day, k, time, leg)
        back = day.legs[k + 1][0]
        if i == len(order) - 1:
            ends = [(end, until) for end, until in ends if end + back <= until]
        if not ends:
            return None
        time, here, drive = ends[0][0], k + 1, drive + leg
    time += day.legs[here][0]
    if rest_at == len(order) and _rest(day, time) is None:
        return None
    return drive + day.legs[here][0]


def _brute_force(day: DayRoutes) -> dict[int, int]:
    best: dict[int, int] = {}
    n = len(day.durations)
    for size in range(1, n + 1):
        for order in itertools.permutations(range(n), size):
            places = range(size + 1) if day.rests else [None]
            drives = [d for at in places if (d := _drive(day, order, at)) is not None]
            if drives:
                mask = sum(1 << k for k in order)
                best[mask] = min(best.get(mask, 1 << 30), min(drives))
    return best


@pytest.mark.parametrize("seed", range(40))
def test_the_labelling_search_finds_every_route_and_its_least_drive(seed: int) -> None:
    rng = random.Random(seed)
    day = _day(rng, 5)
    found: dict[int, int] = {}
    assert day.routes(list(range(5)), found)
    assert found == _brute_force(day)


def test_the_closure_of_the_legs_obeys_the_triangle_rule() -> None:
    rng = random.Random(7)
    legs = [[0 if i == j else rng.randint(1, 60) for j in range(8)] for i in range(8)]
    closed = _closure(legs)
    for i, j, m in itertools.product(range(8), repeat=3):
        assert closed[i][j] <= legs[i][j]
        assert closed[i][j] <= closed[i][m] + closed[m][j]

"""Visit patterns (patterns.py): the labelling search finds every route a brute force finds."""

from __future__ import annotations

import bisect
import itertools
import random

import pytest

from va_engine.planner.patterns import DayRoutes, _closure

Stretch = tuple[int, int]


def _day(rng: random.Random, n: int) -> DayRoutes:
    """A random day: busy at 12:00-12:30, visits with one or two windows, maybe lunch."""
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


class _Clock:
    """Free minutes of the day as a running count, to find when a drive can end."""

    def __init__(self, day: DayRoutes) -> None:
        free = [any(s <= t < e for s, e in day.stretches) for t in range(1441)]
        self.count = list(itertools.accumulate([0, *free]))  # count[t]: free minutes before t

    def after(self, ready: int, leg: int) -> int | None:
        need = self.count[ready] + leg
        t = bisect.bisect_left(self.count, need, lo=ready)
        return t if t < len(self.count) else None


def _end(day: DayRoutes, clock: _Clock, k: int, ready: int, leg: int, strict: bool) -> int | None:
    arrive = ready + leg if strict else clock.after(ready, leg)
    if arrive is None:
        return None
    for lo, hi, free, _ in day.windows[k]:
        # strict: the drive lies in the free stretch right before the visit
        start = max(arrive, lo, free + leg) if strict else max(arrive, lo)
        if start + day.durations[k] <= hi:
            return start + day.durations[k]
    return None


def _rest(day: DayRoutes, ready: int) -> int | None:
    lo, hi, minutes = day.rests[0]
    for s, e in day.stretches:
        start = max(ready, lo, s)
        if start + minutes <= e:
            return start + minutes if start <= hi else None
    return None


def _drive(
    day: DayRoutes, clock: _Clock, order: tuple[int, ...], rest_at: int | None, strict: bool
) -> int | None:
    """The drive of visiting ``order`` from home and back, each stop as early as it can,
    lunch before stop ``rest_at`` (len(order): before driving home, loose rule only;
    one more: after), or None if the route does not fit. Strict: the last stop takes
    the first window whose free stretch holds the drive home right after it."""
    time: int | None = day.stretches[0][0]
    here, drive = 0, 0
    for i, k in enumerate(order):
        if rest_at == i:
            time = _rest(day, time) if time is not None else None
        if time is None:
            return None
        leg = day.legs[here][k + 1]
        if strict and i == len(order) - 1:  # the drive home follows at once, in free time
            back = day.legs[k + 1][0]
            homes = [
                end + back
                for lo, hi, free, until in day.windows[k]
                if (end := max(time + leg, lo, free + leg) + day.durations[k]) <= hi
                and end + back <= until
            ]
            time = homes[0] if homes else None
        else:
            time = _end(day, clock, k, time, leg, strict)
        here, drive = k + 1, drive + leg
    if not strict and rest_at == len(order) and time is not None:
        time = _rest(day, time)
    if time is None:
        return None
    back = day.legs[here][0]
    if not strict:
        time = clock.after(time, back)
    if time is None or time > day.stretches[-1][1]:
        return None
    if rest_at == len(order) + 1 and _rest(day, time) is None:
        return None
    return drive + back


def _brute_force(day: DayRoutes, strict: bool) -> dict[int, int]:
    best: dict[int, int] = {}
    n, clock = len(day.durations), _Clock(day)
    for size in range(1, n + 1):
        for order in itertools.permutations(range(n), size):
            # lunch before a stop, before the drive home (loose rule only), or after it
            places = [at for at in range(size + 2) if not (strict and at == size)]
            places = places if day.rests else [None]
            drives = [
                d for at in places if (d := _drive(day, clock, order, at, strict)) is not None
            ]
            if drives:
                mask = sum(1 << k for k in order)
                best[mask] = min(best.get(mask, 1 << 30), min(drives))
    return best


@pytest.mark.parametrize("strict", [False, True], ids=["loose", "strict"])
@pytest.mark.parametrize("seed", range(40))
def test_the_labelling_search_finds_every_route_and_its_least_drive(
    seed: int, strict: bool
) -> None:
    rng = random.Random(seed)
    day = _day(rng, 5)
    found: dict[int, int] = {}
    assert day.routes(list(range(5)), found, strict=strict)
    assert found == _brute_force(day, strict)


def test_a_pair_possible_only_with_a_stop_between_is_no_conflict() -> None:
    # busy 12-13. The farm (u) in the morning, then the dyke at 13:00-13:50 (v): the
    # 60-min drive from the farm cannot lie in the free time after lunch, but a stop
    # at the mill next to the dyke (z) before 12 lets the assistant wait there
    u, z, v = 0, 1, 2
    legs = [[0, 30, 30, 30], [30, 0, 30, 60], [30, 30, 0, 5], [30, 60, 5, 0]]
    day = DayRoutes(
        durations=[30, 30, 30],
        windows=[[(480, 600, 480, 720)], [(600, 720, 480, 720)], [(780, 830, 780, 1020)]],
        legs=_closure(legs),
        stretches=[(480, 720), (780, 1020)],
        rests=[],
    )
    strict: dict[int, int] = {}
    day.routes([u, z, v], strict, strict=True)
    assert 1 << u | 1 << v not in strict  # the strict rule alone would call them a conflict
    assert 1 << u | 1 << z | 1 << v in strict
    able, groups = day.clashes()
    assert able == [u, z, v]
    assert all({u, v} - set(group) for group in groups)


@pytest.mark.parametrize("seed", range(40))
def test_a_route_less_one_stop_is_a_route_too(seed: int) -> None:
    # the conflict rows of the bound ("no route makes both") rely on it: were a pair
    # possible only with a third stop between, the row would cut off a real plan
    rng = random.Random(seed)
    day = _day(rng, 6)
    found: dict[int, int] = {}
    assert day.routes(list(range(6)), found)
    for mask in found:
        for k in range(6):
            if mask >> k & 1 and mask != 1 << k:
                assert mask & ~(1 << k) in found


def test_the_closure_of_the_legs_obeys_the_triangle_rule() -> None:
    rng = random.Random(7)
    legs = [[0 if i == j else rng.randint(1, 60) for j in range(8)] for i in range(8)]
    closed = _closure(legs)
    for i, j, m in itertools.product(range(8), repeat=3):
        assert closed[i][j] <= legs[i][j]
        assert closed[i][j] <= closed[i][m] + closed[m][j]

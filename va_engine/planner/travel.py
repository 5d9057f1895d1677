"""Travel times between locations.

The default model is great-circle (haversine) distance times a detour factor,
divided by a speed per travel mode, plus a fixed overhead for parking or
locking the bike. It needs no network and is good enough to order visits;
anyone with a routing engine passes a :class:`TravelMatrix` instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from va_engine.model import Location

__all__ = [
    "SPEEDS_KMH",
    "HaversineTravel",
    "TravelMatrix",
    "TravelModel",
    "haversine_km",
]

EARTH_RADIUS_KM = 6371.0088

#: Average door-to-door speeds in km/h for the detoured distance.
SPEEDS_KMH: dict[str, float] = {"car": 50.0, "bike": 15.0, "walk": 4.5, "transit": 30.0}


def haversine_km(a: Location, b: Location) -> float:
    """Great-circle distance in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class TravelModel(Protocol):
    """Anything that can say how many minutes it takes to get from ``a`` to ``b``."""

    def minutes(self, a: Location, b: Location, mode: str) -> int: ...


@dataclass(frozen=True)
class HaversineTravel:
    """Straight-line distance × ``detour`` at a speed per mode, rounded up to whole minutes."""

    detour: float = 1.3
    overhead_minutes: int = 5
    speeds_kmh: dict[str, float] = field(default_factory=lambda: dict(SPEEDS_KMH))

    def minutes(self, a: Location, b: Location, mode: str) -> int:
        if (a.lat, a.lon) == (b.lat, b.lon):
            return 0
        speed = self.speeds_kmh.get(mode)
        if speed is None:
            raise ValueError(
                f"unknown travel mode {mode!r}: choose one of {sorted(self.speeds_kmh)}"
            )
        km = haversine_km(a, b) * self.detour
        return math.ceil(km / speed * 60) + self.overhead_minutes


@dataclass(frozen=True)
class TravelMatrix:
    """Travel minutes given as data, e.g. from OSRM or a spreadsheet.

    ``locations[i]`` to ``locations[j]`` takes ``minutes[i][j]``; the mode is
    ignored (a matrix is made for one mode).
    """

    locations: Sequence[Location]
    minutes_matrix: Sequence[Sequence[int]]

    def __post_init__(self) -> None:
        n = len(self.locations)
        if len(self.minutes_matrix) != n or any(len(row) != n for row in self.minutes_matrix):
            raise ValueError(
                f"travel matrix must be {n}×{n} for {n} locations, "
                f"got {len(self.minutes_matrix)} rows of lengths "
                f"{sorted({len(row) for row in self.minutes_matrix})}"
            )
        if any(value < 0 for row in self.minutes_matrix for value in row):
            raise ValueError("travel matrix holds a negative travel time")

    def _index(self, location: Location) -> int:
        for i, known in enumerate(self.locations):
            if (known.lat, known.lon) == (location.lat, location.lon):
                return i
        raise KeyError(f"location {location.name or (location.lat, location.lon)} not in matrix")

    def minutes(self, a: Location, b: Location, mode: str) -> int:
        return int(self.minutes_matrix[self._index(a)][self._index(b)])

"""When a client may be contacted: pure functions over the agreement's reachability windows.

Anything that contacts a client (a mail to them or to their customers, a
call task) is *released* at the first moment inside a window, never before;
a day without windows (e.g. Sunday for "no Sunday contact") is skipped
entirely. An agreement without any windows means "no restriction".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from va_engine.model import DayWindow, expand_windows

__all__ = ["is_reachable", "next_release"]

#: How far ahead to look for a window; a week always holds every weekly window.
_SEARCH = timedelta(days=8)


def next_release(
    now: datetime,
    windows: Sequence[DayWindow],
    tz: ZoneInfo,
    *,
    not_after: datetime | None = None,
) -> datetime | None:
    """The first moment at or after ``now`` inside a window, or None if none comes in time.

    ``not_after`` bounds the answer (e.g. an appointment's start: a confirmation
    that cannot go out before it is pointless). Windows are wall-clock times in
    ``tz``, so they stay put across DST changes.
    """
    if not windows:
        return now if not_after is None or now <= not_after else None
    for window in expand_windows(windows, now, now + _SEARCH, tz):
        start = max(window.start, now)
        if not_after is not None and start > not_after:
            return None
        return start
    return None


def is_reachable(now: datetime, windows: Sequence[DayWindow], tz: ZoneInfo) -> bool:
    """Whether ``now`` lies inside a window (always, without windows)."""
    return next_release(now, windows, tz) == now

"""Named crash points for the restart tests: ``VA_ENGINE_FAILPOINTS=name:n,name2:m``.

When set, the ``n``-th time the process passes ``failpoint(name)`` it kills
itself with SIGKILL, exactly like ``kill -9`` at that instant: no cleanup, no
``finally``. The restart tests use it to hit the narrow windows (between a
side effect and its bookkeeping) that random external kills rarely hit.
``name:n:pause=S`` sleeps S seconds there instead, so a test can kill the
process from outside while it is provably mid-run (the multi-node tests).
Unset (production), a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal
import threading
import time

__all__ = ["configure", "failpoint"]

_lock = threading.Lock()
_counts: dict[str, int] = {}


def _parse(text: str) -> dict[str, tuple[int, float | None]]:
    """name -> (pass that triggers it, seconds to pause there or None to die)."""
    points: dict[str, tuple[int, float | None]] = {}
    for item in text.split(","):
        name, _, rest = item.strip().partition(":")
        count, _, action = rest.partition(":")
        if name:
            pause = float(action.removeprefix("pause=")) if action else None
            points[name] = (int(count or "1"), pause)
    return points


_POINTS = _parse(os.environ.get("VA_ENGINE_FAILPOINTS", ""))


def configure(text: str) -> None:
    """Replace the armed failpoints (a forked test worker re-arms from its own environment)."""
    global _POINTS
    with _lock:
        _POINTS = _parse(text)
        _counts.clear()


def failpoint(name: str) -> None:
    """Die here (SIGKILL), or pause, on the configured pass; a no-op otherwise."""
    point = _POINTS.get(name)
    if point is None:
        return
    target, pause = point
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        hit = _counts[name] == target
    if hit and pause is not None:
        time.sleep(pause)
    elif hit:
        os.kill(os.getpid(), signal.SIGKILL)

"""Named crash points for the restart tests: ``VA_ENGINE_FAILPOINTS=name:n,name2:m``.

When set, the ``n``-th time the process passes ``failpoint(name)`` it kills
itself with SIGKILL, exactly like ``kill -9`` at that instant: no cleanup, no
``finally``. The restart tests use it to hit the narrow windows (between a
side effect and its bookkeeping) that random external kills rarely hit.
Unset (production), a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal
import threading

__all__ = ["configure", "failpoint"]

_lock = threading.Lock()
_counts: dict[str, int] = {}


def _parse(text: str) -> dict[str, int]:
    points: dict[str, int] = {}
    for item in text.split(","):
        name, _, count = item.strip().partition(":")
        if name:
            points[name] = int(count or "1")
    return points


_POINTS = _parse(os.environ.get("VA_ENGINE_FAILPOINTS", ""))


def configure(text: str) -> None:
    """Replace the armed failpoints (a forked test worker re-arms from its own environment)."""
    global _POINTS
    with _lock:
        _POINTS = _parse(text)
        _counts.clear()


def failpoint(name: str) -> None:
    """Die here (SIGKILL) on the configured pass; a no-op otherwise."""
    target = _POINTS.get(name)
    if target is None:
        return
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        hit = _counts[name] == target
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)

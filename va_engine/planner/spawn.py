"""Work handed to spawned processes: the one place that decides whether a child may start.

The planner uses a second core for the routing portfolio and, on big weeks, for
the relaxation bound and the start plan built from it. Spawned (not forked)
children are safe next to threads and the same on every OS, but two cases
forbid them: a daemonic process (a Celery worker) may
have no children, and a child that is still importing a script without the
``if __name__ == "__main__":`` guard must not start more. The first means
"do the work here instead"; the second is a user's error that multiprocessing
explains itself, so it is raised rather than hidden behind a second, silent plan.
"""

from __future__ import annotations

import multiprocessing
import time as _time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_aside", "submit_spawned"]

T = TypeVar("T")


def submit_spawned(
    fn: Callable[..., T], calls: Sequence[tuple[Any, ...]]
) -> tuple[ProcessPoolExecutor, list[Future[T]]] | None:
    """``fn(*args)`` for each of ``calls``, each in a spawned process; None where none may start.

    The caller collects the futures and shuts the pool down (``wait=False``).
    """
    pool: ProcessPoolExecutor | None = None
    try:
        pool = ProcessPoolExecutor(len(calls), mp_context=multiprocessing.get_context("spawn"))
        return pool, [pool.submit(fn, *args) for args in calls]
    except Exception as error:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if isinstance(error, RuntimeError) and "bootstrapping" in str(error):
            raise  # a child re-running an unguarded script: multiprocessing's message says why
        return None  # e.g. a daemonic worker may have no children


def run_aside(
    fn: Callable[[], T], *, instead: Callable[[], T | None], give_up: float
) -> Callable[[], T | None]:
    """Start ``fn`` (picklable) in a spawned process; the returned call gives its result.

    The call waits until ``give_up`` (``time.time()``) at most; a lost or late child
    gives None. Where no child may start, ``instead`` runs here, now, and its
    result is what the call gives.
    """
    spawned = submit_spawned(fn, [()])
    if spawned is None:
        result = instead()
        return lambda: result
    pool, (future,) = spawned

    def collect() -> T | None:
        try:
            return future.result(timeout=max(0.0, give_up - _time.time()))
        except Exception:  # a lost or late child only loses what it would have added
            return None
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    return collect

"""Scope locks: a client's runs never overlap, within one process or across many.

``Runtime.lock(scope)`` hands out a lock per scope. In the single daemon a
``threading.Lock`` is enough (:class:`ThreadScopeLocks`). Celery workers are
separate processes on separate machines, so they take a PostgreSQL
session-level advisory lock instead (:class:`PostgresScopeLocks`), held on a
connection of its own for the whole run: when a worker is killed its
connection closes and the server frees the lock at once, so the redelivered
run is not blocked by a dead process.

:class:`AdvisoryLock` is the same mechanism for one fixed key; the clock uses
it for leader election.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

__all__ = [
    "SCOPE_LOCK_SPACE",
    "AdvisoryLock",
    "PostgresScopeLocks",
    "ScopeLock",
    "ScopeLocks",
    "ThreadScopeLocks",
    "lock_engine",
]

#: First key of the two-key advisory lock space used for scopes ("va"), so scope
#: locks never collide with one-key locks (clock election, schema upgrade).
SCOPE_LOCK_SPACE = 0x7661
_POLL_S = 0.2


class ScopeLock(Protocol):
    """What ``execute`` needs of a lock: ``threading.Lock`` has exactly this shape."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool: ...

    def release(self) -> None: ...

    def __enter__(self) -> bool: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ScopeLocks(ABC):
    """Hands out the lock of one scope (a client id or ``@assistant``)."""

    @abstractmethod
    def lock(self, scope: str) -> ScopeLock: ...


class ThreadScopeLocks(ScopeLocks):
    """One ``threading.Lock`` per scope: enough when every run is in this process."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, scope: str) -> ScopeLock:
        with self._guard:
            return self._locks.setdefault(scope, threading.Lock())


def lock_engine(url: str) -> Engine:
    """An engine whose connections really close when released: a lock must never
    outlive its holder in a pool."""
    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock on a dedicated connection.

    ``key`` is one bigint, or ``(space, name)``: the two-key space with the
    name hashed by the server (``hashtext``). Not reentrant; one holder at a
    time per instance.
    """

    def __init__(self, engine: Engine, key: int | tuple[int, str]) -> None:
        self._engine = engine
        self._args = "(:a, hashtext(:b))" if isinstance(key, tuple) else "(:a)"
        self._params: dict[str, object] = (
            {"a": key[0], "b": key[1]} if isinstance(key, tuple) else {"a": key}
        )
        self._connection: Connection | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None

    def try_acquire(self) -> bool:
        """One attempt; False when another session holds it (or the server is away)."""
        if self._connection is not None:
            return True
        try:
            connection = self._engine.connect()
        except SQLAlchemyError:
            return False
        try:
            got = bool(
                connection.execute(
                    text(f"SELECT pg_try_advisory_lock{self._args}"), self._params
                ).scalar()
            )
        except SQLAlchemyError:
            connection.close()
            return False
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Poll until held, or until ``timeout`` seconds passed (-1: forever)."""
        deadline = None if timeout < 0 else time.monotonic() + timeout
        while True:
            if self.try_acquire():
                return True
            if not blocking or (deadline is not None and time.monotonic() >= deadline):
                return False
            time.sleep(_POLL_S)

    def alive(self) -> bool:
        """Whether the lock is still ours: its connection still answers."""
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            self._drop()
            return False
        return True

    def release(self) -> None:
        if self._connection is None:
            return
        # a dead connection fails here: the server dropped the lock with it
        with contextlib.suppress(SQLAlchemyError):
            self._connection.execute(text(f"SELECT pg_advisory_unlock{self._args}"), self._params)
        self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                connection.close()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class PostgresScopeLocks(ScopeLocks):
    """Advisory lock ``(SCOPE_LOCK_SPACE, hashtext(scope))`` per run, across processes.

    A fresh :class:`AdvisoryLock` per call: each run holds its own connection, so
    two runs in one process contend like two processes do. A hash collision
    only makes two clients wait for each other, never run together.
    """

    def __init__(self, url: str) -> None:
        self._engine = lock_engine(url)

    def lock(self, scope: str) -> ScopeLock:
        return AdvisoryLock(self._engine, (SCOPE_LOCK_SPACE, scope))

    def close(self) -> None:
        self._engine.dispose()

"""The one Celery task, ``va_engine.run(scope, workflow, slot)``: the single daemon's run.

Steps: count the delivery on the ``va_dispatch`` row (a final row means a
duplicate message: acknowledge and drop it), run
:func:`va_engine.workflows.jobs.run_workflow` — the very function the single
daemon's scheduler calls — for the slot's period, and record the outcome.
Everything that makes a run happen once is inside that function (scope lock,
``begin_run``, keyed outbox rows, ledger ``run_key``); the task only adds the
bookkeeping the clock and ``va-engine status`` read.

The runtime is built per worker process on first use, after the fork (a
SQLAlchemy engine must never cross a fork), with PostgreSQL scope locks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

from celery import Celery, Task

from va_engine.cluster import dispatch
from va_engine.cluster.celery_app import TASK_NAME
from va_engine.cluster.locks import PostgresScopeLocks
from va_engine.settings import load_config
from va_engine.store import Store
from va_engine.workflows import jobs
from va_engine.workflows.options import load_daemon_options

__all__ = ["BUSY_RETRY_S", "build_runtime", "register", "run_dispatched"]

log = logging.getLogger(__name__)

#: seconds before a run whose client was busy (another run holds its lock) is tried again
BUSY_RETRY_S = 5
#: statuses of run_workflow that end the dispatch as failed, so the clock retries the slot
#: once the backoff has passed ("backoff": the client was still backing off, e.g. this
#: worker's clock is a little behind the clock node's)
_FAILED = ("failed", "timeout", "crashed", "backoff")

_built_for: int | None = None
_guard = threading.Lock()


def build_runtime(config_dir: Path | None = None) -> jobs.Runtime:
    """A worker process's runtime: config from ``config_dir`` (or ``VA_ENGINE_CONFIG_DIR``),
    its own store, and advisory locks so runs of one client never overlap across workers."""
    from va_engine.cluster.clock import require_postgres

    config = load_config(config_dir)
    url = require_postgres(config)
    return jobs.Runtime(
        config=config,
        options=load_daemon_options(config),
        store=Store(url),
        locks=PostgresScopeLocks(url),
    )


def _runtime() -> jobs.Runtime:
    """Build (once per process, after any fork) and install the runtime run_workflow uses."""
    global _built_for
    with _guard:
        if _built_for != os.getpid():
            jobs.set_runtime(build_runtime())
            _built_for = os.getpid()
    return jobs.get_runtime()


def run_dispatched(task: Task, scope: str, workflow: str, slot: str) -> dict[str, Any]:
    runtime = _runtime()
    store = runtime.store
    me = f"{socket.gethostname()}:{os.getpid()}"
    claimed = dispatch.claim(store, scope, workflow, slot, worker=me, now=runtime.clock())
    if claimed.final:
        log.info("%s/%s %s already %s; duplicate dropped", scope, workflow, slot, claimed.status)
        return {"scope": scope, "workflow": workflow, "status": "duplicate"}
    summary = jobs.run_workflow(scope, workflow, "scheduled", slot=slot)
    status = str(summary["status"])
    if status == "busy":
        dispatch.requeue(store, scope, workflow, slot)
        raise task.retry(countdown=BUSY_RETRY_S)
    dispatch.finish(
        store,
        scope,
        workflow,
        slot,
        status="failed" if status in _FAILED else "done",
        outcome=status,
        now=runtime.clock(),
    )
    return summary


def register(app: Celery) -> Any:
    """Register :func:`run_dispatched` as ``va_engine.run`` on ``app``."""
    return app.task(
        name=TASK_NAME,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        max_retries=None,
    )(run_dispatched)

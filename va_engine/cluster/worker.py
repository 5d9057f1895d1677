"""``va-engine run --role worker``: a Celery worker running the dispatched runs.

The worker's main process beats ``worker:<host>:<pid>`` every
``heartbeat_s`` (status shows live workers); its pool processes build their
own runtime on their first task. Celery handles SIGTERM as a warm shutdown
(running tasks finish) and retries a broker that is away, logging each try.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from celery.signals import worker_process_init

from va_engine.cluster.celery_app import make_app
from va_engine.cluster.clock import require_postgres
from va_engine.cluster.status import CLUSTER_SCOPE
from va_engine.cluster.tasks import register
from va_engine.settings import load_config
from va_engine.store import Store
from va_engine.workflows.options import load_daemon_options

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


def run_worker(
    config_dir: Path | None, *, concurrency: int | None = None, pool: str = "prefork"
) -> None:
    """Run a worker in this process until it is told to stop (blocks)."""
    config = load_config(config_dir)
    options = load_daemon_options(config)
    url = require_postgres(config)
    if config_dir is not None:
        # pool processes build their runtime from the environment
        os.environ["VA_ENGINE_CONFIG_DIR"] = str(config_dir.resolve())
    cluster = options.cluster_or_default
    store = Store(url)  # also brings the schema to the head before any task runs
    name = f"worker:{socket.gethostname()}:{os.getpid()}"
    stop = threading.Event()
    size = concurrency or os.cpu_count() or 1

    def beat() -> None:
        while not stop.is_set():
            try:
                store.for_client(CLUSTER_SCOPE).beat(
                    name,
                    now=datetime.now(UTC),
                    detail=f"queue {cluster.queue}, {pool} x{size}",
                )
            except Exception as exc:
                log.warning("%s: heartbeat failed: %s", name, exc)
            stop.wait(cluster.heartbeat_s)

    def forget_parent_engine(**_: Any) -> None:
        # the pool process inherited the heartbeat engine's sockets: never use them
        store.engine.dispose(close=False)

    worker_process_init.connect(forget_parent_engine, weak=False)
    app = make_app(options)
    register(app)
    beater = threading.Thread(target=beat, name="va-worker-heartbeat", daemon=True)
    beater.start()
    try:
        app.worker_main(
            [
                "worker",
                f"--queues={cluster.queue}",
                f"--concurrency={size}",
                f"--pool={pool}",
                f"--hostname=va-{os.getpid()}@{socket.gethostname()}",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
            ]
        )
    finally:
        stop.set()
        try:
            store.for_client(CLUSTER_SCOPE).beat(name, now=datetime.now(UTC), detail="stopped")
        except Exception as exc:
            log.warning("%s: last heartbeat failed: %s", name, exc)
        store.close()

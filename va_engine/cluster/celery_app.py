"""The Celery app, built from ``[daemon.cluster]``: the same settings for clock and workers.

Settings that make a run survive a dying worker: the message is acknowledged
only after the run (``acks_late``), a worker process killed mid-run puts it
back (``task_reject_on_worker_lost``), each process reserves one message at a
time (``prefetch_multiplier = 1``), and Redis hands an unacknowledged message
to another worker only after ``visibility_timeout`` (longer than the longest
run, checked in :mod:`va_engine.workflows.options`). No result backend: the
outcome is in ``va_dispatch``.
"""

from __future__ import annotations

from celery import Celery

from va_engine.workflows.options import DaemonOptions

__all__ = ["TASK_NAME", "make_app"]

#: the one task: ``va_engine.run(scope, workflow, slot)``
TASK_NAME = "va_engine.run"
#: seconds between sweeps that give unacknowledged messages of dead workers back (Redis)
RESTORE_INTERVAL_S = 10


def make_app(options: DaemonOptions) -> Celery:
    cluster = options.cluster_or_default
    app = Celery("va_engine", broker=cluster.resolved_broker_url(), set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        result_backend=None,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=cluster.queue,
        task_routes={TASK_NAME: {"queue": cluster.queue}},
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": cluster.visibility_timeout(options.job_timeout_s),
            # sweep for unacknowledged messages every 10 s instead of kombu's ~100 s
            "unacked_restore_interval": RESTORE_INTERVAL_S,
            "unacked_restore_throttle": 1,
        },
        # a run keeps going when the broker connection drops: its effects are keyed and
        # a redelivered copy waits for the scope lock, then finds the run done
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app

"""What ``va-engine status`` shows in multi-node mode: clocks, workers, queue, oldest wait.

Everything comes from PostgreSQL (heartbeats, ``va_dispatch``) except the
queue depth, which only the broker knows; an unreachable broker is reported
as such, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from va_engine.errors import redact
from va_engine.store import DispatchRow, Store
from va_engine.workflows.options import DaemonOptions

__all__ = ["cluster_status", "queue_depth"]

#: heartbeats of clocks and workers live under this scope
CLUSTER_SCOPE = "@cluster"


def queue_depth(app: Any, queue: str) -> int | str:
    """Messages waiting in ``queue`` (not those a worker holds), or ``"unreachable: …"``.

    A passive ``queue_declare`` works on Redis and RabbitMQ alike; a queue that
    does not exist yet (nothing ever published) holds nothing.
    """
    from kombu.exceptions import ChannelError

    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=3)
            try:
                declared = connection.default_channel.queue_declare(queue, passive=True)
            except ChannelError:
                return 0
            except Exception as exc:  # amqp's NotFound is its own type
                if type(exc).__name__ == "NotFound":
                    return 0
                raise
            return int(declared.message_count)
    except Exception as exc:
        return f"unreachable: {redact(str(exc) or type(exc).__name__)}"


def cluster_status(
    store: Store,
    options: DaemonOptions,
    *,
    now: datetime,
    depth: Callable[[], int | str] | None = None,
) -> dict[str, Any]:
    """Clocks (active, standby), workers (live or stale), queue depth, oldest waiting run,
    and the last hour's runs by status, as plain data."""
    cluster = options.cluster_or_default
    live_within = timedelta(seconds=3 * cluster.heartbeat_s)
    clocks: list[dict[str, Any]] = []
    workers: list[dict[str, Any]] = []
    for beat in store.for_client(CLUSTER_SCOPE).heartbeats():
        age = now - _aware(beat.at)
        entry = {
            "name": beat.name.split(":", 1)[1],
            "detail": beat.detail,
            "age_s": round(age.total_seconds(), 1),
            "live": age <= live_within and beat.detail != "stopped",
        }
        if beat.name.startswith("clock:"):
            clocks.append(entry)
        elif beat.name.startswith("worker:"):
            workers.append(entry)
    active = [c for c in clocks if c["live"] and c["detail"] == "active"]
    with store.session() as session:
        oldest = session.execute(
            select(
                DispatchRow.client_id,
                DispatchRow.workflow,
                DispatchRow.slot,
                DispatchRow.enqueued_at,
            )
            .where(DispatchRow.status == "queued")
            .order_by(DispatchRow.enqueued_at)
            .limit(1)
        ).first()
        counts = dict(
            session.execute(
                select(DispatchRow.status, func.count())
                .where(DispatchRow.enqueued_at >= now - timedelta(hours=1))
                .group_by(DispatchRow.status)
            ).all()
        )
    waiting = None
    if oldest is not None:
        waiting = {
            "client": oldest[0],
            "workflow": oldest[1],
            "slot": oldest[2],
            "enqueued_at": _aware(oldest[3]),
            "age_s": round((now - _aware(oldest[3])).total_seconds(), 1),
        }
    return {
        "active_clock": min(active, key=lambda c: c["age_s"]) if active else None,
        "standby_clocks": [c for c in clocks if c["live"] and c["detail"] == "standby"],
        "stale_clocks": [c for c in clocks if not c["live"]],
        "live_workers": [w for w in workers if w["live"]],
        "stale_workers": [w for w in workers if not w["live"]],
        "queue": {"name": cluster.queue, "depth": depth() if depth is not None else None},
        "oldest_waiting": waiting,
        "last_hour": {s: int(counts.get(s, 0)) for s in ("queued", "running", "done", "failed")},
    }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)

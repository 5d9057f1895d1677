"""Daemon options: the ``[daemon]`` table of ``va-engine.toml``.

Kept apart from :mod:`va_engine.settings` (which ignores unknown top-level
keys) so the daemon's knobs live in one place. Every workflow has defaults
here; ``[daemon.workflows.<name>]`` changes them for everyone and
``[daemon.clients.<id>.workflows.<name>]`` for one client::

    [daemon]
    workers = 8
    job_timeout_s = 300

    [daemon.smtp]
    host = "smtp.example.nl"
    port = 587
    security = "starttls"
    username = "sanne@va.example"
    password_env = "VA_SMTP_PASSWORD"
    sender = "Sanne de Vries <sanne@va.example>"

    [daemon.workflows.payment_reminders]
    send = true                    # default: drafts for approval

    [daemon.clients.hoefslag]
    invoices = "data/hoefslag/invoices.csv"

    [daemon.cluster]               # multi-node mode: va-engine run --role clock|worker
    broker_url = "redis://10.0.0.5:6379/0"
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from pydantic import ValidationError as PydanticValidationError

from va_engine.errors import ConfigError
from va_engine.settings import MAIN_FILE, AccountSecret, Config

__all__ = [
    "CLOCK_LOCK_KEY",
    "WORKFLOW_DEFAULTS",
    "ClientOptions",
    "ClusterOptions",
    "DaemonOptions",
    "SmtpOptions",
    "WorkflowOptions",
    "load_daemon_options",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SmtpOptions(AccountSecret):
    """Where mail is sent when a workflow has ``send = true``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: PositiveInt = 587
    security: Literal["ssl", "starttls", "none"] = "starttls"
    username: str = ""
    sender: str
    timeout_s: float = Field(default=30.0, gt=0)


class WorkflowOptions(_Section):
    """How and when one workflow runs. Unset fields fall back to the workflow's defaults."""

    enabled: bool | None = None
    #: True: send via SMTP and file a copy in Sent; False: a draft for approval
    send: bool | None = None
    #: interval workflows: minutes between runs
    every_minutes: PositiveInt | None = None
    #: daily workflows: local time "HH:MM"
    at: str | None = None
    #: weekly workflows: 0 = Monday … 6 = Sunday
    weekday: int | None = Field(default=None, ge=0, le=6)
    #: ledger minutes per item handled (message, task)
    minutes: PositiveInt | None = None
    billable: bool | None = None
    #: seconds a missed run may still start late (catch-up); longer = stale, skipped
    misfire_grace_s: PositiveInt | None = None
    #: follow-ups: days without reply; reminders: days between escalation levels
    days: PositiveInt | None = None
    #: task reminders: how many minutes before its deadline a task is reminded of
    lead_minutes: PositiveInt | None = None

    def merged(self, other: WorkflowOptions) -> WorkflowOptions:
        """``other``'s set fields over ours."""
        return self.model_copy(update=other.model_dump(exclude_none=True))


#: Built-in schedule and behaviour of each workflow (see jobs.WORKFLOWS).
WORKFLOW_DEFAULTS: dict[str, WorkflowOptions] = {
    "sync": WorkflowOptions(
        enabled=True, every_minutes=15, misfire_grace_s=24 * 3600, minutes=1, billable=False
    ),
    "replan": WorkflowOptions(enabled=True, every_minutes=30, misfire_grace_s=3600, minutes=5),
    "morning_brief": WorkflowOptions(
        enabled=True, at="07:30", misfire_grace_s=3 * 3600, minutes=5, billable=False
    ),
    "payment_reminders": WorkflowOptions(
        enabled=True, at="09:30", misfire_grace_s=8 * 3600, minutes=5, days=7, send=False
    ),
    "confirmations": WorkflowOptions(
        enabled=True, at="10:00", misfire_grace_s=8 * 3600, minutes=3, send=False
    ),
    "triage": WorkflowOptions(
        enabled=True, every_minutes=30, misfire_grace_s=24 * 3600, minutes=2, days=5
    ),
    "weekly_review": WorkflowOptions(
        enabled=True, at="15:00", weekday=4, misfire_grace_s=48 * 3600, minutes=15, send=False
    ),
    "deadline_watch": WorkflowOptions(
        enabled=True, at="08:00", misfire_grace_s=6 * 3600, minutes=2, billable=False, days=2
    ),
    # Off unless asked for: it writes to clients, which an agency opts into per agreement.
    "reminders": WorkflowOptions(
        enabled=False,
        every_minutes=15,
        lead_minutes=60,
        misfire_grace_s=3600,
        minutes=1,
        send=False,
    ),
    # Privacy: expired data goes once a day, at night; no client work, so no ledger minutes.
    "retention": WorkflowOptions(
        enabled=True, at="03:30", misfire_grace_s=24 * 3600, billable=False
    ),
}


class ClientOptions(_Section):
    """Daemon settings of one client."""

    workflows: dict[str, WorkflowOptions] = Field(default_factory=dict)
    #: outstanding invoices: a CSV (number,customer,email,amount,currency,due,paid) or TOML file
    invoices: Path | None = None
    #: a directory with templates overriding the built-in ones (same names)
    templates: Path | None = None
    #: send this client's mail through its own SMTP account
    smtp: SmtpOptions | None = None


#: The clock's PostgreSQL advisory lock ("va-clock" in ASCII); other keys in use
#: (the schema upgrade lock) differ, and scope locks use the two-key space.
CLOCK_LOCK_KEY = 0x76612D636C6F636B


class ClusterOptions(_Section):
    """Multi-node mode (``[daemon.cluster]``): one clock enqueues, Celery workers run."""

    #: Redis (default) or RabbitMQ (``amqp://…``); ``VA_ENGINE_BROKER_URL`` overrides
    broker_url: str = "redis://127.0.0.1:6379/0"
    queue: str = Field(default="va-engine", min_length=1)
    #: seconds before the broker hands an unacknowledged run to another worker;
    #: must outlast the longest run (default max(3600, 2 × job_timeout_s))
    visibility_timeout_s: float | None = Field(default=None, gt=0)
    #: seconds between heartbeats of clocks and workers
    heartbeat_s: float = Field(default=10.0, gt=0)
    #: times the clock re-queues a failed slot once its backoff has passed (the
    #: single daemon's one-off retry); bounded by the slot's deliveries, and the
    #: backoff streak already spaces the attempts further apart each time
    max_retries: int = Field(default=5, ge=0)
    clock_lock_key: int = Field(default=CLOCK_LOCK_KEY, ge=-(2**63), lt=2**63)

    def resolved_broker_url(self) -> str:
        return os.environ.get("VA_ENGINE_BROKER_URL") or self.broker_url

    def visibility_timeout(self, job_timeout_s: float) -> float:
        if self.visibility_timeout_s is not None:
            return self.visibility_timeout_s
        return max(3600.0, 2 * job_timeout_s)


class DaemonOptions(_Section):
    workers: PositiveInt = 8
    job_timeout_s: float = Field(default=300.0, gt=0)
    #: consecutive failures of one workflow before the assistant gets (one) alert
    alert_after: PositiveInt = 3
    backoff_base_s: float = Field(default=60.0, gt=0)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    #: where messages for the assistant (and drafts of clients without a mailbox) land
    outbox_dir: Path | None = None
    #: seconds an IMAP IDLE wait lasts before it is renewed (heartbeat interval)
    idle_timeout_s: float = Field(default=300.0, gt=0)
    #: watch IMAP folders with IDLE and sync on change (besides the interval)
    idle: bool = False
    #: daily/weekly jobs of different clients start spread over this many minutes
    #: after their ``at`` time (stable per client), so 500 reminders are not one burst
    spread_minutes: int = Field(default=10, ge=0, le=120)
    #: SQLite only: "normal" skips the fsync per commit in WAL mode (safe against a
    #: killed process, may lose the last commits on power loss); "full" fsyncs each
    sqlite_synchronous: Literal["normal", "full"] = "normal"
    smtp: SmtpOptions | None = None
    workflows: dict[str, WorkflowOptions] = Field(default_factory=dict)
    clients: dict[str, ClientOptions] = Field(default_factory=dict)
    #: set when the table ``[daemon.cluster]`` is present (multi-node mode)
    cluster: ClusterOptions | None = None

    @property
    def cluster_or_default(self) -> ClusterOptions:
        return self.cluster or ClusterOptions()

    def workflow(self, client_id: str, name: str) -> WorkflowOptions:
        """Defaults, then ``[daemon.workflows.name]``, then the client's own override."""
        result = WORKFLOW_DEFAULTS.get(name, WorkflowOptions())
        if name in self.workflows:
            result = result.merged(self.workflows[name])
        client = self.clients.get(client_id)
        if client is not None and name in client.workflows:
            result = result.merged(client.workflows[name])
        return result

    def client(self, client_id: str) -> ClientOptions:
        return self.clients.get(client_id, ClientOptions())

    def smtp_for(self, client_id: str) -> SmtpOptions | None:
        return self.client(client_id).smtp or self.smtp

    def resolved_outbox_dir(self, config: Config) -> Path:
        if self.outbox_dir is not None:
            return config.resolve_path(self.outbox_dir)
        return config.engine.resolved_data_dir() / "outbox"


def load_daemon_options(config: Config) -> DaemonOptions:
    """Read ``[daemon]`` from the main config file; absent means all defaults."""
    path = config.config_dir / MAIN_FILE
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle).get("daemon", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    try:
        options = DaemonOptions.model_validate(raw)
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"daemon.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
    unknown = sorted(
        {*options.workflows, *(w for c in options.clients.values() for w in c.workflows)}
        - set(WORKFLOW_DEFAULTS)
    )
    if unknown:
        raise ConfigError(
            f"{path}: unknown workflow {unknown[0]!r} under [daemon]",
            hint=f"use one of {', '.join(WORKFLOW_DEFAULTS)}",
        )
    cluster = options.cluster_or_default
    if cluster.visibility_timeout(options.job_timeout_s) <= options.job_timeout_s:
        raise ConfigError(
            f"{path}: daemon.cluster.visibility_timeout_s "
            f"({cluster.visibility_timeout(options.job_timeout_s):g}) must be longer than "
            f"daemon.job_timeout_s ({options.job_timeout_s:g})",
            hint="otherwise the broker hands a run still in progress to a second worker",
        )
    known_clients = {c.id for c in config.clients}
    stray = sorted(set(options.clients) - known_clients)
    if stray:
        raise ConfigError(
            f"{path}: [daemon.clients.{stray[0]}] names no client",
            hint="client ids are the 'id' keys of clients/*.toml",
        )
    return options

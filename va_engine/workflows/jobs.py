"""The delegated admin workflows, and the one runner that makes each run happen once.

*What runs* lives here; *how it is triggered* (APScheduler in
:mod:`.daemon`, cron via ``va-engine run --once``, Celery later) does not.
Each workflow is a plain function ``(client, context, now) -> RunResult``;
:func:`execute` wraps it with the idempotency key (scope, workflow, period),
backoff after failures, one alert per failure streak, outbox delivery and
the ledger entry, so every trigger gets the same guarantees:

* a run whose period is done is skipped; a run that crashed half-way is
  handed out again and resumes, because every side effect below is keyed
  (outbox rows, task ids, ledger ``run_key``);
* a failing run records its error, backs off exponentially (with jitter)
  and never blocks other clients;
* anything addressed to a client or their contacts is released only inside
  the client's reachability windows (:mod:`.boundaries`).

Scopes: client workflows run per client id; ``replan`` and
``morning_brief`` are the assistant's own and run per ``@<assistant id>``.

The APScheduler entry point is :func:`run_workflow` (``"va_engine.workflows.jobs:run_workflow"``),
which takes only plain arguments so jobs persist in the job store.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import threading
import tomllib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from va_engine.cluster.locks import ScopeLock, ScopeLocks, ThreadScopeLocks
from va_engine.connectors.base import CalendarEvent, MailMessage, SyncSummary, event_to_busy
from va_engine.connectors.ics import plan_to_events
from va_engine.connectors.rules import apply_rules, rules_with_defaults
from va_engine.errors import ConnectorError, NotFoundError, VaEngineError, redact
from va_engine.model import Busy, LedgerEntry, Mode, Plan, Task
from va_engine.privacy import purge_expired
from va_engine.settings import AssistantConfig, ClientConfig, Config, MailAccount
from va_engine.store import ClientStore, OutboxRow, Store
from va_engine.workflows.accounts import open_calendar, open_mailbox
from va_engine.workflows.boundaries import next_release
from va_engine.workflows.failpoints import failpoint
from va_engine.workflows.options import DaemonOptions, WorkflowOptions, load_daemon_options
from va_engine.workflows.outbox import (
    Audience,
    Outgoing,
    Sinks,
    deliver,
    deliver_due,
    queue,
    render,
)
from va_engine.workflows.sync import sync_client

__all__ = [
    "ASSISTANT_WORKFLOWS",
    "CLIENT_WORKFLOWS",
    "WORKFLOWS",
    "Invoice",
    "JobContext",
    "RunResult",
    "Runtime",
    "Workflow",
    "assistant_scope",
    "backoff_delay",
    "execute",
    "format_slot",
    "get_runtime",
    "parse_slot",
    "read_invoices",
    "run_workflow",
    "set_runtime",
]

log = logging.getLogger(__name__)

Status = Literal["done", "skipped", "not_due", "backoff", "failed", "disabled", "busy"]


@dataclass
class RunResult:
    """What one trigger of one workflow did; ``detail`` is stored with the run."""

    workflow: str
    scope: str
    status: Status
    period: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    #: how many items of work were done for the client (drives the ledger minutes)
    items: int = 0
    #: the sync saw upstream changes: the assistant's week should be re-planned
    changed: bool = False
    error: str | None = None
    retry_at: datetime | None = None


# --------------------------------------------------------------------------- runtime


@dataclass
class Runtime:
    """Process-wide wiring a job needs: config, daemon options, store, hooks.

    The daemon sets one; a worker without it (cron, Celery) builds one from
    ``VA_ENGINE_CONFIG_DIR`` on first use.
    """

    config: Config
    options: DaemonOptions
    store: Store
    #: called after a sync saw changes, with the assistant scope to re-plan
    on_changed: Callable[[str], None] | None = None
    #: called after a failed run, with (scope, workflow, retry_at)
    on_failure: Callable[[str, str, datetime], None] | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: in-process locks for the single daemon; Celery workers pass PostgreSQL ones
    locks: ScopeLocks = field(default_factory=ThreadScopeLocks)
    _locks_guard: threading.Lock = field(default_factory=threading.Lock)

    active: int = 0

    @contextmanager
    def counting(self) -> Iterator[None]:
        """Count a running job, so shutdown knows what it is waiting for."""
        with self._locks_guard:
            self.active += 1
        try:
            yield
        finally:
            with self._locks_guard:
                self.active -= 1

    def lock(self, scope: str) -> ScopeLock:
        """One lock per scope: a client's jobs never overlap, other clients are not involved."""
        return self.locks.lock(scope)


_runtime: Runtime | None = None
_runtime_guard = threading.Lock()


def set_runtime(runtime: Runtime | None) -> None:
    global _runtime
    with _runtime_guard:
        _runtime = runtime


def get_runtime() -> Runtime:
    """The runtime set by the daemon, or one built from the environment's config."""
    global _runtime
    with _runtime_guard:
        if _runtime is None:
            from va_engine.settings import load_config

            config = load_config()
            _runtime = Runtime(
                config=config,
                options=load_daemon_options(config),
                store=Store(config.engine.resolved_database_url()),
            )
        return _runtime


def run_workflow(
    scope: str, workflow: str, mode: str = "scheduled", slot: str | None = None
) -> dict[str, Any]:
    """APScheduler/Celery entry point: plain arguments in, a JSON-able summary out.

    ``mode`` is ``scheduled`` (its trigger fired), ``retry`` (after a failure)
    or ``changed`` (something upstream changed: run now, in a period of its
    own, so an earlier run of the same slot does not swallow it).

    ``slot`` (ISO UTC, multi-node mode) is the moment the trigger was due: the
    run does that slot's period however late it starts (a broker outage).

    Runs the workflow on a helper thread and waits at most ``job_timeout_s``;
    a run that overstays is abandoned (its scope lock stays held until it
    ends, so the client's next job waits instead of running beside it).
    """
    runtime = get_runtime()
    now = runtime.clock()
    period = kick_period(now) if mode == "changed" else None
    due = parse_slot(slot) if slot is not None else None
    box: list[RunResult] = []

    def target() -> None:
        with runtime.counting():
            box.append(execute(runtime, scope, workflow, now=now, period=period, slot=due))

    worker = threading.Thread(target=target, name=f"va-{scope}-{workflow}", daemon=True)
    worker.start()
    worker.join(runtime.options.job_timeout_s)
    if worker.is_alive():
        log.warning(
            "%s/%s overran %.0f s; abandoned", scope, workflow, runtime.options.job_timeout_s
        )
        return {"scope": scope, "workflow": workflow, "status": "timeout"}
    if not box:
        return {"scope": scope, "workflow": workflow, "status": "crashed"}
    result = box[0]
    return {
        "scope": scope,
        "workflow": workflow,
        "status": result.status,
        "period": result.period,
        "error": result.error,
    }


SLOT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_slot(moment: datetime) -> str:
    """A trigger's fire time as the dispatch key: UTC, to the second."""
    return moment.astimezone(UTC).strftime(SLOT_FORMAT)


def parse_slot(text: str) -> datetime:
    try:
        return datetime.strptime(text, SLOT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise VaEngineError(f"slot {text!r} is not {SLOT_FORMAT}") from None


def kick_period(now: datetime) -> str:
    """The period of an out-of-schedule run: unique to the second it was asked for."""
    return "changed:" + now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- context


def assistant_scope(assistant_id: str) -> str:
    return f"@{assistant_id}"


@dataclass
class JobContext:
    """Everything one run may touch: its own scope's store rows and accounts, nothing else."""

    config: Config
    options: DaemonOptions
    store: ClientStore
    workflow: str
    period: str
    #: the whole store, only for assistant-scoped workflows (they serve every client)
    shared: Store | None = None
    _mailbox: Any = None
    _mail_account: MailAccount | None = None
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def run_key(self) -> str:
        return f"{self.workflow}:{self.period}"

    @property
    def settings(self) -> WorkflowOptions:
        return self.options.workflow(self.store.client_id, self.workflow)

    def mail_account(self, client: ClientConfig | None) -> MailAccount | None:
        return client.mailboxes[0] if client is not None and client.mailboxes else None

    def mailbox(self, client: ClientConfig | None) -> Any:
        """The client's first mailbox (drafts and Sent copies go there), opened once per run."""
        account = self.mail_account(client)
        if account is None:
            return None
        if self._mailbox is None:
            self._mailbox = open_mailbox(self.config, account)
            close = getattr(self._mailbox, "close", None)
            if close is not None:
                self._closers.append(close)
        return self._mailbox

    def sinks(self, client: ClientConfig | None) -> Sinks:
        account = self.mail_account(client)
        scope = self.store.client_id
        return Sinks(
            outbox_dir=self.options.resolved_outbox_dir(self.config),
            scope=scope,
            mailbox=self.mailbox(client) if account else None,
            drafts_folder=account.drafts_folder if account else "Drafts",
            sent_folder=account.sent_folder if account else "Sent",
            smtp=self.options.smtp_for(scope),
        )

    def close(self) -> None:
        for close in self._closers:
            try:
                close()
            except Exception as exc:  # a dead connection may fail to close
                log.debug("ignoring error on close: %s", type(exc).__name__)


# --------------------------------------------------------------------------- periods


def _local(now: datetime, tz: ZoneInfo) -> datetime:
    return now.astimezone(tz)


def _at(settings: WorkflowOptions) -> time:
    return time.fromisoformat(settings.at or "00:00")


def _slot(now: datetime, settings: WorkflowOptions, tz: ZoneInfo) -> str | None:
    minutes = settings.every_minutes or 15
    stamp = int(now.timestamp()) // (minutes * 60) * (minutes * 60)
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _daily(now: datetime, settings: WorkflowOptions, tz: ZoneInfo) -> str | None:
    local = _local(now, tz)
    if local.time() < _at(settings):
        return None
    return local.date().isoformat()


def _weekly(now: datetime, settings: WorkflowOptions, tz: ZoneInfo) -> str | None:
    local = _local(now, tz)
    weekday = settings.weekday if settings.weekday is not None else 4
    if local.weekday() < weekday or (local.weekday() == weekday and local.time() < _at(settings)):
        return None
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


# --------------------------------------------------------------------------- helpers


def _tz(config: Config, client: ClientConfig | None, assistant: AssistantConfig | None) -> ZoneInfo:
    if client is not None:
        return ZoneInfo(client.timezone or config.engine.timezone)
    if assistant is not None:
        return ZoneInfo(assistant.timezone or config.engine.timezone)
    return ZoneInfo(config.engine.timezone)


def assistant_of(config: Config, client: ClientConfig) -> AssistantConfig:
    """The client's assistant: named in the client file, else the first one."""
    if client.assistant:
        for assistant in config.assistants:
            if assistant.id == client.assistant:
                return assistant
    return config.assistants[0]


def clients_of(config: Config, assistant: AssistantConfig) -> list[ClientConfig]:
    return [c for c in config.clients if assistant_of(config, c).id == assistant.id]


def _release(
    client: ClientConfig,
    config: Config,
    audience: Audience,
    now: datetime,
    *,
    not_after: datetime | None = None,
) -> datetime | None:
    if audience == "assistant":
        return now
    model = client.to_model(config.engine.timezone)
    return next_release(now, model.agreement.reachability, model.tz, not_after=not_after)


def _channel(ctx: JobContext) -> Literal["draft", "send"]:
    return "send" if ctx.settings.send else "draft"


def _assistant_channel(ctx: JobContext, assistant: AssistantConfig) -> Literal["send", "file"]:
    smtp = ctx.options.smtp_for(ctx.store.client_id)
    return "send" if ctx.settings.send and smtp is not None and assistant.email else "file"


def _to_assistant(
    ctx: JobContext,
    assistant: AssistantConfig,
    key: str,
    subject: str,
    body: str,
    *,
    now: datetime,
    expires_at: datetime | None = None,
) -> Outgoing:
    """A message for the assistant herself (brief, deadline warning): sent or filed."""
    return Outgoing(
        key=key,
        audience="assistant",
        channel=_assistant_channel(ctx, assistant),
        sender=_sender(ctx, None, assistant),
        to=assistant.email or "",
        subject=subject,
        body=body,
        release_at=now,
        expires_at=expires_at,
    )


def _queue_mail(
    ctx: JobContext,
    *,
    key: str,
    audience: Audience,
    sender: str,
    to: str,
    subject: str,
    body: str,
    release: datetime,
    now: datetime,
    expires_at: datetime | None = None,
) -> None:
    """Queue a message to a client or their contacts under this run's key (draft or send)."""
    queue(
        ctx.store,
        Outgoing(
            key=key,
            audience=audience,
            channel=_channel(ctx),
            sender=sender,
            to=to,
            subject=subject,
            body=body,
            release_at=release,
            expires_at=expires_at,
        ),
        run_key=ctx.run_key,
        workflow=ctx.workflow,
        now=now,
    )


def _alert_message(
    key: str, owner: AssistantConfig, subject: str, body: str, *, now: datetime
) -> Outgoing:
    """An alert is always filed, never sent: it must reach her even when SMTP is the fault."""
    return Outgoing(
        key=key,
        audience="assistant",
        channel="file",
        sender=f"va-engine <{owner.email or 'va-engine@localhost'}>",
        to=owner.email or "",
        subject=subject,
        body=body,
        release_at=now,
    )


def _sender(ctx: JobContext, client: ClientConfig | None, assistant: AssistantConfig) -> str:
    smtp = ctx.options.smtp_for(ctx.store.client_id)
    if smtp is not None:
        return smtp.sender
    if client is not None and client.email:
        return f"{client.name} <{client.email}>"
    return f"{assistant.name} <{assistant.email or 'va-engine@localhost'}>"


def _override(ctx: JobContext) -> Path | None:
    templates = ctx.options.client(ctx.store.client_id).templates
    return ctx.config.resolve_path(templates) if templates else None


# --------------------------------------------------------------------------- workflows

WorkflowFn = Callable[[ClientConfig | None, JobContext, datetime], RunResult]


def sync(client: ClientConfig | None, ctx: JobContext, now: datetime) -> RunResult:
    """Pull the client's calendars and mailboxes into the store (incremental)."""
    assert client is not None
    summaries = _sync_accounts(ctx.config, client, ctx.store, now)
    errors = [f"{s.account}: {s.error}" for s in summaries if s.error]
    changed = any(s.added or s.changed or s.removed for s in summaries)
    detail = {
        "accounts": len(summaries),
        "added": sum(s.added for s in summaries),
        "changed": sum(s.changed for s in summaries),
        "removed": sum(s.removed for s in summaries),
    }
    if errors:
        # The good accounts advanced their state; the run fails so it backs off and reports.
        raise ConnectorError("; ".join(errors))
    return RunResult("sync", client.id, "done", detail=detail, changed=changed)


def _sync_accounts(
    config: Config, client: ClientConfig, store: ClientStore, now: datetime
) -> list[SyncSummary]:
    """The client's accounts, synced the same way as ``va-engine sync``."""
    return sync_client(config, client, store, now=now)


def replan(client: ClientConfig | None, ctx: JobContext, now: datetime) -> RunResult:
    """Re-plan the assistant's week from the stored tasks and push it to her plan calendar."""
    # Imported here: the planner (OR-Tools) is heavy and only this workflow needs it.
    from va_engine.planner import PlanLimits, plan
    from va_engine.workflows.intake import ClientIntake, collect_assistant_busy
    from va_engine.workflows.planning import build_problem, horizon

    assert ctx.shared is not None
    assistant = _scope_assistant(ctx)
    tz = _tz(ctx.config, None, assistant)
    start, end = horizon("week", _local(now, tz).date(), tz)
    intakes: list[ClientIntake] = []
    for member in clients_of(ctx.config, assistant):
        tasks = ctx.shared.for_client(member.id).open_tasks()
        intakes.append(
            ClientIntake(
                client=member.to_model(ctx.config.engine.timezone),
                tasks=tasks,
                busy=_client_busy(ctx.config, member, start, end),
                habits=[h.to_model(member.id) for h in member.habits],
                accounts=[],
            )
        )
    own, _reports = collect_assistant_busy(ctx.config, assistant, start=start, end=end)
    problem = build_problem(
        ctx.config, intakes, own, start=start, end=end, assistant_ids=[assistant.id]
    )
    scope = f"daemon:{assistant.id}:week:{start.date()}"
    previous = ctx.shared.load_plan(scope)
    planning_now = max(now, start)
    result = plan(
        problem,
        PlanLimits(time_limit_s=5.0),
        now=planning_now,
        previous=previous,
        frozen_until=planning_now if previous else None,
    )
    ctx.shared.save_plan(scope, result, now=now)
    titles = {t.id: t.title for t in problem.tasks} | {h.id: h.title for h in problem.habits}
    pushed = 0
    for account in assistant.calendars:
        if account.role != "plan":
            continue
        events = plan_to_events(
            result, scope=assistant.id, titles=titles, assistant_id=assistant.id
        )
        sink = _plan_sink(ctx.config, account)
        pushed += sink.push_plan(
            events, calendar=account.calendars[0] if account.calendars else ""
        ).writes
    return RunResult(
        "replan",
        ctx.store.client_id,
        "done",
        detail={"blocks": len(result.blocks), "unplanned": len(result.unplanned), "writes": pushed},
    )


def _plan_sink(config: Config, account: Any) -> Any:
    from va_engine.connectors.caldav import CalDavAccount
    from va_engine.connectors.local import local_calendar

    if account.type in ("ics", "vdir"):
        return local_calendar(config.resolve_path(account.path), account=account.name)
    password = account.resolve_password(account.username)
    return CalDavAccount(account.url, account.username, password, ssl_verify=account.verify_tls)


def _client_busy(
    config: Config, client: ClientConfig, start: datetime, end: datetime
) -> list[Busy]:
    tz = ZoneInfo(client.timezone or config.engine.timezone)
    busy: list[Busy] = []
    for account in client.calendars:
        if account.role not in ("busy", "busy+todo"):
            continue
        try:
            parsed = open_calendar(config, account).events(start, end, tz=tz)
        except (VaEngineError, OSError) as exc:
            log.info("replan: calendar %s/%s unreadable: %s", client.id, account.name, exc)
            continue
        for event in parsed.events:
            block = event_to_busy(event, client_id=client.id)
            if block is not None:
                busy.append(block)
    return busy


def _scope_assistant(ctx: JobContext) -> AssistantConfig:
    wanted = ctx.store.client_id.removeprefix("@")
    for assistant in ctx.config.assistants:
        if assistant.id == wanted:
            return assistant
    raise NotFoundError(f"unknown assistant {wanted!r}")


def _latest_plan(ctx_store: Store, assistant: AssistantConfig, day: date) -> Plan | None:
    """The plan ``replan`` saved for the week of ``day`` (keyed by that week's Monday)."""
    monday = day - timedelta(days=day.weekday())
    return ctx_store.load_plan(f"daemon:{assistant.id}:week:{monday}")


def morning_brief(client: ClientConfig | None, ctx: JobContext, now: datetime) -> RunResult:
    """Today's plan, deadlines and mail waiting for a reply, for the assistant."""
    assert ctx.shared is not None
    assistant = _scope_assistant(ctx)
    tz = _tz(ctx.config, None, assistant)
    today = _local(now, tz).date()
    members = clients_of(ctx.config, assistant)
    names = {c.id: c.name for c in members}
    tasks: list[Task] = []
    for member in members:
        tasks.extend(ctx.shared.for_client(member.id).open_tasks())
    titles = {t.id: (t.title, names.get(t.client_id or "", "")) for t in tasks}
    plan_items = []
    latest = _latest_plan(ctx.shared, assistant, today)
    for block in latest.blocks_for(assistant.id) if latest else []:
        local_start = block.start.astimezone(tz)
        if local_start.date() == today:
            title, who = titles.get(block.task_id, (block.task_id, ""))
            plan_items.append(
                {
                    "start": f"{local_start:%H:%M}",
                    "end": f"{block.end.astimezone(tz):%H:%M}",
                    "title": title,
                    "client": who,
                }
            )
    horizon_end = datetime.combine(today + timedelta(days=3), time(0), tzinfo=tz)
    deadlines = [
        {
            "deadline": f"{t.deadline.astimezone(tz):%a %d-%m %H:%M}",
            "title": t.title,
            "client": names.get(t.client_id or "", ""),
        }
        for t in sorted(tasks, key=lambda t: t.deadline or horizon_end)
        if t.deadline is not None and t.deadline < horizon_end
    ]
    waiting = [
        {"title": t.title, "client": names.get(t.client_id or "", "")}
        for t in tasks
        if (t.source or "") == _FOLLOWUP_SOURCE
    ]
    subject, body = render(
        "morning_brief",
        ctx.config.engine.language,
        {
            "assistant": assistant,
            "day": today.isoformat(),
            "plan": plan_items,
            "deadlines": deadlines,
            "waiting": waiting,
        },
    )
    item = _to_assistant(
        ctx,
        assistant,
        f"brief:{today.isoformat()}",
        subject,
        body,
        now=now,
        # a brief for a day that is over is noise
        expires_at=datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz),
    )
    queue(ctx.store, item, run_key=ctx.run_key, workflow=ctx.workflow, now=now)
    return RunResult(
        "morning_brief",
        ctx.store.client_id,
        "done",
        detail={"plan": len(plan_items), "deadlines": len(deadlines), "waiting": len(waiting)},
    )


@dataclass(frozen=True)
class Invoice:
    number: str
    customer: str
    email: str
    amount: str
    currency: str
    due: date
    paid: bool = False


def read_invoices(path: Path) -> list[Invoice]:
    """Outstanding invoices from a CSV (header: number,customer,email,amount,currency,due,paid)
    or a TOML file with ``[[invoices]]`` tables of the same keys."""
    try:
        if path.suffix.lower() == ".toml":
            with path.open("rb") as handle:
                rows: list[dict[str, Any]] = list(tomllib.load(handle).get("invoices", []))
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
    except (OSError, tomllib.TOMLDecodeError, csv.Error) as exc:
        raise ConnectorError(f"invoices file {path}: cannot be read: {exc}") from None
    invoices: list[Invoice] = []
    for index, row in enumerate(rows, start=1):
        try:
            due = row["due"]
            paid = str(row.get("paid", "")).strip().lower() in ("1", "true", "yes", "ja", "paid")
            invoices.append(
                Invoice(
                    number=str(row["number"]).strip(),
                    customer=str(row.get("customer", "")).strip(),
                    email=str(row["email"]).strip(),
                    amount=str(row.get("amount", "")).strip(),
                    currency=str(row.get("currency", "") or "EUR").strip(),
                    due=due if isinstance(due, date) else date.fromisoformat(str(due).strip()),
                    paid=paid,
                )
            )
        except (KeyError, ValueError) as exc:
            raise ConnectorError(
                f"invoices file {path}: row {index}: {type(exc).__name__}: {exc}",
            ) from None
    return invoices


def payment_reminders(client: ClientConfig | None, ctx: JobContext, now: datetime) -> RunResult:
    """Polite, escalating reminders (due, +N, +2N days), at most one per invoice per day."""
    assert client is not None
    source = ctx.options.client(client.id).invoices
    if source is None:
        return RunResult("payment_reminders", client.id, "done", detail={"invoices": 0})
    tz = _tz(ctx.config, client, None)
    today = _local(now, tz).date()
    step = ctx.settings.days or 7
    queued = 0
    invoices = read_invoices(ctx.config.resolve_path(source))
    for invoice in invoices:
        if invoice.paid or invoice.due > today:
            continue
        level = min(2, (today - invoice.due).days // step)
        key = f"reminder:{invoice.number}:L{level}"
        earlier = ctx.store.outbox(key_prefix=f"reminder:{invoice.number}:")
        if any(row.key == key for row in earlier):
            queued += any(row.key == key and row.run_key == ctx.run_key for row in earlier)
            continue
        if any(_day_of(row.created_at, tz) == today for row in earlier):
            continue  # at most one reminder per invoice per day
        release = _release(client, ctx.config, "third_party", now)
        if release is None:
            continue
        subject, body = render(
            "payment_reminder",
            client.language,
            {"client": client, "invoice": invoice, "level": level},
            override=_override(ctx),
        )
        _queue_mail(
            ctx,
            key=key,
            audience="third_party",
            sender=_sender(ctx, client, assistant_of(ctx.config, client)),
            to=invoice.email,
            subject=subject,
            body=body,
            release=release,
            now=now,
        )
        queued += 1
    return RunResult(
        "payment_reminders",
        client.id,
        "done",
        detail={"invoices": len(invoices), "queued": queued},
        items=queued,
    )


def _day_of(value: datetime, tz: ZoneInfo) -> date:
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(tz).date()


def confirmations(client: ClientConfig | None, ctx: JobContext, now: datetime) -> RunResult:
    """Confirm tomorrow's appointments with third parties, inside the client's windows."""
    assert client is not None
    tz = _tz(ctx.config, client, None)
    tomorrow = _local(now, tz).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(0), tzinfo=tz)
    end = datetime.combine(tomorrow + timedelta(days=1), time(0), tzinfo=tz)
    own = {a.email.lower() for a in ctx.config.assistants if a.email}
    if client.email:
        own.add(client.email.lower())
    queued = skipped = 0
    for account in client.calendars:
        if account.role not in ("busy", "busy+todo"):
            continue
        parsed = open_calendar(ctx.config, account).events(start, end, tz=tz)
        for event in parsed.events:
            if event.status == "CANCELLED" or event.all_day or event.start < start:
                continue
            for attendee in _external(event, own):
                release = _release(
                    client,
                    ctx.config,
                    "third_party",
                    now,
                    not_after=event.start - timedelta(hours=1),
                )
                if release is None:
                    skipped += 1
                    continue
                subject, body = render(
                    "confirmation",
                    client.language,
                    {
                        "client": client,
                        "event": event.model_copy(update={"start": event.start.astimezone(tz)}),
                    },
                    override=_override(ctx),
                )
                _queue_mail(
                    ctx,
                    key=f"confirm:{event.key}:{attendee}",
                    audience="third_party",
                    sender=_sender(ctx, client, assistant_of(ctx.config, client)),
                    to=attendee,
                    subject=subject,
                    body=body,
                    release=release,
                    expires_at=event.start,
                    now=now,
                )
                queued += 1
    return RunResult(
        "confirmations",
        client.id,
        "done",
        detail={"queued": queued, "too_late": skipped},
        items=queued,
    )


def _external(event: CalendarEvent, own: set[str]) -> list[str]:
    found: list[str] = []
    for attendee in event.attendees:
        address = attendee.lower().removeprefix("mailto:").strip()
        if address and address not in own and address not in found:
            found.append(address)
    return found


_FOLLOWUP_SOURCE = "workflow:followup"


def triage(client: ClientConfig | None, ctx: JobContext, now: datetime) -> RunResult:
    """File and flag new mail by the client's rules; follow up sent mail left unanswered."""
    assert client is not None
    rules = rules_with_defaults(client.rules)
    tz = _tz(ctx.config, client, None)
    filed = 0
    followups: list[Task] = []
    for account in client.mailboxes:
        source: Any = open_mailbox(ctx.config, account)
        try:
            for folder in account.folders:
                state_name = f"triage:{account.name}"
                batch = source.fetch(folder, ctx.store.sync_state(state_name, folder))
                for message in batch.messages:
                    outcome = apply_rules(message, rules, client_id=client.id, now=now, tz=tz)
                    for action in outcome.actions:
                        try:
                            if action.kind == "move":
                                source.move([message.id], action.folder, action.target)
                            else:
                                source.flag([message.id], action.folder, action.target)
                            filed += 1
                        except NotFoundError:
                            pass  # already moved by an earlier attempt
                ctx.store.set_sync_state(state_name, folder, batch.state, now=now)
            followups.extend(_followups(client, account, source, ctx, now, tz))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
    ctx.store.upsert_tasks(followups, now=now)
    ctx.store.close_missing(_FOLLOWUP_SOURCE, {t.external_id or t.id for t in followups}, now=now)
    return RunResult(
        "triage",
        client.id,
        "done",
        detail={"filed": filed, "followups": len(followups)},
        items=filed + len(followups),
    )


def _followups(
    client: ClientConfig,
    account: MailAccount,
    source: Any,
    ctx: JobContext,
    now: datetime,
    tz: ZoneInfo,
) -> list[Task]:
    days = ctx.settings.days or 5
    try:
        sent = source.fetch(account.sent_folder, None).messages
    except NotFoundError:
        return []
    replied: set[str] = set()
    for folder in account.folders:
        for message in source.fetch(folder, None).messages:
            replied.update(r for r in (message.in_reply_to, *message.references) if r)
    result: list[Task] = []
    for message in sent:
        if not _waiting(message, replied, now, days):
            continue
        assert message.message_id is not None and message.date is not None
        digest = hashlib.sha256(message.message_id.encode()).hexdigest()[:12]
        to = ", ".join(message.to[:2])
        result.append(
            Task(
                id=f"{client.id}:followup:{digest}",
                title=f"Follow up: {message.subject or '(no subject)'} → {to}",
                client_id=client.id,
                kind="mail",
                duration_minutes=10,
                release=now.astimezone(tz),
                deadline=(now + timedelta(days=2)).astimezone(tz),
                source=_FOLLOWUP_SOURCE,
                external_id=message.message_id,
            )
        )
    return result


def _waiting(message: MailMessage, replied: set[str], now: datetime, days: int) -> bool:
    if not message.message_id or message.date is None or message.message_id in replied:
        return False
    if message.message_id.endswith("@va-engine.invalid>"):
        return False  # our own reminders and confirmations are follow-ups already
    age = now - message.date
    return timedelta(days=days) <= age <= timedelta(days=30)


def weekly_review(client: ClientConfig | None, ctx: JobContext, now: datetime) -> RunResult:
    """What was done and taught this week, hours vs budget, next week's plan: to the client."""
    assert client is not None
    assert ctx.shared is not None
    tz = _tz(ctx.config, client, None)
    today = _local(now, tz).date()
    monday = today - timedelta(days=today.weekday())
    model = client.to_model(ctx.config.engine.timezone)
    entries = ctx.store.entries(start=monday, end=monday + timedelta(days=6))
    period_start = monday if model.agreement.period == "week" else today.replace(day=1)
    used = sum(e.minutes for e in ctx.store.entries(start=period_start, end=today) if e.billable)
    assistant = assistant_of(ctx.config, client)
    next_week = []
    latest = _latest_plan(ctx.shared, assistant, monday + timedelta(days=7))
    titles = {t.id: t.title for t in ctx.store.open_tasks()}
    for block in latest.blocks if latest else []:
        if block.task_id in titles:
            next_week.append(
                {
                    "start": f"{block.start.astimezone(tz):%a %d-%m %H:%M}",
                    "title": titles[block.task_id],
                }
            )
    year, week, _ = today.isocalendar()
    budget = model.agreement.hours_per_period
    subject, body = render(
        "weekly_review",
        client.language,
        {
            "client": client,
            "assistant": assistant,
            "week": f"{year}-W{week:02d}",
            "entries": entries,
            "minutes_for": sum(e.minutes for e in entries if e.mode is Mode.FOR),
            "minutes_taught": sum(e.minutes for e in entries if e.mode is Mode.TAUGHT),
            "used_minutes": used,
            "budget_minutes": round(budget * 60) if budget else 0,
            "period": model.agreement.period,
            "next_week": next_week,
        },
        override=_override(ctx),
    )
    release = _release(client, ctx.config, "client", now)
    if release is None or not client.email:
        return RunResult("weekly_review", client.id, "done", detail={"queued": 0})
    _queue_mail(
        ctx,
        key=f"review:{year}-W{week:02d}",
        audience="client",
        sender=_sender(ctx, None, assistant),
        to=client.email,
        subject=subject,
        body=body,
        release=release,
        now=now,
    )
    return RunResult(
        "weekly_review", client.id, "done", detail={"queued": 1, "entries": len(entries)}, items=1
    )


def deadline_watch(client: ClientConfig | None, ctx: JobContext, now: datetime) -> RunResult:
    """Open tasks due soon that the latest plan does not finish in time go to the assistant."""
    assert client is not None
    assert ctx.shared is not None
    tz = _tz(ctx.config, client, None)
    assistant = assistant_of(ctx.config, client)
    soon = now + timedelta(days=ctx.settings.days or 2)
    latest = _latest_plan(ctx.shared, assistant, _local(now, tz).date())
    finish: dict[str, datetime] = {}
    for block in latest.blocks if latest else []:
        finish[block.task_id] = max(finish.get(block.task_id, block.end), block.end)
    escalated = 0
    for task in ctx.store.open_tasks():
        if task.deadline is None or task.deadline > soon:
            continue
        done_at = finish.get(task.id)
        if done_at is not None and done_at <= task.deadline:
            continue
        if task.deadline < now:
            reason = "is overdue" if client.language != "nl" else "is te laat"
        elif done_at is None:
            reason = (
                "is not in the plan" if client.language != "nl" else "staat niet in de planning"
            )
        else:
            reason = "is planned too late" if client.language != "nl" else "is te laat gepland"
        subject, body = render(
            "deadline_alert",
            ctx.config.engine.language,
            {
                "client": client,
                "task": {
                    "title": task.title,
                    "deadline": f"{task.deadline.astimezone(tz):%a %d-%m %H:%M}",
                },
                "reason": reason,
            },
        )
        _row, created = queue(
            ctx.store,
            _to_assistant(
                ctx,
                assistant,
                f"deadline:{task.id}:{task.deadline.isoformat()}",
                subject,
                body,
                now=now,
            ),
            run_key=ctx.run_key,
            workflow=ctx.workflow,
            now=now,
        )
        escalated += created
    return RunResult("deadline_watch", client.id, "done", detail={"escalated": escalated})


def reminders(client: ClientConfig | None, ctx: JobContext, now: datetime) -> RunResult:
    """Remind the client of their own open tasks due soon: one message per task and deadline.

    A run covers the deadlines in ``[start + lead, start + lead + every)``,
    ``start`` being the beginning of its slot: consecutive slots cover every
    moment exactly once, and a run delayed (a broker outage) still reminds of
    its own slot's tasks. The key (task, deadline) makes a retried run queue
    nothing new; a moved deadline is a new reminder. Released inside the
    client's reachability, never after the deadline itself.
    """
    assert client is not None
    settings = ctx.settings
    step = timedelta(minutes=settings.every_minutes or 15)
    lead = timedelta(minutes=settings.lead_minutes or 60)
    start = _period_start(ctx.period, now, step) + lead
    end = start + step
    if not client.email:
        return RunResult("reminders", client.id, "done", detail={"queued": 0, "no_email": True})
    tz = _tz(ctx.config, client, None)
    assistant = assistant_of(ctx.config, client)
    queued = late = 0
    for task in ctx.store.open_tasks():
        deadline = _aware(task.deadline) if task.deadline is not None else None
        if deadline is None or not start <= deadline < end:
            continue
        release = _release(client, ctx.config, "client", now, not_after=deadline)
        if release is None:
            late += 1  # no reachable moment left before the deadline
            continue
        subject, body = render(
            "task_reminder",
            client.language,
            {
                "client": client,
                "assistant": assistant,
                "task": {"title": task.title, "deadline": deadline.astimezone(tz)},
            },
            override=_override(ctx),
        )
        _queue_mail(
            ctx,
            key=f"remind:{task.id}:{format_slot(deadline)}",
            audience="client",
            sender=_sender(ctx, None, assistant),
            to=client.email,
            subject=subject,
            body=body,
            release=release,
            expires_at=deadline,
            now=now,
        )
        queued += 1
    return RunResult(
        "reminders",
        client.id,
        "done",
        detail={"queued": queued, "too_late": late, "window_start": format_slot(start)},
        items=queued,
    )


def _period_start(period: str, now: datetime, step: timedelta) -> datetime:
    """The start of an interval period (``_slot`` key); an out-of-schedule run uses now's slot."""
    try:
        return datetime.strptime(period, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    except ValueError:
        seconds = max(60, int(step.total_seconds()))
        return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, UTC)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Workflow:
    """A workflow and when it is due: ``period`` maps ``now`` to its idempotency period."""

    name: str
    fn: WorkflowFn
    period: Callable[[datetime, WorkflowOptions, ZoneInfo], str | None]
    trigger: Literal["interval", "daily", "weekly"]
    scope: Literal["client", "assistant"] = "client"
    #: whether its work is done on the client's behalf (written to the ledger)
    for_client: bool = False
    #: coalesce missed runs into one (APScheduler ``coalesce``)
    coalesce: bool = True


def _replan_period(now: datetime, settings: WorkflowOptions, tz: ZoneInfo) -> str | None:
    return _slot(now, settings, tz)


def retention(client: ClientConfig | None, ctx: JobContext, now: datetime) -> RunResult:
    """Purge this client's data past its retention period; the run keeps counts only."""
    assert client is not None
    counts = purge_expired(
        ctx.store,
        ctx.config.engine.retention,
        now,
        data_dir=ctx.config.engine.resolved_data_dir(),
    )
    return RunResult("retention", client.id, "done", detail=dict(counts))


WORKFLOWS: dict[str, Workflow] = {
    w.name: w
    for w in (
        Workflow("sync", sync, _slot, "interval"),
        Workflow("replan", replan, _replan_period, "interval", scope="assistant"),
        Workflow("morning_brief", morning_brief, _daily, "daily", scope="assistant"),
        Workflow("payment_reminders", payment_reminders, _daily, "daily", for_client=True),
        Workflow("confirmations", confirmations, _daily, "daily", for_client=True),
        Workflow("triage", triage, _slot, "interval", for_client=True),
        Workflow("reminders", reminders, _slot, "interval", for_client=True),
        Workflow("weekly_review", weekly_review, _weekly, "weekly", for_client=True),
        Workflow("deadline_watch", deadline_watch, _daily, "daily"),
        Workflow("retention", retention, _daily, "daily"),
    )
}
CLIENT_WORKFLOWS = tuple(n for n, w in WORKFLOWS.items() if w.scope == "client")
ASSISTANT_WORKFLOWS = tuple(n for n, w in WORKFLOWS.items() if w.scope == "assistant")


# --------------------------------------------------------------------------- runner


def backoff_delay(options: DaemonOptions, scope: str, workflow: str, streak: int) -> timedelta:
    """Exponential backoff with deterministic jitter (50–100 %), capped at ``backoff_max_s``.

    The jitter comes from a hash of (scope, workflow, streak), so many clients
    failing together (one provider down) spread their retries, while a test
    can still predict the exact moment.
    """
    base = min(options.backoff_max_s, options.backoff_base_s * 2 ** max(0, streak - 1))
    digest = hashlib.sha256(f"{scope}\x1f{workflow}\x1f{streak}".encode()).digest()
    jitter = 0.5 + 0.5 * (int.from_bytes(digest[:4], "big") / 0xFFFFFFFF)
    return timedelta(seconds=base * jitter)


def _resolve_scope(
    config: Config, scope: str
) -> tuple[ClientConfig | None, AssistantConfig | None]:
    if scope.startswith("@"):
        for assistant in config.assistants:
            if assistant.id == scope[1:]:
                return None, assistant
        raise NotFoundError(f"unknown assistant {scope[1:]!r}")
    return config.client(scope), None


def execute(
    runtime: Runtime,
    scope: str,
    workflow: str,
    *,
    now: datetime,
    ignore_backoff: bool = False,
    lock_timeout: float | None = None,
    period: str | None = None,
    slot: datetime | None = None,
) -> RunResult:
    """Run ``workflow`` for ``scope`` once for the period that contains ``slot or now``.

    ``slot`` is when its trigger was due (multi-node mode): a run that starts
    late still does its own period. Returns without side effects when the
    workflow is disabled, not yet due, backing off after failures, or already
    done for this period.
    """
    spec = WORKFLOWS[workflow]
    # UTC inside: SQLite keeps datetimes naive, so every stored moment must be UTC.
    now = now.astimezone(UTC)
    lock = runtime.lock(scope)
    timeout = runtime.options.job_timeout_s if lock_timeout is None else lock_timeout
    if not lock.acquire(timeout=timeout):
        return RunResult(workflow, scope, "busy")
    try:
        return _execute(
            runtime,
            spec,
            scope,
            now=now,
            ignore_backoff=ignore_backoff,
            period=period,
            slot=slot,
        )
    finally:
        lock.release()


def _execute(
    runtime: Runtime,
    spec: Workflow,
    scope: str,
    *,
    now: datetime,
    ignore_backoff: bool,
    period: str | None,
    slot: datetime | None = None,
) -> RunResult:
    config, options = runtime.config, runtime.options
    client, assistant = _resolve_scope(config, scope)
    settings = options.workflow(scope, spec.name)
    if not settings.enabled:
        return RunResult(spec.name, scope, "disabled")
    store = runtime.store.for_client(scope)
    failure = store.failure(spec.name)
    if failure is not None and not ignore_backoff:
        retry_at = _aware(failure.next_attempt_at)
        if now < retry_at:
            return RunResult(
                spec.name, scope, "backoff", retry_at=retry_at, error=failure.last_error
            )
    if period is None:
        period = spec.period(slot or now, settings, _tz(config, client, assistant))
    if period is None:
        return RunResult(spec.name, scope, "not_due")
    run = store.begin_run(spec.name, period, now=now)
    if run is None:
        return RunResult(spec.name, scope, "skipped", period=period)
    ctx = JobContext(
        config=config,
        options=options,
        store=store,
        workflow=spec.name,
        period=period,
        shared=runtime.store
        if spec.scope == "assistant" or spec.name in ("weekly_review", "deadline_watch")
        else None,
    )
    try:
        result = spec.fn(client, ctx, now)
        result.period = period
        failpoint("run.after_work")
        report = deliver_due(store, _sinks_with_alerts(ctx, client, now), now=now)
        result.detail["delivered"] = len(report.delivered)
        if report.uncertain:
            result.detail["uncertain"] = len(report.uncertain)
        _ledger(ctx, spec, client, result, now)
        failpoint("run.before_finish")
        if report.errors:
            raise ConnectorError("delivery failed: " + "; ".join(report.errors[:3]))
        store.finish_run(run.id, now=now, result=_jsonable(result.detail))
        store.clear_failure(spec.name)
        if result.changed and runtime.on_changed is not None and client is not None:
            _hook(runtime.on_changed, assistant_scope(assistant_of(config, client).id))
        return result
    except Exception as exc:
        message = _describe(exc)
        log.warning("%s/%s failed: %s", scope, spec.name, message)
        store.finish_run(run.id, now=now, error=message)
        return _failed(runtime, ctx, spec, client, assistant, message, now)
    finally:
        ctx.close()


def _failed(
    runtime: Runtime,
    ctx: JobContext,
    spec: Workflow,
    client: ClientConfig | None,
    assistant: AssistantConfig | None,
    message: str,
    now: datetime,
) -> RunResult:
    store = ctx.store
    current = store.failure(spec.name)
    streak = (current.streak if current else 0) + 1
    retry_at = now + backoff_delay(runtime.options, store.client_id, spec.name, streak)
    row = store.record_failure(spec.name, message, now=now, next_attempt_at=retry_at)
    if row.streak >= runtime.options.alert_after and not row.alerted:
        _alert(
            ctx, client, assistant, spec.name, row.streak, _aware(row.first_failed_at), message, now
        )
        store.mark_failure_alerted(spec.name)
    if runtime.on_failure is not None:
        _hook(runtime.on_failure, store.client_id, spec.name, retry_at)
    return RunResult(
        spec.name, store.client_id, "failed", period=ctx.period, error=message, retry_at=retry_at
    )


def _alert(
    ctx: JobContext,
    client: ClientConfig | None,
    assistant: AssistantConfig | None,
    workflow: str,
    streak: int,
    since: datetime,
    error: str,
    now: datetime,
) -> None:
    """One message to the assistant per failure streak (keyed by the streak's start)."""
    owner = assistant if assistant is not None else assistant_of(ctx.config, _need(client))
    name = client.name if client else owner.name
    key = f"alert:{workflow}:{since.isoformat()}"
    subject, body = render(
        "failure_alert",
        ctx.config.engine.language,
        {
            "workflow": workflow,
            "client_name": name,
            "streak": streak,
            "since": since.isoformat(timespec="minutes"),
            "error": error,
        },
    )
    if not ctx.store.add_alert(key, subject, body, now=now):
        return
    row, _ = queue(
        ctx.store,
        _alert_message(key, owner, subject, body, now=now),
        run_key=f"alert:{ctx.run_key}",
        workflow=workflow,
        now=now,
    )
    try:
        deliver(
            ctx.store,
            Sinks(
                outbox_dir=ctx.options.resolved_outbox_dir(ctx.config), scope=ctx.store.client_id
            ),
            row,
            now=now,
        )
    except (OSError, VaEngineError) as exc:
        log.error("cannot write the alert for %s/%s: %s", ctx.store.client_id, workflow, exc)


def _sinks_with_alerts(ctx: JobContext, client: ClientConfig | None, now: datetime) -> Sinks:
    """The client's sinks; an uncertain send raises one alert for the assistant."""
    has_client_outbox = any(
        row.audience != "assistant"
        for row in ctx.store.outbox(status=("pending", "sending", "sent"))
    )
    sinks = (
        ctx.sinks(client)
        if has_client_outbox
        else Sinks(
            outbox_dir=ctx.options.resolved_outbox_dir(ctx.config),
            scope=ctx.store.client_id,
            smtp=ctx.options.smtp_for(ctx.store.client_id),
        )
    )

    def uncertain(row: OutboxRow) -> None:
        owner = assistant_of(ctx.config, client) if client else _scope_assistant(ctx)
        subject, body = render(
            "uncertain_alert",
            ctx.config.engine.language,
            {
                "subject": row.subject,
                "recipient": row.recipient,
                "client_name": client.name if client else owner.name,
                "message_id": row.message_id,
            },
        )
        key = f"uncertain:{row.key}"
        if ctx.store.add_alert(key, subject, body, now=now):
            alert, _ = queue(
                ctx.store,
                _alert_message(key, owner, subject, body, now=now),
                run_key=f"alert:{ctx.run_key}",
                workflow=row.workflow,
                now=now,
            )
            deliver(
                ctx.store, Sinks(outbox_dir=sinks.outbox_dir, scope=sinks.scope), alert, now=now
            )

    sinks.on_uncertain = uncertain
    return sinks


def _ledger(
    ctx: JobContext, spec: Workflow, client: ClientConfig | None, result: RunResult, now: datetime
) -> None:
    """One entry per run that did work for the client; the run key makes it exactly once."""
    if not spec.for_client or client is None:
        return
    queued = len(ctx.store.outbox(run_key=ctx.run_key))
    items = max(result.items, queued)
    if items <= 0:
        return
    settings = ctx.settings
    tz = _tz(ctx.config, client, None)
    entry = LedgerEntry(
        client_id=client.id,
        task=f"{spec.name.replace('_', ' ')} ({items})",
        day=_local(now, tz).date(),
        minutes=max(1, items * (settings.minutes or 1)),
        mode=Mode.FOR,
        level=client.to_model(ctx.config.engine.timezone).level_for(_KINDS.get(spec.name, "admin")),
        kind=_KINDS.get(spec.name, "admin"),
        billable=True if settings.billable is None else settings.billable,
        source="workflow",
        note=f"run {ctx.run_key}",
    )
    failpoint("ledger.before")
    ctx.store.add_entry(entry, actor="daemon", now=now, run_key=ctx.run_key)


_KINDS = {
    "payment_reminders": "finance",
    "confirmations": "appointments",
    "triage": "mail",
    "reminders": "admin",
    "weekly_review": "admin",
}


def _hook(callback: Callable[..., None], *args: Any) -> None:
    """Call a trigger hook (schedule a retry, a re-plan); its failure never undoes the run."""
    try:
        callback(*args)
    except Exception as exc:  # e.g. the scheduler is shutting down
        log.info("could not schedule follow-up work: %s: %s", type(exc).__name__, exc)


def _need(client: ClientConfig | None) -> ClientConfig:
    assert client is not None
    return client


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, VaEngineError):
        return redact(exc.message)
    return redact(f"{type(exc).__name__}: {exc}")


def _jsonable(detail: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(detail, default=str)))


def recover(runtime: Runtime, scopes: Sequence[str], *, now: datetime) -> list[RunResult]:
    """Finish runs a crash left ``started`` whose period has passed (deliver + ledger).

    Runs of the current period are simply handed out again by their trigger;
    an older one would otherwise never be completed, and its queued messages
    and ledger entry would be lost.
    """
    results: list[RunResult] = []
    now = now.astimezone(UTC)
    for scope in scopes:
        store = runtime.store.for_client(scope)
        for run in store.runs():
            if run.status != "started" or run.workflow not in WORKFLOWS:
                continue
            spec = WORKFLOWS[run.workflow]
            client, assistant = _resolve_scope(runtime.config, scope)
            period = spec.period(
                now,
                runtime.options.workflow(scope, spec.name),
                _tz(runtime.config, client, assistant),
            )
            if period == run.period:
                continue  # its own trigger resumes it
            with runtime.lock(scope):
                claimed = store.begin_run(run.workflow, run.period, now=now)
                if claimed is None:
                    continue
                ctx = JobContext(runtime.config, runtime.options, store, run.workflow, run.period)
                try:
                    deliver_due(store, _sinks_with_alerts(ctx, client, now), now=now)
                    result = RunResult(
                        run.workflow, scope, "done", period=run.period, detail={"recovered": True}
                    )
                    _ledger(ctx, spec, client, result, now)
                    store.finish_run(claimed.id, now=now, result=result.detail)
                except Exception as exc:
                    message = _describe(exc)
                    store.finish_run(claimed.id, now=now, error=message)
                    result = RunResult(
                        run.workflow, scope, "failed", period=run.period, error=message
                    )
                finally:
                    ctx.close()
                results.append(result)
    return results


def all_scopes(config: Config) -> list[str]:
    """Every client id, then every assistant scope."""
    return [c.id for c in config.clients] + [assistant_scope(a.id) for a in config.assistants]


def due_jobs(config: Config) -> list[tuple[str, str]]:
    """(scope, workflow) for every job the daemon schedules."""
    jobs = [(c.id, name) for c in config.clients for name in CLIENT_WORKFLOWS]
    jobs += [
        (assistant_scope(a.id), name) for a in config.assistants for name in ASSISTANT_WORKFLOWS
    ]
    return jobs

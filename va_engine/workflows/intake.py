"""Bring one client's world in: calendars and mailboxes become busy time and tasks.

This is wiring, shared by the CLI (``demo``, ``sync``, ``plan``) and the
daemon: it opens the client's accounts through :mod:`.accounts`, asks the
pure parsers and rules what the items mean, and returns data. One broken
account is reported in its :class:`AccountReport` and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from va_engine.connectors.base import (
    CalendarEvent,
    CalendarSource,
    MailSource,
    Quarantined,
    event_to_busy,
    todo_to_task,
)
from va_engine.connectors.rules import apply_rules, rules_with_defaults
from va_engine.errors import VaEngineError
from va_engine.model import Busy, Client, Habit, Task
from va_engine.settings import AssistantConfig, ClientConfig, Config
from va_engine.workflows.accounts import close_source, open_calendar, open_mailbox

__all__ = ["AccountReport", "ClientIntake", "collect_assistant_busy", "collect_client"]

#: Called after each account: (account name, report) — drives progress bars.
Progress = Callable[[str], None]


@dataclass
class AccountReport:
    """What one account gave us, or why it gave nothing."""

    account: str
    events: int = 0
    todos: int = 0
    messages: int = 0
    tasks: int = 0
    quarantined: list[Quarantined] = field(default_factory=list)
    error: str | None = None


@dataclass
class ClientIntake:
    client: Client
    tasks: list[Task]
    busy: list[Busy]
    habits: list[Habit]
    accounts: list[AccountReport]
    rule_hits: dict[str, int] = field(default_factory=dict)

    @property
    def quarantined(self) -> list[Quarantined]:
        return [q for report in self.accounts for q in report.quarantined]


def collect_client(
    config: Config,
    client_config: ClientConfig,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    progress: Progress | None = None,
) -> ClientIntake:
    """Everything the planner needs to know about one client in ``[start, end)``."""
    client = client_config.to_model(config.engine.timezone)
    tasks = client_config.manual_tasks(config.engine.timezone)
    busy: list[Busy] = []
    reports: list[AccountReport] = []
    emails = {a.email.lower(): a.id for a in config.assistants if a.email}
    for account in client_config.calendars:
        report = AccountReport(account=account.name)
        source: CalendarSource | None = None
        try:
            source = open_calendar(config, account)
            if account.role in ("busy", "busy+todo"):
                parsed = source.events(start, end, tz=client.tz)
                report.events = len(parsed.events)
                report.quarantined += parsed.quarantined
                for event in parsed.events:
                    busy.extend(_event_busy(event, client.id, emails))
            if account.role in ("todo", "busy+todo"):
                parsed = source.todos(tz=client.tz)
                report.todos = len(parsed.todos)
                report.quarantined += parsed.quarantined
                for todo in parsed.todos:
                    kind = todo.categories[0].lower() if todo.categories else "admin"
                    task = todo_to_task(todo, tz=client.tz, client_id=client.id, kind=kind)
                    if task is not None:
                        tasks.append(task)
                        report.tasks += 1
        except (VaEngineError, OSError) as exc:
            report.error = _describe(exc)
        finally:
            close_source(source)
        reports.append(report)
        if progress:
            progress(account.name)
    rules = rules_with_defaults(client_config.rules)
    hits: dict[str, int] = {}
    for mailbox in client_config.mailboxes:
        report = AccountReport(account=mailbox.name)
        mail_source: MailSource | None = None
        try:
            mail_source = open_mailbox(config, mailbox)
            for folder in mailbox.folders:
                batch = mail_source.fetch(folder, None)
                report.messages += len(batch.messages)
                report.quarantined += batch.quarantined
                for message in batch.messages:
                    outcome = apply_rules(
                        message, rules, client_id=client.id, now=now, tz=client.tz
                    )
                    tasks.extend(outcome.tasks)
                    busy.extend(outcome.busy)
                    report.tasks += len(outcome.tasks)
                    for name in outcome.matched_rule_names:
                        hits[name] = hits.get(name, 0) + 1
        except (VaEngineError, OSError) as exc:
            report.error = _describe(exc)
        finally:
            close_source(mail_source)
        reports.append(report)
        if progress:
            progress(mailbox.name)
    habits = [h.to_model(client.id) for h in client_config.habits]
    return ClientIntake(
        client=client,
        tasks=_dedupe(tasks),
        busy=busy,
        habits=habits,
        accounts=reports,
        rule_hits=hits,
    )


def collect_assistant_busy(
    config: Config, assistant: AssistantConfig, *, start: datetime, end: datetime
) -> tuple[list[Busy], list[AccountReport]]:
    """The assistant's own calendars: all of it blocks her time."""
    tz = assistant.to_model(config.engine.timezone).tz
    busy: list[Busy] = []
    reports: list[AccountReport] = []
    for account in assistant.calendars:
        report = AccountReport(account=f"{assistant.id}/{account.name}")
        own: CalendarSource | None = None
        try:
            own = open_calendar(config, account)
            parsed = own.events(start, end, tz=tz)
            report.events = len(parsed.events)
            report.quarantined += parsed.quarantined
            for event in parsed.events:
                block = event_to_busy(event, assistant_id=assistant.id)
                if block is not None:
                    busy.append(block)
        except (VaEngineError, OSError) as exc:
            report.error = _describe(exc)
        finally:
            close_source(own)
        reports.append(report)
    return busy, reports


def _event_busy(event: CalendarEvent, client_id: str, emails: dict[str, str]) -> list[Busy]:
    """A client's event makes the client busy; if an assistant attends, her too."""
    result: list[Busy] = []
    client_busy = event_to_busy(event, client_id=client_id)
    if client_busy is None:
        return result
    result.append(client_busy)
    for attendee in event.attendees:
        address = attendee.lower().removeprefix("mailto:")
        if address in emails:
            assistant_busy = event_to_busy(event, client_id=client_id, assistant_id=emails[address])
            if assistant_busy is not None:
                result.append(assistant_busy)
    return result


def _dedupe(tasks: Sequence[Task]) -> list[Task]:
    """The same upstream item seen twice (e.g. two folders) is one task."""
    seen: dict[str, Task] = {}
    for task in tasks:
        seen.setdefault(task.id, task)
    return list(seen.values())


def _describe(exc: BaseException) -> str:
    if isinstance(exc, VaEngineError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"

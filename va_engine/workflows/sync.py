"""Incremental sync of a client's accounts into the store, for ``va-engine sync`` and the daemon.

For each account: hand the backend its last state, take what changed, turn
it into tasks (todos directly, mail through the rules), upsert them, close
tasks whose upstream item disappeared, and only then save the new state. An
account that fails reports its error and keeps its old state, so nothing is
lost and the next sync tries again; the other accounts go on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from va_engine.connectors.base import (
    CalendarSource,
    MailSource,
    Quarantined,
    SyncSummary,
    todo_to_task,
)
from va_engine.connectors.rules import apply_rules, rules_with_defaults
from va_engine.errors import VaEngineError
from va_engine.model import Task
from va_engine.settings import CalendarAccount, ClientConfig, Config, MailAccount
from va_engine.store import ClientStore
from va_engine.workflows.accounts import close_source, open_calendar, open_mailbox

__all__ = ["sync_client", "sync_mail_folder"]

#: How far ahead calendar changes matter for planning.
SYNC_WINDOW = timedelta(days=120)

Progress = Callable[[str], None]


def sync_client(
    config: Config,
    client_config: ClientConfig,
    store: ClientStore,
    *,
    now: datetime,
    progress: Progress | None = None,
) -> list[SyncSummary]:
    """Sync every account of one client; one summary per account (and folder)."""
    if store.client_id != client_config.id:
        raise VaEngineError(
            f"store of client {store.client_id!r} handed to the sync of {client_config.id!r}"
        )
    summaries: list[SyncSummary] = []
    for calendar in client_config.calendars:
        if calendar.role != "plan":
            work = partial(_calendar, config, client_config, calendar, store, now)
            summaries.append(_guarded(calendar.name, work))
        if progress:
            progress(calendar.name)
    for mailbox in client_config.mailboxes:
        summaries.extend(_mailbox(config, client_config, mailbox, store, now))
        if progress:
            progress(mailbox.name)
    for summary in summaries:
        for item in summary.quarantined:
            store.quarantine(str(item.origin), item.reason, now=now)
    return summaries


def _guarded(account: str, work: Callable[[], SyncSummary]) -> SyncSummary:
    try:
        return work()
    except (VaEngineError, OSError) as exc:
        message = exc.message if isinstance(exc, VaEngineError) else f"{type(exc).__name__}: {exc}"
        return SyncSummary(account=account, error=message)


def _calendar(
    config: Config,
    client_config: ClientConfig,
    account: CalendarAccount,
    store: ClientStore,
    now: datetime,
) -> SyncSummary:
    source = open_calendar(config, account)
    try:
        return _sync_calendar(config, client_config, account, store, now, source)
    finally:
        close_source(source)


def _sync_calendar(
    config: Config,
    client_config: ClientConfig,
    account: CalendarAccount,
    store: ClientStore,
    now: datetime,
    source: CalendarSource,
) -> SyncSummary:
    client = client_config.to_model(config.engine.timezone)
    state = store.sync_state(account.name, "calendar")
    changes = source.sync(state, start=now - timedelta(days=1), end=now + SYNC_WINDOW, tz=client.tz)
    added = changed = removed = 0
    quarantined: tuple[Quarantined, ...] = changes.quarantined
    if account.role in ("todo", "busy+todo") and not changes.unchanged:
        # Todos are few: on any change, reconcile the whole list so edits,
        # completions and deletions upstream all land.
        parsed = source.todos(tz=client.tz)
        quarantined += parsed.quarantined
        tasks: list[Task] = []
        for todo in parsed.todos:
            kind = todo.categories[0].lower() if todo.categories else "admin"
            task = todo_to_task(todo, tz=client.tz, client_id=client.id, kind=kind)
            if task is not None:
                tasks.append(task)
        added, changed = store.upsert_tasks(tasks, now=now)
        # Every collection seen keeps only its open todos; completed ones close.
        keep: dict[str, set[str]] = {todo.origin.source: set() for todo in parsed.todos}
        for task in tasks:
            keep.setdefault(task.source or "", set()).add(task.external_id or task.id)
        for source_name, external_ids in keep.items():
            removed += store.close_missing(source_name, external_ids, now=now)
    elif not changes.unchanged:
        changed = len(changes.changed_items)
        removed = len(changes.removed_items)
    store.set_sync_state(account.name, "calendar", changes.state, now=now)
    return SyncSummary(
        account=account.name, added=added, changed=changed, removed=removed, quarantined=quarantined
    )


def _mailbox(
    config: Config,
    client_config: ClientConfig,
    account: MailAccount,
    store: ClientStore,
    now: datetime,
) -> list[SyncSummary]:
    """Every folder of one mailbox over one connection, closed afterwards.

    A daemon syncing hundreds of clients every few minutes must not leave a
    connection per run behind.
    """
    source: MailSource | None = None
    try:
        source = open_mailbox(config, account)
        opened = source
        return [
            _guarded(
                f"{account.name}/{folder}",
                partial(
                    sync_mail_folder, config, client_config, account, folder, store, now, opened
                ),
            )
            for folder in account.folders
        ]
    except (VaEngineError, OSError) as exc:
        # One line per folder, so a broken mailbox reads like its folders failing.
        return [
            _guarded(f"{account.name}/{folder}", partial(_raise, exc)) for folder in account.folders
        ]
    finally:
        close_source(source)


def _raise(exc: BaseException) -> SyncSummary:
    raise exc


def sync_mail_folder(
    config: Config,
    client_config: ClientConfig,
    account: MailAccount,
    folder: str,
    store: ClientStore,
    now: datetime,
    source: MailSource,
) -> SyncSummary:
    """One folder on an already open mailbox (the daemon keeps its connections open)."""
    client = client_config.to_model(config.engine.timezone)
    saved = _MailState.load(store.sync_state(account.name, folder))
    batch = source.fetch(folder, None if saved is None else saved.backend)
    refs = {} if saved is None or batch.reset else dict(saved.refs)
    rules = rules_with_defaults(client_config.rules)
    tasks: list[Task] = []
    for message in batch.messages:
        refs[message.id] = message.message_id or message.id
        outcome = apply_rules(message, rules, client_id=client.id, now=now, tz=client.tz)
        tasks.extend(outcome.tasks)
    added, changed = store.upsert_tasks(tasks, now=now)
    gone = [refs.pop(item, item) for item in batch.removed_ids]
    removed = store.close_with_prefixes([f"{ref}#" for ref in gone], now=now) if gone else 0
    store.set_sync_state(
        account.name, folder, _MailState(backend=batch.state, refs=refs).dump(), now=now
    )
    return SyncSummary(
        account=f"{account.name}/{folder}",
        added=added,
        changed=changed,
        removed=removed,
        quarantined=batch.quarantined,
    )


class _MailState:
    """The backend's opaque state plus folder id → Message-ID, to close tasks of removed mail."""

    def __init__(self, backend: str, refs: dict[str, str]) -> None:
        self.backend = backend
        self.refs = refs

    @classmethod
    def load(cls, text: str | None) -> _MailState | None:
        if not text:
            return None
        data = json.loads(text)
        return cls(backend=str(data["backend"]), refs=dict(data.get("refs", {})))

    def dump(self) -> str:
        return json.dumps({"backend": self.backend, "refs": self.refs}, separators=(",", ":"))

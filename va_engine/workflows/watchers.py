"""IMAP IDLE watchers: new mail triggers a sync at once instead of at the next interval.

Each watched folder has one thread holding one IMAP connection in IDLE. Every
IDLE wait ends after ``timeout`` seconds with DONE, which needs an answer
from the server, and then the thread writes a heartbeat row. A connection
that died silently (NAT timeout, server restart without RST) therefore shows
up as a heartbeat that stops moving: the daemon's supervisor sees its age
and restarts the watcher with a fresh connection. The interval sync keeps
running regardless, so a dead watcher only costs latency, never mail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from va_engine.errors import VaEngineError
from va_engine.settings import Config, MailAccount
from va_engine.workflows.accounts import open_mailbox
from va_engine.workflows.jobs import Runtime

__all__ = ["IdleWatcher", "WatchTarget", "watched_folders"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchTarget:
    client_id: str
    account: MailAccount
    folder: str

    @property
    def name(self) -> str:
        return f"idle:{self.client_id}:{self.account.name}/{self.folder}"


def watched_folders(config: Config) -> list[WatchTarget]:
    """Every folder of every IMAP mailbox of every client."""
    return [
        WatchTarget(client.id, account, folder)
        for client in config.clients
        for account in client.mailboxes
        if account.type == "imap"
        for folder in account.folders
    ]


class IdleWatcher:
    """One thread in IDLE on one folder; heartbeat after every wait, kick on change."""

    def __init__(
        self,
        target: WatchTarget,
        runtime: Runtime,
        *,
        timeout: float,
        on_change: Callable[[str, str], None],
        opener: Callable[[Config, MailAccount], Any] = open_mailbox,
    ) -> None:
        self.target = target
        self.runtime = runtime
        self.timeout = timeout
        self.on_change = on_change
        self.opener = opener
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=target.name, daemon=True)
        self._mailbox: Any = None
        self.last_beat: datetime | None = None

    @property
    def name(self) -> str:
        return self.target.name

    def start(self) -> None:
        self._thread.start()

    def stop(self, *, wait_s: float = 2.0) -> None:
        """Ask the thread to end; closing its connection interrupts a running IDLE."""
        self._stop.set()
        self._close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(wait_s)

    def _close(self) -> None:
        mailbox = self._mailbox
        if mailbox is not None:
            try:
                mailbox.close()
            except Exception as exc:  # closing a dead socket may fail in many ways
                log.debug("%s: ignoring error on close: %s", self.name, type(exc).__name__)

    def restarted(self) -> IdleWatcher:
        return IdleWatcher(
            self.target,
            self.runtime,
            timeout=self.timeout,
            on_change=self.on_change,
            opener=self.opener,
        )

    def stale(self, now: datetime, limit: timedelta) -> bool:
        """True when the stored heartbeat is older than ``limit`` (or never came)."""
        store = self.runtime.store.for_client(self.target.client_id)
        for row in store.heartbeats():
            if row.name == self.name:
                at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
                return now - at > limit
        return True

    def _beat(self, detail: str) -> None:
        now = self.runtime.clock()
        self.last_beat = now
        self.runtime.store.for_client(self.target.client_id).beat(self.name, now=now, detail=detail)

    def _loop(self) -> None:
        try:
            self._watch()
        finally:
            # a retry inside the connector may have reconnected after stop(): close it here
            self._close()
            self._mailbox = None

    def _watch(self) -> None:
        pause = 1.0
        while not self._stop.is_set():
            try:
                if self._mailbox is None:
                    self._mailbox = self.opener(self.runtime.config, self.target.account)
                changed = self._mailbox.idle_wait(self.target.folder, self.timeout)
                if self._stop.is_set():
                    return
                self._beat("changed" if changed else "idle")
                pause = 1.0
                if changed:
                    self.on_change(self.target.client_id, "sync")
            except (VaEngineError, OSError) as exc:
                if self._stop.is_set():
                    return
                log.info("%s: %s; reconnecting in %.0f s", self.name, exc, pause)
                self._close()
                self._mailbox = None
                self._stop.wait(pause)
                pause = min(300.0, pause * 2)

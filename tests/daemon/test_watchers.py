"""IMAP IDLE watchers: a heartbeat after every IDLE round, a sync kick on new mail,
and a silent watcher is seen as stale (so the daemon restarts it)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.daemon.helpers import client_toml, runtime, write_config
from tests.servers import Account
from va_engine.connectors.imap import ImapMailbox
from va_engine.workflows.watchers import IdleWatcher, watched_folders

pytestmark = pytest.mark.integration


def test_idle_watcher_beats_kicks_a_sync_on_new_mail_and_goes_stale_when_stopped(
    tmp_path: Path, imap_account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VA_TEST_IDLE_PW", imap_account.password)
    imap = {
        "host": imap_account.host,
        "port": imap_account.port,
        "username": imap_account.username,
        "password_env": "VA_TEST_IDLE_PW",
    }
    config_dir = write_config(
        tmp_path / "config",
        database_url=f"sqlite:///{tmp_path / 'va.db'}",
        clients={"hoef": client_toml("hoef", imap=imap)},
    )
    rt = runtime(config_dir)
    kicks: list[tuple[str, str]] = []
    kicked = threading.Event()

    def on_change(scope: str, workflow: str) -> None:
        kicks.append((scope, workflow))
        kicked.set()

    [target] = watched_folders(rt.config)
    watcher = IdleWatcher(target, rt, timeout=0.5, on_change=on_change)
    try:
        watcher.start()
        deadline = time.monotonic() + 10
        while watcher.last_beat is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert watcher.last_beat is not None
        [beat] = rt.store.for_client("hoef").heartbeats()
        assert beat.name == "idle:hoef:mail/INBOX"
        assert not watcher.stale(datetime.now(UTC), timedelta(seconds=30))
        sender = ImapMailbox(
            imap_account.host,
            imap_account.port,
            imap_account.username,
            SecretStr(imap_account.password),
            ssl=False,
        )
        try:
            sender.append_draft(
                b"From: a@example.org\r\nSubject: hi\r\nMessage-ID: <w1@x>\r\n\r\nhello\r\n",
                folder="INBOX",
            )
        finally:
            sender.close()
        assert kicked.wait(10)
        assert kicks[0] == ("hoef", "sync")
    finally:
        watcher.stop()
    # Stopped (or silently dead): the heartbeat no longer moves and the watcher is stale.
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert watcher.stale(later, timedelta(seconds=60))
    assert not watcher.restarted().stale(datetime.now(UTC), timedelta(seconds=60))
    rt.store.close()

"""Two clients on the same IMAP and CalDAV servers: a job for A never reaches B.

A's config is the hostile case too: besides its own accounts, a variant
points at B's mailbox (B's user name, A's password) and at B's calendar URL.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.privacy.accounts import client_file, main_file, make_server_client, tree_snapshot
from tests.servers import DovecotServer, RadicaleServer
from va_engine.privacy import client_tables, erase_client
from va_engine.settings import load_config
from va_engine.store import Store
from va_engine.workflows.jobs import Runtime, execute
from va_engine.workflows.options import load_daemon_options

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))


def _rows(store: Store, client: str) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {
            t.name: int(
                connection.execute(
                    select(func.count()).select_from(t).where(t.c.client_id == client)
                ).scalar_one()
            )
            for t in client_tables()
        }


def _dump(store: Store) -> str:
    """Everything in every client table, as text: what a leak would show up in."""
    with store.engine.connect() as connection:
        return json.dumps(
            {
                t.name: [dict(r) for r in connection.execute(select(t)).mappings()]
                for t in client_tables()
            },
            default=str,
        )


def test_a_job_for_a_never_reads_or_writes_b(
    dovecot_server: DovecotServer,
    radicale_server: RadicaleServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = make_server_client("a", dovecot_server, radicale_server, now=NOW)
    b = make_server_client("b", dovecot_server, radicale_server, now=NOW)
    for who in (a, b):
        env = who.client_id.upper()
        monkeypatch.setenv(f"{env}_MAIL_PW", who.mail.password)
        monkeypatch.setenv(f"{env}_CAL_PW", who.cal.password)
    root = tmp_path / "config"
    (root / "clients").mkdir(parents=True)
    url = f"sqlite:///{tmp_path / 'va.db'}"
    (root / "va-engine.toml").write_text(main_file(root, url))
    (root / "clients" / "a.toml").write_text(client_file(a))
    (root / "clients" / "b.toml").write_text(client_file(b))
    b_mail = dovecot_server.root / "home" / b.mail.username
    b_cal = radicale_server.storage / b.cal.username
    before_b = tree_snapshot(b_mail), tree_snapshot(b_cal)

    config = load_config(root)
    runtime = Runtime(config=config, options=load_daemon_options(config), store=Store(url))
    try:
        result = execute(runtime, "a", "sync", now=NOW)
        assert result.status == "done", result.error
        titles = " ".join(t.title for t in runtime.store.for_client("a").open_tasks())
        assert titles.count(a.marker) == 3  # two invoices and the todo
        assert b.marker not in _dump(runtime.store)
        assert sum(_rows(runtime.store, "b").values()) == 0
        assert (tree_snapshot(b_mail), tree_snapshot(b_cal)) == before_b

        # B's own job sees only B; A's rows stay exactly as they were
        before_a = _rows(runtime.store, "a")
        assert execute(runtime, "b", "sync", now=NOW).status == "done"
        assert _rows(runtime.store, "a") == before_a
        b_titles = " ".join(t.title for t in runtime.store.for_client("b").open_tasks())
        assert a.marker not in b_titles and b_titles.count(b.marker) == 3

        # erasing A removes nothing of B's
        before_b_rows = _rows(runtime.store, "b")
        erase_client(runtime.store, "a", now=NOW, actor="test")
        assert _rows(runtime.store, "b") == before_b_rows
        assert a.marker not in _dump(runtime.store)
    finally:
        runtime.store.close()


def test_a_config_pointing_at_b_gets_nothing_of_b(
    dovecot_server: DovecotServer,
    radicale_server: RadicaleServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a = make_server_client("a", dovecot_server, radicale_server, now=NOW)
    b = make_server_client("b", dovecot_server, radicale_server, now=NOW)
    monkeypatch.setenv("A_MAIL_PW", a.mail.password)
    monkeypatch.setenv("A_CAL_PW", a.cal.password)
    root = tmp_path / "config"
    (root / "clients").mkdir(parents=True)
    url = f"sqlite:///{tmp_path / 'va.db'}"
    (root / "va-engine.toml").write_text(main_file(root, url))
    # A's file names B's mailbox and B's calendar collection, with A's passwords
    hostile = client_file(
        a, mail_user=b.mail.username, cal_url=f"{radicale_server.url}{b.cal.username}/tasks/"
    )
    (root / "clients" / "a.toml").write_text(hostile)
    b_mail = dovecot_server.root / "home" / b.mail.username
    b_cal = radicale_server.storage / b.cal.username
    before_b = tree_snapshot(b_mail), tree_snapshot(b_cal)

    config = load_config(root)
    runtime = Runtime(config=config, options=load_daemon_options(config), store=Store(url))
    try:
        result = execute(runtime, "a", "sync", now=NOW)
        assert result.status == "failed"  # B's mailbox and calendar refused A
        assert "tasks:" in (result.error or "") and "mail/INBOX:" in (result.error or "")
        assert b.marker not in _dump(runtime.store)
        assert b.marker not in (result.error or "")
        assert (tree_snapshot(b_mail), tree_snapshot(b_cal)) == before_b
        assert a.mail.password not in _dump(runtime.store)
    finally:
        runtime.store.close()

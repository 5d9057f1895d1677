"""kill -9 at random points, restart, and nothing is sent twice, lost, or left half-done.

Two clients, five working days. Each day the daemon (``run --once``, a real
process forked from a warm zygote) is killed with SIGKILL several times:
at named failpoints in the narrow windows between a side effect and its
bookkeeping (SMTP accepted / not yet recorded, draft appended / not yet
recorded, work done / ledger not yet written …) and after random delays;
then it runs to the end. Against the real Dovecot (drafts, Sent copies) and
the aiosmtpd sink (payment reminders are really sent) it then checks:

* no message twice: not at the SMTP sink, not in Drafts, not in Sent;
* every sent reminder arrived exactly once, except those a kill cut off
  *during* SMTP DATA, which are flagged ``uncertain`` (never re-sent) and
  arrived at most once;
* every due run of every day is ``done``; none is left ``started``;
* exactly one ledger entry per run that did work for a client.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.daemon.helpers import (
    AMS,
    appointments_ics,
    client_toml,
    invoices_csv,
    make_maildir,
    write_config,
)
from tests.servers import Account, SmtpServer
from va_engine.connectors.imap import ImapMailbox
from va_engine.store import Store
from va_engine.workflows.jobs import WORKFLOWS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAYS = [datetime(2026, 11, 30, 10, 0, tzinfo=AMS) + timedelta(days=n) for n in range(5)]
FAILPOINTS = [
    "outbox.before_data:1",
    "outbox.after_sent:1",
    "outbox.after_draft:1",
    "ledger.before:1",
    "run.after_work:2",
    "outbox.after_file:1",
    "run.before_finish:3",
]


class Zygote:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        root = Path(__file__).resolve().parents[2]
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.daemon.forker"],
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self.proc.stdout.readline())
        return answer

    def run(
        self, argv: list[str], *, failpoints: str = "", kill_after: float | None = None
    ) -> dict[str, Any]:
        pid = self._ask(
            {"op": "run", "argv": argv, "failpoints": failpoints, "log": str(self.log)}
        )["pid"]
        if kill_after is not None:
            time.sleep(kill_after)
            # an exited but unreaped worker is a zombie: the kill is then a no-op
            os.kill(pid, signal.SIGKILL)
        return self._ask({"op": "wait", "pid": pid})

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _setup(tmp_path: Path, imap: Account, smtp: SmtpServer) -> Path:
    first = DAYS[0].date()
    appointments_hoef = appointments_ics(
        tmp_path / "hoef.ics",
        [
            (
                f"h{n}-{k}",
                (DAYS[n] + timedelta(days=1)).replace(hour=11 + k),
                f"guest{n}{k}@example.org",
            )
            for n in range(len(DAYS))
            for k in range(2)
        ],
    )
    appointments_lotte = appointments_ics(
        tmp_path / "lotte.ics",
        [
            (f"l{n}", (DAYS[n] + timedelta(days=1)).replace(hour=15), f"lguest{n}@example.org")
            for n in range(len(DAYS))
        ],
    )
    invoices_hoef = invoices_csv(
        tmp_path / "hoef.csv",
        [
            (f"H{n}{k}", f"payer{n}{k}@example.org", (first + timedelta(days=n)).isoformat(), False)
            for n in range(5)
            for k in range(2)
        ],
    )
    invoices_lotte = invoices_csv(
        tmp_path / "lotte.csv",
        [
            (f"L{n}", f"lpayer{n}@example.org", (first + timedelta(days=n)).isoformat(), False)
            for n in range(5)
        ],
    )
    imap_cfg = {
        "host": imap.host,
        "port": imap.port,
        "username": imap.username,
        "password_env": "VA_KILL_IMAP_PW",
    }
    daemon = f"""
[daemon]
workers = 2

[daemon.smtp]
host = "{smtp.host}"
port = {smtp.port}
security = "none"
sender = "Sanne <sanne@va.example>"

[daemon.workflows.replan]
enabled = false

[daemon.workflows.payment_reminders]
send = true
at = "09:00"

[daemon.workflows.confirmations]
at = "09:00"

[daemon.workflows.morning_brief]
at = "07:00"

[daemon.clients.hoef]
invoices = "{invoices_hoef}"

[daemon.clients.lotte]
invoices = "{invoices_lotte}"
"""
    everywhere = 'daily = "07:00-20:00"'
    return write_config(
        tmp_path / "config",
        database_url=f"sqlite:///{tmp_path / 'va.db'}",
        clients={
            "hoef": client_toml(
                "hoef", calendar=appointments_hoef, imap=imap_cfg, reachability=everywhere
            ),
            "lotte": client_toml(
                "lotte",
                calendar=appointments_lotte,
                maildir=make_maildir(tmp_path / "lotte-mail"),
                reachability=everywhere,
            ),
        },
        daemon=daemon,
    )


def test_kill_minus_9_at_many_points_loses_and_repeats_nothing(
    tmp_path: Path, imap_account: Account, smtp_server: SmtpServer
) -> None:
    config_dir = _setup(tmp_path, imap_account, smtp_server)
    env = dict(
        os.environ,
        VA_KILL_IMAP_PW=imap_account.password,
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    env.pop("VA_ENGINE_FAILPOINTS", None)
    rng = random.Random(20261130)
    zygote = Zygote(env, tmp_path / "workers.log")
    kills: list[str] = []
    try:
        for day_index, day in enumerate(DAYS):
            argv = [
                "--config",
                str(config_dir),
                "run",
                "--once",
                "--now",
                day.isoformat(),
                "-f",
                "json",
            ]
            # Named windows, rotated over the days, then random moments.
            points = [FAILPOINTS[(day_index + k) % len(FAILPOINTS)] for k in range(4)]
            for point in points:
                outcome = zygote.run(argv, failpoints=point)
                if outcome["signal"] == signal.SIGKILL:
                    kills.append(point)
            for _ in range(3):
                outcome = zygote.run(argv, kill_after=rng.uniform(0.02, 0.4))
                if outcome["signal"] == signal.SIGKILL:
                    kills.append("random")
            final = zygote.run(argv)
            assert final == {"code": 0, "signal": None}, (tmp_path / "workers.log").read_text()[
                -3000:
            ]
    finally:
        zygote.close()
    print("kill points:", len(kills), Counter(kills))
    assert len(kills) >= 20, kills
    assert {
        "outbox.before_data:1",
        "outbox.after_sent:1",
        "outbox.after_draft:1",
        "ledger.before:1",
    } <= set(kills)

    store = Store(f"sqlite:///{tmp_path / 'va.db'}")
    try:
        in_data_window = sum(1 for k in kills if k in ("random", "outbox.before_data:1"))
        _check(store, smtp_server, imap_account, tmp_path, max_uncertain=in_data_window)
    finally:
        store.close()


def _check(
    store: Store, smtp: SmtpServer, imap: Account, tmp_path: Path, *, max_uncertain: int
) -> None:
    # 1. Nothing twice at the SMTP sink.
    with smtp.lock:
        sent_ids = Counter(str(m["Message-ID"]) for m in smtp.messages)
    assert sent_ids and max(sent_ids.values()) == 1, sent_ids.most_common(3)
    sent_rows = []
    draft_rows = []
    for scope in ("hoef", "lotte"):
        for row in store.for_client(scope).outbox():
            assert row.status in ("done", "uncertain"), (row.key, row.status)
            if row.channel == "send":
                sent_rows.append(row)
            elif row.channel == "draft":
                draft_rows.append((scope, row))
    # 2. Every send arrived exactly once, or is flagged uncertain and arrived at most once.
    for row in sent_rows:
        if row.status == "done":
            assert sent_ids[row.message_id] == 1, row.key
        else:
            assert sent_ids[row.message_id] <= 1
    uncertain = [r for r in sent_rows if r.status == "uncertain"]
    print("uncertain sends:", len(uncertain), "sent:", len(sent_ids))
    # Only a kill between "sending" and the server's answer to DATA can cause this.
    assert len(uncertain) <= max_uncertain
    assert len(sent_ids) == sum(1 for r in sent_rows if r.status == "done") + sum(
        sent_ids[r.message_id] for r in uncertain
    )
    assert len(sent_rows) == 15  # 10 + 5 invoices, each reminded once (L0) in the 5 days
    # 3. Drafts and Sent copies: once each, all of them.
    mailbox = ImapMailbox(imap.host, imap.port, imap.username, SecretStr(imap.password), ssl=False)
    try:
        drafts = Counter(m.message_id for m in mailbox.fetch("Drafts", None).messages)
        sent_copies = Counter(m.message_id for m in mailbox.fetch("Sent", None).messages)
    finally:
        mailbox.close()
    assert drafts and max(drafts.values()) == 1
    assert set(drafts) == {r.message_id for s, r in draft_rows if s == "hoef"}
    assert max(sent_copies.values()) == 1
    assert set(sent_copies) == {
        r.message_id for r in sent_rows if r.client_id == "hoef" and r.status == "done"
    }
    lotte_drafts: Counter[str] = Counter()
    for path in (tmp_path / "lotte-mail" / ".Drafts" / "cur").iterdir():
        for line in path.read_text().splitlines():
            if line.lower().startswith("message-id:"):
                lotte_drafts[line.split(":", 1)[1].strip()] += 1
    assert max(lotte_drafts.values()) == 1
    assert set(lotte_drafts) == {r.message_id for s, r in draft_rows if s == "lotte"}
    assert len(draft_rows) == 3 * len(DAYS)  # every appointment confirmed once
    # 4. Every due run done, none left half-way; one ledger entry per run that did work.
    for scope in ("hoef", "lotte", "@sanne"):
        client_store = store.for_client(scope)
        runs = client_store.runs()
        assert all(r.status == "done" for r in runs), [
            (r.workflow, r.period, r.status) for r in runs if r.status != "done"
        ]
        daily = {(r.workflow, r.period) for r in runs if WORKFLOWS[r.workflow].trigger == "daily"}
        expected_daily = {
            (name, day.date().isoformat())
            for day in DAYS
            for name, spec in WORKFLOWS.items()
            if spec.trigger == "daily" and (spec.scope == "assistant") == scope.startswith("@")
        }
        assert daily == expected_daily
        if scope.startswith("@"):
            continue
        notes = Counter(e.note for e in client_store.entries() if e.source == "workflow")
        assert max(notes.values()) == 1
        worked = {
            f"run {row.run_key}" for row in client_store.outbox() if row.audience != "assistant"
        }
        assert worked <= set(notes), worked - set(notes)

"""``sync`` and ``inspect`` through the CLI, over real files in a temp config."""

from __future__ import annotations

import json
import mailbox
import shutil
from pathlib import Path

import pytest

from va_engine.cli import main
from va_engine.examples import example_config_dir

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("VA_ENGINE_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("VA_ENGINE_DATABASE_URL", raising=False)
    target = tmp_path / "config"
    shutil.copytree(example_config_dir(), target)
    return target


def _sync(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, int]]:
    assert main(["--config", str(config_dir), "sync", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    return {f"{r['client']}/{r['account']}": r for r in rows}


def test_sync_is_incremental_and_idempotent(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _sync(config_dir, capsys)
    assert first["hoefslag/taken"]["added"] == 4
    assert first["hoefslag/mail/INBOX"]["added"] >= 3
    second = _sync(config_dir, capsys)
    assert all(r["added"] == r["changed"] == r["removed"] == 0 for r in second.values())
    # a mail disappears upstream: its tasks are closed on the next sync
    box = mailbox.Maildir(config_dir / "data" / "hoefslag" / "mail", factory=None)
    invoice_key = next(k for k, m in box.items() if "Factuur 2026-0117" in str(m["Subject"]))
    box.remove(invoice_key)
    third = _sync(config_dir, capsys)
    assert third["hoefslag/mail/INBOX"]["removed"] == 1
    assert third["bakker/mail/INBOX"]["removed"] == 0


def test_sync_reports_a_broken_account_and_goes_on(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.rmtree(config_dir / "data" / "lotte" / "mail")
    assert main(["--config", str(config_dir), "sync", "--format", "json"]) == 4
    rows = {f"{r['client']}/{r['account']}": r for r in json.loads(capsys.readouterr().out)}
    assert rows["lotte/mail/INBOX"]["error"]
    assert rows["hoefslag/mail/INBOX"]["error"] is None
    assert rows["hoefslag/mail/INBOX"]["added"] >= 3


def test_inspect_ics_quarantines_bad_items_and_exits_zero(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "mixed.ics"
    bad.write_bytes(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
        b"BEGIN:VEVENT\r\nUID:good@t\r\nDTSTAMP:20260101T000000Z\r\n"
        b"DTSTART:20300107T090000Z\r\nDTEND:20300107T100000Z\r\nSUMMARY:Good\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:bad@t\r\nDTSTAMP:20260101T000000Z\r\n"
        b"SUMMARY:No start\r\nEND:VEVENT\r\n"
        b"END:VCALENDAR\r\n"
    )
    assert main(["inspect", "ics", str(bad), "--days", "3650", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [e["summary"] for e in result["events"]] == ["Good"]
    assert len(result["quarantined"]) == 1
    assert "DTSTART" in result["quarantined"][0]["reason"]


def test_inspect_mail_shows_rules_and_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    maildir = example_config_dir() / "data" / "hoefslag" / "mail" / "cur"
    invoice = next(p for p in maildir.iterdir() if p.name.startswith("1767600000"))
    assert main(["inspect", "mail", str(invoice), "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "invoice" in result["rules"]["matched_rule_names"]
    assert any("Factuur" in t["title"] for t in result["rules"]["tasks"])


def test_inspect_missing_file_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "mail", "/nonexistent/x.eml"]) == 6
    err = capsys.readouterr().err
    assert "no such file" in err
    assert "Traceback" not in err

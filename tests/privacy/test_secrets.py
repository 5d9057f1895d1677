"""Secret scan: a full demo, sync, daemon run, doctor and export never show a password.

Passwords come from the environment (``password_env``) and from a command
(``password_command``), the way deployments give them. One client's password
is wrong, so the refusal paths (errors, ``--debug`` tracebacks) are scanned as
well. Everything is captured: stdout/stderr, every log record at DEBUG, the
export zip, the database file and every file va-engine wrote.
"""

from __future__ import annotations

import logging
import zipfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.privacy.accounts import client_file, main_file, make_server_client
from tests.servers import DovecotServer, RadicaleServer
from va_engine.cli import main

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
]

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
WRONG = "wrong-Secret-7f3a9c"


def _everything_written(*roots: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix != ".toml":  # the config names env vars, not values
                found[str(path)] = path.read_bytes()
                if path.suffix == ".zip":
                    with zipfile.ZipFile(path) as archive:
                        for name in archive.namelist():
                            found[f"{path}!{name}"] = archive.read(name)
    return found


def test_no_password_in_any_output_log_export_or_database(
    dovecot_server: DovecotServer,
    radicale_server: RadicaleServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = make_server_client("a", dovecot_server, radicale_server, now=NOW)
    b = make_server_client("b", dovecot_server, radicale_server, now=NOW)
    c = make_server_client("c", dovecot_server, radicale_server, now=NOW)
    monkeypatch.setenv("A_MAIL_PW", a.mail.password)
    monkeypatch.setenv("A_CAL_PW", a.cal.password)
    monkeypatch.setenv("B_MAIL_PW", b.mail.password)
    monkeypatch.setenv("B_CAL_PW", b.cal.password)
    monkeypatch.setenv("C_MAIL_PW", WRONG)  # refused by Dovecot
    monkeypatch.setenv("C_CAL_PW", c.cal.password)
    monkeypatch.setenv("COLUMNS", "200")
    secrets = [a.mail.password, a.cal.password, b.mail.password, b.cal.password, WRONG]
    secrets += [c.cal.password, c.mail.password]

    root = tmp_path / "config"
    (root / "clients").mkdir(parents=True)
    (root / "va-engine.toml").write_text(main_file(root, f"sqlite:///{tmp_path / 'va.db'}"))
    (root / "clients" / "a.toml").write_text(client_file(a))
    (root / "clients" / "b.toml").write_text(client_file(b, secret="password_command"))
    (root / "clients" / "c.toml").write_text(client_file(c))
    monkeypatch.delenv("VA_ENGINE_DATABASE_URL", raising=False)
    monkeypatch.delenv("VA_ENGINE_DATA_DIR", raising=False)
    caplog.set_level(logging.DEBUG)
    cfg = ["--debug", "--config", str(root)]

    outputs: list[str] = []
    statuses: dict[str, int] = {}
    for name, argv in {
        "demo": [*cfg, "demo", "--time-limit", "1", "--workdir", str(tmp_path / "demo")],
        "sync": [*cfg, "sync"],
        "sync-json": [*cfg, "sync", "--format", "json"],
        "run": [*cfg, "run", "--once", "--now", NOW.isoformat()],
        "doctor": [*cfg, "doctor"],
        "data": [*cfg, "client", "data", "--client", "a"],
        "export-a": [*cfg, "client", "export", "--client", "a", "--out", str(tmp_path / "a.zip")],
        "export-b": [*cfg, "client", "export", "--client", "b", "--out", str(tmp_path / "b.zip")],
        "erase": [*cfg, "client", "erase", "--client", "c", "--dry-run"],
    }.items():
        statuses[name] = main(argv)
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)

    # the scan only means something if the runs really talked to the servers
    assert statuses["demo"] == 0
    assert statuses["sync-json"] == 4  # c's mailbox refused the wrong password
    assert statuses["run"] == 1  # the daemon ran every job; c's failed the same way
    assert "refused" in outputs[2]
    assert a.marker in "".join(outputs[:3]) or a.marker in str(_everything_written(tmp_path))
    assert statuses["export-a"] == 0 and (tmp_path / "a.zip").is_file()
    assert caplog.records, "no log records captured"

    logs = caplog.text + "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    written = _everything_written(tmp_path)
    assert any(k.endswith("va.db") for k in written)
    for secret in secrets:
        for index, text in enumerate(outputs):
            assert secret not in text, f"password in the output of {list(statuses)[index]}"
        assert secret not in logs, "password in a log record"
        for name, data in written.items():
            assert secret.encode() not in data, f"password in {name}"

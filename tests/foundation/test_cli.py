"""The CLI in-process: commands, JSON output, and errors without tracebacks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from va_engine.cli import main
from va_engine.examples import example_config_dir


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from an empty directory with the data dir in tmp, so nothing leaks out."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VA_ENGINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VA_ENGINE_CONFIG_DIR", raising=False)
    monkeypatch.delenv("VA_ENGINE_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render as on a wide terminal so table cells are not cut."""
    monkeypatch.setenv("COLUMNS", "200")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("va-engine ")


def test_init_then_doctor(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = isolated / "starter"
    assert main(["init", str(target)]) == 0
    assert (target / "va-engine.toml").is_file()
    assert main(["--config", str(target), "doctor"]) == 0
    out = capsys.readouterr().out
    assert "✓ config" in out
    assert "✓ database" in out
    assert "✓ example-client/agenda" in out


def test_init_refuses_to_overwrite(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "cfg"]) == 0
    assert main(["init", "cfg"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["init", "cfg", "--force"]) == 0


def test_doctor_reports_each_broken_account(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = isolated / "cfg"
    assert main(["init", str(cfg)]) == 0
    (cfg / "data" / "example-client" / "agenda.ics").unlink()
    extra = (
        '\n[[mailboxes]]\nname = "work"\ntype = "imap"\nhost = "127.0.0.1"\nport = 1\n'
        'password_env = "VA_TEST_UNSET_PASSWORD"\n'
    )
    with (cfg / "clients" / "example-client.toml").open("a") as handle:
        handle.write(extra)
    capsys.readouterr()  # drop init's output
    assert main(["--config", str(cfg), "doctor", "--format", "json"]) == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert checks["example-client/agenda"]["outcome"] == "fail"
    assert "does not exist" in checks["example-client/agenda"]["detail"]
    assert checks["example-client/work"]["outcome"] == "fail"
    assert "unreachable" in checks["example-client/work"]["detail"]
    assert checks["database"]["outcome"] == "ok"


def test_broken_toml_gives_one_line_and_no_traceback(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = isolated / "broken"
    shutil.copytree(example_config_dir(), cfg)
    (cfg / "clients" / "lotte.toml").write_text('id = "lotte"\nname = [unclosed\n')
    assert main(["--config", str(cfg), "clients"]) == 2
    err = capsys.readouterr().err
    assert "lotte.toml" in err
    assert "Traceback" not in err


def test_debug_shows_traceback(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--debug", "--config", str(isolated / "missing"), "clients"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "va-engine init" in err


def test_clients_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    config = str(example_config_dir())
    assert main(["--config", config, "clients"]) == 0
    assert "Stal De Hoefslag" in capsys.readouterr().out
    assert main(["--config", config, "clients", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    hoefslag = next(r for r in rows if r["id"] == "hoefslag")
    assert hoefslag["budget"] == "16 h/month"
    assert "Mon/Tue/Wed/Thu/Fri 08:00–10:00" in hoefslag["reachable"]


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert "No such command" in capsys.readouterr().err

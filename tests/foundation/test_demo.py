"""The demo end to end: real files in, a checked plan out, nothing written to the source tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from va_engine.cli import main
from va_engine.examples import example_config_dir


def _tree(path: Path) -> dict[str, int]:
    return {str(p.relative_to(path)): p.stat().st_size for p in path.rglob("*") if p.is_file()}


def test_demo_json_plans_every_client_without_violations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    before = _tree(example_config_dir())
    assert main(["demo", "--format", "json", "--time-limit", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["violations"] == []
    assert {c["client"] for c in data["clients"]} == {"hoefslag", "bakker", "lotte"}
    # every account of every client was read without an error
    for client in data["clients"]:
        for account in client["accounts"]:
            assert account["error"] is None, account
    summary = data["plan"]["summary"]
    assert summary["blocks"] > 0
    assert summary["planned_hours"] > 0
    # tasks came from todos (calendar) and from mail rules, not only from config
    assert any(a["todos"] > 0 for c in data["clients"] for a in c["accounts"])
    assert any(c["rules"] for c in data["clients"])
    # the shipped examples were only read
    assert _tree(example_config_dir()) == before
    assert list(tmp_path.iterdir()) == []


def test_demo_runs_as_a_real_process_from_any_directory(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "160"}
    done = subprocess.run(
        [sys.executable, "-m", "va_engine", "demo", "--time-limit", "3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Sanne de Vries" in done.stdout
    assert "Per client" in done.stdout
    assert "Traceback" not in done.stderr


def test_demo_with_broken_config_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "va-engine.toml").write_text("timezone = \n")
    done = subprocess.run(
        [sys.executable, "-m", "va_engine", "--config", str(broken), "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "va-engine.toml" in done.stderr
    assert "Traceback" not in done.stderr

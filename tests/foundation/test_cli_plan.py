"""``plan day|week|year`` and ``init --obligations`` through the CLI on the example config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from icalendar import Calendar

from va_engine.cli import main
from va_engine.errors import ConfigError
from va_engine.examples import example_config_dir
from va_engine.settings import load_config


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("VA_ENGINE_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("VA_ENGINE_DATABASE_URL", raising=False)
    target = tmp_path / "config"
    shutil.copytree(example_config_dir(), target)
    return target


def test_plan_week_json_carries_year_items_and_a_checked_plan(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the first week of 2027 holds a VAT step of the equestrian client's year plan
    args = ["--config", str(config_dir), "plan", "week", "--date", "2027-01-04"]
    assert main([*args, "--time-limit", "3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    titles = [b["title"] for b in data["blocks"]]
    assert any("VAT return" in (t or "") for t in titles)
    assert data["summary"]["blocks"] == len(data["blocks"])
    for block in data["blocks"]:
        assert block["start"] >= "2027-01-04" and block["end"] <= "2027-01-11"
    assert main([*args, "--time-limit", "3", "--format", "json", "--no-year-plan"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert not any("VAT return" in (b["title"] or "") for b in plain["blocks"])


def test_plan_day_ics_parses_back(config_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "day.ics"
    args = ["--config", str(config_dir), "plan", "day", "--date", "2027-01-07"]
    assert main([*args, "--time-limit", "3", "--format", "ics", "--out", str(out)]) == 0
    calendar = Calendar.from_ical(out.read_bytes())
    events = list(calendar.walk("VEVENT"))
    assert events
    assert all(str(e["UID"]).startswith("va-engine-plan-") for e in events)


def test_plan_business_routes_the_visits(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config_dir), "plan", "day", "--date", "2027-01-05"]
    assert main([*args, "--business", "hoefslag", "--time-limit", "3", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {b["assistant_id"] for b in data["blocks"]} == {"marieke"}
    assert len(data["blocks"]) == 6  # all six stables fit in one day
    assert data["summary"]["travel_minutes"] > 0


def test_plan_year_table_and_ics(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(config_dir), "plan", "year", "--year", "2027", "--time-limit", "3"]
    assert main([*args, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["unplanned"] == 0
    assert data["summary"]["peak_hours"] >= data["summary"]["bound_hours"]
    assert main([*args, "--format", "ics"]) == 0
    calendar = Calendar.from_ical(capsys.readouterr().out)
    assert list(calendar.walk("VTODO"))


def test_unknown_business_is_named(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--config", str(config_dir), "plan", "day", "--business", "nobody"]
    assert main(args) == 6
    assert "unknown client 'nobody'" in capsys.readouterr().err


def test_init_with_household_obligations(tmp_path: Path) -> None:
    target = tmp_path / "cfg"
    assert main(["init", str(target), "--obligations", "household"]) == 0
    client = load_config(target).client("example-client")
    assert any("Income tax" in o.name for o in client.obligations)
    assert main(["init", str(tmp_path / "x"), "--obligations", "nonsense"]) == 2


def test_invalid_rrule_names_client_file_and_obligation(config_dir: Path) -> None:
    with (config_dir / "clients" / "lotte.toml").open("a") as handle:
        handle.write(
            '\n[[obligations]]\nname = "Weekly flowers order"\neffort_hours = 1\n'
            'recurrence = "FREQ=FORTNIGHTLY"\n'
        )
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir)
    message = str(caught.value)
    assert "lotte.toml" in message
    assert "Weekly flowers order" in message

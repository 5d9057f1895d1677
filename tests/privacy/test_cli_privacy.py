"""``va-engine client data|export|import|erase|purge`` in-process over the example config."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from va_engine.cli import main
from va_engine.examples import example_config_dir


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("VA_ENGINE_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("VA_ENGINE_DATABASE_URL", raising=False)
    target = tmp_path / "config"
    shutil.copytree(example_config_dir(), target)
    return target


def _json(argv: list[str], capsys: pytest.CaptureFixture[str], status: int = 0) -> object:
    assert main([*argv, "--format", "json"]) == status
    return json.loads(capsys.readouterr().out)


def test_data_export_import_erase_through_the_cli(
    config_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = ["--config", str(config_dir)]
    assert main([*c, "sync"]) == 0
    capsys.readouterr()
    held = _json([*c, "client", "data", "--client", "hoefslag"], capsys)
    assert isinstance(held, dict)
    tasks = next(k for k in held["kinds"] if k["table"] == "va_tasks")
    assert tasks["count"] > 0 and tasks["retention"].startswith("365 days")

    out = tmp_path / "hoefslag.zip"
    exported = _json([*c, "client", "export", "--client", "hoefslag", "--out", str(out)], capsys)
    assert isinstance(exported, dict) and exported["tables"]["va_tasks"] == tasks["count"]
    with zipfile.ZipFile(out) as archive:
        client = json.loads(archive.read("hoefslag/client.json"))
    assert client["id"] == "hoefslag"

    # a colleague's installation: one assistant, no clients yet
    colleague = tmp_path / "colleague"
    (colleague / "clients").mkdir(parents=True)
    (colleague / "va-engine.toml").write_text('[[assistants]]\nid = "eva"\nname = "Eva"\n')
    monkeypatch.setenv("VA_ENGINE_DATA_DIR", str(tmp_path / "colleague-state"))
    k = ["--config", str(colleague)]
    imported = _json([*k, "client", "import", str(out), "--only-open"], capsys)
    assert isinstance(imported, dict) and imported["tables"]["va_tasks"] <= tasks["count"]
    assert (colleague / "clients" / "hoefslag.toml").is_file()
    listed = _json([*k, "clients"], capsys)
    assert isinstance(listed, list) and [r["id"] for r in listed] == ["hoefslag"]
    assert main([*k, "client", "import", str(out)]) == 2  # already there
    capsys.readouterr()

    monkeypatch.setenv("VA_ENGINE_DATA_DIR", str(tmp_path / "state"))
    dry = _json([*c, "client", "erase", "--client", "hoefslag", "--dry-run"], capsys)
    assert isinstance(dry, dict) and dry["dry_run"] is True
    again = _json([*c, "client", "data", "--client", "hoefslag"], capsys)
    assert isinstance(again, dict)
    counts = {k["table"]: k["count"] for k in held["kinds"]}
    counts["va_audit"] += 1  # the export was recorded; the dry run changed nothing
    assert {k["table"]: k["count"] for k in again["kinds"]} == counts
    erased = _json([*c, "client", "erase", "--client", "hoefslag", "--yes"], capsys)
    assert isinstance(erased, dict) and erased["removed"] == dry["removed"]
    assert any("still configured" in k["reason"] for k in erased["kept"])
    after = _json([*c, "client", "data", "--client", "hoefslag"], capsys)
    assert isinstance(after, dict)
    assert {k["table"]: k["count"] for k in after["kinds"] if k["count"]} == {"va_audit": 1}
    trail = _json([*c, "client", "audit", "--client", "hoefslag"], capsys)
    assert isinstance(trail, list) and [r["action"] for r in trail] == ["client.erase"]
    assert trail[0]["actor"].startswith("cli")
    purged = _json([*c, "client", "purge"], capsys)
    assert isinstance(purged, dict) and sum(purged.values()) == 0


def test_unknown_client_is_a_clear_error(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config_dir), "client", "data", "--client", "nobody"]) == 6
    assert "nobody" in capsys.readouterr().err


def test_retention_periods_come_from_the_main_file(
    config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main_file = config_dir / "va-engine.toml"
    main_file.write_text(
        main_file.read_text().replace(
            "[[assistants]]", "[retention]\nmail_days = 30\n\n[[assistants]]", 1
        )
    )
    held = _json(["--config", str(config_dir), "client", "data", "--client", "hoefslag"], capsys)
    assert isinstance(held, dict)
    outbox = next(k for k in held["kinds"] if k["table"] == "va_outbox")
    assert outbox["retention"].startswith("30 days")
    main_file.write_text(main_file.read_text().replace("mail_days = 30", "mail_dayz = 30"))
    assert main(["--config", str(config_dir), "client", "data", "--client", "hoefslag"]) == 2
    assert "retention.mail_dayz: unknown key" in capsys.readouterr().err

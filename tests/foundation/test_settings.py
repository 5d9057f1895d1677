"""Configuration loading: good files load, bad files name the file, key and fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from va_engine.errors import ConfigError
from va_engine.examples import example_config_dir
from va_engine.settings import AccountSecret, load_config, parse_weekly

MAIN = """
timezone = "Europe/Amsterdam"
[[assistants]]
id = "me"
name = "Me"
"""


def write(directory: Path, main: str = MAIN, **clients: str) -> Path:
    (directory / "clients").mkdir(parents=True, exist_ok=True)
    (directory / "va-engine.toml").write_text(main)
    for name, text in clients.items():
        (directory / "clients" / f"{name}.toml").write_text(text)
    return directory


def test_example_config_loads() -> None:
    config = load_config(example_config_dir())
    assert {c.id for c in config.clients} == {"hoefslag", "bakker", "lotte"}
    hoefslag = config.client("hoefslag").to_model(config.engine.timezone)
    assert hoefslag.agreement.hours_per_period == 16
    # weekdays 08:00-10:00 and 13:00-14:00: two windows on each of five days
    assert len(hoefslag.agreement.reachability) == 10


def test_broken_toml_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, bad='id = "bad"\nname = "Bad\n')
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    message = str(caught.value)
    assert "bad.toml" in message
    assert "line 2" in message


def test_missing_key_is_named(tmp_path: Path) -> None:
    write(tmp_path, nameless='id = "nameless"\n')
    with pytest.raises(ConfigError, match=r"nameless.toml: name: required key is missing"):
        load_config(tmp_path)


def test_unknown_time_zone_is_named(tmp_path: Path) -> None:
    write(tmp_path, x='id = "x"\nname = "X"\ntimezone = "Europe/Amsterdm"\n')
    with pytest.raises(ConfigError, match="unknown time zone 'Europe/Amsterdm'"):
        load_config(tmp_path)


def test_typo_key_is_reported(tmp_path: Path) -> None:
    write(tmp_path, x='id = "x"\nname = "X"\n[agreement]\nhours_per_peroid = 3\n')
    with pytest.raises(ConfigError, match=r"agreement.hours_per_peroid: unknown key"):
        load_config(tmp_path)


def test_bad_weekly_range_is_reported_with_key(tmp_path: Path) -> None:
    write(tmp_path, x='id = "x"\nname = "X"\n[agreement.reachability]\nmon = "9-5pm"\n')
    with pytest.raises(ConfigError, match=r"agreement.reachability.*'9-5pm'"):
        load_config(tmp_path)


def test_plain_password_is_refused(tmp_path: Path) -> None:
    client = (
        'id = "x"\nname = "X"\n[[mailboxes]]\nname = "m"\ntype = "imap"\n'
        'host = "imap.example.org"\npassword = "hunter2"\n'
    )
    write(tmp_path, x=client)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert "password_env" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_missing_main_file_suggests_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="va-engine init"):
        load_config(tmp_path)


def test_environment_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, main='database_url = "sqlite:///from-toml.db"\n' + MAIN)
    monkeypatch.setenv("VA_ENGINE_DATABASE_URL", "sqlite:///from-env.db")
    assert load_config(tmp_path).engine.database_url == "sqlite:///from-env.db"
    monkeypatch.delenv("VA_ENGINE_DATABASE_URL")
    assert load_config(tmp_path).engine.database_url == "sqlite:///from-toml.db"


def test_config_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(example_config_dir(), tmp_path / "cfg")
    monkeypatch.setenv("VA_ENGINE_CONFIG_DIR", str(tmp_path / "cfg"))
    assert len(load_config().clients) == 3


def test_duplicate_client_ids(tmp_path: Path) -> None:
    write(tmp_path, a='id = "same"\nname = "A"\n', b='id = "same"\nname = "B"\n')
    with pytest.raises(ConfigError, match=r"b.toml: client id 'same' is used by another"):
        load_config(tmp_path)


def test_password_from_env_and_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VA_TEST_SECRET", "s3cret")
    secret = AccountSecret(password_env="VA_TEST_SECRET").resolve_password()
    assert secret is not None and secret.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(secret)
    command = AccountSecret(password_command=["echo", "from-command"]).resolve_password()
    assert command is not None and command.get_secret_value() == "from-command"


def test_password_env_missing_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VA_TEST_NOPE", raising=False)
    with pytest.raises(ConfigError, match="VA_TEST_NOPE is not set"):
        AccountSecret(password_env="VA_TEST_NOPE").resolve_password()


def test_password_command_failure_does_not_leak_output() -> None:
    failing = AccountSecret(password_command=["sh", "-c", "echo hunter2; exit 3"])
    with pytest.raises(ConfigError) as caught:
        failing.resolve_password()
    assert "hunter2" not in str(caught.value)


def test_parse_weekly_shorthands() -> None:
    windows = parse_weekly({"weekdays": ["09:00-12:00", "13:00-17:00"], "sat": "10:00-12:00"})
    assert len(windows) == 11
    assert windows[-1].weekday == 5
    with pytest.raises(ValueError, match="unknown weekday 'funday'"):
        parse_weekly({"funday": "09:00-10:00"})

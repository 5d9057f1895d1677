"""The real ``va-engine run`` process: SIGHUP adds a new client's jobs, SIGTERM exits cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.daemon.helpers import client_toml, make_maildir, write_config
from va_engine.store import Store
from va_engine.workflows.daemon import next_runs

DAEMON = "[daemon.workflows.replan]\nenabled = false\n"


def _wait_for(check: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_sighup_reloads_and_sigterm_stops(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'va.db'}"
    config_dir = write_config(
        tmp_path / "config",
        database_url=url,
        clients={"hoef": client_toml("hoef", maildir=make_maildir(tmp_path / "m1"))},
        daemon=DAEMON,
    )
    root = Path(__file__).resolve().parents[2]
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from va_engine.cli.app import run; run()",
            "--config",
            str(config_dir),
            "run",
        ],
        cwd=root,
        env=dict(os.environ, PYTHONPATH=str(root)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    store = Store(url)
    try:
        assert _wait_for(lambda: "hoef:sync" in next_runs(store))
        (config_dir / "clients" / "lotte.toml").write_text(
            client_toml("lotte", maildir=make_maildir(tmp_path / "m2"))
        )
        proc.send_signal(signal.SIGHUP)
        assert _wait_for(lambda: "lotte:sync" in next_runs(store))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        # The job set survives the exit, for the next start to pick up.
        assert {"hoef:sync", "lotte:sync", "lotte:payment_reminders"} <= set(next_runs(store))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        store.close()

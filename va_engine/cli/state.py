"""What every command gets from the global options: config dir, output console, debug flag."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from va_engine.settings import Config, load_config
from va_engine.store import Store

__all__ = ["State", "get_state"]


@dataclass
class State:
    config_dir: Path | None = None
    debug: bool = False
    console: Console = field(default_factory=Console)
    _config: Config | None = None

    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_dir)
        return self._config

    def store(self) -> Store:
        config = self.config()
        return Store(config.engine.resolved_database_url())

    @contextmanager
    def open_store(self) -> Iterator[Store]:
        """The store for one command, closed however the command ends."""
        store = self.store()
        try:
            yield store
        finally:
            store.close()

    def now(self) -> datetime:
        """The one clock read of a CLI run; everything below receives it."""
        return datetime.now(ZoneInfo(self.config().engine.timezone))


def get_state(ctx: typer.Context) -> State:
    state = ctx.find_object(State)
    if state is None:  # a command invoked without the root callback (tests)
        state = State()
        ctx.obj = state
    return state

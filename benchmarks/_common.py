"""Shared helpers for the benchmark runners: one table renderer, one JSON writer.

Every runner writes a JSON list of rows ``{instance, solver, objective, best_known,
gap_pct, seconds, status, ...}`` so results from different machines can be merged.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["gap_pct", "machine", "print_table", "write_results"]

Row = Mapping[str, Any]


def gap_pct(objective: float | None, best_known: float | None) -> float | None:
    """Relative gap to the best known value in percent (0 when both are 0)."""
    if objective is None or best_known is None:
        return None
    if best_known == 0:
        return 0.0 if objective == 0 else 100.0
    return 100.0 * (objective - best_known) / abs(best_known)


def machine() -> str:
    """A short description of where a benchmark ran, for the results header."""
    return f"{platform.node()} {platform.machine()} python {sys.version.split()[0]}"


def write_results(rows: Sequence[Row], json_path: str | Path | None) -> None:
    """Write ``rows`` as a JSON list (pretty, stable key order) if a path is given."""
    if json_path is None:
        return
    path = Path(json_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(rows), indent=1, default=str) + "\n", encoding="utf-8")


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 1e6 else f"{value:.4g}"
    return str(value)


def print_table(
    title: str,
    rows: Sequence[Row],
    columns: Sequence[str],
    *,
    console: Console | None = None,
) -> None:
    """Render ``rows`` as a rich table with the given ``columns`` (missing cells show –)."""
    console = console or Console(width=None if sys.stdout.isatty() else 200)
    table = Table(title=f"{title}  ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()})")
    for column in columns:
        table.add_column(
            column, justify="left" if column in {"instance", "solver", "status"} else "right"
        )
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    console.print(table)

"""The one output layer of the CLI: rich for people, JSON for scripts.

Commands build plain data (pydantic models, dicts, lists) and hand it here;
nothing else in va-engine prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from rich.console import Console
from rich.table import Table

__all__ = ["OutputFormat", "emit", "make_table", "to_jsonable"]


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def to_jsonable(value: Any) -> Any:
    """Turn models, dates and enums into JSON types; secrets become '***'."""
    if isinstance(value, SecretStr):
        return "***"
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(mode="python"))
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def emit(
    console: Console,
    fmt: OutputFormat,
    data: Any,
    render: Callable[[Console], None],
) -> None:
    """Print ``data`` as JSON, or call ``render`` to draw it for people."""
    if fmt is OutputFormat.JSON:
        # soft_wrap: JSON must never be cut into lines at the terminal width
        console.print(
            json.dumps(to_jsonable(data), indent=2, ensure_ascii=False),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    else:
        render(console)


def make_table(
    title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], **kwargs: Any
) -> Table:
    table = Table(title=title, title_justify="left", **kwargs)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) if cell is not None else "" for cell in row))
    return table

"""Client data protection: inventory, export, import (referral hand-off), erasure, retention.

Everything here is generic over the store's schema: every table in
:data:`va_engine.store.Base.metadata` with a ``client_id`` column is client
data. :data:`RULES` says per table what it holds and how long it is kept; a
table without a rule is still listed, exported and erased (the safe default),
never purged by age, and a test fails until it gets a rule.

Why each piece exists (GDPR/AVG):

* :func:`inventory` answers "what do you hold about me?" (art. 15);
* :func:`export_client` writes it in open formats (art. 15/20) and
  :func:`import_client` reads it back on another installation, which is also
  the referral hand-off to a colleague (``only_open``);
* :func:`erase_client` removes it (art. 17) but keeps billing records,
  minimised, for the fiscal retention period (a legal obligation, art. 17(3)(b));
* :func:`purge_expired` applies the retention periods (storage limitation, art. 5(1)(e)).

Upstream calendars and mailboxes are never touched: they are the client's.
The clock is never read here: ``now`` is passed in.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tomllib
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from icalendar import Calendar, Event, Todo
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import (
    Column,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Table,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from va_engine.errors import NotFoundError, ValidationError
from va_engine.model import Plan
from va_engine.settings import ClientConfig, RetentionSettings
from va_engine.store import Base, ClientStore, PlanRow, Store

__all__ = [
    "EXPORT_FORMAT",
    "RULES",
    "DataKind",
    "ErasureReport",
    "ExportSummary",
    "ImportSummary",
    "Inventory",
    "Item",
    "Rule",
    "client_tables",
    "erase_client",
    "export_client",
    "import_client",
    "inventory",
    "purge_expired",
    "retention_text",
]

EXPORT_FORMAT = "va-engine-client-export"
EXPORT_VERSION = 1
#: APScheduler's job table (see :mod:`va_engine.workflows.daemon`); ids name the scope.
JOB_TABLE = "va_scheduler_jobs"
#: a kept billing record loses its free text: only date, minutes, kind and mode remain
ERASED_TEXT = "(erased)"
#: audit subjects that name a row by its id: prefix -> table
_SUBJECT_TABLES = {"ledger": "va_ledger", "assignment": "va_assignments"}


def _not_open(table: Table) -> ColumnElement[bool]:
    return table.c.status != "open"


def _row_open(row: Mapping[str, Any]) -> bool:
    return row.get("status") == "open"


@dataclass(frozen=True)
class Rule:
    """What a client table holds and how long its rows are kept."""

    kind: str
    holds: str
    #: field of :class:`RetentionSettings`; None means kept while the client is served
    period: str | None = None
    #: the date column the age is counted from
    column: str | None = None
    #: which rows may expire at all (e.g. only closed tasks); None: every row
    expires: Callable[[Table], ColumnElement[bool]] | None = None
    #: ``expires`` in words, for the inventory
    when: str = ""
    #: rows handed over to a colleague by ``import --only-open``; None: none (history)
    handoff: Callable[[Mapping[str, Any]], bool] | None = None
    #: column -> table whose (re-numbered) id it holds
    refs: Mapping[str, str] = field(default_factory=dict)
    #: billing records: kept, minimised, for the fiscal period on erasure
    billing: bool = False


RULES: dict[str, Rule] = {
    "va_tasks": Rule(
        "tasks",
        "tasks from calendars, mail and config: title, dates, duration, source",
        "closed_task_days",
        "updated_at",
        expires=_not_open,
        when="once closed",
        handoff=_row_open,
    ),
    "va_ledger": Rule(
        "ledger",
        "work done for or taught to the client; billable rows are billing records",
        "ledger_years",
        "day",
        billing=True,
    ),
    "va_ledger_times": Rule(
        "ledger contact times",
        "when a logged contact began",
        "ledger_years",
        "start",
        refs={"ledger_id": "va_ledger"},
    ),
    "va_audit": Rule(
        "audit trail",
        "who changed what and when: ledger edits, exports, imports, erasures, purges",
        "audit_years",
        "at",
    ),
    "va_runs": Rule(
        "run log", "workflow runs: when, outcome, counts", "run_log_days", "started_at"
    ),
    "va_dispatch": Rule(
        "dispatch log",
        "multi-node runs handed to workers: slot, status, deliveries, worker",
        "run_log_days",
        "enqueued_at",
        expires=lambda t: t.c.status.in_(("done", "failed")),
        when="once finished",
    ),
    "va_failures": Rule(
        "failure streaks", "consecutive failures of a workflow", "run_log_days", "last_failed_at"
    ),
    "va_alerts": Rule(
        "alerts", "alerts raised for the assistant about this client", "run_log_days", "at"
    ),
    "va_outbox": Rule(
        "cached mail",
        "messages rendered for sending or drafting (whole message)",
        "mail_days",
        "created_at",
        expires=lambda t: t.c.status.in_(("done", "expired")),
        when="once delivered or expired",
    ),
    "va_quarantine": Rule(
        "quarantine", "origin and reason of items that could not be read", "quarantine_days", "at"
    ),
    "va_sync_state": Rule("sync state", "where each account's sync left off (tokens, message ids)"),
    "va_heartbeats": Rule("watcher heartbeats", "last sign of life of a mail watcher"),
    "va_assignments": Rule(
        "assignments",
        "homework given to the client and how it went",
        "closed_task_days",
        "created_at",
        expires=_not_open,
        when="once closed",
        handoff=_row_open,
    ),
}


def client_tables() -> list[Table]:
    """Every table holding client data: those with a ``client_id`` column."""
    return [t for t in Base.metadata.sorted_tables if "client_id" in t.c]


def _rule(table: Table) -> Rule:
    return RULES.get(table.name) or Rule(table.name, "no retention rule yet: kept until erasure")


def retention_text(rule: Rule, settings: RetentionSettings) -> str:
    """The rule in words, e.g. '7 years after day (billing record)'."""
    if rule.period is None or rule.column is None:
        return "kept while the client is served; removed on erasure"
    amount = getattr(settings, rule.period)
    unit = "years" if rule.period.endswith("_years") else "days"
    which = f" {rule.when}" if rule.when else ""
    extra = "; billing records kept minimised on erasure" if rule.billing else ""
    return f"{amount} {unit} after {rule.column}{which}{extra}"


def _years_back(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _cutoff(rule: Rule, settings: RetentionSettings, now: datetime) -> datetime:
    assert rule.period is not None
    amount = int(getattr(settings, rule.period))
    moment = now.astimezone(UTC)
    if rule.period.endswith("_years"):
        return datetime.combine(_years_back(moment.date(), amount), moment.timetz())
    return moment - timedelta(days=amount)


def _older(table: Table, rule: Rule, cutoff: datetime) -> ColumnElement[bool]:
    assert rule.column is not None
    column = table.c[rule.column]
    if isinstance(column.type, Date) and not isinstance(column.type, DateTime):
        condition = column < cutoff.date()
    else:
        condition = column < cutoff
    return condition & rule.expires(table) if rule.expires is not None else condition


# --------------------------------------------------------------------------- values


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; the store writes them in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return _utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _from_json(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, DateTime):
        return _utc(datetime.fromisoformat(value))
    if isinstance(column.type, Date):
        return date.fromisoformat(value)
    return value


def _surrogate(table: Table) -> bool:
    """True when the table's key is a database-made integer ``id`` (renumbered on import)."""
    keys = list(table.primary_key.columns)
    return len(keys) == 1 and keys[0].name == "id" and isinstance(keys[0].type, Integer)


def _rows(session: Session, table: Table, client_id: str) -> list[dict[str, Any]]:
    query = select(table).where(table.c.client_id == client_id)
    keys = list(table.primary_key.columns)
    if keys:
        query = query.order_by(*keys)
    return [{k: _to_json(v) for k, v in row.items()} for row in session.execute(query).mappings()]


def _count(session: Session, table: Table, condition: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(table).where(condition)) or 0)


# --------------------------------------------------------------------------- plans & jobs


def _client_task_ids(session: Session, client_id: str) -> set[str]:
    table = Base.metadata.tables["va_tasks"]
    return set(session.scalars(select(table.c.task_id).where(table.c.client_id == client_id)))


def _plan_part(payload: Mapping[str, Any], belongs: Callable[[str], bool]) -> dict[str, Any]:
    """The plan with only the blocks (and explanations) of one client's tasks."""
    part = dict(payload)
    for key in ("blocks", "unplanned", "late"):
        part[key] = [item for item in payload.get(key, []) if belongs(str(item.get("task_id")))]
    return part


def _belongs(client_id: str, task_ids: set[str]) -> Callable[[str], bool]:
    return lambda task_id: task_id in task_ids or task_id.startswith(f"{client_id}:")


def _client_plans(session: Session, client_id: str) -> list[tuple[str, dict[str, Any]]]:
    belongs = _belongs(client_id, _client_task_ids(session, client_id))
    found: list[tuple[str, dict[str, Any]]] = []
    for row in session.scalars(select(PlanRow).order_by(PlanRow.scope)):
        part = _plan_part(row.payload, belongs)
        if part["blocks"] or part["unplanned"] or part["late"]:
            found.append((row.scope, part))
    return found


def _job_ids(session: Session, client_id: str) -> list[str]:
    """The client's jobs in the job store: ``C:wf``, ``kick:C:wf`` and ``retry:C:wf``."""
    if not inspect(session.connection()).has_table(JOB_TABLE):
        return []
    ids = session.execute(text(f"SELECT id FROM {JOB_TABLE}")).scalars()
    prefixes = (f"{client_id}:", f"kick:{client_id}:", f"retry:{client_id}:")
    return sorted(str(i) for i in ids if str(i).startswith(prefixes))


def _own_files(locations: Iterable[str | None], data_dir: Path | None) -> list[Path]:
    """Files va-engine wrote itself (under the data dir); never the client's own mailbox."""
    if data_dir is None:
        return []
    root = data_dir.resolve()
    files: list[Path] = []
    for location in locations:
        if not location:
            continue
        path = Path(location)
        try:
            inside = path.resolve().is_relative_to(root)
        except OSError:
            continue
        if inside and path.is_file():
            files.append(path)
    return files


def _outbox_locations(session: Session, condition: ColumnElement[bool]) -> list[str | None]:
    if "va_outbox" not in Base.metadata.tables:
        return []
    table = Base.metadata.tables["va_outbox"]
    return list(session.scalars(select(table.c.location).where(condition)))


def _audit(
    session: Session, client_id: str, *, actor: str, action: str, now: datetime, after: Any
) -> None:
    table = Base.metadata.tables["va_audit"]
    session.execute(
        insert(table).values(
            client_id=client_id,
            at=now.astimezone(UTC),
            actor=actor,
            action=action,
            subject=f"client:{client_id}",
            before=None,
            after=after,
        )
    )


# --------------------------------------------------------------------------- inventory


@dataclass(frozen=True)
class DataKind:
    """One kind of personal data held for a client."""

    table: str
    kind: str
    holds: str
    count: int
    oldest: datetime | date | None
    retention: str


@dataclass(frozen=True)
class Inventory:
    client_id: str
    kinds: list[DataKind]
    #: planned blocks of this client's tasks in stored plans
    plan_blocks: int
    #: scheduled jobs of this client in the job store
    jobs: list[str]
    #: files va-engine wrote for this client (outbox copies under the data dir)
    files: list[str]

    @property
    def total(self) -> int:
        return sum(k.count for k in self.kinds) + self.plan_blocks + len(self.jobs)


def inventory(
    store: Store,
    client_id: str,
    *,
    retention: RetentionSettings | None = None,
    data_dir: Path | None = None,
) -> Inventory:
    """Every kind of data held for ``client_id``, with counts, oldest item and retention rule."""
    settings = retention or RetentionSettings()
    kinds: list[DataKind] = []
    with Session(store.engine) as session:
        for table in client_tables():
            rule = _rule(table)
            mine = table.c.client_id == client_id
            count = _count(session, table, mine)
            oldest: datetime | date | None = None
            if rule.column is not None and count:
                value = session.scalar(select(func.min(table.c[rule.column])).where(mine))
                oldest = _utc(value) if isinstance(value, datetime) else value
            kinds.append(
                DataKind(
                    table.name, rule.kind, rule.holds, count, oldest, retention_text(rule, settings)
                )
            )
        blocks = sum(len(p["blocks"]) for _, p in _client_plans(session, client_id))
        jobs = _job_ids(session, client_id)
        outbox = Base.metadata.tables.get("va_outbox")
        files = (
            _own_files(_outbox_locations(session, outbox.c.client_id == client_id), data_dir)
            if outbox is not None
            else []
        )
    return Inventory(client_id, kinds, blocks, jobs, [str(f) for f in files])


# --------------------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    client_id: str
    tables: dict[str, int]
    files: list[str]


def _config_data(config: ClientConfig) -> dict[str, Any]:
    """The client's config without any password source (those are the assistant's)."""
    data = config.model_dump(mode="json", exclude_none=True)
    for key in ("calendars", "mailboxes"):
        for account in data.get(key, []):
            for secret in ("password_env", "password_command", "keyring"):
                account.pop(secret, None)
    return data


def _schema(settings: RetentionSettings) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for table in client_tables():
        rule = _rule(table)
        tables[table.name] = {
            "kind": rule.kind,
            "holds": rule.holds,
            "retention": retention_text(rule, settings),
            "columns": [
                {
                    "name": c.name,
                    "type": str(c.type),
                    "nullable": bool(c.nullable),
                    "primary_key": bool(c.primary_key),
                }
                for c in table.columns
            ],
        }
    return tables


def _tasks_ics(rows: list[dict[str, Any]], now: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//va-engine//client export//EN")
    calendar.add("version", "2.0")
    for row in rows:
        payload = row["payload"]
        todo = Todo()
        todo.add("uid", str(payload.get("id") or row["task_id"]))
        todo.add("dtstamp", now.astimezone(UTC))
        todo.add("summary", row["title"])
        todo.add("categories", [row["kind"]])
        todo.add("status", "NEEDS-ACTION" if row["status"] == "open" else "COMPLETED")
        if payload.get("release"):
            todo.add("dtstart", datetime.fromisoformat(payload["release"]))
        if payload.get("deadline"):
            todo.add("due", datetime.fromisoformat(payload["deadline"]))
        todo.add("x-va-minutes", str(payload.get("duration_minutes", "")))
        location = payload.get("location")
        if location:
            todo.add("location", location.get("address") or location.get("name") or "")
            todo.add("geo", (location["lat"], location["lon"]))
        calendar.add_component(todo)
    return bytes(calendar.to_ical())


def _plan_ics(
    plans: list[tuple[str, dict[str, Any]]], titles: Mapping[str, str], now: datetime
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//va-engine//client export//EN")
    calendar.add("version", "2.0")
    for scope, payload in plans:
        for block in payload["blocks"]:
            event = Event()
            event.add("uid", f"{scope}/{block['task_id']}/{block['start']}")
            event.add("dtstamp", now.astimezone(UTC))
            event.add("dtstart", datetime.fromisoformat(block["start"]))
            event.add("dtend", datetime.fromisoformat(block["end"]))
            event.add("summary", titles.get(block["task_id"], block["task_id"]))
            calendar.add_component(event)
    return bytes(calendar.to_ical())


def _ledger_csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    columns = ["id", "day", "minutes", "mode", "level", "kind", "billable", "source", "task"]
    columns += ["note", "deleted", "created_at"]
    writer = csv.DictWriter(out, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


_README = """# Data held by va-engine for client {client_id}

Exported {exported_at}. Everything va-engine stored for this client is here,
in open formats:

- `tables/<table>.json`: every stored row, one JSON file per table;
  `schema.json` says what each table and column holds and how long it is kept.
- `tasks.ics`: the tasks as iCalendar to-dos (open and closed).
- `plan.ics`: planned work for this client from stored plans (if any).
- `ledger.csv`: the work log (for / taught, minutes, billable).
- `mail/*.eml`: messages va-engine rendered for this client (if any).
- `client.json`: the client's settings (agreement, support levels, accounts
  without any password source).

The upstream calendars and mailboxes are not copied: they are the client's own.
`va-engine client import FILE.zip` recreates this client on another installation;
with `--only-open` it hands over only open tasks, the agreement and the plan.
"""


def export_client(
    store: Store,
    client_id: str,
    out: Path,
    *,
    now: datetime,
    actor: str,
    client_config: ClientConfig | None = None,
    retention: RetentionSettings | None = None,
) -> ExportSummary:
    """Write everything held for ``client_id`` to the zip ``out`` and audit the export."""
    settings = retention or RetentionSettings()
    with Session(store.engine) as session:
        counts = {t.name: _count(session, t, t.c.client_id == client_id) for t in client_tables()}
        if not any(counts.values()) and client_config is None:
            raise NotFoundError(f"no data and no config for client {client_id!r}")
        _audit(
            session,
            client_id,
            actor=actor,
            action="client.export",
            now=now,
            after={"file": out.name, "rows": sum(counts.values())},
        )
        session.commit()
        tables = {t.name: _rows(session, t, client_id) for t in client_tables()}
        plans = _client_plans(session, client_id)
    counts = {name: len(rows) for name, rows in tables.items()}
    files: dict[str, bytes] = {
        "README.md": _README.format(client_id=client_id, exported_at=now.isoformat()).encode(),
        "manifest.json": _dumps(
            {
                "format": EXPORT_FORMAT,
                "version": EXPORT_VERSION,
                "client_id": client_id,
                "exported_at": now.isoformat(),
                "tables": counts,
            }
        ),
        "schema.json": _dumps(_schema(settings)),
    }
    for name, rows in tables.items():
        files[f"tables/{name}.json"] = _dumps(rows)
    task_rows = tables.get("va_tasks", [])
    files["tasks.ics"] = _tasks_ics(task_rows, now)
    if plans:
        titles = {r["task_id"]: r["title"] for r in task_rows}
        files["plan.ics"] = _plan_ics(plans, titles, now)
        files["plans.json"] = _dumps([{"scope": s, "plan": p} for s, p in plans])
    files["ledger.csv"] = _ledger_csv(tables.get("va_ledger", []))
    for row in tables.get("va_outbox", []):
        digest = hashlib.sha256(str(row["key"]).encode()).hexdigest()[:12]
        files[f"mail/{row['id']:06d}-{digest}.eml"] = str(row["raw"]).encode("utf-8")
    if client_config is not None:
        files["client.json"] = _dumps(_config_data(client_config))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    stamp = now.astimezone(UTC).timetuple()[:6]
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(f"{client_id}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    partial.replace(out)
    return ExportSummary(out, client_id, counts, sorted(files))


def _dumps(data: Any) -> bytes:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True).encode("utf-8")


# --------------------------------------------------------------------------- import


@dataclass(frozen=True)
class ImportSummary:
    client_id: str
    only_open: bool
    tables: dict[str, int]
    #: tables in the export this installation does not know, with why they were skipped
    skipped: dict[str, str]
    plans: int
    config_file: Path | None
    config_note: str


def _read_archive(path: Path) -> tuple[str, dict[str, bytes]]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename: archive.read(info) for info in archive.infolist()}
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValidationError(f"{path}: not a readable zip file ({exc})") from None
    manifests = [name for name in members if name.endswith("/manifest.json")]
    if len(manifests) != 1:
        raise ValidationError(f"{path}: not a va-engine client export (no manifest.json)")
    prefix = manifests[0].removesuffix("manifest.json")
    files = {k.removeprefix(prefix): v for k, v in members.items() if k.startswith(prefix)}
    manifest = json.loads(files["manifest.json"])
    if manifest.get("format") != EXPORT_FORMAT or manifest.get("version") != EXPORT_VERSION:
        raise ValidationError(
            f"{path}: unsupported export format {manifest.get('format')!r} "
            f"version {manifest.get('version')!r}",
            hint="import it with the va-engine version that wrote it",
        )
    return str(manifest["client_id"]), files


def _table_order(names: Iterable[str]) -> list[str]:
    """Referenced tables first, so their new ids are known when a reference is rewritten.

    The audit trail names rows by id (``ledger:12``), so it comes last.
    """

    def rank(name: str) -> tuple[int, str]:
        if name == "va_audit":
            return 2, name
        return (1 if name in RULES and RULES[name].refs else 0), name

    return sorted(names, key=rank)


def import_client(
    store: Store,
    archive: Path,
    *,
    now: datetime,
    actor: str,
    only_open: bool = False,
    config_dir: Path | None = None,
) -> ImportSummary:
    """Recreate the client of ``archive`` in ``store``; with ``only_open`` just the open work.

    Refuses when the client already has rows here, so an import never mixes two
    histories. Database ids are renumbered and references to them rewritten.
    """
    client_id, files = _read_archive(archive)
    config_text = _client_toml(files.get("client.json"))
    known = {t.name: t for t in client_tables()}
    exported = {
        name.removeprefix("tables/").removesuffix(".json"): json.loads(data)
        for name, data in files.items()
        if name.startswith("tables/")
    }
    skipped = {n: "this installation has no such table" for n in exported if n not in known}
    counts: dict[str, int] = {}
    with Session(store.engine) as session:
        present = sum(_count(session, t, t.c.client_id == client_id) for t in known.values())
        if present:
            raise ValidationError(
                f"client {client_id!r} already has {present} rows in this store",
                hint="import into another installation, or erase the client here first",
            )
        new_ids: dict[str, dict[int, int]] = {}
        for name in _table_order(n for n in exported if n in known):
            table, rule = known[name], _rule(known[name])
            rows = exported[name]
            if only_open:
                if rule.handoff is None:
                    skipped[name] = "history: not handed over with --only-open"
                    continue
                rows = [r for r in rows if rule.handoff(r)]
            renumber = _surrogate(table)
            ids = new_ids.setdefault(name, {})
            for row in rows:
                values = {
                    c.name: _from_json(c, row[c.name]) for c in table.columns if c.name in row
                }
                values["client_id"] = client_id
                for column, target in rule.refs.items():
                    old = values.get(column)
                    if old is not None and old in new_ids.get(target, {}):
                        values[column] = new_ids[target][old]
                if name == "va_audit":
                    values["subject"] = _remap_subject(str(values.get("subject", "")), new_ids)
                if renumber:
                    old_id = values.pop("id", None)
                    result = cast(
                        CursorResult[Any], session.execute(insert(table).values(**values))
                    )
                    key = result.inserted_primary_key
                    if old_id is not None and key is not None:
                        ids[int(old_id)] = int(key[0])
                else:
                    session.execute(insert(table).values(**values))
            counts[name] = len(rows)
        _audit(
            session,
            client_id,
            actor=actor,
            action="client.import",
            now=now,
            after={"file": archive.name, "only_open": only_open, "rows": sum(counts.values())},
        )
        session.commit()
    plans = json.loads(files["plans.json"]) if "plans.json" in files else []
    for item in plans:
        store.save_plan(
            f"handoff:{client_id}:{item['scope']}", Plan.model_validate(item["plan"]), now=now
        )
    config_file, note = _write_client_config(config_text, client_id, config_dir)
    return ImportSummary(client_id, only_open, counts, skipped, len(plans), config_file, note)


def _remap_subject(subject: str, new_ids: Mapping[str, Mapping[int, int]]) -> str:
    prefix, _, number = subject.partition(":")
    table = _SUBJECT_TABLES.get(prefix)
    if table and number.isdigit() and int(number) in new_ids.get(table, {}):
        return f"{prefix}:{new_ids[table][int(number)]}"
    return subject


def _client_toml(data: bytes | None) -> str | None:
    """The exported client settings as a client file; checked before anything is written."""
    if data is None:
        return None
    body = render_toml(json.loads(data))
    try:
        ClientConfig.model_validate(tomllib.loads(body))
    except (PydanticValidationError, tomllib.TOMLDecodeError, TypeError) as exc:
        first = str(exc).splitlines()[0]
        raise ValidationError(f"the exported client settings do not load here: {first}") from None
    return body


def _write_client_config(
    body: str | None, client_id: str, config_dir: Path | None
) -> tuple[Path | None, str]:
    if body is None:
        return None, "the export holds no client settings"
    if config_dir is None:
        return None, "no config directory given: client settings not written"
    target = config_dir / "clients" / f"{client_id}.toml"
    if target.exists():
        return None, f"{target} exists: left as it is"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "# Imported by va-engine client import. Accounts have no password source:\n"
        "# add password_env, password_command or keyring before syncing.\n" + body,
        encoding="utf-8",
    )
    return target, f"wrote {target}"


def render_toml(data: Mapping[str, Any]) -> str:
    """A small TOML writer for plain JSON data (the standard library only reads TOML)."""
    lines: list[str] = []
    _toml_body(lines, [], data)
    return "\n".join(lines).strip() + "\n"


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _is_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _toml_body(lines: list[str], path: list[str], data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if value is None or (isinstance(value, dict) and value) or _is_tables(value):
            continue
        lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict) and value:
            lines.append("")
            lines.append(f"[{'.'.join(_toml_key(p) for p in [*path, key])}]")
            _toml_body(lines, [*path, key], value)
    for key, value in data.items():
        if _is_tables(value):
            for item in value:
                lines.append("")
                lines.append(f"[[{'.'.join(_toml_key(p) for p in [*path, key])}]]")
                _toml_body(lines, [*path, key], item)


# --------------------------------------------------------------------------- erasure


@dataclass(frozen=True)
class Item:
    """A line of an erasure or purge report: what, how many, and why."""

    what: str
    count: int
    reason: str


@dataclass(frozen=True)
class ErasureReport:
    client_id: str
    dry_run: bool
    removed: list[Item]
    kept: list[Item]


def erase_client(
    store: Store,
    client_id: str,
    *,
    now: datetime,
    actor: str,
    retention: RetentionSettings | None = None,
    dry_run: bool = False,
    data_dir: Path | None = None,
    still_configured: bool = False,
) -> ErasureReport:
    """Remove everything held for ``client_id`` except billing records within the fiscal period.

    Kept billing records lose their free text (task, note, run key); what is
    left is date, minutes, kind, mode and billable. One audit row records the
    erasure with counts only. With ``dry_run`` nothing changes. Upstream
    calendars and mailboxes are never touched.
    """
    settings = retention or RetentionSettings()
    removed: list[Item] = []
    kept: list[Item] = []
    with Session(store.engine) as session:
        outbox = Base.metadata.tables.get("va_outbox")
        locations = (
            _outbox_locations(session, outbox.c.client_id == client_id)
            if outbox is not None
            else []
        )
        belongs = _belongs(client_id, _client_task_ids(session, client_id))
        for table in client_tables():
            rule = _rule(table)
            mine: ColumnElement[bool] = table.c.client_id == client_id
            if rule.billing:
                cutoff = _cutoff(rule, settings, now).date()
                keep: ColumnElement[bool] = (
                    mine & table.c.billable.is_(True) & table.c.deleted.is_(False)
                )
                keep = keep & (table.c.day >= cutoff)
                n_keep = _count(session, table, keep)
                if n_keep:
                    kept.append(
                        Item(
                            f"{rule.kind} ({table.name})",
                            n_keep,
                            f"billing records from {cutoff} on: fiscal retention of "
                            f"{settings.ledger_years} years; minimised to date, minutes, kind",
                        )
                    )
                    session.execute(
                        update(table).where(keep).values(task=ERASED_TEXT, note="", run_key=None)
                    )
                gone: ColumnElement[bool] = mine & ~keep
            else:
                gone = mine
            n_gone = _count(session, table, gone)
            if n_gone:
                removed.append(Item(f"{rule.kind} ({table.name})", n_gone, "erasure requested"))
                session.execute(delete(table).where(gone))
        blocks = 0
        for row in session.scalars(select(PlanRow)):
            part = _plan_part(row.payload, lambda t: not belongs(t))
            dropped = len(row.payload.get("blocks", [])) - len(part["blocks"])
            if part != row.payload:
                row.payload = part
                blocks += max(0, dropped)
        if blocks:
            removed.append(Item("planned blocks (va_plans)", blocks, "erasure requested"))
        jobs = _job_ids(session, client_id)
        for job_id in jobs:
            session.execute(text(f"DELETE FROM {JOB_TABLE} WHERE id = :id"), {"id": job_id})
        if jobs:
            removed.append(Item("scheduled jobs", len(jobs), "erasure requested"))
        files = _own_files(locations, data_dir)
        if files:
            removed.append(Item("generated files (outbox copies)", len(files), "erasure requested"))
        summary = {
            "removed": {i.what: i.count for i in removed},
            "kept": {i.what: i.count for i in kept},
        }
        _audit(session, client_id, actor=actor, action="client.erase", now=now, after=summary)
        kept.append(
            Item(
                "audit trail (va_audit)",
                1,
                "one record of this erasure, counts only: proof it was done (GDPR art. 5(2))",
            )
        )
        if dry_run:
            session.rollback()
        else:
            session.commit()
    if not dry_run:
        for path in files:
            path.unlink(missing_ok=True)
    kept.append(
        Item(
            "upstream calendars and mailboxes",
            0,
            "never touched: they are the client's own (delete there if the client asks)",
        )
    )
    if still_configured:
        kept.append(
            Item(
                f"config file clients/{client_id}.toml",
                1,
                "still configured: remove it, or the next sync fetches the data again",
            )
        )
    return ErasureReport(client_id, dry_run, removed, kept)


# --------------------------------------------------------------------------- retention


def purge_expired(
    store: Store | ClientStore,
    retention: RetentionSettings,
    now: datetime,
    *,
    client_id: str | None = None,
    actor: str = "retention",
    data_dir: Path | None = None,
    dry_run: bool = False,
) -> dict[str, int]:
    """Delete rows older than their retention period; returns the count per table.

    Pure with respect to the clock: ``now`` decides what is expired. Each
    client whose rows were purged gets one audit row with the counts (never
    the content). ``client_id`` (or passing a :class:`ClientStore`) limits the
    purge to one client, for a per-client daily workflow. Files va-engine
    wrote for purged outbox rows under ``data_dir`` go with them.
    """
    if isinstance(store, ClientStore):
        # a client's own daily job: its purge cannot reach any other client's rows
        client_id, store = store.client_id, store._store
    counts: dict[str, int] = {}
    per_client: dict[str, dict[str, int]] = {}
    files: list[Path] = []
    with Session(store.engine) as session:
        for table in client_tables():
            rule = _rule(table)
            if rule.period is None or rule.column is None:
                continue
            condition = _older(table, rule, _cutoff(rule, retention, now))
            if client_id is not None:
                condition = condition & (table.c.client_id == client_id)
            grouped = session.execute(
                select(table.c.client_id, func.count()).where(condition).group_by(table.c.client_id)
            ).all()
            counts[table.name] = sum(int(n) for _, n in grouped)
            for owner, n in grouped:
                per_client.setdefault(str(owner), {})[table.name] = int(n)
            if table.name == "va_outbox":
                files += _own_files(_outbox_locations(session, condition), data_dir)
            session.execute(delete(table).where(condition))
        # contact times belong to ledger rows: none may outlive its entry
        times = Base.metadata.tables.get("va_ledger_times")
        ledger = Base.metadata.tables.get("va_ledger")
        if times is not None and ledger is not None:
            orphans: ColumnElement[bool] = ~times.c.ledger_id.in_(select(ledger.c.id))
            if client_id is not None:
                orphans = orphans & (times.c.client_id == client_id)
            orphaned = session.execute(
                select(times.c.client_id, func.count()).where(orphans).group_by(times.c.client_id)
            ).all()
            for owner, n in orphaned:
                per_client.setdefault(str(owner), {})
                per_client[str(owner)]["va_ledger_times"] = per_client[str(owner)].get(
                    "va_ledger_times", 0
                ) + int(n)
                counts["va_ledger_times"] = counts.get("va_ledger_times", 0) + int(n)
            session.execute(delete(times).where(orphans))
        for owner, purged in sorted(per_client.items()):
            _audit(session, owner, actor=actor, action="retention.purge", now=now, after=purged)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    if not dry_run:
        for path in files:
            path.unlink(missing_ok=True)
    return counts

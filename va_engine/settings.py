"""Configuration: ``va-engine.toml`` plus one ``clients/*.toml`` per client.

Precedence (highest first): explicit arguments, ``VA_ENGINE_*`` environment
variables, the TOML files, built-in defaults. Every error names the file, the
key and what to do, because a VA edits these files by hand.

Passwords never live in TOML. An account says where to get one:
``password_env = "NAME"``, ``password_command = ["pass", "show", "x"]`` (like
vdirsyncer's ``fetch``) or ``keyring = "service"``; the value is fetched only
when a connector needs it and is kept in a :class:`~pydantic.SecretStr`.
"""

from __future__ import annotations

import os
import subprocess
import tomllib
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from platformdirs import user_data_dir
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from va_engine.connectors.rules import MailRule
from va_engine.errors import ConfigError
from va_engine.model import (
    Agreement,
    Assistant,
    BreakRule,
    Client,
    DayWindow,
    Habit,
    Location,
    SupportLevel,
    Task,
    check_timezone,
)
from va_engine.obligations import Obligation

__all__ = [
    "MAIN_FILE",
    "AccountSecret",
    "AssistantConfig",
    "CalendarAccount",
    "ClientConfig",
    "Config",
    "EngineSettings",
    "MailAccount",
    "RetentionSettings",
    "load_config",
    "parse_weekly",
]

MAIN_FILE = "va-engine.toml"
CLIENTS_DIR = "clients"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_weekly(spec: Mapping[str, str | list[str]]) -> tuple[DayWindow, ...]:
    """Turn ``{"mon": "09:00-17:00", "tue": ["09:00-12:00", "13:00-17:00"]}`` into windows.

    ``"weekdays"`` and ``"daily"`` are shorthands for Mon–Fri and every day.
    """
    windows: list[DayWindow] = []
    for key, value in spec.items():
        day = key.strip().lower()[:3] if key not in ("weekdays", "daily") else key
        if day == "weekdays":
            days = list(range(5))
        elif day == "daily":
            days = list(range(7))
        elif day in WEEKDAYS:
            days = [WEEKDAYS.index(day)]
        else:
            raise ValueError(f"unknown weekday {key!r}: use mon, tue, … sun, weekdays or daily")
        ranges = [value] if isinstance(value, str) else value
        for text in ranges:
            start, end = _parse_range(text)
            windows.extend(DayWindow(weekday=d, start=start, end=end) for d in days)
    return tuple(sorted(windows, key=lambda w: (w.weekday, w.start)))


def _check_weekly(spec: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
    parse_weekly(spec)
    return spec


def _check_datetime(text: str | None) -> str | None:
    if text is not None:
        try:
            datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"{text!r} is not a date/time: use '2026-05-01' or '2026-05-01T17:00'"
            ) from None
    return text


#: Weekly windows as written by people: ``{"mon": "09:00-17:00", "weekdays": [...]}``.
WeeklySpec = Annotated[dict[str, str | list[str]], AfterValidator(_check_weekly)]
DateTimeText = Annotated[str | None, AfterValidator(_check_datetime)]


def _office_hours() -> dict[str, str | list[str]]:
    return {"weekdays": "09:00-17:00"}


def _parse_range(text: str) -> tuple[time, time]:
    try:
        left, right = (part.strip() for part in text.split("-"))
        return time.fromisoformat(left), time.fromisoformat(right)
    except ValueError as exc:
        raise ValueError(f"time range {text!r} should look like '09:00-17:00'") from exc


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AccountSecret(_Section):
    """Where a password comes from; never the password itself."""

    password_env: str | None = None
    password_command: list[str] | None = None
    keyring: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_plain_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "a plain 'password' is not allowed in config files; use password_env = "
                "'NAME', password_command = ['pass', 'show', 'x'] or keyring = 'service'"
            )
        return data

    def resolve_password(self, username: str = "") -> SecretStr | None:
        """Fetch the password now; raises ConfigError naming the source, never the value."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"environment variable {self.password_env} is not set",
                    hint="export it before starting va-engine, or use password_command",
                )
            return SecretStr(value)
        if self.password_command:
            try:
                done = subprocess.run(
                    self.password_command, capture_output=True, text=True, timeout=30, check=True
                )
            except (OSError, subprocess.SubprocessError) as exc:
                raise ConfigError(
                    f"password_command {self.password_command[0]!r} failed: {type(exc).__name__}"
                ) from None
            return SecretStr(done.stdout.splitlines()[0] if done.stdout else "")
        if self.keyring:
            try:
                import keyring  # type: ignore[import-not-found,unused-ignore]
            except ImportError:
                raise ConfigError(
                    "keyring is configured but the 'keyring' package is not installed",
                    hint="pip install keyring",
                ) from None
            value = keyring.get_password(self.keyring, username)
            if value is None:
                raise ConfigError(f"no password in the system keyring for {self.keyring!r}")
            return SecretStr(str(value))
        return None


class CalendarAccount(AccountSecret):
    """A calendar source or sink of a client: a local file/vdir or a CalDAV account."""

    name: str
    type: Literal["ics", "vdir", "caldav"] = "ics"
    path: Path | None = None
    url: str | None = None
    username: str = ""
    role: Literal["busy", "todo", "plan", "busy+todo"] = "busy"
    calendars: list[str] = Field(default_factory=list)
    verify_tls: bool = True

    @model_validator(mode="after")
    def _where(self) -> CalendarAccount:
        if self.type == "caldav" and not self.url:
            raise ValueError(f"calendar {self.name!r}: type 'caldav' needs a url")
        if self.type != "caldav" and self.path is None:
            raise ValueError(f"calendar {self.name!r}: type {self.type!r} needs a path")
        return self


class MailAccount(AccountSecret):
    """A mailbox of a client: a local Maildir or an IMAP account."""

    name: str
    type: Literal["maildir", "imap"] = "maildir"
    path: Path | None = None
    host: str | None = None
    port: PositiveInt | None = None
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str = ""
    folders: list[str] = Field(default_factory=lambda: ["INBOX"])
    drafts_folder: str = "Drafts"
    sent_folder: str = "Sent"

    @model_validator(mode="after")
    def _where(self) -> MailAccount:
        if self.type == "imap" and not self.host:
            raise ValueError(f"mailbox {self.name!r}: type 'imap' needs a host")
        if self.type == "maildir" and self.path is None:
            raise ValueError(f"mailbox {self.name!r}: type 'maildir' needs a path")
        return self


class DateRange(_Section):
    """An inclusive range of days, e.g. a vacation."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError(f"range ends ({self.end}) before it starts ({self.start})")
        return self


class LocationConfig(_Section):
    name: str = ""
    lat: float
    lon: float
    address: str = ""

    def to_model(self) -> Location:
        return Location(**self.model_dump())


class AssistantConfig(_Section):
    id: str
    name: str
    timezone: str | None = None
    working_hours: WeeklySpec = Field(default_factory=_office_hours)
    breaks: list[BreakRule] = Field(default_factory=lambda: [BreakRule()])
    max_hours_per_day: float | None = Field(default=None, gt=0, le=24)
    home: LocationConfig | None = None
    skills: list[str] = Field(default_factory=list)
    travel_mode: Literal["car", "bike", "walk", "transit"] = "car"
    email: str | None = None
    calendars: list[CalendarAccount] = Field(default_factory=list)
    vacations: list[DateRange] = Field(default_factory=list)

    def to_model(self, default_timezone: str) -> Assistant:
        return Assistant(
            id=self.id,
            name=self.name,
            timezone=self.timezone or default_timezone,
            working_hours=parse_weekly(self.working_hours),
            breaks=tuple(self.breaks),
            max_minutes_per_day=round(self.max_hours_per_day * 60)
            if self.max_hours_per_day
            else None,
            home=self.home.to_model() if self.home else None,
            skills=frozenset(self.skills),
            travel_mode=self.travel_mode,
        )


class AgreementConfig(_Section):
    delegated_kinds: list[str] = Field(default_factory=list)
    out_of_scope: list[str] = Field(default_factory=list)
    hours_per_period: float | None = Field(default=None, ge=0)
    period: Literal["week", "month"] = "month"
    hourly_rate: float = Field(default=0.0, ge=0)
    currency: str = "EUR"
    reachability: WeeklySpec = Field(default_factory=dict)
    session_minutes: PositiveInt | None = None

    def to_model(self) -> Agreement:
        data = self.model_dump()
        data["reachability"] = parse_weekly(self.reachability)
        data["delegated_kinds"] = tuple(self.delegated_kinds)
        data["out_of_scope"] = tuple(self.out_of_scope)
        return Agreement(**data)


class TaskConfig(_Section):
    """A task written by hand in a client file (the rest come from connectors)."""

    id: str
    title: str
    kind: str = "admin"
    minutes: PositiveInt
    release: DateTimeText = None
    deadline: DateTimeText = None
    hard_deadline: bool = False
    weight: PositiveInt = 1
    splittable: bool = False
    min_chunk_minutes: PositiveInt = 15
    predecessors: list[str] = Field(default_factory=list)
    location: LocationConfig | None = None
    skill: str | None = None
    assistant: str | None = None


class HabitConfig(_Section):
    id: str
    title: str
    kind: str = "admin"
    times_per_week: PositiveInt
    minutes: PositiveInt
    windows: WeeklySpec = Field(default_factory=_office_hours)
    assistant: str | None = None
    weight: PositiveInt = 1

    def to_model(self, client_id: str) -> Habit:
        return Habit(
            id=f"{client_id}:{self.id}",
            title=self.title,
            client_id=client_id,
            kind=self.kind,
            times_per_week=self.times_per_week,
            minutes=self.minutes,
            windows=parse_weekly(self.windows),
            assistant_id=self.assistant,
            weight=self.weight,
        )


class BusinessConfig(_Section):
    """A client's own field work, planned by the assistant (``plan --business``)."""

    staff: list[AssistantConfig] = Field(default_factory=list)
    visits: list[TaskConfig] = Field(default_factory=list)


class ClientConfig(_Section):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    timezone: str | None = None
    email: str | None = None
    language: str = "nl"
    assistant: str | None = None
    address: LocationConfig | None = None
    agreement: AgreementConfig = AgreementConfig()
    support_levels: dict[str, SupportLevel] = Field(default_factory=dict)
    calendars: list[CalendarAccount] = Field(default_factory=list)
    mailboxes: list[MailAccount] = Field(default_factory=list)
    tasks: list[TaskConfig] = Field(default_factory=list)
    habits: list[HabitConfig] = Field(default_factory=list)
    obligations: list[Obligation] = Field(default_factory=list)
    #: Public-holiday calendar for the year plan (``holidays`` country code).
    country: str = "NL"
    #: Hours a week the client spends on obligations they do themselves.
    own_hours_per_week: float = Field(default=3.0, ge=0)
    #: Periods the client must not be contacted (holiday, hospital, …).
    no_contact: list[DateRange] = Field(default_factory=list)
    rules: list[MailRule] = Field(default_factory=list)
    business: BusinessConfig | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return check_timezone(value) if value else value

    def to_model(self, default_timezone: str) -> Client:
        return Client(
            id=self.id,
            name=self.name,
            timezone=self.timezone or default_timezone,
            address=self.address.to_model() if self.address else None,
            agreement=self.agreement.to_model(),
            support_levels=dict(self.support_levels),
            email=self.email,
            language=self.language,
        )

    def manual_tasks(self, default_timezone: str) -> list[Task]:
        """The hand-written tasks as model tasks; dates are read in the client's zone."""
        tz = ZoneInfo(self.timezone or default_timezone)

        def when(text: str | None) -> datetime | None:
            if text is None:
                return None
            value = datetime.fromisoformat(text)
            return value if value.tzinfo else value.replace(tzinfo=tz)

        return [
            Task(
                id=f"{self.id}:{t.id}",
                title=t.title,
                client_id=self.id,
                kind=t.kind,
                duration_minutes=t.minutes,
                release=when(t.release),
                deadline=when(t.deadline),
                hard_deadline=t.hard_deadline,
                weight=t.weight,
                splittable=t.splittable,
                min_chunk_minutes=t.min_chunk_minutes,
                predecessors=tuple(f"{self.id}:{p}" for p in t.predecessors),
                location=t.location.to_model() if t.location else None,
                skill=t.skill,
                assistant_id=t.assistant,
                source="config",
                external_id=t.id,
            )
            for t in self.tasks
        ]


class RetentionSettings(_Section):
    """How long each kind of client data is kept: ``[retention]`` in the main file.

    The defaults follow common practice for a Dutch/EU assistant: billing
    records 7 years (fiscal duty), everything else only as long as the work
    needs it. The daily purge (:func:`va_engine.privacy.purge_expired`) applies them.
    """

    #: ledger rows (billing records) and their audit trail: the fiscal retention period
    ledger_years: PositiveInt = 7
    #: audit trail of ledger edits, exports, erasures and purges
    audit_years: PositiveInt = 7
    #: rendered messages kept in the outbox (cached mail bodies), once delivered or expired
    mail_days: PositiveInt = 90
    #: workflow runs, failure streaks and alerts (run logs)
    run_log_days: PositiveInt = 365
    #: tasks and homework assignments after they were closed
    closed_task_days: PositiveInt = 365
    #: records of unreadable items (origin and reason)
    quarantine_days: PositiveInt = 90


class EngineSettings(BaseSettings):
    """The main file's engine keys, overridable by ``VA_ENGINE_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="VA_ENGINE_", extra="ignore", frozen=True)

    data_dir: Path | None = None
    database_url: str | None = None
    timezone: str = "Europe/Amsterdam"
    language: str = "nl"
    week_starts: Literal["monday"] = "monday"
    #: Assistant hours a week set aside for year obligations (the year plan's capacity).
    year_hours_per_week: float = Field(default=8.0, ge=0)
    #: Retention periods per kind of client data (``[retention]``).
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return check_timezone(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # TOML values arrive as init kwargs below the environment: the
        # environment must win so VA_ENGINE_DATABASE_URL works in deployments.
        return env_settings, init_settings

    def resolved_data_dir(self) -> Path:
        return self.data_dir or Path(user_data_dir("va-engine", appauthor=False))

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir() / 'va-engine.db'}"


class Config(BaseModel):
    """Everything loaded from a config directory, checked and ready to use."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    config_dir: Path
    engine: EngineSettings
    assistants: tuple[AssistantConfig, ...]
    clients: tuple[ClientConfig, ...]

    def assistant_models(self) -> list[Assistant]:
        return [a.to_model(self.engine.timezone) for a in self.assistants]

    def client_models(self) -> list[Client]:
        return [c.to_model(self.engine.timezone) for c in self.clients]

    def client(self, client_id: str) -> ClientConfig:
        from va_engine.errors import NotFoundError

        for client in self.clients:
            if client.id == client_id:
                return client
        known = ", ".join(c.id for c in self.clients) or "none"
        raise NotFoundError(f"unknown client {client_id!r} (known: {known})")

    def resolve_path(self, path: Path) -> Path:
        """Relative paths in config files are relative to the config directory."""
        return path if path.is_absolute() else self.config_dir / path


def default_config_dir() -> Path:
    env = os.environ.get("VA_ENGINE_CONFIG_DIR")
    return Path(env) if env else Path("config")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML: {exc}",
            hint="check quotes, brackets and '=' on the line named",
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def _explain(path: Path, exc: PydanticValidationError, prefix: str = "") -> ConfigError:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(file)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] == "extra_forbidden":
            message = "unknown key (typo?)"
        lines.append(f"{prefix}{key}: {message}")
    return ConfigError(f"{path}: " + "; ".join(lines))


def load_config(config_dir: Path | None = None) -> Config:
    """Read and check the main file and every client file under ``config_dir``.

    Raises ConfigError naming the file, the key and the problem.
    """
    directory = (config_dir or default_config_dir()).expanduser()
    main = directory / MAIN_FILE
    if not main.is_file():
        raise ConfigError(
            f"no {MAIN_FILE} in {directory}",
            hint=f"run 'va-engine init {directory}' to create a starter config",
        )
    raw = _read_toml(main)
    raw_assistants = raw.pop("assistants", [])
    try:
        engine = EngineSettings(**raw)
    except PydanticValidationError as exc:
        raise _explain(main, exc) from None
    assistants: list[AssistantConfig] = []
    for index, item in enumerate(raw_assistants):
        try:
            assistants.append(AssistantConfig.model_validate(item))
            assistants[-1].to_model(engine.timezone)
        except PydanticValidationError as exc:
            raise _explain(main, exc, prefix=f"assistants[{index}].") from None
        except ValueError as exc:
            raise ConfigError(f"{main}: assistants[{index}]: {exc}") from None
    if not assistants:
        raise ConfigError(
            f"{main}: no [[assistants]] defined", hint="add at least one [[assistants]] table"
        )
    clients: list[ClientConfig] = []
    clients_dir = directory / CLIENTS_DIR
    for path in sorted(clients_dir.glob("*.toml")) if clients_dir.is_dir() else []:
        data = _read_toml(path)
        try:
            client = ClientConfig.model_validate(data)
            client.to_model(engine.timezone)
            client.manual_tasks(engine.timezone)
            for habit in client.habits:
                habit.to_model(client.id)
        except PydanticValidationError as exc:
            raise _explain(path, exc) from None
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if any(c.id == client.id for c in clients):
            raise ConfigError(f"{path}: client id {client.id!r} is used by another client file")
        clients.append(client)
    return Config(
        config_dir=directory.resolve(),
        engine=engine,
        assistants=tuple(assistants),
        clients=tuple(clients),
    )

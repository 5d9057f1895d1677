"""Built-in catalogue of common Dutch household and small-business obligations.

Dates follow the Belastingdienst and common contract practice (income tax
return by 1 May, VAT by the end of the month after the quarter, health
insurance switch by 31 December); efforts are editable defaults, not promises.
``va-engine init --obligations household`` writes them into a client file with
:func:`render_obligations_toml`, where the organizer adjusts dates (APK,
birthdays, renewals differ per client) and hours.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel

from va_engine.obligations import Monthly, Obligation, Quarterly, Step, Yearly

__all__ = [
    "BUSINESS",
    "CATALOGUE",
    "HOUSEHOLD",
    "catalogue_obligations",
    "render_obligations_toml",
]

CATALOGUE: dict[str, Obligation] = {
    "income-tax": Obligation(
        name="Income tax return (aangifte inkomstenbelasting)",
        kind="tax",
        steps=(
            Step(name="collect annual statements and receipts", hours=2.0, weeks_before_next=3),
            Step(name="prepare and file the return", hours=3.0),
        ),
        recurrence=Yearly(month=5, day=1),
        start_weeks_before=9,
        needs_client=True,
        priority=5,
        description="Filing opens 1 March; file by 1 May or ask for an extension.",
    ),
    "provisional-assessment": Obligation(
        name="Check provisional assessment (voorlopige aanslag)",
        kind="tax",
        effort_hours=1.0,
        recurrence=Yearly(month=1, day=31),
        start_weeks_before=4,
        priority=3,
        description="Compare the new year's provisional assessment with expected income; "
        "adjust it online if it is off.",
    ),
    "health-insurance": Obligation(
        name="Health insurance review (zorgverzekering)",
        kind="health insurance",
        effort_hours=2.0,
        recurrence=Yearly(month=12, day=31),
        start_weeks_before=6,
        needs_client=True,
        priority=4,
        description="New premiums appear by 12 November; switching is possible until 31 December.",
    ),
    "energy-contract": Obligation(
        name="Energy contract renewal",
        kind="finance",
        effort_hours=1.5,
        recurrence=Yearly(month=10, day=1),
        start_weeks_before=6,
        priority=2,
        description="Set the month/day to the contract's end date.",
    ),
    "car-inspection": Obligation(
        name="Car inspection (APK)",
        kind="appointments",
        steps=(
            Step(name="book the APK appointment", hours=0.5, weeks_before_next=2),
            Step(name="take the car to the garage", hours=2.0),
        ),
        recurrence=Yearly(month=6, day=15),
        start_weeks_before=6,
        needs_client=True,
        priority=4,
        description="Set the month/day to the APK expiry date on the registration.",
    ),
    "insurance-renewals": Obligation(
        name="Insurance renewals review (verzekeringen)",
        kind="finance",
        effort_hours=2.0,
        recurrence=Yearly(month=12, day=1),
        start_weeks_before=6,
        priority=2,
        description="Home, contents, liability and car policies: compare before they renew.",
    ),
    "archive-cleanup": Obligation(
        name="Archive clean-up by retention period",
        kind="admin",
        effort_hours=2.0,
        recurrence=Yearly(month=2, day=28),
        start_weeks_before=6,
        priority=1,
        description="Tax papers are kept 5 years (7 for a business): shred what has expired.",
    ),
    "birthday-gift": Obligation(
        name="Birthday gift (example)",
        kind="gifts",
        effort_hours=1.0,
        recurrence=Yearly(month=3, day=12),
        offset_days=-7,
        start_weeks_before=3,
        priority=2,
        description="An example: one per person, the date is the birthday, the deadline a "
        "week before it.",
    ),
    "vat-return": Obligation(
        name="VAT return (btw-aangifte)",
        kind="tax",
        steps=(
            Step(name="book invoices and receipts", hours=2.0, weeks_before_next=1),
            Step(name="file the VAT return and pay", hours=1.0),
        ),
        recurrence=Quarterly(months_after=1, day=-1),
        start_weeks_before=4,
        priority=5,
        description="Due (and paid) by the end of the month after the quarter.",
    ),
    "bookkeeping": Obligation(
        name="Monthly bookkeeping",
        kind="finance",
        effort_hours=2.0,
        recurrence=Monthly(day=15),
        start_weeks_before=2,
        priority=2,
        description="Match bank transactions with invoices; chase unpaid invoices.",
    ),
    "annual-accounts": Obligation(
        name="Annual accounts (jaarrekening)",
        kind="finance",
        steps=(
            Step(
                name="close the books and collect year-end documents",
                hours=4.0,
                weeks_before_next=3,
            ),
            Step(name="prepare the accounts with the accountant", hours=4.0),
        ),
        recurrence=Yearly(month=5, day=31),
        start_weeks_before=16,
        priority=4,
        description="Needed for the income or corporate tax return; a BV files with the KvK.",
    ),
    "provisional-assessment-business": Obligation(
        name="Business provisional assessment check (voorlopige aanslag)",
        kind="tax",
        effort_hours=1.0,
        recurrence=Yearly(month=2, day=15),
        start_weeks_before=6,
        priority=3,
        description="Adjust the provisional assessment to the expected profit.",
    ),
    "business-insurance": Obligation(
        name="Business insurance review",
        kind="finance",
        effort_hours=1.5,
        recurrence=Yearly(month=11, day=30),
        start_weeks_before=6,
        priority=2,
        description="Liability, disability (AOV) and equipment policies.",
    ),
    "business-archive": Obligation(
        name="Business archive clean-up (7-year retention)",
        kind="admin",
        effort_hours=2.0,
        recurrence=Yearly(month=3, day=31),
        start_weeks_before=8,
        priority=1,
        description="The fiscal retention period is 7 years; keep property records 10.",
    ),
}

HOUSEHOLD: tuple[str, ...] = (
    "income-tax",
    "provisional-assessment",
    "health-insurance",
    "energy-contract",
    "car-inspection",
    "insurance-renewals",
    "archive-cleanup",
    "birthday-gift",
)
BUSINESS: tuple[str, ...] = (
    "vat-return",
    "bookkeeping",
    "annual-accounts",
    "provisional-assessment-business",
    "business-insurance",
    "business-archive",
)
_SETS: Mapping[str, tuple[str, ...]] = {
    "household": HOUSEHOLD,
    "business": BUSINESS,
    "all": HOUSEHOLD + BUSINESS,
}


def catalogue_obligations(selection: str | Iterable[str]) -> list[Obligation]:
    """Catalogue entries by set name (``household``, ``business``, ``all``) or entry keys.

    A comma-separated string works as well (``"vat-return,bookkeeping"``), so a
    CLI option can be passed straight through. Unknown names raise ValueError
    listing the known ones.
    """
    names = selection.split(",") if isinstance(selection, str) else list(selection)
    keys: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in _SETS:
            keys.extend(_SETS[name])
        elif name in CATALOGUE:
            keys.append(name)
        else:
            known = ", ".join([*_SETS, *CATALOGUE])
            raise ValueError(f"unknown obligation {name!r}: choose from {known}")
    return [CATALOGUE[k] for k in dict.fromkeys(keys)]


# --- TOML rendering -------------------------------------------------------------------------


def _toml_string(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} to TOML")
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _plain(model: BaseModel) -> dict[str, Any]:
    """Fields that differ from their default, in declaration order (short, editable TOML)."""
    return model.model_dump(mode="python", exclude_defaults=True)


def render_obligations_toml(
    obligations: Iterable[Obligation], *, table: str = "obligations"
) -> str:
    """``[[obligations]]`` tables for a client file; reading them back gives equal obligations.

    Defaults are left out; the recurrence's ``every`` key is always written so
    the friendly form is recognised when the file is read again.
    """
    blocks: list[str] = []
    for obligation in obligations:
        data = _plain(obligation)
        lines = [f"[[{table}]]"]
        for key, value in data.items():
            if key in ("recurrence", "steps"):
                continue
            lines.append(f"{key} = {_toml_value(value)}")
        recurrence = obligation.recurrence
        if isinstance(recurrence, str):
            lines.append(f"recurrence = {_toml_string(recurrence)}")
        else:
            rule = {"every": recurrence.every, **_plain(recurrence)}
            lines.append(f"recurrence = {_toml_value(rule)}")
        if obligation.steps:
            lines.append("steps = [")
            lines.extend(f"  {_toml_value(_plain(step))}," for step in obligation.steps)
            lines.append("]")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")

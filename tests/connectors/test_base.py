"""The shared pieces of connectors/base.py: plan diffing and conversion to model types."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pydantic
import pytest

from va_engine.connectors.base import (
    CalendarEvent,
    Origin,
    PlanEvent,
    TodoItem,
    diff_plan,
    event_to_busy,
    stable_task_id,
    todo_to_task,
)

AMS = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2026, 11, 16, 9, tzinfo=AMS)
ORIGIN = Origin(account="anna", collection="work", item="x.ics")


def plan_event(key: str, minutes: int = 30, summary: str = "Werk") -> PlanEvent:
    return PlanEvent(key=key, summary=summary, start=T0, end=T0 + timedelta(minutes=minutes))


def test_diff_plan_sorts_events_into_create_update_delete_unchanged() -> None:
    existing = {
        plan_event("same").uid: plan_event("same").fingerprint,
        plan_event("changed").uid: plan_event("changed").fingerprint,
        plan_event("gone").uid: plan_event("gone").fingerprint,
    }
    diff = diff_plan([plan_event("same"), plan_event("changed", 60), plan_event("new")], existing)
    assert [e.key for e in diff.create] == ["new"]
    assert [e.key for e in diff.update] == ["changed"]
    assert diff.delete == ("va-engine-plan-gone",)
    assert diff.unchanged == ("va-engine-plan-same",)


def test_diff_plan_rejects_duplicate_keys() -> None:
    with pytest.raises(ValueError, match="used twice"):
        diff_plan([plan_event("a"), plan_event("a", 60)], {})


def test_plan_event_key_must_be_safe_for_file_names_and_uids() -> None:
    with pytest.raises(pydantic.ValidationError):
        plan_event("../etc/passwd")


def event(**update: object) -> CalendarEvent:
    base = CalendarEvent(
        uid="e@x", summary="Tandarts", start=T0, end=T0 + timedelta(hours=1), origin=ORIGIN
    )
    return base.model_copy(update=update)


def test_event_to_busy() -> None:
    busy = event_to_busy(event(), client_id="anna")
    assert busy is not None
    assert (busy.start, busy.end, busy.client_id, busy.title) == (
        T0,
        T0 + timedelta(hours=1),
        "anna",
        "Tandarts",
    )
    assert busy.source == "anna/work/x.ics#e@x"
    instance = event(recurrence_id=T0)
    assert event_to_busy(instance) is not None
    assert event_to_busy(instance).source != busy.source  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "update",
    [{"transparent": True}, {"status": "CANCELLED"}, {"end": T0}],
    ids=["free", "cancelled", "zero-length"],
)
def test_events_that_block_nothing(update: dict[str, object]) -> None:
    assert event_to_busy(event(**update)) is None


def todo(**update: object) -> TodoItem:
    base = TodoItem(
        uid="t@x", summary="Aangifte", due=T0 + timedelta(days=3), priority=2, origin=ORIGIN
    )
    return base.model_copy(update=update)


def test_todo_to_task_is_stable_and_keeps_its_source() -> None:
    task = todo_to_task(todo(duration_minutes=90), tz=AMS, client_id="anna", kind="tax")
    assert task is not None
    assert (task.title, task.duration_minutes, task.kind, task.weight) == ("Aangifte", 90, "tax", 3)
    assert (task.source, task.external_id) == ("anna/work", "t@x")
    assert task.deadline == T0 + timedelta(days=3)
    again = todo_to_task(todo(summary="Aangifte (edited)"), tz=AMS)
    assert again is not None and again.id == task.id
    elsewhere = todo(origin=Origin(account="anna", collection="private", item="x.ics"))
    assert todo_to_task(elsewhere, tz=AMS).id != task.id  # type: ignore[union-attr]
    assert task.id == stable_task_id("anna/work", "t@x")


def test_todo_defaults_and_bad_dates() -> None:
    task = todo_to_task(todo(priority=0, start=T0 + timedelta(days=5)), tz=AMS)
    assert task is not None
    assert task.duration_minutes == 30 and task.weight == 1
    assert task.release is None  # due before start: keep the deadline, drop the release


@pytest.mark.parametrize(
    "update", [{"status": "COMPLETED"}, {"completed": T0}, {"status": "CANCELLED"}]
)
def test_done_todos_make_no_task(update: dict[str, object]) -> None:
    assert todo_to_task(todo(**update), tz=AMS) is None


def test_origin_text() -> None:
    assert str(ORIGIN) == "anna/work/x.ics"
    assert ORIGIN.source == "anna/work"
    assert str(Origin(account="anna")) == "anna"

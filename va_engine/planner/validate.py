"""An independent checker: does a Plan keep every rule of its PlanningProblem?

It shares no code with the solver (``schedule.py``): it works on datetimes, not
minutes, and re-derives working hours, windows, travel and breaks from the
model itself, so a bug in the solver's compilation shows up here instead of
being repeated. Every planner test runs it on every plan.

Conventions it checks (the planner's contract):
- an assistant without working hours is available around the clock, and her
  whole plan counts as one day (for travel legs and the daily maximum);
- travel before a visit runs from the previous visit that day, or from home
  for the first; after the last visit of a day she drives home; a drive may
  not overlap any block or busy time and must lie inside working hours;
- a client's own busy time (``Busy`` with a client and no assistant) blocks
  only that client's client-facing tasks, never the assistant's desk work;
- a flexible break must find a free stretch of its length in its window on
  every day whose working hours contain that window (unless busy time alone
  already leaves no room).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from va_engine.model import (
    CLIENT_FACING_KINDS,
    Assistant,
    DayWindow,
    Location,
    Plan,
    PlannedBlock,
    PlanningProblem,
)
from va_engine.planner.travel import HaversineTravel, TravelModel

__all__ = ["Violation", "validate_plan"]


@dataclass(frozen=True)
class Violation:
    """One broken rule, with the task it concerns when there is one."""

    code: str
    message: str
    task_id: str | None = None

    def __str__(self) -> str:
        return f"[{self.code}] {self.task_id or '-'}: {self.message}"


Span = tuple[datetime, datetime]


def _u(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _overlaps(a: Span, b: Span) -> bool:
    return _u(a[0]) < _u(b[1]) and _u(b[0]) < _u(a[1])


def _covered(span: Span, cover: Iterable[Span]) -> bool:
    """Is ``span`` inside the union of ``cover``?"""
    cur = _u(span[0])
    end = _u(span[1])
    for s, e in sorted((_u(s), _u(e)) for s, e in cover):
        if s > cur:
            break
        cur = max(cur, e)
        if cur >= end:
            return True
    return cur >= end


def _occurrences(windows: Sequence[DayWindow], tz: ZoneInfo, days: Iterable[date]) -> list[Span]:
    out: list[Span] = []
    for d in days:
        for w in windows:
            if d.weekday() == w.weekday:
                out.append(
                    (datetime.combine(d, w.start, tzinfo=tz), datetime.combine(d, w.end, tzinfo=tz))
                )
    return out


def _days(problem: PlanningProblem, tz: ZoneInfo) -> list[date]:
    first = problem.start.astimezone(tz).date() - timedelta(days=1)
    last = problem.end.astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _day_key(assistant: Assistant, moment: datetime) -> date | None:
    """The local day a moment belongs to, or None when the assistant has no days."""
    if not assistant.working_hours:
        return None
    return moment.astimezone(assistant.tz).date()


def _minutes(span: Span) -> float:
    return (_u(span[1]) - _u(span[0])).total_seconds() / 60


def validate_plan(
    problem: PlanningProblem, plan: Plan, *, travel: TravelModel | None = None
) -> list[Violation]:
    """Every rule ``plan`` breaks; an empty list means the plan is valid."""
    travel = travel or HaversineTravel()
    out: list[Violation] = []

    def bad(code: str, message: str, task_id: str | None = None) -> None:
        out.append(Violation(code, message, task_id))

    assistants = {a.id: a for a in problem.assistants}
    tasks = {t.id: t for t in problem.tasks}
    habits = {h.id: h for h in problem.habits}
    unplanned_ids = [u.task_id for u in plan.unplanned]
    if len(set(unplanned_ids)) != len(unplanned_ids):
        bad("unplanned", "a task is listed as unplanned twice")
    for uid in unplanned_ids:
        if uid not in tasks and uid not in habits:
            bad("unplanned", "unplanned entry for an unknown task", uid)

    by_task: dict[str, list[PlannedBlock]] = defaultdict(list)
    by_assistant: dict[str, list[PlannedBlock]] = defaultdict(list)
    for b in plan.blocks:
        if b.assistant_id not in assistants:
            bad("assistant", f"block on unknown assistant {b.assistant_id!r}", b.task_id)
            continue
        if b.task_id not in tasks and b.task_id not in habits:
            bad("task", "block for an unknown task", b.task_id)
        if _u(b.end) <= _u(b.start):
            bad("duration", "block ends before it starts", b.task_id)
        if _u(b.start) < _u(problem.start) or _u(b.end) > _u(problem.end):
            bad("horizon", "block outside the planning horizon", b.task_id)
        by_task[b.task_id].append(b)
        by_assistant[b.assistant_id].append(b)

    for aid, blocks in by_assistant.items():
        assistant = assistants[aid]
        tz = assistant.tz
        blocks.sort(key=lambda b: _u(b.start))
        # a client's own busy time (client, no assistant) does not block desk work
        busy = [
            (x.start, x.end)
            for x in problem.busy
            if x.assistant_id == aid or (x.assistant_id is None and x.client_id is None)
        ]
        work = _occurrences(assistant.working_hours, tz, _days(problem, tz))
        for i, b in enumerate(blocks):
            span = (b.start, b.end)
            if i + 1 < len(blocks) and _overlaps(span, (blocks[i + 1].start, blocks[i + 1].end)):
                bad("overlap", f"overlaps {blocks[i + 1].task_id!r} on {aid}", b.task_id)
            for other in busy:
                if _overlaps(span, other):
                    bad("busy", f"overlaps busy time {other[0]:%a %H:%M} on {aid}", b.task_id)
            if assistant.working_hours and not _covered(span, work):
                bad(
                    "working_hours",
                    f"outside {aid}'s working hours ({b.start:%a %H:%M})",
                    b.task_id,
                )
        # travel legs
        legs: list[tuple[Span, str]] = []
        located: dict[date | None, list[PlannedBlock]] = defaultdict(list)
        for b in blocks:
            if b.location is not None:
                located[_day_key(assistant, b.start)].append(b)
        for day_blocks in located.values():
            here: Location | None = assistant.home
            for b in day_blocks:
                assert b.location is not None
                need = travel.minutes(here, b.location, assistant.travel_mode) if here else 0
                if b.travel_before_minutes != need:
                    bad(
                        "travel",
                        f"travel before is {b.travel_before_minutes} min, "
                        f"the trip takes {need} min",
                        b.task_id,
                    )
                if need:
                    legs.append(((_u(b.start) - timedelta(minutes=need), b.start), b.task_id))
                here = b.location
            last = day_blocks[-1]
            if assistant.home is not None and last.location is not None:
                back = travel.minutes(last.location, assistant.home, assistant.travel_mode)
                if back:
                    legs.append(((last.end, _u(last.end) + timedelta(minutes=back)), last.task_id))
        for leg, tid in legs:
            if _u(leg[0]) < _u(problem.start) or _u(leg[1]) > _u(problem.end):
                bad("travel", "a drive falls outside the planning horizon", tid)
            for b in blocks:
                if _overlaps(leg, (b.start, b.end)):
                    bad("travel", f"the drive for {tid!r} overlaps {b.task_id!r}", tid)
            for other in busy:
                if _overlaps(leg, other):
                    bad("travel", "a drive overlaps busy time", tid)
            if assistant.working_hours and not _covered(leg, work):
                bad("travel", "a drive lies outside working hours", tid)
        # daily maximum
        if assistant.max_minutes_per_day is not None:
            per_day: dict[date | None, float] = defaultdict(float)
            for b in blocks:
                per_day[_day_key(assistant, b.start)] += _minutes((b.start, b.end))
            for d, minutes in per_day.items():
                if minutes > assistant.max_minutes_per_day:
                    bad(
                        "max_per_day",
                        f"{aid} works {minutes:.0f} min on {d}, "
                        f"max {assistant.max_minutes_per_day}",
                    )
        # breaks
        taken = [(b.start, b.end) for b in blocks] + [leg for leg, _ in legs]
        for d in _days(problem, tz):
            for rule in assistant.breaks:
                lo = max(_u(datetime.combine(d, rule.earliest, tzinfo=tz)), _u(problem.start))
                hi = min(_u(datetime.combine(d, rule.latest, tzinfo=tz)), _u(problem.end))
                if hi <= lo or not _covered(
                    (
                        datetime.combine(d, rule.earliest, tzinfo=tz),
                        datetime.combine(d, rule.latest, tzinfo=tz),
                    ),
                    work,
                ):
                    continue
                if _longest_free(lo, hi, busy) < rule.minutes:
                    continue
                if _longest_free(lo, hi, busy + taken) < rule.minutes:
                    bad("break", f"no {rule.minutes}-min break for {aid} on {d}")

    for tid, task in tasks.items():
        blocks = sorted(by_task.get(tid, []), key=lambda b: _u(b.start))
        listed = tid in unplanned_ids
        if not blocks:
            if not listed:
                bad("dropped", "neither planned nor listed as unplanned", tid)
            continue
        if listed:
            bad("unplanned", "listed as unplanned but has blocks", tid)
        total = sum(_minutes((b.start, b.end)) for b in blocks)
        if total != task.duration_minutes:
            bad("duration", f"planned {total:.0f} min, needs {task.duration_minutes}", tid)
        if (not task.splittable or task.location is not None) and len(blocks) != 1:
            bad("split", f"not splittable but planned in {len(blocks)} blocks", tid)
        if task.splittable and len(blocks) > 1:
            for b in blocks:
                if _minutes((b.start, b.end)) < task.min_chunk_minutes:
                    bad(
                        "chunk",
                        f"chunk of {_minutes((b.start, b.end)):.0f} min < {task.min_chunk_minutes}",
                        tid,
                    )
        client = problem.client(task.client_id)
        reach = client.agreement.reachability if client and task.kind in CLIENT_FACING_KINDS else ()
        reach_spans = (
            _occurrences(reach, client.tz, _days(problem, client.tz)) if client and reach else []
        )
        windows = [(w.start, w.end) for w in task.windows]
        for b in blocks:
            worker = assistants.get(b.assistant_id)
            if task.assistant_id and b.assistant_id != task.assistant_id:
                bad("assistant", f"must be done by {task.assistant_id}", tid)
            if task.skill and worker and task.skill not in worker.skills:
                bad("skill", f"{b.assistant_id} lacks skill {task.skill!r}", tid)
            if task.release and _u(b.start) < _u(task.release):
                bad("release", "starts before its release", tid)
            if task.hard_deadline and task.deadline and _u(b.end) > _u(task.deadline):
                bad("deadline", "ends after its hard deadline", tid)
            if windows and not _covered((b.start, b.end), windows):
                bad("window", "outside its time windows", tid)
            if reach and not _covered((b.start, b.end), reach_spans):
                bad("reachability", "outside the client's reachability windows", tid)
            if task.kind in CLIENT_FACING_KINDS:
                _client_busy(problem, task.client_id, b, bad)
            if b.location != task.location:
                bad("location", "block location differs from the task's", tid)
        end = max(_u(b.end) for b in blocks)
        for pid in task.predecessors:
            if pid not in tasks:
                bad("predecessor", f"planned although predecessor {pid!r} is no known task", tid)
                continue
            pblocks = by_task.get(pid, [])
            if not pblocks:
                bad("predecessor", f"planned although predecessor {pid!r} is not", tid)
            elif max(_u(b.end) for b in pblocks) > _u(blocks[0].start):
                bad("predecessor", f"starts before predecessor {pid!r} ends", tid)
        if task.deadline and not task.hard_deadline and end > _u(task.deadline):
            late = int((end - _u(task.deadline)).total_seconds() // 60)
            entry = next((x for x in plan.late if x.task_id == tid), None)
            if entry is None or entry.minutes_late != late:
                bad("late", f"{late} min late but not reported as such", tid)

    for hid, habit in habits.items():
        blocks = by_task.get(hid, [])
        owner = assistants.get(habit.assistant_id or "") or problem.assistants[0]
        tz = owner.tz
        days = [b.start.astimezone(tz).date() for b in blocks]
        if len(set(days)) != len(days):
            bad("habit", "two sessions on the same day", hid)
        if len(blocks) > habit.times_per_week:
            bad("habit", f"{len(blocks)} sessions, at most {habit.times_per_week}", hid)
        if len(blocks) < habit.times_per_week and hid not in unplanned_ids:
            bad(
                "habit", f"only {len(blocks)} of {habit.times_per_week} sessions and no reason", hid
            )
        spans = _occurrences(habit.windows, tz, _days(problem, tz))
        for b in blocks:
            if _minutes((b.start, b.end)) != habit.minutes:
                bad(
                    "habit",
                    f"session of {_minutes((b.start, b.end)):.0f} min, needs {habit.minutes}",
                    hid,
                )
            if habit.windows and not _covered((b.start, b.end), spans):
                bad("habit", "session outside the habit's windows", hid)
            if habit.assistant_id and b.assistant_id != habit.assistant_id:
                bad("assistant", f"must be done by {habit.assistant_id}", hid)
            if habit.kind in CLIENT_FACING_KINDS:
                _client_busy(problem, habit.client_id, b, bad)
    return out


def _client_busy(
    problem: PlanningProblem,
    client_id: str | None,
    block: PlannedBlock,
    bad: Callable[[str, str, str | None], None],
) -> None:
    """A client-facing block must not overlap its client's own busy time."""
    if client_id is None:
        return
    for x in problem.busy:
        mine = x.client_id == client_id and x.assistant_id is None
        if mine and _overlaps((block.start, block.end), (x.start, x.end)):
            bad(
                "client_busy",
                f"client {client_id} is busy ({x.title}) {x.start:%a %H:%M}–{x.end:%H:%M}",
                block.task_id,
            )


def _longest_free(lo: datetime, hi: datetime, taken: Sequence[Span]) -> float:
    cur = _u(lo)
    best = 0.0
    for s, e in sorted((_u(s), _u(e)) for s, e in taken):
        if e <= cur:
            continue
        if s >= _u(hi):
            break
        best = max(best, (s - cur).total_seconds() / 60)
        cur = max(cur, e)
    best = max(best, (_u(hi) - cur).total_seconds() / 60)
    return best

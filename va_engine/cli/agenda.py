"""Draw a plan for people: an agenda per assistant and day, then what was left out and why."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from va_engine.model import Busy, Habit, Plan, PlannedBlock, PlanningProblem, Task

__all__ = ["plan_summary", "plan_to_json", "render_plan"]

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def render_plan(console: Console, problem: PlanningProblem, plan: Plan) -> None:
    """Agenda per assistant per day (blocks and busy time interleaved), then the leftovers."""
    tasks = _plannables(problem)
    clients = {client.id: client.name for client in problem.clients}
    for assistant in problem.assistants:
        tz = assistant.tz
        days: dict[date, list[tuple[datetime, datetime, str, str, str, str]]] = defaultdict(list)
        for block in plan.blocks_for(assistant.id):
            task = tasks.get(block.task_id)
            start = block.start.astimezone(tz)
            days[start.date()].append(
                (
                    start,
                    block.end.astimezone(tz),
                    _client_name(task, clients),
                    task.title if task else block.task_id,
                    _where(block),
                    f"{block.travel_before_minutes} min" if block.travel_before_minutes else "",
                )
            )
        for busy in _busy_for(problem.busy, assistant.id):
            start = busy.start.astimezone(tz)
            days[start.date()].append(
                (start, busy.end.astimezone(tz), "", f"[dim]{busy.title}[/]", "", "")
            )
        console.rule(f"[bold]{assistant.name}[/] — week of {problem.start.astimezone(tz):%d %b %Y}")
        if not days:
            console.print("  nothing planned")
        for day in sorted(days):
            table = Table(
                title=f"{_DAY_NAMES[day.weekday()]} {day:%d %b}",
                title_justify="left",
                show_edge=False,
                pad_edge=False,
            )
            for column, style in (
                ("time", "cyan"),
                ("client", "magenta"),
                ("task", ""),
                ("where", "green"),
                ("travel", "yellow"),
            ):
                table.add_column(column, style=style or None)
            for start, end, client, title, where, travel in sorted(days[day]):
                table.add_row(f"{start:%H:%M}–{end:%H:%M}", client, title, where, travel)
            console.print(table)
    if plan.unplanned or plan.late:
        table = Table(title="Not planned or late", title_justify="left", show_edge=False)
        table.add_column("task")
        table.add_column("client", style="magenta")
        table.add_column("why")
        for item in plan.unplanned:
            task = tasks.get(item.task_id)
            table.add_row(
                task.title if task else item.task_id, _client_name(task, clients), item.reason
            )
        for late in plan.late:
            task = tasks.get(late.task_id)
            table.add_row(
                task.title if task else late.task_id,
                _client_name(task, clients),
                f"[yellow]{late.minutes_late} min late[/]: {late.reason}",
            )
        console.print(table)
    summary = plan_summary(problem, plan)
    gap = f", gap {summary['gap_pct']:.1f} %" if summary["gap_pct"] is not None else ""
    console.print(
        f"[bold]{summary['planned_hours']:.1f} h[/] planned in {summary['blocks']} blocks, "
        f"{summary['travel_minutes']} min travel, {summary['unplanned']} not planned, "
        f"{summary['late']} late · {plan.solver} {plan.status.value}, "
        f"objective {plan.objective:g}{gap}, {plan.seconds:.1f} s",
        highlight=False,
    )


def plan_summary(problem: PlanningProblem, plan: Plan) -> dict[str, Any]:
    """The figures a person checks first; also part of the JSON output."""
    gap = plan.gap
    return {
        "planned_hours": sum(b.minutes for b in plan.blocks) / 60,
        "blocks": len(plan.blocks),
        "tasks": len(problem.tasks),
        "travel_minutes": sum(b.travel_before_minutes for b in plan.blocks),
        "unplanned": len(plan.unplanned),
        "late": len(plan.late),
        "objective": plan.objective,
        "bound": plan.bound,
        "gap_pct": None if gap is None else round(100 * gap, 2),
        "status": plan.status.value,
        "solver": plan.solver,
        "seconds": round(plan.seconds, 2),
    }


def plan_to_json(problem: PlanningProblem, plan: Plan) -> dict[str, Any]:
    tasks = _plannables(problem)
    return {
        "start": plan.start,
        "end": plan.end,
        "summary": plan_summary(problem, plan),
        "blocks": [
            {
                **block.model_dump(),
                "title": tasks[block.task_id].title if block.task_id in tasks else None,
                "client_id": tasks[block.task_id].client_id if block.task_id in tasks else None,
            }
            for block in plan.blocks
        ],
        "unplanned": plan.unplanned,
        "late": plan.late,
    }


def _plannables(problem: PlanningProblem) -> dict[str, Task | Habit]:
    """Blocks name a task or a habit (routine) by id; both have a title and a client."""
    found: dict[str, Task | Habit] = {task.id: task for task in problem.tasks}
    found.update((habit.id, habit) for habit in problem.habits)
    return found


def _client_name(task: Task | Habit | None, clients: dict[str, str]) -> str:
    if task is None or task.client_id is None:
        return ""
    return clients.get(task.client_id, task.client_id)


def _where(block: PlannedBlock) -> str:
    return block.location.name if block.location else ""


def _busy_for(busy: Sequence[Busy], assistant_id: str) -> list[Busy]:
    return [
        b
        for b in busy
        if b.assistant_id == assistant_id or (b.assistant_id is None and b.client_id is None)
    ]

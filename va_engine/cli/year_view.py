"""Draw a :class:`~va_engine.planner.year.YearPlan` for people: heat map, items, summary.

One character per week keeps a 53-week year within 100 columns: the shade is
the load against the week's capacity (or against the peak for a resource
without a capacity), ``!`` marks a week over capacity, ``▲`` a deadline, and
``·`` a week without working time (holidays, vacation).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from va_engine.planner.year import ResourceLoad, WeekLoad, YearPlan

__all__ = ["render_year"]

_SHADES = " ░▒▓█"
_STYLES = ("dim", "green", "yellow", "dark_orange", "red")


def _cell(week: WeekLoad, peak: float) -> tuple[str, str]:
    if week.over_capacity:
        return "!", "bold white on red"
    scale = week.capacity if week.capacity is not None else peak
    if week.capacity == 0:
        return "·", "dim"
    if week.hours <= 0 or not scale:
        return " ", ""
    level = min(4, max(1, round(4 * week.hours / scale)))
    return _SHADES[level], _STYLES[level]


def _ruler(row: ResourceLoad) -> Text:
    """Month initials above the week of their first Monday."""
    text = Text()
    previous = None
    for week in row.weeks:
        month = week.week.month
        text.append("JFMAMJJASOND"[month - 1] if month != previous else " ", style="bold")
        previous = month
    return text


def _heat(row: ResourceLoad) -> tuple[Text, Text]:
    cells, marks = Text(), Text()
    for week in row.weeks:
        char, style = _cell(week, row.peak_hours)
        cells.append(char, style=style)
        marks.append("▲" if week.deadlines else " ", style="bold magenta")
    return cells, marks


def render_year(plan: YearPlan, console: Console) -> None:
    """Print one heat-map row per resource, the placed items, what was left out, the summary."""
    console.print(Text(f"Year plan {plan.year}", style="bold"))
    label = max((len(r.resource) for r in plan.resources), default=8) + 1
    for row in plan.resources:
        cells, marks = _heat(row)
        console.print(Text(" " * label) + _ruler(row), soft_wrap=True, no_wrap=True)
        console.print(Text(f"{row.resource:<{label}}") + cells, soft_wrap=True, no_wrap=True)
        console.print(Text(" " * label) + marks, soft_wrap=True, no_wrap=True)
        console.print(
            f"{'':<{label}}peak {row.peak_hours:.1f} h/week · bound {row.bound_hours:.1f} h · "
            f"average {row.average_hours:.1f} h · total {row.total_hours:.1f} h"
        )
    console.print(
        Text(
            f"{'':<{label}}░▒▓█ load vs capacity   ! over   · no working time   ▲ deadline",
            style="dim",
        )
    )

    items = Table(title="Planned", show_lines=False)
    for column in ("week", "obligation", "step", "client", "who", "hours", "deadline"):
        items.add_column(column, justify="right" if column == "hours" else "left")
    for placement in plan.placements:
        occ = placement.occurrence
        items.add_row(
            placement.iso_week,
            occ.obligation,
            occ.step if occ.steps > 1 else "",
            occ.client_id or "",
            occ.who,
            f"{occ.hours:g}",
            occ.deadline.isoformat(),
        )
    console.print(items)

    if plan.unplanned:
        left = Table(title="Not planned", title_style="bold red")
        for column in ("obligation", "deadline", "why"):
            left.add_column(column)
        for item in plan.unplanned:
            left.add_row(item.occurrence.title, item.occurrence.deadline.isoformat(), item.reason)
        console.print(left)

    gap = f"{100 * plan.gap:.0f}%"
    console.print(
        f"Peak {plan.peak_hours:.1f} h/week against a lower bound of {plan.bound_hours:.1f} h "
        f"(gap {gap}); {len(plan.placements)} items planned, {len(plan.unplanned)} not; "
        f"{plan.weeks_over_capacity} weeks over capacity; {plan.status.value} "
        f"({plan.solver}, {plan.seconds:.2f} s)."
    )

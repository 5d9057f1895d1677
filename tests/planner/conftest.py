"""Fixtures of the planner tests (the builders live in planner_builders.py)."""

from planner_builders import solve

__all__ = ["solve"]

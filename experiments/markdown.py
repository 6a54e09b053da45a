"""Markdown tables for reports."""

from __future__ import annotations


def table(header: list[str], rows: list[list]) -> str:
    """A GitHub-flavoured Markdown table; cells are shown with ``str``."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)

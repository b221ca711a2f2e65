"""`xinyong measures …` (memoranda and measures) and `xinyong check` (the credit check)."""

from __future__ import annotations

import typer

app = typer.Typer(help="联合奖惩：备忘录与奖惩措施", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    """Top-level commands of this domain (``xinyong check``)."""

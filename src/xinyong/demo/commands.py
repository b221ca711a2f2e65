"""`xinyong demo` (placeholder until the demo city is built)."""

import typer


def register(app: typer.Typer) -> None:
    pass

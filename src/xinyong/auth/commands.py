"""`xinyong auth …` commands (thin: parse, call the service, print text or --json)."""

import typer

def register(app: typer.Typer) -> None:
    """Add this domain's top-level commands to the root app."""

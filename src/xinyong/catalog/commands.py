"""`xinyong catalog …` commands (thin: parse, call the service, print text or --json)."""

import typer

app = typer.Typer(help="catalog", no_args_is_help=True)

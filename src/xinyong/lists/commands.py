"""`xinyong lists …`: list types, entries, syncs of external lists and the review queue."""

from __future__ import annotations

import typer

app = typer.Typer(help="红黑名单：名单类型、名单条目、外部名单同步与比对", no_args_is_help=True)

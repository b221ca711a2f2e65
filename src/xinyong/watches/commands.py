"""`xinyong watches …`: webhook receivers, watched subjects and the delivery worker."""

from __future__ import annotations

import typer

app = typer.Typer(help="订阅推送：接收端、关注主体与推送投递", no_args_is_help=True)

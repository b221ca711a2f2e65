"""``xinyong validate CODE...``: check identifiers from the command line (no database needed)."""

from __future__ import annotations

from typing import Any

import typer

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.identifiers.check import KIND_NAMES, CodeKind
from xinyong.identifiers.detect import explain


def _summary(check: dict[str, Any]) -> str:
    d = check["details"]
    if check["kind"] == CodeKind.USCC:
        parts = [d.get("category_name"), d.get("region_name")]
    elif check["kind"] == CodeKind.RESIDENT_ID:
        parts = [d.get("sex"), d.get("region_name")]
    elif check["kind"] == CodeKind.ORG_CODE:
        parts = [d.get("formatted")]
    else:
        parts = []
    return " · ".join(p for p in parts if p)


def _render(checks: list[dict[str, Any]]) -> None:
    from rich.table import Table  # here, not at the top: `xinyong validate --json` never imports rich

    table = Table(title="代码校验结果", show_lines=True)
    table.add_column("代码", no_wrap=True)
    table.add_column("类型")
    table.add_column("结果")
    table.add_column("说明", overflow="fold")
    for check in checks:
        notes = [f"[red]✗[/red] {i['message']}" for i in check["errors"]]
        notes += [f"[yellow]![/yellow] {i['message']}" for i in check["warnings"]]
        summary = _summary(check)
        if summary:
            notes.insert(0, summary)
        table.add_row(
            check["input"],
            KIND_NAMES[check["kind"]],
            "[green]有效[/green]" if check["valid"] else "[red]无效[/red]",
            "\n".join(notes),
        )
    clikit.console.print(table)


@handle_errors
def validate(
    codes: list[str] = typer.Argument(
        ..., metavar="CODE...", help="统一社会信用代码、组织机构代码或居民身份证号码，可多个"
    ),
    allow_bad_check: bool = typer.Option(
        False, "--allow-bad-check", help="统一社会信用代码第18位校验码错误时仅作警告（待复核），不判为无效"
    ),
    as_json: bool = JsonOption,
) -> None:
    """校验代码并说明原因（自动识别类型；身份证号码遮蔽显示）。有无效代码时退出码为 1。"""
    checks = [explain(code, allow_bad_check=allow_bad_check) for code in codes]
    emit([c.to_dict(mask=True) for c in checks], as_json, _render)
    if not all(c.valid for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``xinyong validate`` to the root app."""
    app.command("validate")(validate)

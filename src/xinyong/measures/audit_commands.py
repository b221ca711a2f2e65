"""`xinyong catalog audit`: the numbers, rules and legal bases still marked unverified / low (``measures.audit``).

Defined here, not in ``catalog.commands``: the audit reads the list types and measures too, which sit above the
catalog in the layers; the entry point (``cli.catalog_group``) adds it to the ``catalog`` group."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Column, Table

from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, emit, handle_errors
from xinyong.measures import audit as catalog_audit

STATUS_LABELS = {"unverified": "未核实", "low": "低可信度", "confirmed": "已确认"}
KIND_LABELS = {"rule": "数值与规则", "legal_basis": "法律依据", "document": "文件文号"}


def _short(value: Any, width: int = 80) -> str:
    text = clikit.to_json(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


@handle_errors
def audit(
    only: str | None = typer.Option(
        None, "--only", help="只列出 unverified（未核实）/ low（低可信度）/ confirmed（管理员已确认）的项"
    ),
    source: str | None = typer.Option(None, "--source", help="只列出 catalog / list_types / measures 之一"),
    as_json: bool = JsonOption,
) -> None:
    """列出目录、名单类型和奖惩措施中标为未核实（unverified）或低可信度（low）的数值、规则和法律依据：位置、当前值、依据。"""
    with clikit.database().session(write=False) as session:
        items = catalog_audit.audit(session, only=only, source=source)
    data = {"summary": catalog_audit.summary(items), "items": [i.to_dict() for i in items]}

    def render(d: dict[str, Any]) -> None:
        table = Table(
            Column("文件", no_wrap=True),
            Column("位置", overflow="fold"),
            Column("类型", no_wrap=True),
            Column("状态", no_wrap=True),
            Column("当前值", overflow="fold"),
            Column("依据", overflow="fold"),
        )
        for i in d["items"]:
            basis = "；".join(b["title"] + (b.get("article") or "") for b in i["legal_basis"][:2])
            state = STATUS_LABELS[i["status"]] + ("（已修改）" if i.get("corrected") else "")
            table.add_row(i["file"], i["path"], KIND_LABELS[i["kind"]], state, _short(i["value"]), _short(basis, 60))
        clikit.console.print(table)
        s = d["summary"]
        by = "，".join(f"{STATUS_LABELS[k]} {v}" for k, v in s["by_status"].items())
        clikit.console.print(
            f"共 {s['total']} 项（{by}）。核对原文后：目录项用 xinyong catalog set … --reason 修改或确认；"
            "名单类型和措施改文件后运行 lists seed / measures seed。"
        )

    emit(data, as_json, render)

"""`xinyong catalog …`: read, seed, correct and export the credit information catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Column, Table

from xinyong.catalog import service
from xinyong.catalog.rules import PUBLIC_ATTRIBUTE_LABELS, describe_publicity
from xinyong.catalog.spec import dump_catalog
from xinyong.core import clikit
from xinyong.core.clikit import JsonOption, ReasonOption, emit, handle_errors
from xinyong.core.errors import ValidationFailed

app = typer.Typer(help="信用信息目录：信息类别、公开属性、法律依据与公示规则", no_args_is_help=True)


def _class_dict(obj: Any) -> dict[str, Any]:
    spec = service.spec_of(obj)
    return {
        **spec.dump(),
        "revision": obj.revision,
        "origin": obj.origin,
        "seed_edition": obj.seed_edition,
        "updated_at": obj.updated_at.isoformat(),
        "publicity_summary": describe_publicity(spec.publicity),
    }


def _parse_assignment(text: str) -> tuple[str, Any]:
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise ValidationFailed(f"--set 的格式应为 路径=值，收到 {text!r}", code="bad_assignment")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"--set {path} 的值不是有效的 YAML：{exc}", code="bad_assignment") from None
    return path.strip(), value


@app.command("list")
@handle_errors
def list_(as_json: bool = JsonOption) -> None:
    """列出全部信息类别。"""
    with clikit.database().session(write=False) as session:
        rows = [_class_dict(obj) for obj in service.list_classes(session)]

    def render(items: list[dict[str, Any]]) -> None:
        if not items:
            clikit.console.print("目录为空：请先运行 [bold]xinyong catalog seed[/bold]")
            return
        # Operators type the codes: never cut them; the other cells wrap rather than end in "…".
        wrapped = (Column(h, overflow="fold") for h in ("名称", "公开属性", "自然人", "公示规则"))
        table = Table(Column("代码", no_wrap=True), *wrapped, Column("版本", no_wrap=True))
        for r in items:
            table.add_row(
                r["code"],
                r["name_zh"],
                PUBLIC_ATTRIBUTE_LABELS[r["public_attribute"]],
                PUBLIC_ATTRIBUTE_LABELS[r["natural_person_attribute"]],
                r["publicity_summary"],
                f"{r['revision']}{'*' if r['origin'] == 'admin' else ''}",
            )
        clikit.console.print(table)
        clikit.console.print("版本号带 * 的类别经管理员修改；修改记录：xinyong audit log --type info_class --id 代码")

    emit(rows, as_json, render)


@app.command("show")
@handle_errors
def show(code: str = typer.Argument(..., help="信息类别代码，如 penalty"), as_json: bool = JsonOption) -> None:
    """显示一个信息类别的全部定义。"""
    with clikit.database().session(write=False) as session:
        data = _class_dict(service.get_class(session, code))

    def render(d: dict[str, Any]) -> None:
        title = f"{d['name_zh']}（{d['code']}，版本 {d['revision']}）"
        clikit.console.print(f"[bold]{title}[/bold]：{d['publicity_summary']}")
        clikit.console.print(yaml.safe_dump(d, allow_unicode=True, sort_keys=False, width=120), markup=False)

    emit(data, as_json, render)


@app.command("fields")
@handle_errors
def fields(
    code: str | None = typer.Argument(None, help="信息类别代码，如 tax_arrears；缺省时列出有数据标准的全部类别"),
    as_json: bool = JsonOption,
) -> None:
    """显示信息类别的数据标准（字段、类型、必填规则、识别字段、公开字段；catalog/data/classes/<代码>.yaml）。"""
    from xinyong.catalog.fields import standard_of, standards

    if code is None:
        data: Any = [
            {
                "code": s.code,
                "name_zh": s.name_zh,
                "standard": s.standard,
                "fields": len(s.fields),
                "fast_path": s.fast_path,
            }
            for s in standards().values()
        ]
    else:
        s = standard_of(code)
        data = {
            "code": s.code,
            "name_zh": s.name_zh,
            "standard": s.standard,
            "identity": s.identity,
            "publicity": s.publicity.model_dump(mode="json", exclude_none=True),
            "legal_basis": [b.model_dump(mode="json", exclude_none=True) for b in s.legal_basis],
            "fields": s.table(),
        }

    def render(d: Any) -> None:
        if isinstance(d, list):
            table = Table(Column("代码", no_wrap=True), "名称", "数据标准", "字段数")
            for r in d:
                table.add_row(r["code"], r["name_zh"], r["standard"], str(r["fields"]))
            clikit.console.print(table)
            return
        clikit.console.print(f"[bold]{d['name_zh']}（{d['code']}）[/bold]：{d['standard']}")
        clikit.console.print(f"识别字段：{'、'.join(d['identity'])}")
        table = Table(Column("字段", no_wrap=True), "中文列名", "代码列名", "类型", "必填", "公开")
        for f in d["fields"]:
            table.add_row(
                f["key"], f["zh"] or "", f["coded"] or "", f["type"], f["required"], "是" if f["public"] else ""
            )
        clikit.console.print(table)

    emit(data, as_json, render)


@app.command("set")
@handle_errors
def set_(
    code: str = typer.Argument(..., help="信息类别代码"),
    reason: str = typer.Option("", "--reason", help="修改原因（必填，记入审计日志）"),
    name_zh: str | None = typer.Option(None, "--name-zh", help="中文名称"),
    name_en: str | None = typer.Option(None, "--name-en", help="英文名称"),
    category: str | None = typer.Option(None, "--category", help="基础目录类别"),
    description: str | None = typer.Option(None, "--description", help="说明"),
    public_attribute: str | None = typer.Option(
        None, "--public-attribute", help="公开属性：public / conditional / shared / restricted"
    ),
    natural_person_attribute: str | None = typer.Option(
        None, "--natural-person-attribute", help="自然人信息的公开属性（公开须有法律依据）"
    ),
    confidence: str | None = typer.Option(None, "--confidence", help="可信度：verified / unverified / low"),
    note: str | None = typer.Option(None, "--note", help="备注"),
    assignments: list[str] | None = typer.Option(
        None, "--set", help="按路径修改，值按 YAML 解析，可重复：--set publicity.windows.general.max_months=12"
    ),
    expected_revision: int | None = typer.Option(None, "--expect-revision", help="期望的当前版本号"),
    as_json: bool = JsonOption,
) -> None:
    """修改一个信息类别（以平台管理员身份，必须用 --reason 说明原因）。"""
    given = {
        "name_zh": name_zh,
        "name_en": name_en,
        "category": category,
        "description": description,
        "public_attribute": public_attribute,
        "natural_person_attribute": natural_person_attribute,
        "confidence": confidence,
        "note": note,
    }
    changes: dict[str, Any] = {name: given[name] for name in service.TEXT_FIELDS if given[name] is not None}
    for text in assignments or []:
        path, value = _parse_assignment(text)
        changes[path] = value
    with clikit.database().session() as session:
        change = service.update_class(
            session,
            actor=clikit.operator(),
            code=code,
            changes=changes,
            reason=reason,
            expected_revision=expected_revision,
        )
        data = {
            "code": code,
            "changed": change.changed,
            "revision": change.info_class.revision,
            "class": _class_dict(change.info_class),
        }

    def render(d: dict[str, Any]) -> None:
        if d["changed"]:
            clikit.console.print(f"已修改 {d['code']}：{', '.join(d['changed'])}（版本 {d['revision']}）")
        else:
            clikit.console.print(f"{d['code']} 无变化（版本 {d['revision']}）")

    emit(data, as_json, render)


@app.command("seed")
@handle_errors
def seed(
    replace: bool = typer.Option(False, "--replace", help="覆盖管理员修改过的信息类别"),
    file: Path | None = typer.Option(None, "--file", help="目录文件（默认：随附的全国默认目录）"),
    reason: str | None = ReasonOption,
    as_json: bool = JsonOption,
) -> None:
    """载入目录文件：新增类别，更新未经修改的类别；可重复执行。"""
    with clikit.database().session() as session:
        report = service.seed_catalog(session, actor=clikit.operator(), path=file, replace=replace, reason=reason)

    def render(d: dict[str, Any]) -> None:
        kept = f"（{', '.join(d['kept'])}；用 --replace 覆盖）" if d["kept"] else ""
        clikit.console.print(
            f"目录 {d['edition']}：新增 {len(d['created'])}，更新 {len(d['updated'])}，未变 {len(d['unchanged'])}，"
            f"保留管理员修改 {len(d['kept'])}{kept}"
        )
        if d["not_in_file"]:
            clikit.console.print(f"数据库中有、文件中没有的类别（未改动）：{', '.join(d['not_in_file'])}")

    emit(report.to_dict(), as_json, render)


@app.command("export")
@handle_errors
def export(
    output: Path | None = typer.Option(None, "--output", "-o", help="写入该文件（默认输出到标准输出）"),
    as_json: bool = JsonOption,
) -> None:
    """导出当前目录（与目录文件格式相同，可用于 seed --file）。"""
    with clikit.database().session(write=False) as session:
        catalog = service.export_catalog(session)
    if output is not None:
        output.write_text(dump_catalog(catalog), encoding="utf-8")
        emit(
            {"path": str(output), "edition": catalog.edition, "classes": len(catalog.classes)},
            as_json,
            lambda d: clikit.console.print(f"已导出 {d['classes']} 个信息类别到 {d['path']}"),
        )
        return
    if as_json:
        emit(catalog.model_dump(mode="json", exclude_none=True), True)
    else:
        typer.echo(dump_catalog(catalog), nl=False)

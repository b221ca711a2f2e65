"""Rows of the 信用承诺 data standard for the commitments tests (Chinese column names, as departments send them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.factories import make_uscc
from xinyong.identifiers import resident_id, uscc

ACCEPTING_UNIT_CODE = make_uscc(7001)
ACCEPTING_UNIT = "沁阳市市场监督管理局"
PERSON_ID = resident_id.make(region="410882", birth_date=dt.date(1988, 6, 1), sequence=35)


def company_uscc(n: int) -> str:
    return uscc.make(authority="9", category="1", region="410882", org_body=f"MB{n:06d}")


def code_for(made_on: dt.date, serial: int, region: str = "410882") -> str:
    return f"{region}{made_on:%Y%m%d}{serial:06d}"


def row(serial: int = 1, *, made_on: dt.date = dt.date(2024, 3, 1), **changes: Any) -> dict[str, Any]:
    """A valid row of a legal person's 审批替代型 commitment; ``changes`` by Chinese column name."""
    base: dict[str, Any] = {
        "承诺编码": code_for(made_on, serial),
        "承诺人名称": f"沁阳市守信实业有限公司{serial}",
        "承诺人类别": "法人及非法人组织",
        "承诺人代码": company_uscc(serial),
        "承诺类型": "审批替代型",
        "承诺事由": "申请食品经营许可",
        "承诺内容": "本单位承诺所提交的材料真实有效，并在三个月内补齐场所证明。",
        "违诺责任": "如违背承诺，自愿接受撤销许可并记入信用记录。",
        "承诺作出日期": made_on.isoformat(),
        "承诺有效期": "2030-12-31",
        "承诺履行状态": "",
        "未履行的承诺内容": "",
        "违诺责任追究内容": "",
        "履行状态认定日期": "",
        "履行状态认定单位": "",
        "履行状态认定单位代码": "",
        "承诺受理单位": ACCEPTING_UNIT,
        "承诺受理单位代码": ACCEPTING_UNIT_CODE,
        "公开类型": "可向社会公开",
        "备注": "",
    }
    base.update(changes)
    return base


def register_accepting_unit(session: Any, dept: Any) -> None:
    """Register the accepting unit of :func:`row` as an authority ``dept`` reports for (the authority rule)."""
    from tests.factories import register_authority

    register_authority(session, dept, uscc=ACCEPTING_UNIT_CODE, name=ACCEPTING_UNIT)


def accepted_by(dept: Any) -> dict[str, str]:
    """Changes to :func:`row` making ``dept`` itself the accepting unit (承诺受理单位)."""
    return {"承诺受理单位": dept.name, "承诺受理单位代码": dept.uscc}


def person_row(serial: int = 90, **changes: Any) -> dict[str, Any]:
    return row(serial, **{"承诺人名称": "李建国", "承诺人类别": "自然人", "承诺人代码": PERSON_ID, **changes})

"""Key professions and government integrity over HTTP (issue #18): the profession catalogue, registrations (push,
list, one with its history), a person's profession file (purpose required, every read logged), the credit office's
政务失信 queue, contracts' payment performance, civil servants' integrity entries and the 政务诚信 dashboard."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow
from xinyong.auth.roles import Principal, Role
from xinyong.core import clock
from xinyong.core.errors import Forbidden, NotFound
from xinyong.professions import catalog, government, service
from xinyong.professions import file as profession_file
from xinyong.professions.models import ProfessionRegistration

router = APIRouter(prefix="/professions", tags=["professions"])
READERS = (Role.DEPT_OPERATOR, Role.DEPT_VIEWER)


class PushIn(BaseModel):
    """Rows keyed by the Chinese column names (姓名、身份证号码、证书编号 …) or snake_case keys."""

    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    department: str | None = Field(None, max_length=32, description="平台管理员代为报送时的主管部门代码")


class ContractIn(BaseModel):
    body: str = Field(max_length=40, description="机关、事业单位的统一社会信用代码")
    contract_no: str = Field(min_length=1, max_length=100)
    kind: str = Field(description="ppp | procurement")
    title: str = Field(min_length=1, max_length=300)
    status: str = Field(description="performing | paid | overdue")
    counterparty: str | None = Field(None, max_length=40, description="合同相对方代码")
    counterparty_name: str | None = Field(None, max_length=200)
    amount_wan: float | None = Field(None, ge=0, le=100_000_000)
    overdue_amount_wan: float | None = Field(None, ge=0, le=100_000_000)
    due_on: dt.date | None = None
    paid_on: dt.date | None = None
    department: str | None = Field(None, max_length=32)


class CivilServantIn(BaseModel):
    person: str = Field(max_length=40, description="身份证号码")
    kind: str = Field(description="recruitment | annual_review | integrity | dishonesty | reward")
    result: str = Field(min_length=1, max_length=200)
    year: int | None = Field(None, ge=1950, le=2100)
    detail: str | None = Field(None, max_length=5000)
    recorded_on: dt.date | None = None
    body: str | None = Field(None, max_length=40, description="任职机关的统一社会信用代码")
    department: str | None = Field(None, max_length=32)


class FlagHandleIn(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


@router.get("")
def list_professions(_: Principal = Depends(allow(*READERS, Role.BUSINESS_SYSTEM))) -> list[dict[str, Any]]:
    """重点职业人群目录：14 类职业、主管部门、资格或执业证书、法律依据（标注待核实）、可查阅档案的部门、职业名单。"""
    return [p.view() for p in catalog.professions().values()]


@router.post("/{profession}/registrations")
def push_registrations(
    body: PushIn,
    profession: str = Path(..., max_length=40),
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR, Role.BUSINESS_SYSTEM)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """推送执业登记（主管部门）：逐行校验，任一行不通过则整批不导入并返回各行问题；相同内容重复推送不变。"""
    return service.push_rows(
        session, actor=principal, profession=profession, data=body.rows, department=body.department
    )


@router.get("/registrations")
def registrations(
    profession: str | None = Query(None, max_length=40),
    employer: str | None = Query(None, max_length=40, description="执业单位统一社会信用代码"),
    status: str | None = Query(None, max_length=20),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=100_000),
    principal: Principal = Depends(allow(*READERS)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """执业登记列表（部门只见本部门主管的职业；身份证号码脱敏）。"""
    return service.list_registrations(
        session,
        actor=principal,
        profession=profession,
        employer=employer,
        status=status,
        limit=limit,
        offset=offset,
        today=clock.today(),
    )


@router.get("/registrations/{registration_id}")
def registration(
    registration_id: int = Path(..., ge=1, le=2**62),
    principal: Principal = Depends(allow(*READERS)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """一条执业登记及其全部版本（来源部门、文件与行号）。"""
    reg = session.get(ProfessionRegistration, registration_id)
    if reg is None:
        raise NotFound("未找到该执业登记", code="registration_not_found")
    if not principal.is_admin:
        mine = service.list_registrations(session, actor=principal, profession=reg.profession, limit=1)
        if not mine["total"]:
            raise Forbidden("本部门不主管该职业", code="profession_not_supervised")
    view = service.person_registrations(session, reg.subject_id, clock.today())
    one = next(v for v in view if v["id"] == reg.id)
    return {**one, "history": service.registration_history(session, reg.id)}


@router.get("/file/{code}")
def read_file(
    code: str = Path(..., max_length=40),
    purpose: str | None = Query(None, max_length=40, description="查询事由代码（hiring、supervision … other）"),
    purpose_text: str | None = Query(None, max_length=200),
    principal: Principal = Depends(allow(*READERS, Role.BUSINESS_SYSTEM, Role.BANK)),
    session: Session = SessionDep,
) -> Any:
    """职业信用档案：资格与执业单位、信用记录、名单（含职业名单）；公务员诚信档案只向组织人事部门提供。
    须说明查询事由，每次查询及被拒绝的尝试均记入本人的查询记录。"""
    try:
        return profession_file.read_file(
            session, actor=principal, code=code, purpose=purpose, purpose_text=purpose_text
        )
    except profession_file.FileRefused as exc:
        profession_file.log_refusal(session, actor=principal, exc=exc)
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code)


@router.get("/government/dashboard")
def dashboard(
    _: Principal = Depends(allow(*READERS)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """政务诚信：机关和事业单位的承诺践诺、失信被执行人、PPP 与政府采购合同履约、待处理提示。"""
    return government.dashboard(session, today=clock.today())


@router.get("/government/flags")
def flags(
    status: str | None = Query("open", max_length=10),
    principal: Principal = Depends(allow()),
    session: Session = SessionDep,
) -> list[dict[str, Any]]:
    """信用办待办：被列入失信被执行人名单的机关、事业单位。"""
    return government.list_flags(session, actor=principal, status=status or None)


@router.post("/government/flags/{flag_id}/handle")
def handle_flag(
    body: FlagHandleIn,
    flag_id: int = Path(..., ge=1, le=2**62),
    principal: Principal = Depends(allow()),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """信用办记录处理情况（督促履行、约谈等）。"""
    return government.handle_flag(session, actor=principal, flag_id=flag_id, note=body.note)


@router.post("/government/contracts")
def record_contract(
    body: ContractIn,
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """报送 PPP、政府采购合同的履约（付款）情况：只能报送本部门及其登记的下属单位的合同。"""
    return government.record_contract(
        session,
        actor=principal,
        body_code=body.body,
        contract_no=body.contract_no,
        kind=body.kind,
        title=body.title,
        status=body.status,
        counterparty_code=body.counterparty,
        counterparty_name=body.counterparty_name,
        amount_wan=body.amount_wan,
        overdue_amount_wan=body.overdue_amount_wan,
        due_on=body.due_on,
        paid_on=body.paid_on,
        department=body.department,
    )


@router.post("/civil-servants/entries")
def civil_servant_entry(
    body: CivilServantIn = Body(...),
    principal: Principal = Depends(allow(Role.DEPT_OPERATOR)),
    session: Session = SessionDep,
) -> dict[str, Any]:
    """登记公务员诚信档案的一条信息（考录、年度考核、廉政、失信、奖励），仅组织人事部门。"""
    return government.add_civil_servant_entry(
        session,
        actor=principal,
        person_code=body.person,
        kind=body.kind,
        result=body.result,
        year=body.year,
        detail=body.detail,
        recorded_on=body.recorded_on,
        body_code=body.body,
        department=body.department,
    )

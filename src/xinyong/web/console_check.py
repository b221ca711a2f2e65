"""Console page 信用核查: a department's operators and viewers (and the admin) check subjects by hand — the form over
``measures.check.run_check``, the function behind ``POST /api/v1/checks`` and ``xinyong measures check``.

Business systems call the API before they act; this page is for the officer at a counter or a review meeting who
has no business system of their own (issue #15 point 1: "Console: a subject file page and a check form"). The
answer is the API's — the same measures, list-based and record-based reasons, legal basis and conclusion — and the
check is recorded as every check is (核查留痕: who, which department, scenario, reference, what was answered), so
the department's feedback on it is given the same way (``POST /api/v1/checks/{id}/feedback``). The form is a post
(CSRF-checked), so a resident ID number never appears in a URL; the page shows a person's ID masked, as the API
does.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal
from xinyong.core.errors import ValidationFailed, XinyongError
from xinyong.identifiers.detect import looks_like_code
from xinyong.measures import check as checks
from xinyong.measures.spec import SCENARIOS
from xinyong.web.console import failed, render, viewer

router = APIRouter(prefix="/console", include_in_schema=False)

BACK = "/console/check"
#: Subjects one form may name (one per line); larger batches go through the API (up to 10,000).
MAX_LINES = 50


def _form(
    request: Request,
    principal: Principal,
    *,
    answer: dict[str, Any] | None = None,
    codes: str = "",
    chosen: str = "",
    reference: str = "",
) -> HTMLResponse:
    return render(
        request,
        "console/check.html",
        principal,
        active="check",
        scenarios=SCENARIOS,
        max_lines=MAX_LINES,
        answer=answer,
        codes=codes,
        chosen=chosen,
        reference=reference,
    )


def parse_lines(codes: str) -> list[checks.SubjectQuery]:
    """One subject a line: a USCC, a resident ID number or a registered code, or a name (a line that is no code);
    blank lines are skipped. More than :data:`MAX_LINES` is refused."""
    lines = [line.strip() for line in codes.splitlines() if line.strip()]
    if not lines:
        raise ValidationFailed("请至少填写一个核查主体（每行一个统一社会信用代码或名称）", code="no_subjects")
    if len(lines) > MAX_LINES:
        raise ValidationFailed(
            f"页面每次最多核查 {MAX_LINES} 个主体（本次 {len(lines)} 个）；批量核查请使用接口 POST /api/v1/checks",
            code="batch_too_large",
            details={"max": MAX_LINES, "given": len(lines)},
        )
    return [
        checks.SubjectQuery(code=line[:40])
        if looks_like_code(line, masked=True)
        else checks.SubjectQuery(name=line[:200])
        for line in lines
    ]


@router.get("/check", response_class=HTMLResponse)
def check_form(request: Request, principal: Principal = Depends(viewer)) -> HTMLResponse:
    """The form: subjects (one a line), scenario (核查场景) and the business reference (办件编号)."""
    return _form(request, principal)


@router.post("/check", response_class=HTMLResponse)
def check_run(
    request: Request,
    codes: str = Form("", max_length=MAX_LINES * 50),
    scenario: str = Form("", max_length=30),
    reference: str = Form("", max_length=200),
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """Check and record; the answer below the form, or the refusal (nothing recorded)."""
    try:
        answer = checks.run_check(
            session,
            actor=principal,
            subjects=parse_lines(codes),
            scenario=scenario,
            reference=reference.strip() or None,
        )
    except XinyongError as exc:
        return failed(request, session, principal, exc, back=BACK)
    return _form(request, principal, answer=answer, codes=codes, chosen=scenario, reference=reference)

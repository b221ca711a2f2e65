"""Console page 信易贷 (platform admin): per bank, authorisations, profile queries (answered, refused), loans
granted and declined, the amount granted — the figures of ``financing.service.figures``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal
from xinyong.financing import service
from xinyong.web.console import add_admin_nav, admin, render

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/financing", response_class=HTMLResponse)
def financing_page(
    request: Request, principal: Principal = Depends(admin), session: Session = SessionDep
) -> HTMLResponse:
    data = service.figures(session)
    recent = [service.authorisation_view(session, a) for a in service.list_authorisations(session, limit=20)]
    return render(request, "console/financing.html", principal, active="financing", figures=data, recent=recent)


def install(app: FastAPI) -> None:
    """Mount the page (after ``web.console_analysis.install``) and add it to the admin's navigation."""
    app.include_router(router)
    add_admin_nav([("financing", "/console/financing", "信易贷")])

"""Console section 联合奖惩措施: the measures catalogue (memoranda and their measures) for the departments to read.

A read-only page over ``measures.service`` (:func:`~xinyong.measures.service.list_measures`,
:func:`~xinyong.measures.service.measure_views`), filterable by kind (punish / reward). It uses the role
policies and helpers of ``web.console``, which mounts this router.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep
from xinyong.auth.roles import Principal
from xinyong.core import uploads
from xinyong.measures import audit as catalog_audit
from xinyong.measures import service as measures_service
from xinyong.web.console import admin, render, viewer

router = APIRouter(prefix="/console", include_in_schema=False, route_class=uploads.UploadRoute)


@router.get("/measures", response_class=HTMLResponse)
def measures_page(
    request: Request,
    kind: Literal["", "punish", "reward"] = "",
    principal: Principal = Depends(viewer),
    session: Session = SessionDep,
) -> Response:
    """The joint rewards and punishments catalogue: each measure with its memorandum, legal basis, department
    and scenarios (read-only here; the catalogue is maintained in ``measures.yaml``)."""
    found = measures_service.list_measures(session, kind=kind or None)
    return render(
        request,
        "console/measures.html",
        principal,
        active="measures",
        kind=kind,
        measures=measures_service.measure_views(session, found),
    )


@router.get("/catalog-audit", response_class=HTMLResponse)
def catalog_audit_page(
    request: Request,
    only: Literal["", "unverified", "low", "confirmed"] = "",
    source: Literal["", "catalog", "list_types", "measures"] = "",
    principal: Principal = Depends(admin),
    session: Session = SessionDep,
) -> Response:
    """待核实的数值与依据 (the credit office): ``catalog audit`` as a page — where each item is, its value, its basis,
    and the admin's corrections of catalog values."""
    items = catalog_audit.audit(session, only=only or None, source=source or None)
    return render(
        request,
        "console/catalog_audit.html",
        principal,
        active="catalog_audit",
        only=only,
        source=source,
        summary=catalog_audit.summary(items),
        items=[i.to_dict() for i in items],
    )

"""The government credit file over HTTP (政务共享): ``GET /api/v1/subjects/{code}/file?purpose=…``.

A refusal about a known subject (purpose missing or unknown, a natural person for a role that may not see persons)
is answered with its code *and* logged in the subject's access log: the route returns the error itself instead of
raising, so the request's transaction (which holds the log row) commits. See ``reports.government_file``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from xinyong.auth.deps import SessionDep, allow
from xinyong.auth.roles import Principal, Role
from xinyong.core.db import Database
from xinyong.reports import government_file

router = APIRouter(prefix="/subjects", tags=["reports"])


@router.get("/{code}/file")
def government_file_read(
    request: Request,
    code: str = Path(..., max_length=40),
    purpose: str | None = Query(
        None,
        max_length=40,
        description="查询事由代码：" + "、".join(f"{k}（{v}）" for k, v in government_file.PURPOSES.items()),
    ),
    purpose_text: str | None = Query(None, max_length=200, description="具体事由（事由为 other 时必填）"),
    # A bank passes the door so that its refusal (role_not_allowed, decided by read_file) is logged like every
    # other refused attempt about a known subject; the anonymous public has no identity to log (401).
    principal: Principal = Depends(allow(*government_file.FILE_ROLES, Role.BANK)),
    session: Session = SessionDep,
) -> Any:
    """政府信用档案（政务共享）：各部门可共享的信用记录、名单（含历史）、承诺及履约、评价结果和异议标记；
    须说明查询事由，每次查询及被拒绝的尝试均记入该主体的查询记录。"""
    db: Database = request.app.state.db
    try:
        if not db.has_replica:
            return government_file.read_file(
                session, actor=principal, code=code, purpose=purpose, purpose_text=purpose_text
            )
        # Read from the replica (XINYONG_DATABASE_READ_URL); the access log is written on the primary (session).
        with db.read_session() as reader:
            return government_file.read_file(
                session, actor=principal, code=code, purpose=purpose, purpose_text=purpose_text, reader=reader
            )
    except government_file.FileRefused as exc:
        government_file.log_refusal(session, actor=principal, exc=exc)
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code)

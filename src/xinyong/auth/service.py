"""Access control services (departments, users, API tokens). Placeholder until implemented."""

from __future__ import annotations

from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal


def principal_for_token(session: Session, raw_token: str) -> Principal | None:
    return None

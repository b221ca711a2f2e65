"""Shared test helpers: departments, users and API tokens, made through the real services.

Everything is created by ``xinyong.auth.service`` acting as a system principal, so it is validated and audited
exactly as in production. **Every helper commits the session it is given**, so what it made is visible to the
app under test (the ``client`` fixture uses its own sessions) and to CLI commands.

Typical use::

    from tests.factories import auth_headers, make_department, make_token

    def test_something(session, client):
        dept = make_department(session, code="scjgj")
        raw = make_token(session, Role.DEPT_OPERATOR, dept)
        assert client.get("/api/v1/auth/me", headers=auth_headers(raw)).status_code == 200
"""

from __future__ import annotations

import itertools

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth import service, tokens
from xinyong.auth.models import Department, User
from xinyong.auth.roles import DEPARTMENT_ROLES, Role, system_principal
from xinyong.identifiers import uscc as uscc_rules

#: The principal the helpers act as (named in the audit log as ``system:tests``).
ACTOR = system_principal("tests")
#: Satisfies the password policy (10+ characters, letters and digits).
DEFAULT_PASSWORD = "correct-horse-42"
DEFAULT_DEPARTMENT_CODE = "scjgj"
DEFAULT_BANK = "中国工商银行沁阳支行"

_serial = itertools.count(1)


def make_uscc(serial: int | None = None, *, region: str = "410882") -> str:
    """A valid USCC of a government body (机关, ``11…``) in the city; distinct for distinct serials."""
    n = next(_serial) if serial is None else serial
    return uscc_rules.make(authority="1", category="1", region=region, org_body=f"{n:08d}")


def make_department(
    session: Session,
    *,
    code: str = DEFAULT_DEPARTMENT_CODE,
    name: str | None = None,
    uscc: str | None = None,
    short_name: str | None = None,
) -> Department:
    """A new active department (name and USCC are generated when not given). Commits."""
    department = service.create_department(
        session,
        actor=ACTOR,
        code=code,
        name=name or f"沁阳市测试局（{code}）",
        uscc=uscc or make_uscc(),
        short_name=short_name,
    )
    session.commit()
    return department


def register_authority(
    session: Session, department: Department, *, uscc: str, name: str, reason: str = "测试：该部门报送此机关的决定"
) -> None:
    """Register an authority (a subordinate unit) the department reports for, through the real service. Commits."""
    service.add_authority(session, actor=ACTOR, ref=department.id, uscc=uscc, name=name, reason=reason)
    session.commit()


def default_department(session: Session) -> Department:
    """The department with code ``scjgj``, created on first use. Commits."""
    found = session.scalar(select(Department).where(Department.code == DEFAULT_DEPARTMENT_CODE))
    return found or make_department(
        session, code=DEFAULT_DEPARTMENT_CODE, name="沁阳市市场监督管理局", short_name="市场监管局"
    )


def _department_for(session: Session, role: Role, department: Department | None) -> Department | None:
    if department is None and Role(role) in DEPARTMENT_ROLES:
        return default_department(session)
    return department


def make_user(
    session: Session,
    *,
    username: str,
    role: Role | str = Role.DEPT_OPERATOR,
    department: Department | None = None,
    password: str = DEFAULT_PASSWORD,
    display_name: str | None = None,
    organisation: str | None = None,
) -> User:
    """A new active user. Department roles without a department get :func:`default_department`; bank users get
    a default organisation. Password hashing is argon2 (slow): prefer :func:`make_token` unless you test login.
    Commits."""
    role = Role(role)
    department = _department_for(session, role, department)
    if role is Role.BANK and organisation is None:
        organisation = DEFAULT_BANK
    user = service.create_user(
        session,
        actor=ACTOR,
        username=username,
        display_name=display_name or f"测试用户{username}",
        password=password,
        role=role,
        department_id=department.id if department else None,
        organisation=organisation,
    )
    session.commit()
    return user


def make_token(
    session: Session,
    role: Role | str,
    department: Department | None = None,
    *,
    name: str | None = None,
    expires_in_days: int | None = None,
) -> str:
    """Issue an API token and return the raw token (the only time it exists). Department roles without a
    department get :func:`default_department`; admin and bank tokens must not be given one. Commits."""
    role = Role(role)
    department = _department_for(session, role, department)
    _token, raw = tokens.create_token(
        session,
        actor=ACTOR,
        name=name or f"测试令牌 {role.value}",
        role=role,
        department_id=department.id if department else None,
        expires_in_days=expires_in_days,
    )
    session.commit()
    return raw


def auth_headers(raw_token: str) -> dict[str, str]:
    """The request headers that authenticate with this token."""
    return {"Authorization": f"Bearer {raw_token}"}

"""Service-level tests of departments, users, password login and API tokens (both backends)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from tests.factories import (
    ACTOR,
    DEFAULT_PASSWORD,
    make_department,
    make_token,
    make_uscc,
    make_user,
)
from xinyong.auth import service, tokens
from xinyong.auth.models import ApiToken, User
from xinyong.auth.roles import Principal, Role
from xinyong.core.audit import AuditEvent, verify_chain
from xinyong.core.db import utcnow
from xinyong.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)


def _events(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def _principal_of(session: Session, raw: str) -> Principal:
    principal = tokens.principal_for_token(session, raw)
    assert principal is not None
    return principal


# Departments --------------------------------------------------------------------------------------------------


def test_create_department_normalises_and_audits(session: Session) -> None:
    code = make_uscc(901)
    dept = service.create_department(
        session, actor=ACTOR, code=" SCJGJ ", name=" 沁阳市市场监督管理局 ", uscc=code.lower(), short_name="市场监管局"
    )
    session.commit()
    assert (dept.code, dept.name, dept.uscc, dept.active) == ("scjgj", "沁阳市市场监督管理局", code, True)
    [event] = _events(session, "department.create")
    assert event.entity_id == str(dept.id)
    assert event.actor == "system:tests"
    assert event.after["uscc"] == code
    assert service.get_department(session, ref="scjgj").id == dept.id
    assert service.get_department(session, ref=dept.id).code == "scjgj"
    assert service.get_department(session, ref=str(dept.id)).code == "scjgj"
    with pytest.raises(NotFound):
        service.get_department(session, ref="nosuch")


@pytest.mark.parametrize("code", ["", "1abc", "a", "has space", "市场", "x" * 33])
def test_department_code_must_be_a_slug(session: Session, code: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        service.create_department(session, actor=ACTOR, code=code, name="某局", uscc=make_uscc())
    assert err.value.code == "invalid_department_code"


def test_department_uscc_is_validated(session: Session) -> None:
    good = make_uscc(902)
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    with pytest.raises(ValidationFailed) as err:
        service.create_department(session, actor=ACTOR, code="bad", name="某局", uscc=bad_check)
    assert err.value.code == "invalid_uscc"
    assert "uscc_check_digit" in [d["code"] for d in err.value.details]
    with pytest.raises(ValidationFailed):
        service.create_department(session, actor=ACTOR, code="short", name="某局", uscc="1141088200")


def test_department_uniqueness(session: Session) -> None:
    dept = make_department(session, code="scjgj", name="沁阳市市场监督管理局")
    cases = [
        dict(code="scjgj", name="另一局", uscc=make_uscc()),
        dict(code="other", name="沁阳市市场监督管理局", uscc=make_uscc()),
        dict(code="other", name="另一局", uscc=dept.uscc),
    ]
    for kwargs in cases:
        with pytest.raises(Conflict):
            service.create_department(session, actor=ACTOR, **kwargs)


def test_only_admin_manages_departments(session: Session) -> None:
    dept = make_department(session)
    operator = Principal(kind="token", name="x", role=Role.DEPT_OPERATOR, department_id=dept.id, token_id=1)
    with pytest.raises(Forbidden):
        service.create_department(session, actor=operator, code="abc", name="某局", uscc=make_uscc())
    with pytest.raises(Forbidden):
        service.update_department(session, actor=operator, ref=dept.id, name="改名")


def test_update_department_audits_changes_only(session: Session) -> None:
    dept = make_department(session, code="scjgj", name="旧名")
    service.update_department(session, actor=ACTOR, ref="scjgj", name="旧名")  # no change: no event
    assert _events(session, "department.update") == []
    service.update_department(session, actor=ACTOR, ref="scjgj", name="新名", short_name="简称", reason="更名")
    session.commit()
    [event] = _events(session, "department.update")
    assert (event.before["name"], event.after["name"], event.reason) == ("旧名", "新名", "更名")
    service.update_department(session, actor=ACTOR, ref=dept.id, short_name="")
    assert dept.short_name is None
    other = make_department(session, code="other")
    with pytest.raises(Conflict):
        service.update_department(session, actor=ACTOR, ref=other.id, name="新名")
    session.rollback()


def test_deactivated_department_stops_its_tokens_and_logins(session: Session) -> None:
    dept = make_department(session)
    raw = make_token(session, Role.BUSINESS_SYSTEM, dept)
    make_user(session, username="zhangsan", role=Role.DEPT_OPERATOR, department=dept)
    assert tokens.principal_for_token(session, raw) is not None
    service.update_department(session, actor=ACTOR, ref=dept.id, active=False, reason="机构改革")
    session.commit()
    assert [e.action for e in _events(session, "department.deactivate")] == ["department.deactivate"]
    assert tokens.principal_for_token(session, raw) is None
    with pytest.raises(Unauthenticated):
        service.authenticate_password(session, username="zhangsan", password=DEFAULT_PASSWORD)
    assert service.list_departments(session) == []
    assert [d.code for d in service.list_departments(session, include_inactive=True)] == [dept.code]
    with pytest.raises(ValidationFailed) as err:
        tokens.create_token(session, actor=ACTOR, name="新系统", role=Role.BUSINESS_SYSTEM, department_id=dept.id)
    assert err.value.code == "department_inactive"


# Users --------------------------------------------------------------------------------------------------------


def test_production_password_hashing(production_password_hasher: PasswordHasher) -> None:
    """At least the OWASP minimum for argon2id (19 MiB, 2 iterations)."""
    h = production_password_hasher
    assert h.type is Type.ID
    assert h.memory_cost >= 19 * 1024 and h.time_cost >= 2
    assert h.hash("x").startswith("$argon2id$")


def test_create_user_hashes_password(session: Session) -> None:
    dept = make_department(session)
    user = make_user(session, username=" ZhangSan ", role=Role.DEPT_OPERATOR, department=dept)
    assert user.username == "zhangsan"
    assert user.password_hash.startswith("$argon2id$") and DEFAULT_PASSWORD not in user.password_hash
    [event] = _events(session, "user.create")
    assert "password_hash" not in event.after and DEFAULT_PASSWORD not in str(event.after)
    with pytest.raises(Conflict):
        make_user(session, username="zhangsan", department=dept)


@pytest.mark.parametrize("password", ["short1a", "onlyletterslong", "1234567890123", "１２３"])
def test_password_policy(session: Session, password: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        service.create_user(
            session,
            actor=ACTOR,
            username="bank1",
            display_name="x",
            password=password,
            role=Role.BANK,
            organisation="某银行",
        )
    assert err.value.code == "weak_password"


def test_password_policy_accepts_letters_and_digits() -> None:
    service.check_password_policy("abcdefghi1")
    service.check_password_policy("信用平台密码很安全2024")


def test_user_role_and_department_must_agree(session: Session) -> None:
    dept = make_department(session)
    base = dict(actor=ACTOR, display_name="x", password=DEFAULT_PASSWORD)
    with pytest.raises(ValidationFailed) as err:
        service.create_user(session, username="op1", role=Role.DEPT_OPERATOR, **base)
    assert err.value.code == "department_required"
    with pytest.raises(ValidationFailed) as err:
        service.create_user(session, username="admin1", role=Role.ADMIN, department_id=dept.id, **base)
    assert err.value.code == "department_not_allowed"
    with pytest.raises(ValidationFailed) as err:
        service.create_user(session, username="bank1", role=Role.BANK, **base)
    assert err.value.code == "organisation_required"
    with pytest.raises(ValidationFailed) as err:
        service.create_user(
            session, username="view1", role=Role.DEPT_VIEWER, department_id=dept.id, organisation="某银行", **base
        )
    assert err.value.code == "organisation_not_allowed"
    with pytest.raises(NotFound):
        service.create_user(session, username="op2", role=Role.DEPT_OPERATOR, department_id=999, **base)
    with pytest.raises(ValidationFailed) as err:
        service.create_user(session, username="op3", role="superuser", department_id=dept.id, **base)
    assert err.value.code == "invalid_role"
    bank = service.create_user(session, username="bank1", role=Role.BANK, organisation="中国银行沁阳支行", **base)
    assert bank.department_id is None and bank.organisation == "中国银行沁阳支行"


def test_only_admin_creates_users(session: Session) -> None:
    dept = make_department(session)
    operator = Principal(kind="token", name="x", role=Role.DEPT_OPERATOR, department_id=dept.id, token_id=1)
    with pytest.raises(Forbidden):
        service.create_user(
            session,
            actor=operator,
            username="op9",
            display_name="x",
            password=DEFAULT_PASSWORD,
            role=Role.DEPT_VIEWER,
            department_id=dept.id,
        )


# Password login -----------------------------------------------------------------------------------------------


def test_authenticate_password(session: Session) -> None:
    dept = make_department(session)
    user = make_user(session, username="zhangsan", role=Role.DEPT_VIEWER, department=dept)
    principal = service.authenticate_password(session, username="ZhangSan", password=DEFAULT_PASSWORD)
    assert principal == Principal(
        kind="user", name="zhangsan", role=Role.DEPT_VIEWER, department_id=dept.id, user_id=user.id
    )
    assert user.last_login_at is not None


def test_failed_login_does_not_reveal_whether_the_user_exists(session: Session) -> None:
    make_user(session, username="zhangsan", role=Role.ADMIN)
    make_user(session, username="lisi", role=Role.ADMIN)
    service.deactivate_user(session, actor=ACTOR, user_id=service.get_user(session, ref="lisi").id, reason="离职")
    session.commit()
    messages = set()
    for username, password in [
        ("zhangsan", "wrong-password-1"),
        ("nobody", DEFAULT_PASSWORD),
        ("lisi", DEFAULT_PASSWORD),
        ("zhangsan", "x" * 5000),
    ]:
        with pytest.raises(Unauthenticated) as err:
            service.authenticate_password(session, username=username, password=password)
        assert err.value.code == "login_failed"
        messages.add(err.value.message)
        session.commit()
    assert len(messages) == 1


def test_lockout_after_repeated_failures(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user(session, username="zhangsan", role=Role.ADMIN)
    for attempt in range(1, service.MAX_FAILED_LOGINS):
        with pytest.raises(Unauthenticated):
            service.authenticate_password(session, username="zhangsan", password=f"wrong-{attempt}")
        session.commit()
        assert session.scalar(select(User.failed_logins).where(User.id == user.id)) == attempt
    with pytest.raises(Unauthenticated):
        service.authenticate_password(session, username="zhangsan", password="wrong-last")
    session.commit()
    locked_until = session.scalar(select(User.locked_until).where(User.id == user.id))
    assert locked_until is not None and locked_until > utcnow() + service.LOCKOUT - dt.timedelta(minutes=1)
    [event] = _events(session, "user.locked")
    assert event.entity_id == str(user.id)
    # Locked: even the right password is refused, and the same way.
    with pytest.raises(Unauthenticated) as err:
        service.authenticate_password(session, username="zhangsan", password=DEFAULT_PASSWORD)
    assert err.value.code == "login_failed"
    # After the lock expires, the right password works and resets the counter.
    later = utcnow() + service.LOCKOUT + dt.timedelta(seconds=1)
    monkeypatch.setattr(service, "utcnow", lambda: later)
    principal = service.authenticate_password(session, username="zhangsan", password=DEFAULT_PASSWORD)
    session.commit()
    assert principal.user_id == user.id
    row = session.execute(select(User.failed_logins, User.locked_until).where(User.id == user.id)).one()
    assert tuple(row) == (0, None)


def test_success_resets_failure_count(session: Session) -> None:
    user = make_user(session, username="zhangsan", role=Role.ADMIN)
    for _ in range(service.MAX_FAILED_LOGINS - 1):
        with pytest.raises(Unauthenticated):
            service.authenticate_password(session, username="zhangsan", password="wrong-password-1")
        session.commit()
    service.authenticate_password(session, username="zhangsan", password=DEFAULT_PASSWORD)
    session.commit()
    with pytest.raises(Unauthenticated):
        service.authenticate_password(session, username="zhangsan", password="wrong-password-1")
    session.commit()
    assert session.scalar(select(User.locked_until).where(User.id == user.id)) is None


def test_login_token_acts_as_the_user_and_dies_with_password_change(session: Session) -> None:
    dept = make_department(session)
    user = make_user(session, username="zhangsan", role=Role.DEPT_OPERATOR, department=dept)
    token, raw = service.login(session, username="zhangsan", password=DEFAULT_PASSWORD)
    session.commit()
    assert token.user_id == user.id and token.expires_at is not None
    assert token.expires_at - token.created_at == service.LOGIN_TOKEN_TTL
    principal = _principal_of(session, raw)
    assert (principal.kind, principal.user_id, principal.role, principal.department_id) == (
        "user",
        user.id,
        Role.DEPT_OPERATOR,
        dept.id,
    )
    assert principal.actor == f"user:{user.id}:zhangsan"
    [event] = _events(session, "user.login")
    assert event.after["token_id"] == token.id
    service.set_password(session, actor=ACTOR, user_id=user.id, password="new-password-2024")
    session.commit()
    assert tokens.principal_for_token(session, raw) is None
    with pytest.raises(Unauthenticated):
        service.authenticate_password(session, username="zhangsan", password=DEFAULT_PASSWORD)
    session.commit()
    assert service.authenticate_password(session, username="zhangsan", password="new-password-2024")


def test_deactivate_user_ends_sessions(session: Session) -> None:
    user = make_user(session, username="zhangsan", role=Role.ADMIN)
    _token, raw = service.login(session, username="zhangsan", password=DEFAULT_PASSWORD)
    session.commit()
    me = _principal_of(session, raw)
    with pytest.raises(Conflict):
        service.deactivate_user(session, actor=me, user_id=user.id, reason="自己停用自己")
    with pytest.raises(ValidationFailed):
        service.deactivate_user(session, actor=ACTOR, user_id=user.id, reason=" ")
    service.deactivate_user(session, actor=ACTOR, user_id=user.id, reason="离职")
    session.commit()
    assert tokens.principal_for_token(session, raw) is None
    assert service.list_users(session) == []
    assert [u.username for u in service.list_users(session, include_inactive=True)] == ["zhangsan"]
    with pytest.raises(Conflict):
        service.deactivate_user(session, actor=ACTOR, user_id=user.id, reason="再次")


# Tokens -------------------------------------------------------------------------------------------------------


def test_token_is_stored_as_hash_only(session: Session) -> None:
    token, raw = tokens.create_token(session, actor=ACTOR, name="信用办脚本", role=Role.ADMIN)
    session.commit()
    assert raw.startswith("xy_") and len(raw) >= 40
    assert token.prefix == raw[:8]
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    row = session.execute(text("SELECT * FROM api_tokens")).mappings().one()
    assert raw not in [str(v) for v in row.values()]
    audit_text = str([(e.before, e.after) for e in session.scalars(select(AuditEvent))])
    assert raw not in audit_text and token.token_hash not in audit_text
    principal = _principal_of(session, raw)
    assert (principal.kind, principal.role, principal.token_id, principal.name) == (
        "token",
        Role.ADMIN,
        token.id,
        "信用办脚本",
    )


@pytest.mark.parametrize("raw", ["", "xy_", "xy_nonsense", "Bearer xy_abc", "x" * 5000, "xy_" + "a" * 300])
def test_unknown_tokens_are_rejected(session: Session, raw: str) -> None:
    make_token(session, Role.ADMIN)
    assert tokens.principal_for_token(session, raw) is None


def test_token_scope_rules(session: Session) -> None:
    dept = make_department(session)
    with pytest.raises(ValidationFailed) as err:
        tokens.create_token(session, actor=ACTOR, name="x", role=Role.BUSINESS_SYSTEM)
    assert err.value.code == "department_required"
    for role in (Role.ADMIN, Role.BANK):
        with pytest.raises(ValidationFailed) as err:
            tokens.create_token(session, actor=ACTOR, name="x", role=role, department_id=dept.id)
        assert err.value.code == "department_not_allowed"
    for days in (0, -1, tokens.MAX_TOKEN_DAYS + 1):
        with pytest.raises(ValidationFailed):
            tokens.create_token(session, actor=ACTOR, name="x", role=Role.BANK, expires_in_days=days)
    with pytest.raises(ValidationFailed):
        tokens.create_token(session, actor=ACTOR, name="  ", role=Role.BANK)


def test_expired_and_revoked_tokens_are_rejected(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    token, raw = tokens.create_token(session, actor=ACTOR, name="银行", role=Role.BANK, expires_in_days=30)
    session.commit()
    assert tokens.principal_for_token(session, raw) is not None
    future = utcnow() + dt.timedelta(days=30, seconds=1)
    monkeypatch.setattr(tokens, "utcnow", lambda: future)
    assert tokens.principal_for_token(session, raw) is None
    monkeypatch.undo()
    raw2 = make_token(session, Role.BANK)
    token2 = session.scalar(select(ApiToken).where(ApiToken.prefix == raw2[:8]))
    tokens.revoke_token(session, actor=ACTOR, token_id=token2.id, reason="泄露")
    session.commit()
    assert tokens.principal_for_token(session, raw2) is None
    assert token2.revoked_reason == "泄露"
    [event] = _events(session, "token.revoke")
    assert event.reason == "泄露" and event.before["revoked_at"] is None and event.after["revoked_at"]
    with pytest.raises(Conflict):
        tokens.revoke_token(session, actor=ACTOR, token_id=token2.id, reason="再次")
    with pytest.raises(ValidationFailed):
        tokens.revoke_token(session, actor=ACTOR, token_id=token.id, reason="")
    with pytest.raises(NotFound):
        tokens.revoke_token(session, actor=ACTOR, token_id=99999, reason="不存在")


def test_last_used_is_written_at_most_once_a_minute(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = make_token(session, Role.BANK)
    token = session.scalar(select(ApiToken).where(ApiToken.prefix == raw[:8]))
    assert token.last_used_at is None
    start = utcnow()
    clock = [start]
    monkeypatch.setattr(tokens, "utcnow", lambda: clock[0])

    def used() -> dt.datetime | None:
        session.commit()
        return session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token.id))

    _principal_of(session, raw)
    assert used() == start
    clock[0] = start + dt.timedelta(seconds=30)
    _principal_of(session, raw)
    assert not session.dirty  # nothing to write
    assert used() == start
    clock[0] = start + tokens.LAST_USED_RESOLUTION
    _principal_of(session, raw)
    assert used() == start + tokens.LAST_USED_RESOLUTION


# Who may manage tokens ----------------------------------------------------------------------------------------


@pytest.fixture
def two_departments(session: Session) -> dict[str, object]:
    a = make_department(session, code="depta")
    b = make_department(session, code="deptb")
    op_a = _principal_of(session, make_token(session, Role.DEPT_OPERATOR, a))
    raw_b = make_token(session, Role.BUSINESS_SYSTEM, b)
    return {"a": a, "b": b, "op_a": op_a, "b_token_id": _principal_of(session, raw_b).token_id}


def test_operator_issues_tokens_for_own_department_systems(session: Session, two_departments: dict) -> None:
    a, op_a = two_departments["a"], two_departments["op_a"]
    token, raw = tokens.create_token(session, actor=op_a, name="行政审批系统", role=Role.BUSINESS_SYSTEM)
    session.commit()
    assert token.department_id == a.id  # defaults to his own department
    assert token.created_by == op_a.actor
    viewer, _ = tokens.create_token(session, actor=op_a, name="查看", role=Role.DEPT_VIEWER, department_id=a.id)
    assert viewer.role is Role.DEPT_VIEWER
    assert _principal_of(session, raw).department_id == a.id


@pytest.mark.parametrize("role", [Role.DEPT_OPERATOR, Role.ADMIN, Role.BANK])
def test_operator_cannot_mint_stronger_tokens(session: Session, two_departments: dict, role: Role) -> None:
    with pytest.raises(Forbidden) as err:
        tokens.create_token(session, actor=two_departments["op_a"], name="x", role=role)
    assert err.value.code == "token_role_not_allowed"


def test_operator_cannot_touch_other_department(session: Session, two_departments: dict) -> None:
    op_a, b = two_departments["op_a"], two_departments["b"]
    with pytest.raises(Forbidden):
        tokens.create_token(session, actor=op_a, name="x", role=Role.BUSINESS_SYSTEM, department_id=b.id)
    with pytest.raises(NotFound):
        tokens.revoke_token(session, actor=op_a, token_id=two_departments["b_token_id"], reason="越权")
    with pytest.raises(Forbidden):
        tokens.list_tokens(session, actor=op_a, department_id=b.id)
    listed = tokens.list_tokens(session, actor=op_a)
    assert listed and {t.department_id for t in listed} == {two_departments["a"].id}
    assert len(tokens.list_tokens(session, actor=ACTOR)) == 2


def test_operator_revokes_own_department_system_tokens_only(session: Session, two_departments: dict) -> None:
    op_a, a = two_departments["op_a"], two_departments["a"]
    token, _ = tokens.create_token(session, actor=op_a, name="系统", role=Role.BUSINESS_SYSTEM)
    assert tokens.revoke_token(session, actor=op_a, token_id=token.id, reason="停用系统").revoked_at is not None
    other_op, _ = tokens.create_token(
        session, actor=ACTOR, name="另一操作员", role=Role.DEPT_OPERATOR, department_id=a.id
    )
    with pytest.raises(Forbidden):
        tokens.revoke_token(session, actor=op_a, token_id=other_op.id, reason="越权")


def test_operator_never_sees_login_sessions(session: Session, two_departments: dict) -> None:
    a, op_a = two_departments["a"], two_departments["op_a"]
    make_user(session, username="colleague", role=Role.DEPT_VIEWER, department=a)
    session_token, _ = service.login(session, username="colleague", password=DEFAULT_PASSWORD)
    session.commit()
    assert session_token.id not in [t.id for t in tokens.list_tokens(session, actor=op_a, include_sessions=True)]
    with pytest.raises(NotFound):
        tokens.revoke_token(session, actor=op_a, token_id=session_token.id, reason="越权")
    assert session_token.id in [t.id for t in tokens.list_tokens(session, actor=ACTOR, include_sessions=True)]
    assert session_token.id not in [t.id for t in tokens.list_tokens(session, actor=ACTOR)]


@pytest.mark.parametrize("role", [Role.DEPT_VIEWER, Role.BUSINESS_SYSTEM, Role.BANK])
def test_other_roles_manage_no_tokens_but_may_revoke_their_own(session: Session, role: Role) -> None:
    me = _principal_of(session, make_token(session, role))
    with pytest.raises(Forbidden):
        tokens.create_token(session, actor=me, name="x", role=Role.BUSINESS_SYSTEM, department_id=me.department_id)
    with pytest.raises(Forbidden):
        tokens.list_tokens(session, actor=me)
    other = _principal_of(session, make_token(session, role))
    with pytest.raises(NotFound):
        tokens.revoke_token(session, actor=me, token_id=other.token_id, reason="越权")
    tokens.revoke_token(session, actor=me, token_id=me.token_id, reason="退出登录")


def test_list_tokens_hides_revoked_and_expired(session: Session) -> None:
    _live, _ = tokens.create_token(session, actor=ACTOR, name="live", role=Role.BANK)
    dead, _ = tokens.create_token(session, actor=ACTOR, name="dead", role=Role.BANK)
    old, _ = tokens.create_token(session, actor=ACTOR, name="old", role=Role.BANK, expires_in_days=1)
    tokens.revoke_token(session, actor=ACTOR, token_id=dead.id, reason="x")
    session.execute(update(ApiToken).where(ApiToken.id == old.id).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    session.commit()
    assert [t.name for t in tokens.list_tokens(session, actor=ACTOR)] == ["live"]
    assert [t.name for t in tokens.list_tokens(session, actor=ACTOR, include_inactive=True)] == ["live", "dead", "old"]


def test_audit_chain_stays_valid(session: Session) -> None:
    dept = make_department(session)
    make_user(session, username="zhangsan", department=dept)
    raw = make_token(session, Role.BUSINESS_SYSTEM, dept)
    tokens.revoke_token(session, actor=ACTOR, token_id=_principal_of(session, raw).token_id, reason="测试")
    session.commit()
    report = verify_chain(session)
    assert report.ok and report.events == 4

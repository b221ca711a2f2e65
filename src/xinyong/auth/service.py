"""Access control: departments, the authorities they report for, users and password login.

API tokens — issuing, revoking, and which principal a bearer token stands for (with the API's token cache) — are
``auth.tokens``; the token rules below are applied there.

Who may do what is decided here, not only in the API, so the CLI, the API and other services agree:

- Only the platform admin creates and changes departments and users, and registers the authorities (subordinate
  units) a department reports for besides itself (``auth.authorities`` holds the rule, ``authorities_of`` loads it).
- The admin issues and revokes tokens of every role. A department operator issues and revokes tokens of his own
  department for its business systems (``business_system``) and read-only viewers (``dept_viewer``) only: he can
  delegate what his department needs to call the credit check and to read, but cannot mint another operator
  (that would let one compromised operator multiply himself) nor an admin or bank token. He sees his
  department's API tokens, never the login sessions of people.
- Anyone may revoke the token he is calling with (logging out).
- Department roles (``roles.DEPARTMENT_ROLES``) always belong to an active department; admin and bank principals
  never do (a bank user names his institution in ``organisation``).

Logging in: five wrong passwords in a row lock an account for fifteen minutes (``MAX_FAILED_LOGINS``,
``LOCKOUT``). The message is the same whether the user exists, is inactive, is locked or typed a wrong
password, and an unknown user costs the same argon2 verification as a known one, so neither the answer nor its
timing tells an attacker which usernames exist.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, cast, overload

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyong.auth.authorities import Authorities
from xinyong.auth.models import ApiToken, Department, DepartmentAuthority, User
from xinyong.auth.roles import DEPARTMENT_ROLES, ROLE_LABELS, Principal, PrincipalKind, Role
from xinyong.auth.tokens import _forget_tokens_on_commit, _issue
from xinyong.core import audit
from xinyong.core.bounds import parse_id
from xinyong.core.db import utcnow
from xinyong.core.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from xinyong.identifiers import uscc as uscc_rules

log = logging.getLogger(__name__)

# Policy constants ---------------------------------------------------------------------------------------------

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
#: Lifetime of the token a password login returns: a working day, so a stolen one is soon worthless.
LOGIN_TOKEN_TTL = dt.timedelta(hours=8)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128

#: Argon2id with the library's defaults (RFC 9106 low-memory profile). Tests swap in cheaper parameters.
PASSWORD_HASHER = PasswordHasher()

_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
_LOGIN_FAILED = (
    f"用户名或密码错误；连续失败 {MAX_FAILED_LOGINS} 次后账户将被锁定 {int(LOCKOUT.total_seconds() // 60)} 分钟"
)


# Helpers ------------------------------------------------------------------------------------------------------


def _require_admin(actor: Principal, what: str) -> None:
    if not actor.is_admin:
        raise Forbidden(f"只有平台管理员可以{what}", code="admin_only")


@overload
def _text(value: str | None, *, field: str, max_len: int, required: Literal[True] = True) -> str: ...
@overload
def _text(value: str | None, *, field: str, max_len: int, required: bool) -> str | None: ...
def _text(value: str | None, *, field: str, max_len: int, required: bool = True) -> str | None:
    """Strip a free-text field; empty means absent."""
    value = (value or "").strip()
    if not value:
        if required:
            raise ValidationFailed(f"{field}不能为空", code="missing_field", details={"field": field})
        return None
    if len(value) > max_len:
        raise ValidationFailed(f"{field}不能超过 {max_len} 个字符", code="field_too_long", details={"field": field})
    return value


def _role(value: Role | str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationFailed(
            f"未知角色 {value}，可选：{'、'.join(r.value for r in Role)}", code="invalid_role"
        ) from None


@contextmanager
def _unique(message: str, code: str) -> Iterator[None]:
    """Turn a unique-constraint race (two writers passed the pre-check) into a Conflict, not a server error.

    Callers flush inside a savepoint, so the failed statement leaves the rest of the transaction usable.
    """
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(message, code=code) from exc


def _insert(session: Session, obj: object, *, message: str, code: str) -> None:
    with _unique(message, code), session.begin_nested():
        session.add(obj)


def _check_uscc(value: str) -> str:
    """The department's USCC, validated by the national standard and normalised (upper case, no spaces)."""
    result = uscc_rules.validate(value or "")
    if not result.valid:
        problems = [{"code": e.code, "message": e.message} for e in result.errors]
        raise ValidationFailed(
            "统一社会信用代码无效：" + "；".join(p["message"] for p in problems), code="invalid_uscc", details=problems
        )
    return result.normalized or value.strip().upper()


def _check_scope(session: Session, *, role: Role, department_id: int | None) -> None:
    """Department roles need an active department; admin and bank principals must not have one."""
    if role in DEPARTMENT_ROLES:
        if department_id is None:
            raise ValidationFailed(f"角色“{ROLE_LABELS[role]}”必须属于一个部门", code="department_required")
        department = get_department(session, ref=department_id)
        if not department.active:
            raise ValidationFailed(f"部门 {department.code} 已停用", code="department_inactive")
    elif department_id is not None:
        raise ValidationFailed(f"角色“{ROLE_LABELS[role]}”不属于任何部门，不能指定部门", code="department_not_allowed")


# Departments --------------------------------------------------------------------------------------------------


def create_department(
    session: Session, *, actor: Principal, code: str, name: str, uscc: str, short_name: str | None = None
) -> Department:
    _require_admin(actor, "创建部门")
    code = (code or "").strip().lower()
    if not _CODE_RE.fullmatch(code):
        raise ValidationFailed(
            "部门代码须为 2–32 位小写字母、数字或下划线，并以字母开头（如 scjgj）", code="invalid_department_code"
        )
    department = Department(
        code=code,
        name=_text(name, field="部门名称", max_len=200),
        short_name=_text(short_name, field="部门简称", max_len=50, required=False),
        uscc=_check_uscc(uscc),
        active=True,
        created_at=utcnow(),
    )
    for column, label, err in (
        ("code", "代码", "department_code_taken"),
        ("name", "名称", "department_name_taken"),
        ("uscc", "统一社会信用代码", "department_uscc_taken"),
    ):
        value = getattr(department, column)
        if session.scalar(select(Department.id).where(getattr(Department, column) == value)) is not None:
            raise Conflict(f"已有{label}为 {value} 的部门", code=err)
    _not_registered_elsewhere(session, department.uscc)
    _insert(session, department, message="部门代码、名称或统一社会信用代码已被使用", code="department_taken")
    audit.record(
        session,
        actor=actor.actor,
        action="department.create",
        entity_type="department",
        entity_id=department.id,
        after=department.snapshot(),
    )
    return department


def list_departments(session: Session, *, include_inactive: bool = False) -> list[Department]:
    stmt = select(Department).order_by(Department.code)
    if not include_inactive:
        stmt = stmt.where(Department.active.is_(True))
    return list(session.scalars(stmt))


def reporting_departments(session: Session, *, department_id: int | None = None) -> list[Department]:
    """The departments the figures (dashboards, the assessment, 上报率) report on: the active ones of this city — or
    the one asked for. External sources (the 省平台) are not departments of this city: their data are not its figures."""
    stmt = select(Department).order_by(Department.code)
    if department_id is not None:
        stmt = stmt.where(Department.id == department_id)
    else:
        stmt = stmt.where(Department.active.is_(True), Department.external.is_(False))
    return list(session.scalars(stmt))


def get_department(session: Session, *, ref: int | str) -> Department:
    """A department by id (an int or a string of digits) or by code (codes start with a letter)."""
    department: Department | None
    if isinstance(ref, int) or str(ref).strip().isdigit():
        ident = parse_id(ref)  # None past 2^63-1 (no such row; the driver would overflow) or for "٣"
        department = None if ident is None else session.get(Department, ident)
    else:
        department = session.scalar(select(Department).where(Department.code == str(ref).strip().lower()))
    if department is None:
        raise NotFound(f"部门 {ref} 不存在", code="department_not_found")
    return department


def update_department(
    session: Session,
    *,
    actor: Principal,
    ref: int | str,
    name: str | None = None,
    short_name: str | None = None,
    uscc: str | None = None,
    active: bool | None = None,
    reason: str | None = None,
) -> Department:
    """Change a department's names, USCC or active flag (the code never changes). An empty short name clears it.

    Deactivating a department stops its tokens and its users' logins at once; nothing is deleted.
    """
    _require_admin(actor, "修改部门")
    reason = _text(reason, field="原因", max_len=500, required=False)
    department = get_department(session, ref=ref)
    before = department.snapshot()
    changes: dict[str, object] = {}
    if name is not None:
        changes["name"] = _text(name, field="部门名称", max_len=200)
    if short_name is not None:
        changes["short_name"] = _text(short_name, field="部门简称", max_len=50, required=False)
    if uscc is not None:
        changes["uscc"] = _check_uscc(uscc)
    if active is not None:
        changes["active"] = active
    changes = {k: v for k, v in changes.items() if before[k] != v}
    if not changes:
        return department
    if "uscc" in changes:
        _not_registered_elsewhere(session, str(changes["uscc"]))
    _forget_tokens_on_commit(session)
    # Changed inside the savepoint, which flushes on exit: a name or USCC taken meanwhile fails only the savepoint.
    with _unique("部门名称或统一社会信用代码已被其他部门使用", "department_taken"), session.begin_nested():
        for key, value in changes.items():
            setattr(department, key, value)
    after = department.snapshot()
    action = "department.update"
    if before["active"] != after["active"]:
        action = "department.activate" if department.active else "department.deactivate"
    audit.record(
        session,
        actor=actor.actor,
        action=action,
        entity_type="department",
        entity_id=department.id,
        reason=reason,
        before=before,
        after=after,
    )
    return department


# Authorities a department reports for ------------------------------------------------------------------------


def _not_registered_elsewhere(session: Session, uscc: str) -> None:
    """A department's own USCC must not be registered as an authority of a department (its own or another)."""
    found = session.scalar(select(DepartmentAuthority).where(DepartmentAuthority.uscc == uscc))
    if found is not None:
        holder = get_department(session, ref=found.department_id)
        raise Conflict(
            f"统一社会信用代码 {uscc}（{found.name}）已登记为部门 {holder.code}（{holder.name}）可报送的机关："
            f"请先移除该登记",
            code="department_uscc_registered",
            details={"department": holder.code, "uscc": uscc},
        )


def _may_read_authorities(actor: Principal, department: Department) -> None:
    if not actor.is_admin and actor.department_id != department.id:
        raise Forbidden("只能查看本部门可报送的机关", code="other_department")


def authorities_of(session: Session, *, department_id: int) -> Authorities:
    """The authorities the department reports for (itself and its registered units), for the row side of a
    batch: loaded once when the batch starts, then checked row by row without the database."""
    department = get_department(session, ref=department_id)
    if department.external:  # the 省平台 forwards other authorities' decisions (docs/exchange.md §7)
        return Authorities(department.name, (), open=True)
    registered = session.execute(
        select(DepartmentAuthority.uscc, DepartmentAuthority.name)
        .where(DepartmentAuthority.department_id == department.id)
        .order_by(DepartmentAuthority.uscc)
    ).all()
    return Authorities.of(
        department_name=department.name,
        department_uscc=department.uscc,
        short_name=department.short_name,
        registered=[(u, n) for u, n in registered],
    )


#: How data of an external source are marked where they are shown (来源：省平台; docs/exchange.md §7).
SOURCE_PROVINCE = "省平台"


def external_department_ids(session: Session) -> set[int]:
    """The external sources (``Department.external``: the 省平台): their data are kept with provenance and never
    counted as this city's own (statistics, timeliness, assessment, portal publicity, the outbound feed)."""
    return set(session.scalars(select(Department.id).where(Department.external.is_(True))))


def own_departments_clause(column: Any) -> Any:
    """SQL condition: ``column`` (a department id) is one of the city's own departments, not an external source."""
    external = select(Department.id).where(Department.external.is_(True)).scalar_subquery()
    return or_(column.is_(None), column.not_in(external))


def list_authorities(
    session: Session, *, actor: Principal, ref: int | str
) -> tuple[Department, list[DepartmentAuthority]]:
    """The department and the units registered for it (the admin: any department; department roles: their own).
    The department's own USCC counts without a registration."""
    department = get_department(session, ref=ref)
    _may_read_authorities(actor, department)
    rows = session.scalars(
        select(DepartmentAuthority)
        .where(DepartmentAuthority.department_id == department.id)
        .order_by(DepartmentAuthority.uscc)
    )
    return department, list(rows)


def add_authority(
    session: Session, *, actor: Principal, ref: int | str, uscc: str, name: str, reason: str
) -> DepartmentAuthority:
    """Register a unit whose decisions the department may submit (admin only, audited).

    Refused: the department's own USCC (it counts already), another department's own USCC (that department
    submits its own decisions: the finding this rule closes), a USCC already registered for a department (an
    authority reports through one department; remove the old registration first).
    """
    _require_admin(actor, "登记部门可报送的机关")
    department = get_department(session, ref=ref)
    code = _check_uscc(uscc)
    name_text = _text(name, field="机关名称", max_len=200)
    reason_text = _text(reason, field="登记原因", max_len=500)
    if code == department.uscc:
        raise Conflict(
            f"{code} 是{department.name}自身的统一社会信用代码，已自动计入，无需登记", code="authority_is_own"
        )
    other = session.scalar(select(Department).where(Department.uscc == code))
    if other is not None:
        raise Conflict(
            f"{code} 是部门 {other.code}（{other.name}）自身的统一社会信用代码：该部门的决定只能由其自行报送",
            code="authority_of_other_department",
            details={"department": other.code},
        )
    taken = session.scalar(select(DepartmentAuthority).where(DepartmentAuthority.uscc == code))
    if taken is not None:
        holder = get_department(session, ref=taken.department_id)
        raise Conflict(
            f"{code}（{taken.name}）已登记为部门 {holder.code}（{holder.name}）可报送的机关："
            f"一个机关只能由一个部门报送，如需变更请先移除原登记",
            code="authority_taken",
            details={"department": holder.code},
        )
    row = DepartmentAuthority(
        department_id=department.id,
        uscc=code,
        name=name_text,
        reason=reason_text,
        added_by=actor.actor,
        added_at=utcnow(),
    )
    _insert(session, row, message=f"{code} 已登记为其他部门可报送的机关", code="authority_taken")
    audit.record(
        session,
        actor=actor.actor,
        action="department.authority_add",
        entity_type="department",
        entity_id=department.id,
        reason=reason_text,
        after={"department": department.code, **row.snapshot()},
    )
    return row


def remove_authority(
    session: Session, *, actor: Principal, ref: int | str, uscc: str, reason: str
) -> DepartmentAuthority:
    """Remove a registered unit (admin only, audited): the department's later submissions naming it are refused;
    records it already submitted stay (they remain the department's)."""
    _require_admin(actor, "移除部门可报送的机关")
    department = get_department(session, ref=ref)
    reason_text = _text(reason, field="移除原因", max_len=500)
    code = (uscc or "").strip().upper()
    row = session.scalar(
        select(DepartmentAuthority).where(
            DepartmentAuthority.department_id == department.id, DepartmentAuthority.uscc == code
        )
    )
    if row is None:
        hint = "（部门自身的统一社会信用代码始终计入，不能移除）" if code == department.uscc else ""
        raise NotFound(
            f"部门 {department.code} 未登记统一社会信用代码为 {code} 的机关{hint}", code="authority_not_found"
        )
    before = {"department": department.code, **row.snapshot()}
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="department.authority_remove",
        entity_type="department",
        entity_id=department.id,
        reason=reason_text,
        before=before,
    )
    return row


# Users --------------------------------------------------------------------------------------------------------


def check_password_policy(password: str) -> None:
    """At least ``MIN_PASSWORD_LENGTH`` characters, with letters and digits."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"至少 {MIN_PASSWORD_LENGTH} 个字符")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"不超过 {MAX_PASSWORD_LENGTH} 个字符")
    if not any(c.isalpha() for c in password):
        problems.append("包含字母")
    if not any(c.isdigit() for c in password):
        problems.append("包含数字")
    if problems:
        raise ValidationFailed("密码不符合要求：须" + "、".join(problems), code="weak_password")


def create_user(
    session: Session,
    *,
    actor: Principal,
    username: str,
    display_name: str,
    password: str,
    role: Role,
    department_id: int | None = None,
    organisation: str | None = None,
) -> User:
    _require_admin(actor, "创建用户")
    username = (username or "").strip().lower()
    if not _USERNAME_RE.fullmatch(username):
        raise ValidationFailed(
            "用户名须为 3–64 位小写字母、数字、点、下划线或连字符，并以字母或数字开头", code="invalid_username"
        )
    role = _role(role)
    _check_scope(session, role=role, department_id=department_id)
    organisation = _text(organisation, field="所属机构", max_len=200, required=False)
    if role is Role.BANK and organisation is None:
        raise ValidationFailed("金融机构用户必须填写所属机构名称", code="organisation_required")
    if role in DEPARTMENT_ROLES and organisation is not None:
        raise ValidationFailed("部门用户的所属机构即其部门，不能另填机构名称", code="organisation_not_allowed")
    check_password_policy(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"用户名 {username} 已被使用", code="username_taken")
    user = User(
        username=username,
        display_name=_text(display_name, field="姓名", max_len=100),
        password_hash=PASSWORD_HASHER.hash(password),
        role=role,
        department_id=department_id,
        organisation=organisation,
        active=True,
        failed_logins=0,
        created_at=utcnow(),
    )
    _insert(session, user, message=f"用户名 {username} 已被使用", code="username_taken")
    audit.record(
        session, actor=actor.actor, action="user.create", entity_type="user", entity_id=user.id, after=user.snapshot()
    )
    return user


def list_users(session: Session, *, department_id: int | None = None, include_inactive: bool = False) -> list[User]:
    stmt = select(User).order_by(User.username)
    if department_id is not None:
        stmt = stmt.where(User.department_id == department_id)
    if not include_inactive:
        stmt = stmt.where(User.active.is_(True))
    return list(session.scalars(stmt))


def get_user(session: Session, *, ref: int | str) -> User:
    """A user by id or by username."""
    user: User | None
    if isinstance(ref, int):
        user = session.get(User, ref)
    else:
        user = session.scalar(select(User).where(User.username == str(ref).strip().lower()))
    if user is None:
        raise NotFound(f"用户 {ref} 不存在", code="user_not_found")
    return user


def _end_sessions(session: Session, *, user: User, reason: str) -> int:
    """Revoke the user's login tokens (password changed, account deactivated)."""
    _forget_tokens_on_commit(session)
    revoked = session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )
    return cast(CursorResult[Any], revoked).rowcount  # an UPDATE: a CursorResult


def set_password(session: Session, *, actor: Principal, user_id: int, password: str, reason: str | None = None) -> User:
    """Set a new password (admin). Unlocks the account and ends the user's login sessions."""
    _require_admin(actor, "重置密码")
    user = get_user(session, ref=user_id)
    check_password_policy(password)
    user.password_hash = PASSWORD_HASHER.hash(password)
    was_locked = user.locked_until is not None
    user.failed_logins = 0
    user.locked_until = None
    ended = _end_sessions(session, user=user, reason="密码已重置")
    audit.record(
        session,
        actor=actor.actor,
        action="user.password_set",
        entity_type="user",
        entity_id=user.id,
        reason=_text(reason, field="原因", max_len=500, required=False),
        after={"unlocked": was_locked, "sessions_ended": ended},
    )
    return user


def deactivate_user(session: Session, *, actor: Principal, user_id: int, reason: str) -> User:
    """Deactivate an account (it is never deleted: the audit log keeps naming it) and end its sessions."""
    _require_admin(actor, "停用用户")
    reason_text = _text(reason, field="停用原因", max_len=500)
    user = get_user(session, ref=user_id)
    if actor.user_id == user.id:
        raise Conflict("不能停用自己的账户", code="cannot_deactivate_self")
    if not user.active:
        raise Conflict(f"用户 {user.username} 已停用", code="user_inactive")
    before = user.snapshot()
    user.active = False
    _end_sessions(session, user=user, reason="账户已停用")
    audit.record(
        session,
        actor=actor.actor,
        action="user.deactivate",
        entity_type="user",
        entity_id=user.id,
        reason=reason_text,
        before=before,
        after=user.snapshot(),
    )
    return user


@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("xinyong-no-such-user-0")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate_password(session: Session, *, username: str, password: str) -> Principal:
    """The user with this username and password, or :class:`Unauthenticated`.

    A failed attempt is counted in the caller's transaction *before* the error is raised: the caller must commit
    it even though it fails (the login route does), otherwise the lock never engages. The count is incremented
    in SQL, so parallel guesses cannot slip past it.
    """
    now = utcnow()
    user = session.scalar(
        select(User)
        .where(User.username == (username or "").strip().lower())
        .execution_options(populate_existing=True)  # the failure counter is changed in SQL, never trust a cache
    )
    usable = (
        user is not None
        and user.active
        and (user.department is None or user.department.active)
        and not (user.locked_until is not None and user.locked_until > now)
    )
    if user is None or not usable or len(password) > MAX_PASSWORD_LENGTH:
        _verify(_dummy_hash(PASSWORD_HASHER), password[:MAX_PASSWORD_LENGTH])  # same cost as a real attempt
        log.warning("login refused for %r (unknown, inactive or locked account)", username)
        raise Unauthenticated(_LOGIN_FAILED, code="login_failed")
    if not _verify(user.password_hash, password):
        failures = session.execute(
            update(User)
            .where(User.id == user.id)
            .values(failed_logins=User.failed_logins + 1)
            .returning(User.failed_logins)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        log.warning("wrong password for %r (%d in a row)", user.username, failures)
        if failures >= MAX_FAILED_LOGINS:
            locked_until = now + LOCKOUT
            session.execute(
                update(User)
                .where(User.id == user.id)
                .values(locked_until=locked_until, failed_logins=0)
                .execution_options(synchronize_session=False)
            )
            audit.record(
                session,
                actor=f"user:{user.id}:{user.username}",
                action="user.locked",
                entity_type="user",
                entity_id=user.id,
                reason=f"连续 {failures} 次密码错误",
                after={"locked_until": locked_until},
            )
        raise Unauthenticated(_LOGIN_FAILED, code="login_failed")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = PASSWORD_HASHER.hash(password)
    return Principal(
        kind=PrincipalKind.USER, name=user.username, role=user.role, department_id=user.department_id, user_id=user.id
    )


def login(session: Session, *, username: str, password: str) -> tuple[ApiToken, str]:
    """Check the password and issue a short-lived token that acts as the user (see ``authenticate_password``)."""
    principal = authenticate_password(session, username=username, password=password)
    token, raw = _issue(
        session,
        name=f"登录会话 {principal.name}",
        role=principal.role,  # type: ignore[arg-type]
        department_id=principal.department_id,
        user_id=principal.user_id,
        created_by=principal.actor,
        lifetime=LOGIN_TOKEN_TTL,
    )
    audit.record(
        session,
        actor=principal.actor,
        action="user.login",
        entity_type="user",
        entity_id=principal.user_id,
        after={"token_id": token.id, "prefix": token.prefix, "expires_at": token.expires_at},
    )
    return token, raw

"""Roles and the principal a request acts as. Pure: no database."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # 平台管理员 (city credit office)
    DEPT_OPERATOR = "dept_operator"  # 部门操作员: submits and manages its department's data
    DEPT_VIEWER = "dept_viewer"  # 部门查看员: reads its department's data and shared data
    BUSINESS_SYSTEM = "business_system"  # 业务系统: calls the credit check
    BANK = "bank"  # 金融机构 (信易贷): reads with the subject's authorisation


ROLE_LABELS = {
    Role.ADMIN: "平台管理员",
    Role.DEPT_OPERATOR: "部门操作员",
    Role.DEPT_VIEWER: "部门查看员",
    Role.BUSINESS_SYSTEM: "业务系统",
    Role.BANK: "金融机构",
}


class PrincipalKind(StrEnum):
    """Who a :class:`Principal` is (the first part of its audit ``actor``)."""

    USER = "user"  # a logged-in user (console, portal)
    TOKEN = "token"  # an API token
    SYSTEM = "system"  # the CLI operator, a job, the demo's business systems
    ANONYMOUS = "anonymous"  # the public
    SUBJECT = "subject"  # a credit subject acting for itself (信易贷 authorisation)


#: Roles whose principal must belong to a department.
DEPARTMENT_ROLES = frozenset({Role.DEPT_OPERATOR, Role.DEPT_VIEWER, Role.BUSINESS_SYSTEM})


@dataclass(frozen=True)
class Principal:
    """Who is acting: a logged-in user, an API token, the CLI operator or the anonymous public."""

    kind: str  # a PrincipalKind (other packages still pass its values as text)
    name: str
    role: Role | None = None
    department_id: int | None = None
    user_id: int | None = None
    token_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        if self.kind == PrincipalKind.USER:
            return f"user:{self.user_id}:{self.name}"
        if self.kind == PrincipalKind.TOKEN:
            return f"token:{self.token_id}:{self.name}"
        return f"{self.kind}:{self.name}"

    def can_see_department(self, department_id: int | None) -> bool:
        return self.is_admin or (department_id is not None and department_id == self.department_id)


ANONYMOUS = Principal(kind=PrincipalKind.ANONYMOUS, name="public")


def system_principal(name: str = "cli") -> Principal:
    """The operator at the command line acts with full rights; the audit log names the OS user."""
    return Principal(kind=PrincipalKind.SYSTEM, name=name, role=Role.ADMIN)

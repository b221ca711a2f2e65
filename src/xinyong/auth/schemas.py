"""Request and response bodies of the `auth` API. No response ever carries a password or token hash."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field

from xinyong.auth.models import Department, DepartmentAuthority
from xinyong.auth.roles import Role
from xinyong.auth.tokens import MAX_TOKEN_DAYS
from xinyong.core.bounds import Id

#: A department named by its code ("scjgj") or its numeric id.
DepartmentRef = str | Id
#: The lifetime of an API token in days (the service refuses more than :data:`MAX_TOKEN_DAYS`).
TokenDays = Annotated[int, Ge(1), Le(MAX_TOKEN_DAYS)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Departments --------------------------------------------------------------------------------------------------


class DepartmentIn(_In):
    code: str = Field(description="部门代码（2–32 位小写字母、数字或下划线，以字母开头，如 scjgj），创建后不可更改")
    name: str = Field(description="部门全称，如 沁阳市市场监督管理局")
    uscc: str = Field(description="部门的统一社会信用代码（18 位）")
    short_name: str | None = Field(None, description="简称，如 市场监管局")


class DepartmentPatch(_In):
    name: str | None = None
    short_name: str | None = Field(None, description="空字符串表示清除简称")
    uscc: str | None = None
    active: bool | None = Field(None, description="false 停用部门：其令牌立即失效、用户无法登录")
    reason: str | None = Field(None, description="修改原因（记入审计日志）")


class DepartmentOut(_Out):
    id: int
    code: str
    name: str
    short_name: str | None
    uscc: str
    active: bool
    created_at: dt.datetime


class AuthorityIn(_In):
    uscc: str = Field(description="该机关（下属单位）的统一社会信用代码（18 位）")
    name: str = Field(description="该机关的名称，须与报送数据中填写的机关名称一致，如 焦作市生态环境局沁阳分局")
    reason: str = Field(description="登记原因（记入审计日志），如 分局的行政处罚由市局统一报送")


class AuthorityOut(BaseModel):
    """One authority a department reports for: the department itself (``own``) or a registered unit."""

    id: int | None = Field(None, description="登记编号；部门自身为空")
    department_id: int
    uscc: str
    name: str
    own: bool = Field(description="true：部门自身（自动计入，无需登记）")
    reason: str | None = None
    added_by: str | None = None
    added_at: dt.datetime | None = None

    @classmethod
    def of(cls, department: Department, row: DepartmentAuthority | None = None) -> AuthorityOut:
        """The department itself (``row`` None) or one of its registered units."""
        if row is None:
            return cls(department_id=department.id, uscc=department.uscc, name=department.name, own=True)
        return cls(
            id=row.id,
            department_id=row.department_id,
            uscc=row.uscc,
            name=row.name,
            own=False,
            reason=row.reason,
            added_by=row.added_by,
            added_at=row.added_at,
        )


# Users --------------------------------------------------------------------------------------------------------


class UserIn(_In):
    username: str
    display_name: str
    password: str = Field(description="至少 10 个字符，须含字母和数字")
    role: Role
    department: DepartmentRef | None = Field(None, description="部门代码或编号；部门角色必填，其他角色不可填")
    organisation: str | None = Field(None, description="金融机构用户的机构名称（必填）")


class UserOut(_Out):
    id: int
    username: str
    display_name: str
    role: Role
    department_id: int | None
    department_code: str | None
    organisation: str | None
    active: bool
    failed_logins: int
    locked_until: dt.datetime | None
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class PasswordIn(_In):
    password: str
    reason: str | None = None


class DeactivateIn(_In):
    reason: str = Field(description="停用原因（记入审计日志）")


# Tokens and login ---------------------------------------------------------------------------------------------


class TokenIn(_In):
    name: str = Field(description="令牌名称，说明给谁用，如 “行政审批系统”")
    role: Role
    department: DepartmentRef | None = Field(None, description="部门代码或编号；部门操作员默认为本部门")
    expires_in_days: TokenDays | None = Field(None, description="有效天数；不填则长期有效")


class TokenOut(_Out):
    id: int
    name: str
    prefix: str = Field(description="令牌的前 8 个字符，用于辨认")
    role: Role
    department_id: int | None
    department_code: str | None
    user_id: int | None
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revoked_reason: str | None
    last_used_at: dt.datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="完整令牌，只在此处显示一次，请立即妥善保存")


class LoginIn(_In):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class DepartmentBrief(_Out):
    id: int
    code: str
    name: str


class MeOut(BaseModel):
    kind: str = Field(description="user（登录用户）或 token（API 令牌）")
    name: str
    actor: str = Field(description="审计日志中的操作人")
    role: Role
    role_label: str
    department: DepartmentBrief | None
    user_id: int | None
    token_id: int | None
    token_expires_at: dt.datetime | None


class LoginOut(BaseModel):
    token: str = Field(description="登录令牌，放在 Authorization: Bearer <令牌> 中")
    token_type: str = "bearer"
    expires_at: dt.datetime
    me: MeOut

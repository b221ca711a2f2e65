"""Tables of `auth`: departments, the authorities they report for, users and API tokens.

A token is stored as its SHA-256 hash only: whoever reads the database cannot call the API with what is there.
Tokens are long random strings (256 bits), so a plain, unsalted hash is enough: there is nothing to brute-force.
Passwords are argon2 hashes (salted and slow, because people choose guessable passwords).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Enum, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xinyong.auth.roles import Role
from xinyong.core.columns import count_column, now_column, pk_column
from xinyong.core.db import Base, BigId, UTCDateTime

#: A role column: the enum's value ("dept_operator") stored as a plain string, no native enum type, so that
#: adding a role never needs an ALTER TYPE and both backends store the same text.
RoleColumn = Enum(
    Role,
    native_enum=False,
    create_constraint=False,
    length=32,
    values_callable=lambda e: [m.value for m in e],
    validate_strings=True,
)


class Department(Base):
    """A government department (or court) that submits and uses credit data, e.g. 沁阳市市场监督管理局."""

    __tablename__ = "departments"

    id: Mapped[int] = pk_column()
    #: Short stable slug ("scjgj") used on the command line, in file names and in URLs; never changes.
    code: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    short_name: Mapped[str | None] = mapped_column(String(50))  # 简称, e.g. 市场监管局
    uscc: Mapped[str] = mapped_column(String(18), nullable=False, unique=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    #: An external source, not a department of this city: the pseudo-department 省平台 through which the provincial
    #: platform's data for this city's subjects arrive (docs/exchange.md §7). Its submissions are not held to the
    #: authority rule, keep their deciding authority, and never count as the city's own data (statistics,
    #: timeliness, assessment, portal publicity) nor go back up in the outbound feed.
    external: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    created_at: Mapped[dt.datetime] = now_column()

    def snapshot(self) -> dict[str, object]:
        """The audited state (no secrets in it)."""
        return {
            "code": self.code,
            "name": self.name,
            "short_name": self.short_name,
            "uscc": self.uscc,
            "active": self.active,
        }


class DepartmentAuthority(Base):
    """An authority other than the department itself whose decisions the department submits (a subordinate unit
    such as 焦作市生态环境局沁阳分局 under 沁阳市生态环境局), registered by the platform admin.

    A department's own USCC (``Department.uscc``, under its name or short name) always counts and is never stored
    here. A USCC is registered for one department at most and is never another department's own USCC, so that
    each authority's decisions reach the platform through exactly one department (the rule:
    ``auth.authorities``). Removing a registration deletes the row; the audit log keeps what it was.
    """

    __tablename__ = "department_authorities"

    id: Mapped[int] = pk_column()
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False, index=True)
    uscc: Mapped[str] = mapped_column(String(18), nullable=False, unique=True)
    #: The authority's name as decisions must write it (compared after ``identifiers.names.normalize_org_name``);
    #: 200 characters like every place that stores an authority's name (list entries, commitments).
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    added_by: Mapped[str] = mapped_column(String(200), nullable=False)  # the admin's audit actor
    added_at: Mapped[dt.datetime] = now_column()

    def snapshot(self) -> dict[str, object]:
        """The audited state."""
        return {"department_id": self.department_id, "uscc": self.uscc, "name": self.name, "reason": self.reason}


class User(Base):
    """A person who logs in. Department roles belong to a department; a bank user names his organisation."""

    __tablename__ = "users"

    id: Mapped[int] = pk_column()
    username: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # stored lower-case
    display_name: Mapped[str] = mapped_column(String(100), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[Role] = mapped_column(RoleColumn, nullable=False)
    department_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("departments.id"), index=True)
    organisation: Mapped[str | None] = mapped_column(String(200))  # a bank user's institution
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    failed_logins: Mapped[int] = count_column()
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = now_column()
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    department: Mapped[Department | None] = relationship(lazy="joined")

    @property
    def department_code(self) -> str | None:
        return self.department.code if self.department else None

    def snapshot(self) -> dict[str, object]:
        """The audited state: never the password hash."""
        return {
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "department_id": self.department_id,
            "organisation": self.organisation,
            "active": self.active,
        }


class ApiToken(Base):
    """A bearer token: issued to a business system or a bank by an operator, or to a user by logging in.

    ``user_id`` is set for login tokens (short-lived sessions): the caller then acts as that user, and the token
    dies with the user's deactivation or password change.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = pk_column()
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    #: The first characters of the raw token ("xy_AbCdE"), so that a leaked token can be recognised in a list.
    prefix: Mapped[str] = mapped_column(String(8), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)  # SHA-256, hex
    role: Mapped[Role] = mapped_column(RoleColumn, nullable=False)
    department_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("departments.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)  # the creator's audit actor
    created_at: Mapped[dt.datetime] = now_column()
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(500))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    department: Mapped[Department | None] = relationship(lazy="joined")
    user: Mapped[User | None] = relationship(lazy="joined")

    @property
    def department_code(self) -> str | None:
        return self.department.code if self.department else None

    @property
    def is_session(self) -> bool:
        """A login token (acts as a user) rather than an API token issued to a system."""
        return self.user_id is not None

    def snapshot(self) -> dict[str, object]:
        """The audited state: the prefix identifies the token, the hash never leaves this table."""
        return {
            "name": self.name,
            "prefix": self.prefix,
            "role": self.role,
            "department_id": self.department_id,
            "user_id": self.user_id,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "revoked_reason": self.revoked_reason,
        }

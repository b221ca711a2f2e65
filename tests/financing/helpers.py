"""Set-up for the 信易贷 tests: the cases environment (a company with penalties and a registered contact), an
institution with a bound bank token, and a second, unbound bank token."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tests.cases.helpers import Env, build
from tests.factories import auth_headers, make_token, make_uscc
from tests.records.helpers import ADMIN
from xinyong.auth.models import ApiToken
from xinyong.auth.roles import Role
from xinyong.financing import service
from xinyong.financing.models import Authorisation

PROFILE_URL = "/api/v1/financing/subjects/{}/profile"


@dataclass
class Bank:
    env: Env
    bank: dict[str, str]
    bank_raw: str
    unbound: dict[str, str]
    other_bank: dict[str, str]
    institution: str = "qyrcb"


def setup(session: Session) -> Bank:
    env = build(session, watch=False)
    service.create_institution(session, actor=ADMIN, code="qyrcb", name="沁阳农村商业银行", uscc=make_uscc(901))
    service.create_institution(session, actor=ADMIN, code="other", name="另一家银行", uscc=make_uscc(902))
    session.commit()
    raw = make_token(session, Role.BANK, name="农商行信贷系统")
    other = make_token(session, Role.BANK, name="另一家银行信贷系统")
    unbound = make_token(session, Role.BANK, name="未登记机构")
    from sqlalchemy import select

    for token_name, inst in (("农商行信贷系统", "qyrcb"), ("另一家银行信贷系统", "other")):
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.name == token_name))
        service.bind_principal(session, actor=ADMIN, institution=inst, token_id=token_id)
    session.commit()
    return Bank(
        env=env, bank=auth_headers(raw), bank_raw=raw, unbound=auth_headers(unbound), other_bank=auth_headers(other)
    )


def grant(
    session: Session,
    b: Bank,
    *,
    scope: tuple[str, ...] = ("registration", "penalty"),
    days: int = 30,
    institution: str = "qyrcb",
) -> Authorisation:
    a = service.grant_online(session, subject_id=b.env.subject_id, institution=institution, scope=scope, days=days)
    session.commit()
    return a


def expire(session: Session, a: Authorisation) -> None:
    """Move an authorisation into the past (a test's clock: the table has no triggers)."""
    row = session.get(Authorisation, a.id)
    row.starts_at = row.starts_at - dt.timedelta(days=400)
    row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    session.commit()

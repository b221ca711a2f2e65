"""Demo 信易贷: two banks, the demo bank user bound to one of them with an API token, online and document
authorisations from companies with a registered contact (one revoked, one expired), the banks' profile reads and
loan feedback — so the console's 信易贷 page, the portal's 查询记录 and `xinyong financing figures` show something.

Everything goes through the financing services (audited, logged in the subjects' access logs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth import tokens as auth
from xinyong.auth.models import User
from xinyong.auth.roles import Principal, PrincipalKind, Role
from xinyong.cases.models import SubjectContact
from xinyong.core.errors import XinyongError
from xinyong.financing import service
from xinyong.financing.models import Authorisation
from xinyong.identifiers import uscc
from xinyong.subjects.models import Subject, SubjectKind

BANKS = (("qyrcb", "沁阳农村商业银行"), ("ccbqy", "中国建设银行沁阳支行"))
SCOPES = (
    ("registration", "penalty", "licence"),
    ("registration", "penalty", "serious_dishonest_list"),
    ("registration", "evaluation"),
)


def _uscc(body: str) -> str:

    return uscc.make(authority="9", category="1", region="410882", org_body=body)


def build(session: Session, *, actor: Principal, creds: dict[str, Any]) -> dict[str, Any]:

    insts = [
        service.create_institution(session, actor=actor, code=code, name=name, uscc=_uscc(f"BK{i:06d}"))
        for i, (code, name) in enumerate(BANKS, start=1)
    ]
    user = session.scalar(select(User).where(User.username == "bank_demo"))
    if user is not None:
        service.bind_principal(session, actor=actor, institution=insts[0].code, user=user.username)
    tokens = []
    for inst in insts:
        token, raw = auth.create_token(session, actor=actor, name=f"{inst.name}信贷系统", role=Role.BANK)
        service.bind_principal(session, actor=actor, institution=inst.code, token_id=token.id)
        creds["tokens"].append({"name": token.name, "role": "bank", "department": None, "token": raw})
        tokens.append(Principal(kind=PrincipalKind.TOKEN, name=token.name, role=Role.BANK, token_id=token.id))
    companies = list(
        session.scalars(
            select(Subject)
            .join(SubjectContact, SubjectContact.subject_id == Subject.id)
            .where(Subject.kind != SubjectKind.NATURAL_PERSON.value)
            .order_by(Subject.id)
            .distinct()
            .limit(6)
        )
    )
    counts = {"authorisations": 0, "queries": 0, "refused": 0, "loans": 0}
    for i, company in enumerate(companies):
        bank = i % 2
        try:
            if i == 3:  # a signed document uploaded by the bank
                pdf = (
                    b"%PDF-1.4\n% authorisation of " + company.uscc.encode() + b"\n1 0 obj<<>>endobj\n"
                    b"trailer<<>>\n%%EOF\n"
                )
                a = service.register_document(
                    session,
                    actor=tokens[bank],
                    subject_code=company.uscc,
                    scope=SCOPES[i % 3],
                    content=pdf,
                    filename="授权书.pdf",
                    declared_sha256=hashlib.sha256(pdf).hexdigest(),
                    expires_on=dt.date.today() + dt.timedelta(days=180),
                )
            else:
                a = service.grant_online(
                    session, subject_id=company.id, institution=insts[bank].code, scope=SCOPES[i % 3], days=90 + 30 * i
                )
        except XinyongError:
            continue
        counts["authorisations"] += 1
        service.read_profile(session, actor=tokens[bank], code=company.uscc)
        counts["queries"] += 1
        if i % 3 != 2:
            service.record_feedback(
                session,
                actor=tokens[bank],
                authorisation_id=a.id,
                outcome="granted",
                amount_yuan=str(200_000 + 150_000 * i),
                rate_band=("lpr", "lpr_plus_50")[i % 2],
                reference=f"XYD-DEMO-{i + 1:03d}",
            )
            counts["loans"] += 1
        else:
            service.record_feedback(session, actor=tokens[bank], authorisation_id=a.id, outcome="declined")
        if i == 4:  # the subject withdrew its consent: the next read is refused, and logged
            service.revoke(session, actor=actor, authorisation_id=a.id, subject_id=company.id, reason="贷款已办结")
            try:
                service.read_profile(session, actor=tokens[bank], code=company.uscc)
            except service.ProfileRefused as exc:
                service.log_refusal(session, actor=tokens[bank], exc=exc)
                counts["refused"] += 1
        if i == 5:  # an old authorisation, expired (moved into the past: the demo has no waiting)
            row = session.get(Authorisation, a.id)
            row.starts_at = row.starts_at - dt.timedelta(days=200)
            row.expires_at = row.starts_at + dt.timedelta(days=90)
            session.flush()
    return counts

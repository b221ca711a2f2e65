"""The demo city's exchange with the provincial platform (docs/exchange.md): the feed its data wrote is "pushed"
to an in-process stand-in for the provincial receiver, which answers with receipts — a few rows rejected — so
that ``xinyong exchange status``/``reconcile``/``figures``, the dashboards' 上报 block and the assessment's
上报合格率 have something to show.

No HTTP: the demo is built in one transaction, and the receipts are written as the push writes them
(``exchange_receipts``, the cursor ``exchange_push_state``). The last few messages stay unsent (a backlog).
The stand-in rejects deterministically: every 53rd 双公示 message (行政相对人代码 not in the provincial register)
and every 41st list message (名单代码 not known to the province).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.auth.roles import Principal
from xinyong.core.db import utcnow
from xinyong.exchange import feed, province, rejections
from xinyong.exchange.models import FeedMessage, PushReceipt
from xinyong.exchange.push import _state
from xinyong.identifiers import uscc
from xinyong.subjects.models import Subject

RECEIVER = "demo://省平台数据接收端（演示）"
BATCH = 500
#: Share of the feed left unsent: the backlog the status shows.
UNSENT_SHARE = 0.02


#: Decided elsewhere in the province: 焦作's market regulator and Henan's ecology and environment department.
_AUTHORITIES = (
    ("焦作市市场监督管理局", uscc.make(authority="1", category="1", region="410800", org_body="00500001")),
    ("河南省生态环境厅", uscc.make(authority="1", category="1", region="410000", org_body="00500002")),
)


def build_province(session: Session, *, actor: Principal, today: dt.date, n: int = 6) -> dict[str, Any]:
    """The way down: a few penalties other authorities decided for the demo city's companies, forwarded by the
    省平台 (``exchange.province``): in the government file and the check with 来源：省平台, not on the portal, not
    in the city's figures, not in the feed."""
    from xinyong.ingest import service as ingest_service

    rng = random.Random(16)
    dept = province.ensure_province(session, actor=actor)
    orgs = session.execute(
        select(Subject.uscc, Subject.name, Subject.legal_rep)
        .where(Subject.uscc.is_not(None), Subject.kind == "legal_person")
        .order_by(Subject.id)
        .limit(200)
    ).all()
    rows = []
    for i in range(n if orgs else 0):
        code, name, rep = rng.choice(orgs)
        authority, authority_uscc = _AUTHORITIES[i % len(_AUTHORITIES)]
        decided = today - dt.timedelta(days=20 + 15 * i)
        rows.append(
            {
                "行政相对人名称": name,
                "行政相对人类别": "法人及非法人组织",
                "行政相对人代码_1(统一社会信用代码)": code,
                "法定代表人": rep or "",
                "行政处罚决定书文号": f"{'焦市监罚' if i % 2 == 0 else '豫环罚'}〔{decided.year}〕{200 + i}号",
                "违法行为类型": "违反《中华人民共和国产品质量法》第十三条",
                "违法事实": "在焦作市区销售不符合保障人体健康标准的产品",
                "处罚依据": "《中华人民共和国产品质量法》第四十九条",
                "处罚类别": "警告、罚款",
                "处罚内容": "警告，罚款人民币3万元",
                "罚款金额(万元)": "3",
                "处罚决定日期": decided.isoformat(),
                "处罚有效期": (decided + dt.timedelta(days=365)).isoformat(),
                "处罚机关": authority,
                "处罚机关统一社会信用代码": authority_uscc,
                "数据来源单位": authority,
                "数据来源单位统一社会信用代码": authority_uscc,
            }
        )
    if not rows:
        return {"accepted": 0, "rejected": 0}
    principal = Principal(kind="system", name=f"{actor.name}@{dept.code}", role=actor.role, department_id=dept.id)
    summary = ingest_service.ingest_rows(session, actor=principal, department_id=dept.id, kind="penalty", rows=rows)
    return {"department": dept.code, "accepted": summary["accepted"], "rejected": summary["rejected"]}


def _rejection(seq: int, kind: str) -> dict[str, Any] | None:
    if kind in ("licence", "penalty") and seq % 53 == 0:
        return {"seq": seq, "code": "XDR_DM_NOT_FOUND", "message": "行政相对人代码在省法人库中不存在"}
    if kind == "list_entry" and seq % 41 == 0:
        return {"seq": seq, "code": "LIST_CODE_UNKNOWN", "message": "名单代码未在省平台登记"}
    return None


def build(session: Session) -> dict[str, Any]:
    """Acknowledge the feed up to all but the last :data:`UNSENT_SHARE`, batch by batch, with receipts."""
    last = feed.last_seq(session)
    send_to = last - max(1, int(last * UNSENT_SHARE)) if last else 0
    state = _state(session)
    first = state.acked_seq + 1
    receipts = accepted = rejected = 0
    while first <= send_to:
        end = min(first + BATCH - 1, send_to)
        rows = session.execute(
            select(FeedMessage.seq, FeedMessage.kind).where(FeedMessage.seq >= first, FeedMessage.seq <= end)
        ).all()
        refused = [r for r in (_rejection(seq, kind) for seq, kind in rows) if r is not None]
        receipt = PushReceipt(
            first_seq=first,
            last_seq=end,
            receiver=RECEIVER,
            http_status=200,
            accepted=len(rows) - len(refused),
            rejected=len(refused),
            rejections=refused,
            receipt_id=f"DEMO-{first}-{end}",
        )
        session.add(receipt)
        session.flush()
        refused_seqs = {r["seq"] for r in refused}
        rejections.on_receipt(  # the departments' lists of rows to correct (console: 省平台退回的数据)
            session,
            receipt_id=receipt.id,
            first=first,
            last=end,
            accepted=[seq for seq, _ in rows if seq not in refused_seqs],
            rejected=refused,
        )
        receipts += 1
        accepted += len(rows) - len(refused)
        rejected += len(refused)
        first = end + 1
    if send_to > state.acked_seq:
        state.acked_seq = state.sent_seq = send_to
        state.last_attempt_at = utcnow()
    session.flush()
    return {
        "messages": last,
        "acknowledged": send_to,
        "backlog": last - send_to,
        "receipts": receipts,
        "accepted": accepted,
        "rejected": rejected,
    }

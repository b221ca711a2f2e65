"""The legal bases the platform applies, for the portal's 政策法规 page: every document cited as the basis of a
public list (``lists/data/list_types.yaml`` → ``list_types.legal_basis``) or of an active joint measure
(``measures/data/measures.yaml`` → ``measures.legal_basis``, and the memoranda), each with what cites it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.lists.models import ListType
from xinyong.lists.queries import public_type_ids
from xinyong.measures.models import Measure, Memorandum


def legal_documents(session: Session) -> list[dict[str, Any]]:
    """``[{"title", "url", "lists": [{"code", "name"}], "measures": [title …]}]``, sorted by title."""
    docs: dict[str, dict[str, Any]] = {}

    def doc(title: str) -> dict[str, Any]:
        title = " ".join(str(title).split())
        return docs.setdefault(title, {"title": title, "url": None, "lists": [], "measures": []})

    public = set(public_type_ids(session))
    for lt in session.scalars(select(ListType).where(ListType.active.is_(True)).order_by(ListType.sort_order)):
        if lt.id not in public:
            continue
        for basis in lt.legal_basis or []:
            if basis.get("title"):
                d = doc(basis["title"])
                if not any(x["code"] == lt.code for x in d["lists"]):
                    d["lists"].append({"code": lt.code, "name": lt.name})
    for m, memo in session.execute(
        select(Measure, Memorandum)
        .join(Memorandum, Memorandum.id == Measure.memorandum_id)
        .where(Measure.active.is_(True))
        .order_by(Measure.sort_order, Measure.code)
    ):
        titles = [b.get("title") for b in m.legal_basis or []]
        memo_title = f"{memo.title}（{memo.doc_no}）" if memo.doc_no and memo.doc_no not in memo.title else memo.title
        for title in [*titles, memo_title]:
            if title:
                d = doc(title)
                if title == memo_title and memo.url and d["url"] is None:
                    d["url"] = memo.url
                if m.title not in d["measures"]:
                    d["measures"].append(m.title)
    return sorted(docs.values(), key=lambda d: d["title"])

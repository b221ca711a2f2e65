"""Public-resource trading analysis: importing tenders, bids, awards and bidder attributes; running the collusion
analysis (``analytics.collusion``) and reading its ranked results; bidders' participation and win statistics.

Imports are atomic and idempotent: every row is validated first and a file with any bad row writes nothing (the
error list names each row and reason); rows are keyed by natural keys (project number, bidder, sample number), so
the same file imported twice changes nothing, and a corrected file updates the rows it changes.

Bidders are linked to the subject registry by USCC; where a bid lacks the legal representative or the address,
the analysis takes them from the bidder-attributes file, then from the registry (the evidence says which).
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Integer, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from xinyong.analytics import collusion
from xinyong.analytics import trading_formats as fmt
from xinyong.analytics.models import (
    Bid,
    BidderAttribute,
    BidderShareholder,
    ImportKind,
    SpotCheck,
    Tender,
    TradingAnalysis,
    TradingImport,
)
from xinyong.analytics.risk_config import trading_settings
from xinyong.auth.roles import Principal
from xinyong.core import audit, batches
from xinyong.core.bulk import insert_rows
from xinyong.core.db import reading_apart, utcnow
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.identifiers.masking import mask_phone
from xinyong.identifiers.names import normalize_org_name
from xinyong.ingest.readers import Source, as_source, open_table, row_issues
from xinyong.subjects.models import Subject
from xinyong.subjects.service import resolve_code_ids

CHUNK = 2_000
ERROR_LIMIT = 200
#: The files of the tender analysis (spot checks feed the food and drug risk, ``food_drug``).
TRADING_KINDS = (ImportKind.TENDERS, ImportKind.BIDS, ImportKind.AWARDS, ImportKind.BIDDERS)


def _chunks(values: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


# Reading and validating ------------------------------------------------------------------------------------


def _open(kind: str, path: str | Path | Source) -> tuple[Any, dict[str, str]]:
    """The file's table and its header map; raises on an unusable file."""
    if kind not in fmt.KINDS:
        raise ValidationFailed(f"未知的文件类型 {kind}，应为 {' / '.join(fmt.KINDS)}", code="import_kind_unknown")
    table = open_table(path, known_headers=fmt.known_headers(kind))
    missing = fmt.missing_columns(kind, table.headers)
    if missing:
        raise ValidationFailed(
            f"{fmt.KIND_LABELS[kind]}文件缺少必填列：{'、'.join(missing)}",
            code="columns_missing",
            details={"missing": missing, "found": [h for h in table.headers if h]},
        )
    return table, fmt.header_map(kind, table.headers)


def _parse(
    kind: str, keys: list[str], mapping: dict[str, str], number: int, cells: list[Any]
) -> tuple[dict[str, Any] | None, list[str]]:
    refused = row_issues(cells)  # over-long cell or row, formula without a value: never parsed
    if refused:
        return None, [i.message for i in refused]
    values = {k: cells[i] if i < len(cells) else None for i, k in enumerate(keys) if k}
    parsed, problems = fmt.parse_row(kind, {mapping[h]: v for h, v in values.items() if h in mapping})
    return (None, problems) if problems else (parsed, [])


def read_rows(kind: str, path: str | Path | Source) -> tuple[list[tuple[int, dict[str, Any]]], list[dict[str, Any]]]:
    """Every row of the file parsed, and the row errors (``{"row", "errors"}``); raises on an unusable file."""
    table, mapping = _open(kind, path)
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[dict[str, Any]] = []
    for number, cells in table.rows:
        parsed, problems = _parse(kind, table.headers, mapping, number, cells)
        if parsed is None:
            errors.append({"row": number, "errors": problems})
        else:
            rows.append((number, parsed))
    return rows, errors


def _tender_ids(session: Session, project_nos: set[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in _chunks(sorted(project_nos)):
        out.update(session.execute(select(Tender.project_no, Tender.id).where(Tender.project_no.in_(chunk))).all())
    return out


_KEYS: dict[str, tuple[Any, str]] = {
    ImportKind.TENDERS: (lambda r: r["project_no"], "项目编号"),
    ImportKind.BIDS: (lambda r: (r["project_no"], r["bidder_key"]), "同一项目的同一投标人"),
    ImportKind.AWARDS: (lambda r: r["project_no"], "项目编号"),
    ImportKind.BIDDERS: (lambda r: r["bidder_key"], "投标人"),
    ImportKind.SPOT_CHECKS: (lambda r: r["sample_no"], "抽样编号"),
}


def _grouped(errors: list[batches.RowError]) -> list[dict[str, Any]]:
    """Row errors as this import has always answered them: ``{"row", "errors": [messages]}`` by row."""
    out: dict[int, list[str]] = {}
    for e in errors:
        out.setdefault(e.row, []).append(e.message)
    return [{"row": row, "errors": messages} for row, messages in sorted(out.items())]


def import_file(
    session: Session,
    *,
    actor: Principal,
    kind: str,
    path: str | Path | Source,
    filename: str | None = None,
    mode: str = batches.REJECT_ALL,
) -> dict[str, Any]:
    """Import one file of ``kind`` (tenders / bids / awards / bidders / spot_checks) in the caller's transaction.

    The same file (SHA-256) imported again is recognised and not applied twice. ``mode`` (``core.batches``):
    ``reject_all`` (the default) — any invalid row rejects the whole file with ``ValidationFailed`` (code
    ``import_rows_invalid``, details list each row's reasons); ``keep_good`` — the valid rows are written and the
    invalid ones reported (``rejected``, ``errors``); a file without a valid row is refused as a whole.
    """
    batches.check_mode(mode)
    source = as_source(path)
    sha = source.sha256()

    def applied_before(reader: Session) -> TradingImport | None:
        return reader.scalar(
            select(TradingImport)
            .where(TradingImport.kind == kind, TradingImport.sha256 == sha)
            .order_by(TradingImport.id.desc())
            .limit(1)
        )

    # Read and validate on the side (core.db.reading_apart): on SQLite the request's write lock is set aside while
    # the file is parsed, so only the writing holds it.
    with reading_apart(session) as reader:
        previous = applied_before(reader)
        if previous is not None:
            previous = session.get(TradingImport, previous.id)
            assert previous is not None
            return {**import_view(previous), "already_imported": True}
        table, mapping = _open(kind, source)
        key, label = _KEYS[kind]
        seen: dict[Any, int] = {}
        tender_ids: dict[str, int] = {}
        missing_tenders: set[str] = set()

        def validate(number: int, cells: list[Any]) -> tuple[dict[str, Any] | None, list[batches.RowError]]:
            parsed, problems = _parse(kind, table.headers, mapping, number, cells)
            if parsed is None:
                return None, [batches.RowError(number, "", "row_invalid", m) for m in problems]
            errors = []
            k = key(parsed)
            if k in seen:
                errors.append(batches.RowError(number, "", "duplicate_in_file", f"{label}与第 {seen[k]} 行重复"))
            else:
                seen[k] = number
            if kind in (ImportKind.BIDS, ImportKind.AWARDS):
                no = parsed["project_no"]
                if no not in tender_ids and no not in missing_tenders:
                    found = _tender_ids(reader, {no})
                    tender_ids.update(found)
                    if no not in found:
                        missing_tenders.add(no)
                if no in missing_tenders:
                    errors.append(
                        batches.RowError(
                            number, "项目编号", "tender_unknown", f"项目编号「{no}」不存在：请先导入招标项目文件"
                        )
                    )
            return (None, errors) if errors else (parsed, [])

        good: list[dict[str, Any]] = []
        # One write of every valid row: the kinds' writers (a bid's 中标 flag, shareholders) work on the whole file.
        summary = batches.run(
            table.rows,
            importer="trading",
            validate=validate,
            mode=mode,
            chunk=sys.maxsize,
            write=lambda rows, _bad: good.extend(r.item for r in rows),
        )
    assert summary is not None
    if summary.rejected and not good:
        errors = _grouped(summary.errors)
        raise ValidationFailed(
            f"文件中有 {len(errors)} 行不符合格式，未导入任何数据",
            code="import_rows_invalid",
            details={"error_rows": len(errors), "errors": errors[:ERROR_LIMIT], "summary": summary.as_dict()},
        )
    previous = applied_before(session)  # the same file may have been stored meanwhile (the lock was set aside)
    if previous is not None:
        return {**import_view(previous), "already_imported": True}
    record = TradingImport(
        kind=kind, filename=(filename or source.name)[:300], sha256=sha, actor=actor.actor, rows=len(good), report={}
    )
    session.add(record)
    session.flush()
    summary.batch = record.id
    counts: dict[str, Any] = {
        ImportKind.TENDERS: _apply_tenders,
        ImportKind.BIDS: _apply_bids,
        ImportKind.AWARDS: _apply_awards,
        ImportKind.BIDDERS: _apply_bidders,
        ImportKind.SPOT_CHECKS: _apply_spot_checks,
    }[ImportKind(kind)](session, good, record.id, tender_ids)
    record.created, record.updated, record.unchanged = (
        counts.pop("created"),
        counts.pop("updated"),
        counts.pop("unchanged"),
    )
    if summary.rejected:  # keep_good: the refused rows, in the import's report
        counts |= {"rejected": summary.rejected, "errors": _grouped(summary.errors)[:ERROR_LIMIT]}
    record.report = counts
    audit.record(
        session,
        actor=actor.actor,
        action=f"analytics.import_{kind}",
        entity_type="analytics_import",
        entity_id=record.id,
        after={
            "file": record.filename,
            "sha256": sha,
            "rows": record.rows,
            "created": record.created,
            "updated": record.updated,
            "mode": mode,
            "rejected": summary.rejected,
        },
    )
    session.flush()
    return {
        **import_view(record),
        "already_imported": False,
        "mode": mode,
        "rejected": summary.rejected,
        "summary": summary.as_dict(),
    }


def import_view(record: TradingImport) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "label": fmt.KIND_LABELS.get(record.kind, record.kind),
        "filename": record.filename,
        "sha256": record.sha256,
        "rows": record.rows,
        "created": record.created,
        "updated": record.updated,
        "unchanged": record.unchanged,
        "report": record.report,
        "actor": record.actor,
        "created_at": record.created_at,
    }


def list_imports(session: Session, *, kinds: tuple[str, ...] = fmt.KINDS, limit: int = 50) -> list[TradingImport]:
    return list(
        session.scalars(
            select(TradingImport).where(TradingImport.kind.in_(kinds)).order_by(TradingImport.id.desc()).limit(limit)
        )
    )


# Applying -------------------------------------------------------------------------------------------------------


def _upsert(
    session: Session,
    model: Any,
    key_column: str,
    rows: list[dict[str, Any]],
    columns: list[str],
    existing: dict[Any, Any],
    *,
    extra: dict[str, Any],
) -> dict[str, int]:
    """Insert new rows, update changed ones by primary key; ``existing`` maps key -> (id, values tuple)."""
    new, changed, same = [], [], 0
    for r in rows:
        found = existing.get(r[key_column])
        if found is None:
            new.append({**{c: r.get(c) for c in columns}, **extra})
        elif tuple(r.get(c) for c in columns) != found[1]:
            changed.append({"id": found[0], **{c: r.get(c) for c in columns}, **extra})
        else:
            same += 1
    insert_rows(session, model.__table__, new)
    if changed:
        session.execute(update(model), changed)
    return {"created": len(new), "updated": len(changed), "unchanged": same}


TENDER_COLUMNS = ["project_no", "name", "tenderer", "tenderer_uscc", "category", "budget_fen", "opened_on"]


def _apply_tenders(session: Session, rows: list[dict[str, Any]], import_id: int, _: dict[str, int]) -> dict[str, int]:
    existing: dict[Any, Any] = {}
    cols = [getattr(Tender, c) for c in TENDER_COLUMNS]
    for chunk in _chunks([r["project_no"] for r in rows]):
        for row in session.execute(select(Tender.id, *cols).where(Tender.project_no.in_(chunk))):
            existing[row[1]] = (row[0], tuple(row[1:]))
    return _upsert(
        session,
        Tender,
        "project_no",
        rows,
        TENDER_COLUMNS,
        existing,
        extra={"import_id": import_id, "updated_at": utcnow()},
    )


BID_COLUMNS = [
    "tender_id",
    "bidder_key",
    "bidder_name",
    "bidder_uscc",
    "subject_id",
    "price_fen",
    "bid_at",
    "contact",
    "phone",
    "legal_rep",
    "address",
    "ip",
    "won",
]


def _subject_ids(session: Session, codes: set[str]) -> dict[str, int]:
    """The bidders' subjects by code, in bulk (``subjects.service.resolve_code_ids``); unknown codes left out."""
    found = resolve_code_ids(session, sorted(c for c in codes if c))
    return {code: sid for code, sid in found.items() if sid is not None}


def _add_shareholders(session: Session, pairs: set[tuple[str, str]]) -> int:
    if not pairs:
        return 0
    keys = sorted({k for k, _ in pairs})
    known: set[tuple[str, str]] = set()
    for chunk in _chunks(keys):
        known.update(
            session.execute(
                select(BidderShareholder.bidder_key, BidderShareholder.shareholder).where(
                    BidderShareholder.bidder_key.in_(chunk)
                )
            ).all()
        )
    new = [{"bidder_key": k, "shareholder": s} for k, s in sorted(pairs - known)]
    insert_rows(session, BidderShareholder.__table__, new)
    return len(new)


def _apply_bids(
    session: Session, rows: list[dict[str, Any]], import_id: int, tender_ids: dict[str, int]
) -> dict[str, int]:
    subjects = _subject_ids(session, {r["bidder_uscc"] for r in rows})
    winners: dict[int, str | None] = {}
    for chunk in _chunks(sorted(set(tender_ids.values()))):
        winners.update(session.execute(select(Tender.id, Tender.winner_key).where(Tender.id.in_(chunk))).all())
    for r in rows:
        r["tender_id"] = tender_ids[r["project_no"]]
        r["subject_id"] = subjects.get(r["bidder_uscc"])
        r["won"] = bool(r["won"] or winners.get(r["tender_id"]) == r["bidder_key"])
    existing: dict[Any, Any] = {}
    cols = [getattr(Bid, c) for c in BID_COLUMNS]
    for chunk in _chunks(sorted(set(tender_ids.values()))):
        for row in session.execute(select(Bid.id, *cols).where(Bid.tender_id.in_(chunk))):
            existing[(row[1], row[2])] = (row[0], tuple(row[1:]))
    for r in rows:
        r["_key"] = (r["tender_id"], r["bidder_key"])
    counts = _upsert(session, Bid, "_key", rows, BID_COLUMNS, existing, extra={"import_id": import_id})
    # A bid marked 中标 names its tender's winner when no award file has done so.
    marked = {r["tender_id"]: r["bidder_key"] for r in rows if r["won"] and not winners.get(r["tender_id"])}
    if marked:
        session.execute(update(Tender), [{"id": t, "winner_key": k} for t, k in marked.items()])
    counts["shareholders_added"] = _add_shareholders(
        session, {(r["bidder_key"], s) for r in rows for s in r["shareholders"]}
    )
    counts["linked_to_registry"] = sum(1 for r in rows if r["subject_id"])
    return counts


def _apply_awards(
    session: Session, rows: list[dict[str, Any]], import_id: int, tender_ids: dict[str, int]
) -> dict[str, int]:
    counts = {"created": 0, "updated": 0, "unchanged": 0, "winner_without_bid": 0}
    bids = Bid.__table__
    # Each awarded tender's bids are re-marked (won = bidder is the winner) by one statement executed for all of
    # a chunk's tenders at once (executemany), not one round of the ORM per tender.
    mark_won = (
        update(bids).where(bids.c.tender_id == bindparam("tid")).values(won=bids.c.bidder_key == bindparam("winner"))
    )
    for chunk in _chunks(rows):
        winners: list[dict[str, Any]] = []
        ids = [tender_ids[r["project_no"]] for r in chunk]
        current = {t.id: t for t in session.scalars(select(Tender).where(Tender.id.in_(ids)))}
        bidders = defaultdict(set)
        for tid, key in session.execute(select(Bid.tender_id, Bid.bidder_key).where(Bid.tender_id.in_(ids))):
            bidders[tid].add(key)
        for r in chunk:
            t = current[tender_ids[r["project_no"]]]
            new = (r["winner_key"], r["price_fen"], r["awarded_on"])
            if (t.winner_key, t.award_price_fen, t.awarded_on) == new:
                counts["unchanged"] += 1
                continue
            counts["created" if t.winner_key is None else "updated"] += 1
            t.winner_key, t.award_price_fen, t.awarded_on = new
            t.updated_at = utcnow()
            if r["winner_key"] not in bidders[t.id]:
                counts["winner_without_bid"] += 1
            winners.append({"tid": t.id, "winner": r["winner_key"]})
        if winners:
            session.connection().execute(mark_won, winners)
    return counts


def _apply_bidders(session: Session, rows: list[dict[str, Any]], import_id: int, _: dict[str, int]) -> dict[str, int]:
    columns = ["bidder_key", "bidder_name", "legal_rep", "address", "phone"]
    existing: dict[Any, Any] = {}
    for chunk in _chunks([r["bidder_key"] for r in rows]):
        for row in session.execute(
            select(*[getattr(BidderAttribute, c) for c in columns]).where(BidderAttribute.bidder_key.in_(chunk))
        ):
            existing[row[0]] = (row[0], tuple(row))
    new, changed, same = [], [], 0
    for r in rows:
        values = {c: r.get(c) for c in columns}
        found = existing.get(r["bidder_key"])
        if found is None:
            new.append(values)
        elif tuple(values.values()) != found[1]:
            changed.append(values)
        else:
            same += 1
    insert_rows(session, BidderAttribute.__table__, new)
    for values in changed:
        session.execute(
            update(BidderAttribute).where(BidderAttribute.bidder_key == values["bidder_key"]).values(**values)
        )
    added = _add_shareholders(session, {(r["bidder_key"], s) for r in rows for s in r["shareholders"]})
    return {"created": len(new), "updated": len(changed), "unchanged": same, "shareholders_added": added}


SPOT_COLUMNS = [
    "sample_no",
    "subject_name",
    "subject_uscc",
    "subject_id",
    "product",
    "category",
    "checked_on",
    "passed",
    "failed_items",
    "department",
]


def _apply_spot_checks(
    session: Session, rows: list[dict[str, Any]], import_id: int, _: dict[str, int]
) -> dict[str, int]:
    by_code = _subject_ids(session, {r["subject_uscc"] for r in rows})
    names = sorted({normalize_org_name(r["subject_name"]) for r in rows if not r["subject_uscc"]})
    by_name: dict[str, list[int]] = defaultdict(list)
    for chunk in _chunks(names):
        for norm, subject_id in session.execute(
            select(Subject.name_norm, Subject.id).where(Subject.name_norm.in_(chunk))
        ):
            by_name[norm].append(subject_id)
    for r in rows:
        sid = by_code.get(r["subject_uscc"]) if r["subject_uscc"] else None
        if sid is None and not r["subject_uscc"]:
            found = by_name.get(normalize_org_name(r["subject_name"]), [])
            sid = found[0] if len(found) == 1 else None  # a name shared by two subjects links to neither
        r["subject_id"] = sid
    existing: dict[Any, Any] = {}
    cols = [getattr(SpotCheck, c) for c in SPOT_COLUMNS]
    for chunk in _chunks([r["sample_no"] for r in rows]):
        for row in session.execute(select(SpotCheck.id, *cols).where(SpotCheck.sample_no.in_(chunk))):
            existing[row[1]] = (row[0], tuple(row[1:]))
    counts = _upsert(session, SpotCheck, "sample_no", rows, SPOT_COLUMNS, existing, extra={"import_id": import_id})
    counts["linked_to_registry"] = sum(1 for r in rows if r["subject_id"])
    counts["failures"] = sum(1 for r in rows if not r["passed"])
    return counts


# Analysis ---------------------------------------------------------------------------------------------------


def load_facts(session: Session) -> tuple[list[collusion.BidFact], dict[str, list[str]], dict[int, dict[str, Any]]]:
    """Every bid as a fact for the rules (legal rep / address / phone filled from attributes, then registry),
    the shareholders per bidder, and the tenders' display data."""
    stmt = (
        select(
            Bid.tender_id,
            Tender.opened_on,
            Bid.bidder_key,
            Bid.bidder_name,
            Bid.price_fen,
            func.coalesce(Bid.phone, BidderAttribute.phone),
            func.coalesce(Bid.legal_rep, BidderAttribute.legal_rep, Subject.legal_rep),
            func.coalesce(Bid.address, BidderAttribute.address, Subject.address),
            Bid.ip,
            Bid.won,
        )
        .join(Tender, Tender.id == Bid.tender_id)
        .outerjoin(BidderAttribute, BidderAttribute.bidder_key == Bid.bidder_key)
        .outerjoin(Subject, Subject.id == Bid.subject_id)
    )
    facts = []
    addresses: dict[str, str | None] = {}
    for tid, opened, key, name, price, phone, rep, address, ip, won in session.execute(stmt):
        if address is not None and address not in addresses:
            addresses[address] = fmt.normalize_address(address)
        facts.append(
            collusion.BidFact(
                tid,
                opened,
                key,
                name,
                price,
                phone,
                fmt.normalize_person(rep) if rep else None,
                addresses.get(address) if address else None,
                ip,
                won,
            )
        )
    holders: dict[str, list[str]] = defaultdict(list)
    for key, holder in session.execute(select(BidderShareholder.bidder_key, BidderShareholder.shareholder)):
        holders[key].append(holder)
    tenders = {
        tid: {"project_no": no, "name": name, "tenderer": tenderer, "category": category}
        for tid, no, name, tenderer, category in session.execute(
            select(Tender.id, Tender.project_no, Tender.name, Tender.tenderer, Tender.category)
        )
    }
    return facts, dict(holders), tenders


def run_analysis(session: Session, *, actor: Principal) -> TradingAnalysis:
    """Run every red-flag rule over all bids and store the ranked result (one audited run)."""
    started = time.perf_counter()
    settings = trading_settings()
    # Read and compute on the side (core.db.reading_apart): on SQLite the seconds of reading every bid and running
    # the rules do not hold the write lock that the run's own writing needs only at the end.
    with reading_apart(session) as reader:
        facts, holders, tenders = load_facts(reader)
        result = collusion.analyse(facts, shareholders=holders, settings=settings)
    for t in result.tenders:
        t.update(tenders.get(t["tender_id"], {}))
    for g in result.groups:
        g["tenders_detail"] = [
            {"tender_id": tid, "project_no": tenders.get(tid, {}).get("project_no"), "score": result.scores[tid]}
            for tid in g.pop("tender_ids")
        ]
    run = TradingAnalysis(
        actor=actor.actor,
        seconds=round(time.perf_counter() - started, 3),
        params={"weights": settings.weights, "high": settings.high, "medium": settings.medium},
        summary=result.summary,
        tenders=result.tenders,
        groups=result.groups,
    )
    session.add(run)
    session.flush()
    audit.record(
        session,
        actor=actor.actor,
        action="analytics.trading_analysis",
        entity_type="trading_analysis",
        entity_id=run.id,
        after=result.summary,
    )
    return run


def get_analysis(session: Session, analysis_id: int | None = None) -> TradingAnalysis:
    """A run by id, or the latest one."""
    stmt = select(TradingAnalysis)
    stmt = (
        stmt.where(TradingAnalysis.id == analysis_id)
        if analysis_id
        else stmt.order_by(TradingAnalysis.id.desc()).limit(1)
    )
    run = session.scalar(stmt)
    if run is None:
        raise NotFound(
            "尚无串标风险分析结果：请先运行分析（xinyong analytics trading-analyse）", code="analysis_not_found"
        )
    return run


def analysis_view(run: TradingAnalysis) -> dict[str, Any]:
    return {
        "id": run.id,
        "started_at": run.started_at,
        "seconds": run.seconds,
        "actor": run.actor,
        "summary": run.summary,
        "params": run.params,
    }


def ranked_tenders(
    run: TradingAnalysis, *, level: str | None = None, limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    rows = [t for t in run.tenders if level is None or t["level"] == level]
    return {"analysis_id": run.id, "total": len(rows), "items": rows[offset : offset + limit]}


def ranked_groups(
    run: TradingAnalysis, *, level: str | None = None, limit: int = 50, offset: int = 0
) -> dict[str, Any]:
    rows = [g for g in run.groups if level is None or g["level"] == level]
    return {"analysis_id": run.id, "total": len(rows), "items": rows[offset : offset + limit]}


def tender_detail(session: Session, project_no: str) -> dict[str, Any]:
    """A tender, its bids (phones masked) and its flags in the latest analysis (if any run has seen it)."""
    tender = session.scalar(select(Tender).where(Tender.project_no == project_no))
    if tender is None:
        raise NotFound(f"项目编号 {project_no} 不存在", code="tender_not_found")
    bids = session.execute(
        select(Bid, BidderAttribute.legal_rep, BidderAttribute.address, Subject.legal_rep, Subject.address)
        .outerjoin(BidderAttribute, BidderAttribute.bidder_key == Bid.bidder_key)
        .outerjoin(Subject, Subject.id == Bid.subject_id)
        .where(Bid.tender_id == tender.id)
        .order_by(Bid.price_fen)
    ).all()
    out_bids = []
    for b, attr_rep, attr_addr, reg_rep, reg_addr in bids:
        rep, rep_src = _with_source(b.legal_rep, attr_rep, reg_rep)
        addr, addr_src = _with_source(b.address, attr_addr, reg_addr)
        out_bids.append(
            {
                "bidder_key": b.bidder_key,
                "bidder_name": b.bidder_name,
                "bidder_uscc": b.bidder_uscc,
                "subject_id": b.subject_id,
                "price": b.price_fen / 100,
                "bid_at": b.bid_at,
                "phone": mask_phone(b.phone) if b.phone else None,
                "legal_rep": rep,
                "legal_rep_source": rep_src,
                "address": addr,
                "address_source": addr_src,
                "ip": b.ip,
                "won": b.won,
            }
        )
    run = session.scalar(select(TradingAnalysis).order_by(TradingAnalysis.id.desc()).limit(1))
    analysed = next((t for t in run.tenders if t["tender_id"] == tender.id), None) if run else None
    return {
        "project_no": tender.project_no,
        "name": tender.name,
        "tenderer": tender.tenderer,
        "category": tender.category,
        "budget": tender.budget_fen / 100 if tender.budget_fen is not None else None,
        "opened_on": tender.opened_on,
        "winner_key": tender.winner_key,
        "award_price": tender.award_price_fen / 100 if tender.award_price_fen is not None else None,
        "awarded_on": tender.awarded_on,
        "bids": out_bids,
        "analysis_id": run.id if run else None,
        "score": analysed["score"] if analysed else 0,
        "level": analysed["level"] if analysed else "low",
        "flags": analysed["flags"] if analysed else [],
    }


def _with_source(own: str | None, attribute: str | None, registry: str | None) -> tuple[str | None, str | None]:
    if own:
        return own, "bid"
    if attribute:
        return attribute, "bidder_file"
    if registry:
        return registry, "registry"
    return None, None


def bidder_stats(
    session: Session,
    *,
    q: str | None = None,
    bidder_key: str | None = None,
    order: str = "bids",
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """投标参与情况与中标情况: per bidder its bids, wins, win rate, amount won and active period."""
    won = func.sum(case((Bid.won, 1), else_=0)).cast(Integer)
    amount = func.sum(case((Bid.won, Bid.price_fen), else_=0))
    stmt = (
        select(
            Bid.bidder_key,
            func.max(Bid.bidder_name),
            func.max(Bid.bidder_uscc),
            func.max(Bid.subject_id),
            func.count().label("bids"),
            won.label("wins"),
            amount.label("amount"),
            func.min(Tender.opened_on),
            func.max(Tender.opened_on),
        )
        .join(Tender, Tender.id == Bid.tender_id)
        .group_by(Bid.bidder_key)
    )
    if bidder_key:
        stmt = stmt.where(Bid.bidder_key == bidder_key)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Bid.bidder_name.like(like), Bid.bidder_uscc == q.strip()))
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    sort = {"bids": [func.count().desc()], "wins": [won.desc()], "amount": [amount.desc()]}.get(order)
    if sort is None:
        raise ValidationFailed("排序应为 bids / wins / amount", code="invalid_order")
    items = []
    for key, name, code, sid, bids, wins, amt, first, last in session.execute(
        stmt.order_by(*sort, Bid.bidder_key).limit(limit).offset(offset)
    ):
        items.append(
            {
                "bidder_key": key,
                "bidder_name": name,
                "bidder_uscc": code,
                "subject_id": sid,
                "bids": bids,
                "wins": wins or 0,
                "win_rate": round((wins or 0) / bids, 4) if bids else 0.0,
                "amount_won": (amt or 0) / 100,
                "first_bid_on": first,
                "last_bid_on": last,
            }
        )
    return {"total": total or 0, "items": items}


def bidder_profile(session: Session, bidder_key: str) -> dict[str, Any]:
    """One bidder's statistics, its latest bids, and the groups and flagged tenders of the latest analysis."""
    stats = bidder_stats(session, bidder_key=bidder_key, limit=1)
    if not stats["items"]:
        raise NotFound("未找到该投标人", code="bidder_not_found")
    recent = session.execute(
        select(Tender.project_no, Tender.name, Tender.opened_on, Bid.price_fen, Bid.won)
        .join(Tender, Tender.id == Bid.tender_id)
        .where(Bid.bidder_key == bidder_key)
        .order_by(Tender.opened_on.desc())
        .limit(20)
    ).all()
    run = session.scalar(select(TradingAnalysis).order_by(TradingAnalysis.id.desc()).limit(1))
    groups = [g for g in run.groups if any(m["key"] == bidder_key for m in g["members"])] if run else []
    flagged = [
        {
            "project_no": t.get("project_no"),
            "score": t["score"],
            "level": t["level"],
            "flags": sorted({f["kind"] for f in t["flags"] if any(b["key"] == bidder_key for b in f["bidders"])}),
        }
        for t in (run.tenders if run else [])
        if any(b["key"] == bidder_key for f in t["flags"] for b in f["bidders"])
    ]
    return {
        **stats["items"][0],
        "recent_bids": [
            {"project_no": no, "name": name, "opened_on": on, "price": p / 100, "won": w}
            for no, name, on, p, w in recent
        ],
        "groups": [{"rank": g["rank"], "score": g["score"], "level": g["level"], "size": g["size"]} for g in groups],
        "flagged_tenders": flagged[:50],
    }

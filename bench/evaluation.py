"""Benchmark: credit evaluation (``evaluation.service.run_evaluation``) of a province-sized registry.

    .venv/bin/python bench/evaluation.py [--subjects 1000000] [--records 3000000] [--db URL] [--changed 1000]

Builds a fresh database (SQLite file in bench/out by default; with ``--db postgresql+psycopg://…/<name>`` the
database ``<name>``, which must start with ``xinyong_bench``, is dropped and created), seeds the catalog, list types
and departments, and writes (bulk, ``core.bulk.insert_rows``) N legal persons with registration dates and statuses,
M licences and penalties (general / serious, 5 years of decisions, 3 departments), list entries (black, abnormal,
debtor, red; 2 % of subjects) and commitments (kept / broken; 5 %). Then it times:
- the first full run of the general model (every result and history row new);
- a second full run (nothing changed: results rewritten, no history);
- an incremental run of ``--changed`` subjects named explicitly, after giving each a new penalty;
- an incremental run by ``changed_since`` (the same kind of change on other subjects);
- an incremental run the next day with nothing written (the subjects the passing day changes: date windows);
and prints the figures, the grade distribution, the storage of the results and the peak RSS of this process.
The engine is SQL end to end: the Python process stays small whatever the population.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import time
from pathlib import Path

import common  # bench/common.py (this folder is on sys.path)

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
MODEL = "public_credit_legal_person"
AS_OF = dt.date(2026, 6, 15)


def fresh_database(url: str | None) -> str:
    return common.fresh_database(url, default_name="bench-evaluation.db")


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(url: str, subjects: int, records: int, seed: int) -> dict[str, int]:
    from sqlalchemy import select, text

    from xinyong.auth import service as auth
    from xinyong.auth.roles import system_principal
    from xinyong.catalog.service import seed_catalog
    from xinyong.commitments.models import Commitment
    from xinyong.core.bulk import allocate_ids, insert_rows
    from xinyong.core.db import get_database, utcnow
    from xinyong.identifiers import uscc
    from xinyong.lists.models import ListEntry, ListType
    from xinyong.lists.types import seed_list_types
    from xinyong.models import Base
    from xinyong.records.models import CreditRecord
    from xinyong.subjects.models import Subject

    rng = random.Random(seed)
    db = get_database(url)
    Base.metadata.create_all(db.engine)
    actor = system_principal("bench")
    with db.session() as session:
        seed_catalog(session, actor=actor)
        seed_list_types(session, actor=actor)
        depts = []
        for i, (code, name) in enumerate(
            (("scjgj", "沁阳市市场监督管理局"), ("wjw", "沁阳市卫生健康委员会"), ("sthjj", "焦作市生态环境局沁阳分局")),
            1,
        ):
            d = auth.create_department(
                session,
                actor=actor,
                code=code,
                name=name,
                uscc=uscc.make(authority="1", category="1", region="410882", org_body=f"{i:08d}"),
            )
            depts.append((d.id, d.uscc))
        types = {t.kind: t for t in session.scalars(select(ListType))}
    now = utcnow()
    chunk = 100_000
    first = None
    t0 = time.perf_counter()
    with db.session() as session:
        for start in range(0, subjects, chunk):
            n = min(chunk, subjects - start)
            ids = allocate_ids(session, Subject.__table__, n)
            first = first or ids[0]
            rows = []
            for i, sid in enumerate(ids):
                name = f"沁阳市测试{start + i}有限公司"
                rows.append(
                    {
                        "id": sid,
                        "kind": "legal_person",
                        "org_type": "enterprise",
                        "name": name,
                        "name_norm": name,
                        "uscc": f"B{start + i:017d}",
                        "uscc_flagged": False,
                        "region_code": "410882",
                        "registered_on": dt.date(1995, 1, 1) + dt.timedelta(days=rng.randrange(11_000)),
                        "status": rng.choices(("存续", "吊销", "注销"), (0.95, 0.02, 0.03))[0],
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            insert_rows(session, Subject.__table__, rows)
    t_subjects = time.perf_counter() - t0
    assert first is not None
    t0 = time.perf_counter()
    with db.session() as session:
        done = 0
        while done < records:
            n = min(chunk, records - done)
            ids = allocate_ids(session, CreditRecord.__table__, n)
            rows = []
            for rid in ids:
                dept_id, dept_uscc = depts[rng.randrange(3)]
                licence = rng.random() < 0.4
                decided = AS_OF - dt.timedelta(days=rng.randrange(5 * 365))
                types_ = ["罚款"] if rng.random() < 0.9 else ["罚款", "责令停产停业"]
                rows.append(
                    {
                        "id": rid,
                        "kind": "licence" if licence else "penalty",
                        "authority_uscc": dept_uscc,
                        "doc_no_norm": f"D{rid}",
                        "doc_no": f"D{rid}",
                        "authority": "机关",
                        "subject_id": first + rng.randrange(subjects),
                        "department_id": dept_id,
                        "version_count": 1,
                        "content_hash": "0",
                        "party_kind": "legal_person",
                        "party_name": "x",
                        "decision_date": decided,
                        "severity": "serious" if not licence and rng.random() < 0.08 else "general",
                        "penalty_types": [] if licence else types_,
                        "penalty_types_key": "" if licence else "|" + "|".join(sorted(types_)) + "|",
                        "licence_valid_from": decided if licence else None,
                        "licence_valid_to": decided + dt.timedelta(days=365 * 3) if licence else None,
                        "received_at": now,
                        "workdays_late": 0,
                        "late": False,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            insert_rows(session, CreditRecord.__table__, rows)
            done += n
    t_records = time.perf_counter() - t0
    n_entries = subjects // 50
    with db.session() as session:
        ids = allocate_ids(session, ListEntry.__table__, n_entries)
        kinds = ("black", "abnormal", "debtor", "red")
        rows = []
        for eid in ids:
            lt = types[rng.choice(kinds)]
            listed = AS_OF - dt.timedelta(days=rng.randrange(3 * 365))
            rows.append(
                {
                    "id": eid,
                    "list_type_id": lt.id,
                    "entry_key": f"E{eid}",
                    "subject_id": first + rng.randrange(subjects),
                    "party_name": "x",
                    "reason": "bench",
                    "facts": "",
                    "legal_basis": "bench",
                    "authority": lt.authority,
                    "status": "active",
                    "listed_on": listed,
                    "term_end": listed + dt.timedelta(days=3 * 365),
                    "data": {},
                    "match_status": "code",
                    "source": "department",
                    "revision": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        insert_rows(session, ListEntry.__table__, rows)
        n_commit = subjects // 20
        ids = allocate_ids(session, Commitment.__table__, n_commit)
        rows = []
        for cid in ids:
            made = AS_OF - dt.timedelta(days=rng.randrange(3 * 365))
            broken = rng.random() < 0.1
            rows.append(
                {
                    "id": cid,
                    "code": f"410882{made:%Y%m%d}{cid:06d}"[:20],
                    "subject_id": first + rng.randrange(subjects),
                    "department_id": depts[0][0],
                    "promisor_name": "x",
                    "promisor_kind": "legal_person",
                    "promisor_code": "x",
                    "commitment_type": "approval_substitute",
                    "reason": "x",
                    "content": "x",
                    "liability": "x",
                    "made_on": made,
                    "fulfilment_status": "unfulfilled" if broken else "fulfilled",
                    "determined_on": made + dt.timedelta(days=90),
                    "accepting_unit": "x",
                    "accepting_unit_code": "x",
                    "public_type": "public",
                    "extra": {},
                    "broken_on": made + dt.timedelta(days=90) if broken else None,
                    "content_hash": "0",
                    "version_count": 1,
                    "actor": "bench",
                    "received_at": now,
                    "revision": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        insert_rows(session, Commitment.__table__, rows)
        if session.get_bind().dialect.name == "postgresql":
            for t in ("subjects", "credit_records", "list_entries", "commitments"):
                session.execute(text(f"ANALYZE {t}"))
    print(
        f"built: {subjects:,} subjects in {t_subjects:.1f} s, {records:,} records in {t_records:.1f} s, "
        f"{n_entries:,} list entries, {n_commit:,} commitments"
    )
    return {"first": first}


def existing(url: str | None) -> dict[str, int] | None:
    """The first subject id and the counts of an earlier run's database, or None when there is none to reuse."""
    from sqlalchemy import func, inspect, select

    from xinyong.core.db import get_database
    from xinyong.records.models import CreditRecord
    from xinyong.subjects.models import Subject

    if not url:
        OUT.mkdir(exist_ok=True)
        url = f"sqlite:///{OUT / 'bench-evaluation.db'}"
    try:
        db = get_database(url)
        if not inspect(db.engine).has_table("credit_records"):
            return None
        with db.session() as session:
            first = session.scalar(select(func.min(Subject.id)))
            if first is None:
                return None
            return {
                "first": first,
                "subjects": session.scalar(select(func.count()).select_from(Subject)) or 0,
                "records": session.scalar(select(func.count()).select_from(CreditRecord)) or 0,
            }
    except Exception:  # no such database yet
        return None


def clear_results(url: str) -> None:
    """Forget every run, result and history row, so that the first full run writes everything again."""
    from sqlalchemy import delete, text

    from xinyong.core.db import get_database
    from xinyong.evaluation.models import EvaluationResult, EvaluationRun, GradeHistory

    db = get_database(url)
    with db.session() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("TRUNCATE evaluation_history, evaluation_results, evaluation_runs"))
        else:
            for model in (GradeHistory, EvaluationResult, EvaluationRun):
                session.execute(delete(model))


def touch(url: str, subject_ids: list[int]) -> None:
    """Give each subject a new penalty (decided today-ish), as a department's submission would."""
    from sqlalchemy import select

    from xinyong.core.bulk import allocate_ids, insert_rows
    from xinyong.core.db import get_database, utcnow
    from xinyong.records.models import CreditRecord

    db = get_database(url)
    now = utcnow()
    with db.session() as session:
        dept_id, dept_uscc = session.execute(
            select(CreditRecord.department_id, CreditRecord.authority_uscc).limit(1)
        ).one()
        ids = allocate_ids(session, CreditRecord.__table__, len(subject_ids))
        insert_rows(
            session,
            CreditRecord.__table__,
            [
                {
                    "id": rid,
                    "kind": "penalty",
                    "authority_uscc": dept_uscc,
                    "doc_no_norm": f"T{rid}",
                    "doc_no": f"T{rid}",
                    "authority": "机关",
                    "subject_id": sid,
                    "department_id": dept_id,
                    "version_count": 1,
                    "content_hash": "0",
                    "party_kind": "legal_person",
                    "party_name": "x",
                    "decision_date": AS_OF - dt.timedelta(days=3),
                    "severity": "serious",
                    "penalty_types": ["罚款"],
                    "penalty_types_key": "|罚款|",
                    "received_at": now,
                    "workdays_late": 0,
                    "late": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for rid, sid in zip(ids, subject_ids, strict=True)
            ],
        )


def timed_run(url: str, label: str, as_of: dt.date = AS_OF, **kw) -> dict:
    from xinyong.auth.roles import system_principal
    from xinyong.core.db import get_database
    from xinyong.evaluation import service

    db = get_database(url)
    t0 = time.perf_counter()
    with db.session() as session:
        [run] = service.run_evaluation(session, actor=system_principal("bench"), model=MODEL, as_of=as_of, **kw)
    seconds = time.perf_counter() - t0
    print(
        f"{label:<44} {seconds:8.2f} s   evaluated {run['evaluated']:>9,}  changed {run['changed']:>9,}  "
        f"grade changed {run['grade_changed']:>7,}  removed {run['removed']:>5,}   RSS peak {rss_mib():.0f} MiB"
    )
    return {**run, "wall": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--records", type=int, default=3_000_000)
    ap.add_argument("--changed", type=int, default=1000)
    ap.add_argument("--db", default=None)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep the database of an earlier run (no drop, no build) when it holds subjects; build it otherwise",
    )
    ap.add_argument(
        "--full-only", action="store_true", help="time the two full runs only (no rows written by the bench)"
    )
    args = ap.parse_args()

    from sqlalchemy import func, select, text

    from xinyong.auth.roles import system_principal
    from xinyong.core.db import get_database
    from xinyong.evaluation import service
    from xinyong.evaluation.models import EvaluationResult, GradeHistory

    info = existing(args.db) if args.reuse else None
    if info is not None:
        url = args.db
        print(f"reusing the database: {info['subjects']:,} subjects, {info['records']:,} records")
        clear_results(url)
    else:
        url = fresh_database(args.db)
        info = build(url, args.subjects, args.records, args.seed)
    db = get_database(url)
    with db.session() as session:
        service.load_models(session, actor=system_principal("bench"))
    full = timed_run(url, "full run (first: all results new)")
    print(f"  grade distribution: {full['distribution']}")
    timed_run(url, "full run (again, nothing changed)")
    if args.full_only:
        return
    rng = random.Random(args.seed + 1)
    picked = rng.sample(range(info["first"], info["first"] + args.subjects), 2 * args.changed)
    explicit, by_time = picked[: args.changed], picked[args.changed :]
    touch(url, explicit)
    timed_run(url, f"incremental: {args.changed:,} subjects named", subject_ids=explicit)
    since = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    touch(url, by_time)
    timed_run(url, f"incremental: changed since (≈{args.changed:,} subjects)", changed_since=since)
    # The next day nothing was written, yet events cross decay steps, terms end, registrations have anniversaries:
    # the date windows select those subjects (evaluation.engine.date_window_sources).
    nxt = timed_run(
        url, "incremental: next day, nothing written", as_of=AS_OF + dt.timedelta(days=1), changed_since="last"
    )
    print(f"  selected by the date windows: {nxt['selection'].get('selected', 0):,}")
    with db.session() as session:
        results = session.scalar(select(func.count()).select_from(EvaluationResult))
        history = session.scalar(select(func.count()).select_from(GradeHistory))
        size = ""
        if session.get_bind().dialect.name == "postgresql":
            size = session.execute(
                text(
                    "SELECT pg_size_pretty(pg_total_relation_size('evaluation_results')), "
                    "pg_size_pretty(pg_total_relation_size('evaluation_history'))"
                )
            ).one()
            size = f" (results {size[0]}, history {size[1]})"
    print(f"storage: {results:,} current results, {history:,} history rows{size}")
    print(f"peak RSS of this process: {rss_mib():.0f} MiB")


if __name__ == "__main__":
    from xinyong.wiring import wire

    wire()  # the start-up wiring every entry point does (core.hooks)
    main()

"""Writers under load, against the real server (issue #13, findings 2 and 3).

A uvicorn server is started in a subprocess on the test database — SQLite with one worker (the embedded
default), PostgreSQL with two — and loaded at once with uploads of penalty files (several naming the same
companies, new to the registry, in different orders), withdrawals, logins and token creation, each client on its own
keep-alive connection, while two clients send credit checks without pause until every other client is done.
Nothing may answer 5xx, no connection may be reset, and no batch may be lost: every upload answered 201 is in the
database with every row it accepted, and every file's records are there. Beside them (issue #15's write paths)
departments read government files and a bank reads an authorised profile and reports loan outcomes — each read is a
row of the subject's access log and an event of the audit chain — so the chain must still verify afterwards.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.factories import (
    DEFAULT_PASSWORD,
    make_department,
    make_token,
    make_uscc,
    make_user,
    register_authority,
)
from tests.ingest.helpers import AUTHORITY, AUTHORITY_NAME, penalty_row
from tests.records.helpers import company_uscc
from xinyong.auth.models import ApiToken
from xinyong.auth.roles import Role, system_principal
from xinyong.catalog.service import seed_catalog
from xinyong.core import audit
from xinyong.core.db import Database
from xinyong.financing import service as financing
from xinyong.identifiers import resident_id
from xinyong.ingest.models import IngestBatch
from xinyong.professions.models import ProfessionRegistration
from xinyong.records.models import CreditRecord, RecordVersion
from xinyong.subjects.access_log import SubjectAccess
from xinyong.subjects.models import Subject
from xinyong.web import devserver

REPO = Path(__file__).resolve().parents[2]
FILES = 8
ROWS = 300
SHARED = 40  # companies new to the registry that every file names (in its own order)
PHARMACISTS = 24  # pushed by two clients in overlapping slices of six


@pytest.fixture
def live(database: Database, tmp_path: Path) -> Iterator[devserver.Server]:
    """The app under uvicorn on the test database: one worker on SQLite (the embedded default), two on PostgreSQL."""
    try:
        server = devserver.start(
            database.url,
            data_dir=tmp_path / "data",
            log=tmp_path / "server.log",
            workers=1 if database.dialect == "sqlite" else 2,
            cwd=tmp_path,
            env={"XINYONG_SECRET_KEY": os.environ["XINYONG_SECRET_KEY"]},
        )
    except devserver.ServerDidNotStart as exc:
        pytest.fail(str(exc))
    with server:
        yield server


def _recent(days: int) -> str:
    return (dt.date.today() - dt.timedelta(days=days)).isoformat()


def write_file(path: Path, number: int, shared: list[str], rng: random.Random) -> set[str]:
    """A penalty CSV of ``ROWS`` rows: the shared new companies in a random order, then companies of this file only.
    Returns the file's document numbers."""
    parties = list(shared)
    rng.shuffle(parties)
    parties += [company_uscc(10_000 + number * 1000 + i) for i in range(ROWS - len(parties))]
    docs = set()
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = None
        for i, code in enumerate(parties):
            doc = f"沁市监罚〔2026〕{number}-{i + 1}号"
            docs.add(doc)
            row = penalty_row(
                **{
                    "行政相对人代码_1(统一社会信用代码)": code,
                    "行政相对人名称": f"沁阳市测试{code[-6:]}有限公司",
                    "行政处罚决定书文号": doc,
                    "处罚决定日期": _recent(3),
                    "处罚有效期": (dt.date.today() + dt.timedelta(days=365)).isoformat(),
                    "公示截止期": "",
                }
            )
            if writer is None:
                writer = csv.DictWriter(fh, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
    return docs


@dataclass
class Outcomes:
    """What the clients saw: status codes per operation, transport errors, the upload answers."""

    statuses: dict[str, list[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    uploads: dict[int, dict] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, op: str, response: httpx.Response) -> None:
        with self.lock:
            self.statuses.setdefault(op, []).append(response.status_code)
            if response.status_code >= 500:
                self.failures.append(f"{op}: {response.status_code} {response.text[:300]}")

    def broken(self, op: str, exc: Exception) -> None:
        with self.lock:
            self.failures.append(f"{op}: {type(exc).__name__}: {exc}")


def run_clients(jobs: list[Callable[[], None]], *, alongside: list[Callable[[], None]], stop: threading.Event) -> None:
    """Start every client at once; when ``jobs`` are all done, set ``stop`` to end the ``alongside`` ones (which
    load the server for exactly as long as the jobs run, instead of a fixed window the jobs may not fit in)."""
    threads = [threading.Thread(target=job) for job in jobs]
    side = [threading.Thread(target=job) for job in alongside]
    for t in side + threads:
        t.start()
    try:
        for t in threads:
            t.join(timeout=120)
    finally:
        stop.set()
    for t in side:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads + side), "a client did not finish within 120 s"


def test_writers_queue_under_load(database: Database, session, live: devserver.Server, tmp_path: Path) -> None:
    actor = system_principal("tests")
    seed_catalog(session, actor=actor)
    dept = make_department(session, code="scjgj")
    register_authority(session, dept, uscc=AUTHORITY, name=AUTHORITY_NAME)  # the 处罚机关 of penalty_row()
    operator = make_token(session, Role.DEPT_OPERATOR, dept)
    checker = make_token(session, Role.BUSINESS_SYSTEM, dept)
    make_user(session, username="op-load", role=Role.DEPT_OPERATOR, department=dept, password=DEFAULT_PASSWORD)
    session.commit()
    rng = random.Random(13)
    shared = [company_uscc(9_000 + i) for i in range(SHARED)]
    files = {n: tmp_path / f"penalties-{n}.csv" for n in range(FILES + 1)}
    # File 0 (loaded before the load, for the withdrawals) names none of the shared companies: they are new then.
    docs = {n: write_file(path, n, shared if n else [], rng) for n, path in files.items()}
    op_headers = {"Authorization": f"Bearer {operator}"}

    # File 0 first, alone: the records the withdrawals will withdraw during the load.
    with httpx.Client(base_url=live.base_url, headers=op_headers, timeout=120) as c:
        first = c.post("/api/v1/ingest/files", files={"file": (files[0].name, files[0].read_bytes(), "text/csv")})
    assert first.status_code == 201, first.text
    to_withdraw = list(
        session.scalars(
            select(CreditRecord.id)
            .where(CreditRecord.doc_no.like("沁市监罚〔2026〕0-%"))
            .order_by(CreditRecord.id)
            .limit(40)
        )
    )
    session.rollback()
    assert len(to_withdraw) == 40
    # 信易贷: a bank bound to its institution, with the subjects' online authorisation for file 0's companies.
    known = list(
        session.scalars(
            select(Subject).join(CreditRecord, CreditRecord.subject_id == Subject.id).order_by(Subject.id).limit(8)
        )
    )
    financing.create_institution(session, actor=actor, code="qyrcb", name="沁阳农村商业银行", uscc=make_uscc(901))
    bank = make_token(session, Role.BANK, name="农商行信贷系统")
    session.commit()
    bank_token_id = max(t.id for t in session.scalars(select(ApiToken).where(ApiToken.name == "农商行信贷系统")))
    financing.bind_principal(session, actor=actor, institution="qyrcb", token_id=bank_token_id)
    grants = [
        financing.grant_online(
            session, subject_id=s.id, institution="qyrcb", scope=("registration", "penalty"), days=30
        ).id
        for s in known
    ]
    codes = [s.uscc for s in known]
    session.commit()
    access_before = session.scalar(select(func.count()).select_from(SubjectAccess))
    session.rollback()

    out = Outcomes()
    stop = threading.Event()

    def uploader(n: int) -> Callable[[], None]:
        def job() -> None:
            with httpx.Client(base_url=live.base_url, headers=op_headers, timeout=120) as c:
                try:
                    r = c.post(
                        "/api/v1/ingest/files", files={"file": (files[n].name, files[n].read_bytes(), "text/csv")}
                    )
                    out.note("upload", r)
                    if r.status_code == 201:
                        out.uploads[n] = r.json()
                    # The same connection is used again: it must not have been reset by the server.
                    out.note("after-upload", c.get("/api/v1/auth/me"))
                except httpx.HTTPError as exc:
                    out.broken("upload", exc)

        return job

    def loop(
        op: str,
        step: Callable[[httpx.Client, int], httpx.Response],
        headers: dict[str, str] | None = None,
        limit: int | None = None,
        pause: float = 0.0,
    ) -> Callable[[], None]:
        """``limit`` calls, or (``limit`` None) calls until ``stop`` is set."""

        def job() -> None:
            with httpx.Client(base_url=live.base_url, headers=headers or {}, timeout=120) as c:
                i = 0
                while (i < limit) if limit is not None else not stop.is_set():
                    try:
                        out.note(op, step(c, i))
                    except httpx.HTTPError as exc:
                        out.broken(op, exc)
                        return
                    i += 1
                    if pause:
                        time.sleep(pause)

        return job

    def check(c: httpx.Client, i: int) -> httpx.Response:
        return c.post("/api/v1/checks", json={"scenario": "general", "subjects": [{"code": shared[i % SHARED]}]})

    def withdraw(part: int) -> Callable[[httpx.Client, int], httpx.Response]:
        mine = to_withdraw[part::2]

        def step(c: httpx.Client, i: int) -> httpx.Response:
            return c.post(f"/api/v1/records/{mine[i]}/withdraw", json={"reason": "处罚决定已被撤销（并发测试）"})

        return step

    def login(c: httpx.Client, i: int) -> httpx.Response:
        return c.post("/api/v1/auth/login", json={"username": "op-load", "password": DEFAULT_PASSWORD})

    def new_token(c: httpx.Client, i: int) -> httpx.Response:
        return c.post("/api/v1/auth/tokens", json={"name": f"并发测试系统 {i}", "role": "business_system"})

    def government_file(c: httpx.Client, i: int) -> httpx.Response:
        return c.get(f"/api/v1/subjects/{codes[i % len(codes)]}/file", params={"purpose": "approval"})

    def bank_profile(c: httpx.Client, i: int) -> httpx.Response:
        return c.get(f"/api/v1/financing/subjects/{codes[i % len(codes)]}/profile")

    def loan_feedback(c: httpx.Client, i: int) -> httpx.Response:
        body = {
            "authorisation_id": grants[i % len(grants)],
            "outcome": "granted",
            "amount_yuan": "500000.00",
            "rate_band": "lpr",
        }
        return c.post("/api/v1/financing/feedback", json={**body, "reference": f"LOAN-{i}"})

    # 重点职业 (issue #18): two systems of the supervising department push overlapping pharmacist registrations (the
    # same certificates, persons new to the registry) while everything else writes: each certificate once, no 500.
    pharmacists = [
        {
            "姓名": f"药师{i}",
            "身份证号码": resident_id.make(region="410882", birth_date=dt.date(1980, 1, 1 + i), sequence=300 + i),
            "证书编号": f"ZYYS-LOAD-{i:04d}",
            "状态": "有效",
        }
        for i in range(PHARMACISTS)
    ]

    def profession_push(c: httpx.Client, i: int) -> httpx.Response:
        rows = pharmacists[(i * 3) % PHARMACISTS :][:6] or pharmacists[:6]
        return c.post("/api/v1/professions/pharmacist/registrations", json={"rows": rows})

    checker_headers = {"Authorization": f"Bearer {checker}"}
    bank_headers = {"Authorization": f"Bearer {bank}"}
    jobs = [uploader(n) for n in range(1, FILES + 1)]
    jobs += [
        loop("withdraw", withdraw(0), op_headers, limit=20),
        loop("withdraw", withdraw(1), op_headers, limit=20),
        loop("login", login, limit=4, pause=0.5),
        loop("token", new_token, op_headers, limit=10, pause=0.2),
        loop("file", government_file, op_headers, limit=40),
        loop("profile", bank_profile, bank_headers, limit=40),
        loop("loan", loan_feedback, bank_headers, limit=16),
        loop("profession", profession_push, op_headers, limit=8),
        loop("profession", profession_push, op_headers, limit=8),
    ]
    checks = [loop("check", check, checker_headers), loop("check", check, checker_headers)]
    run_clients(jobs, alongside=checks, stop=stop)

    assert not out.failures, "\n".join(out.failures[:20]) + f"\n--- server log ---\n{live.log_text()[-4000:]}"
    assert "Traceback" not in live.log_text(), live.log_text()[-4000:]
    assert sorted(out.statuses["upload"]) == [201] * FILES
    assert set(out.statuses["withdraw"]) == {200} and len(out.statuses["withdraw"]) == 40
    assert set(out.statuses["token"]) == {201} and set(out.statuses["login"]) == {200}
    assert set(out.statuses["check"]) == {200} and len(out.statuses["check"]) > 10
    assert set(out.statuses["file"]) == {200} and set(out.statuses["profile"]) == {200}
    assert set(out.statuses["loan"]) == {201}, out.statuses["loan"]
    assert set(out.statuses["profession"]) == {200} and len(out.statuses["profession"]) == 16, out.statuses[
        "profession"
    ]
    certificates = session.scalar(
        select(func.count(func.distinct(ProfessionRegistration.certificate_no))).where(
            ProfessionRegistration.profession == "pharmacist"
        )
    )
    assert certificates == session.scalar(
        select(func.count())
        .select_from(ProfessionRegistration)
        .where(ProfessionRegistration.profession == "pharmacist")
    )
    assert certificates == PHARMACISTS  # every certificate pushed, each once

    # No batch lost: each answered batch is in the database with all the rows it accepted, each file's records are
    # there, and every shared company exists once.
    for n, answer in out.uploads.items():
        batch = session.get(IngestBatch, answer["batch"])
        assert batch is not None and batch.status == answer["status"] == "accepted"
        assert answer["accepted"] == ROWS
        versions = session.scalar(
            select(func.count()).select_from(RecordVersion).where(RecordVersion.batch_id == batch.id)
        )
        assert versions == answer["created"] + answer["updated"] == ROWS
        stored = set(session.scalars(select(CreditRecord.doc_no).where(CreditRecord.doc_no.in_(docs[n]))))
        assert stored == docs[n]
    assert session.scalar(select(func.count()).select_from(Subject).where(Subject.uscc.in_(shared))) == SHARED
    withdrawn = session.scalar(
        select(func.count())
        .select_from(CreditRecord)
        .where(CreditRecord.id.in_(to_withdraw), CreditRecord.withdrawn_at.is_not(None))
    )
    assert withdrawn == 40
    # every read of non-public data is in the access log, and the audit chain it joins is whole
    session.rollback()
    logged = session.scalar(select(func.count()).select_from(SubjectAccess)) - access_before
    assert logged >= len(out.statuses["file"]) + len(out.statuses["profile"])
    report = audit.verify_chain(session)
    assert report.ok, report

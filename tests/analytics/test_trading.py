"""Import, analysis, bidder statistics and the API of the trading analysis, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import ACTOR, auth_headers, make_department, make_token
from xinyong.analytics import trading
from xinyong.analytics.models import Bid, Tender
from xinyong.auth.roles import Role
from xinyong.core.errors import ValidationFailed
from xinyong.identifiers import uscc
from xinyong.subjects import service as subjects

A, B, C, D = (uscc.make(authority="9", category="1", region="410882", org_body=f"MA{i:06d}") for i in range(1, 5))
TENDERS = [
    ["项目编号", "项目名称", "招标人", "项目类别", "预算金额(元)", "开标时间"],
    ["P1", "道路改造工程", "沁阳市住房和城乡建设局", "工程", "1,200,000", "2024-03-01"],
    ["P2", "办公设备采购", "沁阳市教育局", "货物", "300000", "2024-04-01"],
]
BIDS = [
    ["项目编号", "投标人名称", "投标人统一社会信用代码", "投标报价(元)", "联系电话", "法定代表人", "地址", "投标IP"],
    ["P1", "甲建设有限公司", A, "1000000", "138-1234-5678", "", "", "10.1.1.1"],
    ["P1", "乙建设有限公司", B, "1001000", "+86 13812345678", "李四", "", "10.1.1.2"],
    ["P1", "丙建设有限公司", C, "1100000", "13900000000", "王五", "", ""],
    ["P2", "甲建设有限公司", A, "250000", "13812345678", "", "", ""],
    ["P2", "丁商贸有限公司", D, "280000", "13700000000", "赵六", "", ""],
]
AWARDS = [
    ["项目编号", "中标人名称", "中标人统一社会信用代码", "中标金额(元)", "中标日期"],
    ["P1", "甲建设有限公司", A, "1000000", "2024-03-08"],
    ["P2", "甲建设有限公司", A, "250000", "2024-04-09"],
]


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


@pytest.fixture
def loaded(session: Session, tmp_path: Path) -> Session:
    subjects.register_organisation(session, actor=ACTOR, name="甲建设有限公司", code=A, legal_rep="李四")
    for kind, rows in (("tenders", TENDERS), ("bids", BIDS), ("awards", AWARDS)):
        trading.import_file(session, actor=ACTOR, kind=kind, path=write(tmp_path / f"{kind}.csv", rows))
    session.commit()
    return session


def test_import_links_registry_normalises_phones_and_is_idempotent(loaded: Session, tmp_path: Path) -> None:
    bids = {b.bidder_key: b for b in loaded.scalars(select(Bid).join(Tender).where(Tender.project_no == "P1"))}
    assert bids[A].subject_id is not None and bids[B].subject_id is None
    assert bids[A].phone == bids[B].phone == "13812345678"
    assert bids[A].won and not bids[B].won
    again = trading.import_file(loaded, actor=ACTOR, kind="bids", path=tmp_path / "bids.csv")
    assert again["already_imported"] is True
    # A different file with the same rows changes nothing either (natural keys), one changed price updates one row.
    rows = [r[:] for r in BIDS]
    rows[3][3] = "1090000"
    out = trading.import_file(loaded, actor=ACTOR, kind="bids", path=write(tmp_path / "bids2.csv", rows))
    assert (out["created"], out["updated"], out["unchanged"]) == (0, 1, 4)
    assert loaded.scalar(select(func.count()).select_from(Bid)) == 5


def test_a_corrected_award_moves_the_win_to_the_new_winner(loaded: Session, tmp_path: Path) -> None:
    rows = [r[:] for r in AWARDS]
    rows[1][1:3] = ["乙建设有限公司", B]  # P1 went to 乙, not 甲
    out = trading.import_file(loaded, actor=ACTOR, kind="awards", path=write(tmp_path / "awards2.csv", rows))
    assert (out["updated"], out["unchanged"]) == (1, 1)
    loaded.expire_all()
    won = {
        (no, key): w
        for no, key, w in loaded.execute(
            select(Tender.project_no, Bid.bidder_key, Bid.won).join(Tender, Tender.id == Bid.tender_id)
        )
    }
    assert won[("P1", B)] and not won[("P1", A)] and not won[("P1", C)]
    assert won[("P2", A)]


def test_a_file_with_a_bad_row_writes_nothing(session: Session, tmp_path: Path) -> None:
    trading.import_file(session, actor=ACTOR, kind="tenders", path=write(tmp_path / "t.csv", TENDERS))
    rows = [
        *BIDS,
        ["P9", "戊公司", "", "100", "", "", "", ""],
        ["P1", "己公司", "91410882MA0000000X", "-5", "", "", "", "999.1.1.1"],
    ]
    with pytest.raises(ValidationFailed) as exc:
        trading.import_file(session, actor=ACTOR, kind="bids", path=write(tmp_path / "b.csv", rows))
    assert exc.value.code == "import_rows_invalid"
    errors = {e["row"]: " ".join(e["errors"]) for e in exc.value.details["errors"]}
    assert "P9" in errors[7] and "不存在" in errors[7]
    assert "统一社会信用代码" in errors[8] and "投标报价" in errors[8] and "IP" in errors[8]
    assert session.scalar(select(func.count()).select_from(Bid)) == 0


def test_missing_required_column_is_refused(session: Session, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as exc:
        trading.import_file(
            session,
            actor=ACTOR,
            kind="tenders",
            path=write(tmp_path / "t.csv", [["项目编号", "项目名称"], ["P1", "x"]]),
        )
    assert exc.value.code == "columns_missing" and "招标人" in exc.value.message


def test_analysis_flags_shared_phone_enriches_from_registry_and_counts_wins(loaded: Session) -> None:
    run = trading.run_analysis(loaded, actor=ACTOR)
    [p1] = [t for t in run.tenders if t["project_no"] == "P1"]
    flags = {f["kind"]: f for f in p1["flags"]}
    assert flags["shared_phone"]["evidence"]["value"] == "138****5678"
    # 甲's bid has no legal representative: the registry's (李四) is used, the same as 乙's.
    assert flags["shared_legal_rep"]["evidence"]["value"] == "李四"
    assert p1["level"] == "high"
    detail = trading.tender_detail(loaded, "P1")
    [a] = [b for b in detail["bids"] if b["bidder_key"] == A]
    assert (a["legal_rep"], a["legal_rep_source"], a["phone"]) == ("李四", "registry", "138****5678")
    stats = trading.bidder_stats(loaded, order="wins")
    top = stats["items"][0]
    assert (top["bidder_key"], top["bids"], top["wins"], top["win_rate"], top["amount_won"]) == (
        A,
        2,
        2,
        1.0,
        1_250_000.0,
    )
    assert [g["size"] for g in run.groups] == [2]


def test_api_roles_trading_centre_only(client: TestClient, session: Session, tmp_path: Path) -> None:
    ggzy = make_department(session, code="ggzy", name="沁阳市公共资源交易中心")
    other = make_department(session, code="jtj", name="沁阳市交通运输局")
    op = auth_headers(make_token(session, Role.DEPT_OPERATOR, ggzy))
    viewer = auth_headers(make_token(session, Role.DEPT_VIEWER, ggzy))
    outsider = auth_headers(make_token(session, Role.DEPT_OPERATOR, other))
    subjects.register_organisation(session, actor=ACTOR, name="甲建设有限公司", code=A, legal_rep="李四")
    session.commit()
    for kind, rows in (("tenders", TENDERS), ("bids", BIDS), ("awards", AWARDS)):
        path = write(tmp_path / f"{kind}.csv", rows)
        r = client.post(
            f"/api/v1/analytics/trading/imports/{kind}",
            headers=op,
            files={"file": (path.name, path.read_bytes(), "text/csv")},
        )
        assert r.status_code == 201, r.text
    assert (
        client.get("/api/v1/analytics/trading/tenders", headers=viewer).json()["error"]["code"] == "analysis_not_found"
    )
    r = client.post("/api/v1/analytics/trading/analyses", headers=outsider)
    assert r.status_code == 403 and r.json()["error"]["code"] == "analytics_department_not_allowed"
    assert client.post("/api/v1/analytics/trading/analyses", headers=viewer).status_code == 403
    assert client.post("/api/v1/analytics/trading/analyses", headers=op).status_code == 201
    ranked = client.get("/api/v1/analytics/trading/tenders?level=high", headers=viewer).json()
    assert [t["project_no"] for t in ranked["items"]] == ["P1"]
    assert client.get("/api/v1/analytics/trading/tenders/P1", headers=viewer).json()["level"] == "high"
    groups = client.get("/api/v1/analytics/trading/groups", headers=viewer).json()
    assert groups["total"] == 1
    profile = client.get(f"/api/v1/analytics/trading/bidders/{B}", headers=viewer).json()
    assert profile["bids"] == 1 and profile["flagged_tenders"][0]["project_no"] == "P1"
    assert client.get("/api/v1/analytics/trading/bidders?q=丁", headers=outsider).status_code == 403


def test_absurd_amounts_are_row_errors_on_every_channel(client: TestClient, session: Session, tmp_path: Path) -> None:
    """A bid of 1e30, NaN, -1, 20 digits or a JSON 1e309 (read as infinity) is a reason of its row (422), above the
    platform's amount ceiling (10^8 万元 = 10^12 元) too; nothing is written and nothing crashes."""
    ggzy = make_department(session, code="ggzy", name="沁阳市公共资源交易中心")
    op = auth_headers(make_token(session, Role.DEPT_OPERATOR, ggzy))
    path = write(tmp_path / "tenders.csv", TENDERS)
    assert (
        client.post(
            "/api/v1/analytics/trading/imports/tenders",
            headers=op,
            files={"file": (path.name, path.read_bytes(), "text/csv")},
        ).status_code
        == 201
    )
    absurd = ["1e30", "NaN", "-1", "99999999999999999999", "1000000000000.01", "inf", "1E+400000000"]
    rows = BIDS[:1] + [["P1", f"投标人{i}有限公司", "", price, "", "", "", ""] for i, price in enumerate(absurd)]
    path = write(tmp_path / "bids.csv", rows)
    r = client.post(
        "/api/v1/analytics/trading/imports/bids", headers=op, files={"file": (path.name, path.read_bytes(), "text/csv")}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "import_rows_invalid", r.text
    errors = {e["row"]: " ".join(e["errors"]) for e in r.json()["error"]["details"]["errors"]}
    assert sorted(errors) == list(range(2, 2 + len(absurd)))
    assert "超过上限" in errors[2] and "有限的数值" in errors[3] and "不能为负数" in errors[4]
    assert "超过上限" in errors[5] and "超过上限" in errors[6] and "有限的数值" in errors[7] and "超过上限" in errors[8]
    body = (
        '[{"项目编号": "P1", "投标人名称": "甲公司", "投标报价(元)": 1e309},'
        ' {"项目编号": "P1", "投标人名称": "乙公司", "投标报价(元)": 1e30}]'
    )
    r = client.post(
        "/api/v1/analytics/trading/imports/bids",
        headers=op,
        files={"file": ("bids.json", body.encode(), "application/json")},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "import_rows_invalid", r.text
    assert session.scalar(select(func.count()).select_from(Bid)) == 0
    ok = write(tmp_path / "ok.csv", [*BIDS[:1], ["P1", "甲建设有限公司", A, "1000000000000", "", "", "", ""]])
    r = client.post(
        "/api/v1/analytics/trading/imports/bids", headers=op, files={"file": (ok.name, ok.read_bytes(), "text/csv")}
    )
    assert r.status_code == 201, r.text
    session.rollback()  # a fresh snapshot: the app wrote in its own session
    assert session.scalar(select(Bid.price_fen)) == 100_000_000_000_000


def test_keep_good_writes_the_good_rows_and_reports_the_bad_ones(session: Session, tmp_path: Path) -> None:
    """The choice every bulk import offers (``core.batches``); reject_all stays the default here."""
    from xinyong.core.batches import BatchSummary

    trading.import_file(session, actor=ACTOR, kind="tenders", path=write(tmp_path / "t.csv", TENDERS))
    rows = [*BIDS, ["P9", "戊公司", "", "100", "", "", "", ""], ["P1", "甲建设有限公司", A, "5", "", "", "", ""]]
    out = trading.import_file(session, actor=ACTOR, kind="bids", path=write(tmp_path / "b.csv", rows), mode="keep_good")
    assert (out["mode"], out["rows"], out["rejected"], out["created"]) == ("keep_good", 5, 2, 5)
    assert [e["row"] for e in out["report"]["errors"]] == [7, 8]
    assert "不存在" in out["report"]["errors"][0]["errors"][0] and "重复" in out["report"]["errors"][1]["errors"][0]
    common = out["summary"]
    assert set(common) == set(BatchSummary("x").as_dict())
    assert (
        common["importer"],
        common["batch"],
        common["status"],
        common["rows"],
        common["accepted"],
        common["rejected"],
    ) == ("trading", out["id"], "partially_accepted", 7, 5, 2)
    assert session.scalar(select(func.count()).select_from(Bid)) == 5
    with pytest.raises(ValidationFailed) as exc:  # nothing good at all: refused as a whole in either mode
        trading.import_file(
            session,
            actor=ACTOR,
            kind="bids",
            mode="keep_good",
            path=write(tmp_path / "b2.csv", [*BIDS[:1], ["P9", "戊公司", "", "100", "", "", "", ""]]),
        )
    assert exc.value.code == "import_rows_invalid"


def test_a_file_is_parsed_without_holding_the_write_lock(
    database, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading and validating a trading file runs on the side (``core.db.reading_apart``): on SQLite another
    writer is not kept waiting by it, as it was when the rows were parsed inside the request's write transaction."""
    import time

    from sqlalchemy import update

    from xinyong.auth.models import Department

    dept = make_department(session, code="jyzx")
    trading.import_file(session, actor=ACTOR, kind="tenders", path=write(tmp_path / "t.csv", TENDERS))
    session.commit()
    session.close()
    waited: list[float] = []
    parse = trading._parse

    def parse_and_write_meanwhile(*args: object) -> object:
        if not waited:
            started = time.monotonic()
            database.run(
                lambda other: other.execute(
                    update(Department).where(Department.id == dept.id).values(short_name="导入期间写入")
                )
            )
            waited.append(time.monotonic() - started)
        return parse(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(trading, "_parse", parse_and_write_meanwhile)
    with database.session() as s:
        s.scalar(select(Department.id))  # the route's permission check: a write transaction has begun
        out = trading.import_file(s, actor=ACTOR, kind="bids", path=write(tmp_path / "b.csv", BIDS))
    assert out["created"] == 5 and waited and waited[0] < 2.0

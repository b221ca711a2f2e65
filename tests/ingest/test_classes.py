"""The generic collection path (issue #18): every information class with a data standard is read, validated,
versioned, kept with provenance, deduplicated, made public by its catalog rule and sent to the exchange feed."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from sqlalchemy import func, select

from tests.factories import make_department, register_authority
from tests.ingest.helpers import AUTHORITY, AUTHORITY_NAME, COMPANY, PERSON_ID, SHOP
from xinyong.auth.roles import system_principal
from xinyong.catalog.fields import generic_kinds
from xinyong.catalog.service import seed_catalog
from xinyong.core.errors import ValidationFailed
from xinyong.demo.classes import Party, sample_row
from xinyong.exchange import render
from xinyong.exchange.models import FeedMessage
from xinyong.ingest import service
from xinyong.ingest.classes import detect_class_format, guess_class, validate_class_row
from xinyong.records import queries
from xinyong.records.models import CreditRecord, RecordVersion

ADMIN = system_principal("tests")
ORG = Party("福州市鼓楼区某某商贸有限公司", uscc=COMPANY, legal_rep="王建国")
PERSON = Party("王小明", id_number=PERSON_ID)
DAY = dt.date.today() - dt.timedelta(days=30)
PERSON_CLASSES = ("honour", "judicial", "qualification", "tax_arrears", "social_insurance")


def row(code: str, n: int = 1, party: Party = ORG, **changes: str) -> dict:
    r = sample_row(code, n, party=party, authority=AUTHORITY_NAME, authority_uscc=AUTHORITY, day=DAY)
    r.update(changes)
    return {k: v for k, v in r.items() if v is not None}


def check(code: str, r: dict, today: dt.date | None = None):
    hm = detect_class_format(code, list(r), today=today)
    hm.require_complete()
    return validate_class_row(hm, 2, list(r.values()))


@pytest.mark.parametrize("code", generic_kinds())
def test_each_class_validates_and_is_detected_from_its_headers(code):
    r = row(code)
    assert guess_class(list(r)) == code
    record, issues = check(code, r)
    assert issues == [] and record is not None
    assert record.kind == code and record.decision_date == DAY and record.authority_uscc == AUTHORITY
    assert record.party_uscc == COMPANY and record.doc_no_norm
    if code in PERSON_CLASSES:
        person, issues = check(code, row(code, party=PERSON))
        assert issues == [] and person is not None and person.party_id_number == PERSON_ID
        assert PERSON_ID not in person.doc_no_norm and PERSON_ID not in str(person.data)  # hashed / masked


def test_row_errors_speak_the_ingest_codes():
    # required, enum, conditional, date in future, bad USCC, person in a class about organisations
    r = row("tax_arrears", **{"欠税余额（元）": "", "公告日期": (dt.date.today() + dt.timedelta(days=3)).isoformat()})
    _, issues = check("tax_arrears", r)
    assert {i.code for i in issues} == {"required_missing", "date_in_future"}
    assert all(i.message.startswith("「") for i in issues)
    _, issues = check("spot_check", row("spot_check", **{"检查结果": "良好", "统一社会信用代码": COMPANY[:-1] + "0"}))
    assert {i.code for i in issues} >= {"enum_invalid"} and len(issues) == 2
    _, issues = check("annual_report", row("annual_report", n=1, **{"报送日期": ""}))  # 已按时公示 needs the date
    assert [i.code for i in issues] == ["conditional_missing"] and "年报状态" in issues[0].message
    person = {**row("annual_report"), "当事人类别": "自然人", "统一社会信用代码": ""}
    _, issues = check("annual_report", person)
    assert [i.code for i in issues] == ["party_kind_not_applicable"]
    bad_id = row("judicial", party=Party("王小明", id_number=PERSON_ID[:-1] + ("0" if PERSON_ID[-1] != "0" else "1")))
    _, issues = check("judicial", bad_id)
    assert issues and issues[0].code.startswith("resident_id_") and PERSON_ID[6:14] not in str(issues[0].value)
    with pytest.raises(ValidationFailed) as exc:
        detect_class_format("honour", ["受表彰主体名称"]).require_complete()
    assert exc.value.code == "columns_missing" and "荣誉名称" in exc.value.message


@pytest.fixture
def dept(session):
    seed_catalog(session, actor=ADMIN)
    d = make_department(session, code="scjgj")
    register_authority(session, d, uscc=AUTHORITY, name=AUTHORITY_NAME)
    session.commit()
    return d


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_batches_of_every_class_version_publicity_and_feed(session, dept, tmp_path):
    for code in generic_kinds():
        ns = (3, 4) if code == "contract" else (1, 2)  # contract: 守合同重信用 and 政府采购
        rows = [row(code, n, party=Party(f"某某公司{n}", uscc=SHOP if n == ns[1] else COMPANY)) for n in ns]
        s = service.ingest_rows(session, actor=ADMIN, department_id=dept.id, kind=code, rows=rows)
        assert (s["kind"], s["created"], s["rejected"]) == (code, 2, 0), s["errors"]
        again = service.ingest_rows(session, actor=ADMIN, department_id=dept.id, kind=code, rows=rows)
        assert again["duplicate"] is True  # the same submission is not applied twice
    session.commit()
    assert _count(session, CreditRecord) == 2 * len(generic_kinds())
    # A correction is a new version with provenance; the record keeps its identity.
    changed = [row("tax_arrears", 1, **{"欠税余额（元）": "123.45"})]
    s = service.ingest_rows(session, actor=ADMIN, department_id=dept.id, kind="tax_arrears", rows=changed)
    assert (s["updated"], s["created"]) == (1, 0)
    v = session.scalars(select(RecordVersion).where(RecordVersion.version_no == 2)).one()
    assert v.batch_id == s["batch"] and v.data["balance_yuan"] == "123.45" and "data" in v.changed_fields
    # Publicity at query time by each class's catalog rule: contract is 政务共享 except 守合同重信用 (exception).
    today = dt.date.today()
    public = {(r.record.kind, r.record.domain) for r in queries.list_records(session, public_only=True, today=today)}
    assert {k for k, _ in public} == set(generic_kinds())
    assert ("contract", "守合同重信用") in public and ("contract", "政府采购") not in public
    feed = session.scalars(select(FeedMessage).where(FeedMessage.kind == "tax_arrears")).all()
    assert len(feed) == 3  # two created, one corrected
    rendered = render.render_messages(session, feed)
    assert rendered[-1]["row"]["QS_QSYE"] == "123.45" and rendered[-1]["op"] == "corrected"
    assert (
        list(rendered[0]["row"])[: len(render.columns("tax_arrears")) - 4] == list(render.columns("tax_arrears"))[:-4]
    )


def test_a_file_of_another_class_through_the_cli_path(session, dept, tmp_path):
    data = [row("honour", n) for n in (1, 2, 3)]
    data[2]["荣誉级别"] = "宇宙级"
    path = tmp_path / "表彰.csv"
    with path.open("w", newline="", encoding="gb18030") as fh:
        w = csv.DictWriter(fh, fieldnames=list(data[0]))
        w.writeheader()
        w.writerows(data)
    s = service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=path)  # kind from the headers
    assert (s["kind"], s["created"], s["rejected"], s["status"]) == ("honour", 2, 1, "partial")
    assert s["errors"][0]["code"] == "enum_invalid" and s["errors"][0]["row"] == 4
    with pytest.raises(ValidationFailed) as exc:
        service.ingest_file(session, actor=ADMIN, department_id=dept.id, path=path, kind="nope")
    assert exc.value.code == "unknown_kind"
    other = make_department(session, code="swj")
    s = service.ingest_rows(session, actor=ADMIN, department_id=other.id, kind="honour", rows=[row("honour", 9)])
    assert s["rejected"] == 1 and s["errors"][0]["code"] == "authority_not_registered"


def test_natural_persons_are_not_public_unless_the_catalog_says_so(session, dept):
    for code in PERSON_CLASSES:
        s = service.ingest_rows(session, actor=ADMIN, department_id=dept.id, kind=code, rows=[row(code, party=PERSON)])
        assert s["created"] == 1, s["errors"]
    session.commit()
    assert queries.list_records(session, public_only=True, today=dt.date.today()) == []
    stored = [(v.content, v.data) for v in session.scalars(select(RecordVersion))]  # unpacked as loaded
    assert len(stored) == len(PERSON_CLASSES) and all(d for _, d in stored)
    assert all(PERSON_ID not in str(docs) for docs in stored)


def test_public_records_api_shows_a_class_public_fields(client, session, dept):
    s = service.ingest_rows(session, actor=ADMIN, department_id=dept.id, kind="tax_arrears", rows=[row("tax_arrears")])
    assert s["created"] == 1
    session.commit()
    r = client.get("/api/v1/records/public", params={"kind": "tax_arrears"})
    assert r.status_code == 200, r.text
    [rec] = r.json()
    assert rec["class_name"] == "欠税公告信息"
    labels = {f["label"] for f in rec["fields"]}
    assert "欠税余额（元）" in labels and "纳税人识别号（统一社会信用代码）" not in labels  # shown as party_uscc
    assert client.get("/api/v1/records/public", params={"kind": "nope"}).status_code == 422


def test_a_publicity_exception_by_department_is_catalog_data_applied_at_query_time(session, dept):
    """Issue #18.5: the admin adds an exception naming a department (with its legal basis): that department's
    contract records become public, the class's rule stays for the others."""
    from xinyong.catalog import service as catalog_service

    other = make_department(session, code="czj")
    register_authority(session, other, uscc=SHOP, name="沁阳市财政局")
    session.commit()
    mine = service.ingest_rows(session, actor=ADMIN, department_id=dept.id, kind="contract", rows=[row("contract", 4)])
    theirs = [
        sample_row("contract", 8, party=ORG, authority="沁阳市财政局", authority_uscc=SHOP, day=DAY)
    ]  # 政府采购 too
    assert service.ingest_rows(session, actor=ADMIN, department_id=other.id, kind="contract", rows=theirs)["created"]
    assert mine["created"] == 1
    session.commit()
    today = dt.date.today()

    def public_departments() -> set[int]:
        rows = queries.list_records(session, kind="contract", public_only=True, today=today)
        return {r.record.department_id for r in rows}

    assert public_departments() == set()
    exception = {
        "departments": ["czj"],
        "public_attribute": "public",
        "publicity": {"mode": "indefinite", "starts_from": "record_date"},
        "legal_basis": [{"title": "（测试）某地方性法规", "article": "第十条", "confidence": "low"}],
    }
    overrides = catalog_service.spec_of(catalog_service.get_class(session, "contract")).params["publicity_overrides"]
    catalog_service.update_class(
        session,
        actor=ADMIN,
        code="contract",
        changes={"params.publicity_overrides": [*overrides, exception]},
        reason="测试：部门的公示例外",
    )
    session.commit()
    assert public_departments() == {other.id}
    statuses = {
        r.record.department_id: r.status
        for r in queries.list_records(session, kind="contract", public_only=False, today=today)
    }
    assert statuses == {other.id: "public", dept.id: "not_public"}


def test_api_push_and_cli_file_of_another_class(client, session, dept, database, tmp_path):
    import json

    from typer.testing import CliRunner

    from tests.factories import auth_headers, make_token
    from xinyong.auth.roles import Role
    from xinyong.cli import app

    op = make_token(session, Role.DEPT_OPERATOR, dept)
    coded = [
        {
            "CC_DSR_MC": "某某公司",
            "CC_DSR_SHXYM": COMPANY,
            "CC_RWMC": "2026年度抽查",
            "CC_LX": "双随机抽查",
            "CC_BH": "QYCC-1",
            "CC_JCJG": "未发现问题",
            "CC_RQ": DAY.isoformat(),
            "CC_JG": AUTHORITY_NAME,
            "CC_JGDM": AUTHORITY,
        }
    ]
    r = client.post("/api/v1/ingest/batches", json={"kind": "spot_check", "rows": coded}, headers=auth_headers(op))
    assert r.status_code == 201, r.text
    assert (r.json()["kind"], r.json()["standard"], r.json()["created"]) == ("spot_check", "class_coded", 1)
    r = client.post("/api/v1/ingest/batches", json={"kind": "no_such", "rows": coded}, headers=auth_headers(op))
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_kind"
    path = tmp_path / "judicial.csv"
    data = [row("judicial", n) for n in (1, 2)]
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        w = csv.DictWriter(fh, fieldnames=list(data[0]))
        w.writeheader()
        w.writerows(data)
    runner = CliRunner()
    out = runner.invoke(
        app, ["--db", database.url, "ingest", str(path), "--kind", "judicial", "--department", "scjgj", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["created"] == 2
    bad = runner.invoke(
        app, ["--db", database.url, "ingest", str(path), "--kind", "nope", "--department", "scjgj", "--json"]
    )
    assert bad.exit_code != 0 and json.loads(bad.stdout)["error"]["code"] == "bad_kind"
    fields = runner.invoke(app, ["--db", database.url, "catalog", "fields", "judicial", "--json"])
    assert fields.exit_code == 0 and json.loads(fields.stdout)["identity"][0] == "case_no"


def test_a_class_missing_from_an_older_catalog_is_refused_with_the_remedy(session, dept):
    from sqlalchemy import delete

    from xinyong.catalog.models import InfoClass

    session.execute(delete(InfoClass).where(InfoClass.code == "spot_check"))  # a catalog seeded before issue #18
    session.commit()
    with pytest.raises(ValidationFailed) as exc:
        service.ingest_rows(session, actor=ADMIN, department_id=dept.id, kind="spot_check", rows=[row("spot_check")])
    assert exc.value.code == "class_not_in_catalog" and "xinyong catalog seed" in exc.value.message
    assert queries.list_records(session, public_only=True, today=dt.date.today()) == []  # reads still work
    seed_catalog(session, actor=ADMIN)  # the remedy
    s = service.ingest_rows(session, actor=ADMIN, department_id=dept.id, kind="spot_check", rows=[row("spot_check")])
    assert s["created"] == 1

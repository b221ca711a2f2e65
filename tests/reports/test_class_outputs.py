"""Records of the other information classes (issue #18) on the portal's subject page (public fields only), in the
government file (shared fields, look-back of the class) and in the credit report."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from tests.factories import make_department, register_authority
from tests.ingest.helpers import AUTHORITY, AUTHORITY_NAME, COMPANY, PERSON_ID
from xinyong.auth.roles import ANONYMOUS, system_principal
from xinyong.catalog.service import seed_catalog
from xinyong.demo.classes import Party, sample_row
from xinyong.ingest import service as ingest
from xinyong.records import queries
from xinyong.reports import government_file
from xinyong.reports import service as reports
from xinyong.subjects.models import Subject

ADMIN = system_principal("tests")
ORG = Party("福州市鼓楼区某某商贸有限公司", uscc=COMPANY, legal_rep="王建国")
PERSON = Party("王小明", id_number=PERSON_ID)


def _submit(session) -> None:
    seed_catalog(session, actor=ADMIN)
    dept = make_department(session, code="scjgj")
    register_authority(session, dept, uscc=AUTHORITY, name=AUTHORITY_NAME)
    day = dt.date.today() - dt.timedelta(days=10)
    for code, n, party in (
        ("tax_arrears", 1, ORG),
        ("honour", 1, ORG),
        ("contract", 1, ORG),  # 招标投标: 政务共享 only
        ("tax_arrears", 2, PERSON),  # a person's arrears: 政务共享 only
    ):
        row = sample_row(code, n, party=party, authority=AUTHORITY_NAME, authority_uscc=AUTHORITY, day=day)
        s = ingest.ingest_rows(session, actor=ADMIN, department_id=dept.id, kind=code, rows=[row])
        assert s["created"] == 1, s["errors"]
    session.commit()


def test_subject_page_shows_the_public_fields_of_public_classes(client, session):
    _submit(session)
    page = client.get(f"/subject/{COMPANY}", headers={"accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert "欠税公告信息" in html and "欠税余额（元）" in html and "诚实守信相关荣誉信息" in html
    assert "合同履行信息" not in html  # 政务共享: not on the public page
    assert PERSON_ID not in html
    person = session.scalar(select(Subject).where(Subject.resident_id_masked.is_not(None)))
    public = queries.list_records(session, subject_id=person.id, public_only=True, today=dt.date.today())
    assert public == []  # natural persons' arrears: 政务共享 (catalog natural_person_attribute)


def test_government_file_and_credit_report(session):
    _submit(session)
    data = government_file.read_file(session, actor=ADMIN, code=COMPANY, purpose="procurement")
    kinds = {r["kind"]: r for r in data["records"]}
    assert {"tax_arrears", "honour", "contract"} <= set(kinds)
    contract = kinds["contract"]
    assert contract["class_name"] == "合同履行信息" and contract["public"] is False
    assert any(f["label"] == "合同金额（元）" for f in contract["fields"])  # shared: not only the public fields
    report, pdf = reports.generate_report(session, subject_code=COMPANY, requester=ANONYMOUS)
    assert report.sections["class_tax_arrears"] == 1 and report.sections["class_honour"] == 1
    assert "class_contract" not in report.sections
    assert pdf.startswith(b"%PDF-")

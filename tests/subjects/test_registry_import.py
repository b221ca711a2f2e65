"""Registry import: data-quality report, versions of names, conversion to USCC, atomicity, formats."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from xinyong.auth.roles import system_principal
from xinyong.core.audit import verify_chain
from xinyong.core.errors import ValidationFailed
from xinyong.identifiers import orgcode, uscc
from xinyong.subjects import service
from xinyong.subjects.models import Subject, SubjectAlias, SubjectName

ACTOR = system_principal("test")
HEADER = [
    "统一社会信用代码",
    "企业名称",
    "注册号",
    "组织机构代码",
    "法定代表人",
    "企业类型",
    "成立日期",
    "登记状态",
    "住所",
    "登记机关",
]


def code(body: str, authority: str = "9", category: str = "1") -> str:
    return uscc.make(authority=authority, category=category, region="410882", org_body=body)


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def row(
    c: str, name: str, reg: str = "", org: str = "", kind: str = "有限责任公司", date: str = "2018-05-06"
) -> list[str]:
    return [c, name, reg, org, "张三", kind, date, "存续", "沁阳市怀庆街道1号", "沁阳市市场监督管理局"]


A, B, C, D = code("MA000001"), code("MA000002"), code("MA000003"), code("MA000004")


def test_import_report_finds_every_problem(session, tmp_path):
    bad_check = A[:17] + ("0" if A[17] != "0" else "1")
    f = write_csv(
        tmp_path / "reg.csv",
        [
            row(A, "沁阳市宏达机械有限公司"),
            row(bad_check, "沁阳市错码有限公司"),  # check digit typo
            row(B, "沁阳市甲有限公司"),
            row(B, "沁阳市乙有限公司"),  # 重码: same code, other name
            row(B, "沁阳市甲有限公司"),  # exact duplicate row: merged
            row("", "沁阳市老字号有限公司", reg="410882100000001"),  # no USCC yet
            row(
                C, "沁阳市丙有限公司", org="12345678-" + orgcode.calc_check_digit("12345678")
            ),  # org code not the one inside the USCC
            row(D, "沁阳市丁小吃店", kind="个体工商户"),
            row(code("MA000005"), "", date="2018-02-30"),  # no name, impossible date
        ],
    )
    report = service.import_registry(session, actor=ACTOR, path=f)
    session.commit()
    assert report["rows"] == 9
    assert report["created"] == 4  # A, B, the legacy subject, D
    assert report["rejected"] == 4
    assert report["duplicate_rows"] == 1
    codes = report["problem_counts"]
    assert codes["duplicate_code"] == 1
    assert codes["org_code_mismatch"] == 1
    assert codes["name_missing"] == 1 and codes["date_invalid"] == 1
    assert any(p["row"] == 3 and p["column"] == "统一社会信用代码" for p in report["problems"])  # header is row 1
    assert report["without_uscc"]["count"] == 1
    assert report["uscc_conversion_rate"] == pytest.approx(2 / 3, rel=1e-4)
    ind = service.get_subject(session, D)
    assert ind.kind == "individual_business"
    legacy = service.get_subject(session, "410882100000001")
    assert legacy.uscc is None and legacy.name == "沁阳市老字号有限公司"
    assert verify_chain(session).ok


def test_reimport_is_idempotent_and_tracks_renames_and_conversion(session, tmp_path):
    first = write_csv(
        tmp_path / "a.csv", [row(A, "沁阳市宏达机械有限公司"), row("", "沁阳市老字号有限公司", reg="410882100000001")]
    )
    service.import_registry(session, actor=ACTOR, path=first)
    again = service.import_registry(session, actor=ACTOR, path=first)
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)

    second = write_csv(
        tmp_path / "b.csv", [row(A, "沁阳市宏达重工有限公司"), row(B, "沁阳市老字号有限公司", reg="410882100000001")]
    )
    report = service.import_registry(session, actor=ACTOR, path=second)
    session.commit()
    assert report["renamed"] == 1 and report["converted"] == 1 and report["created"] == 0
    subject = service.get_subject(session, A)
    assert subject.name == "沁阳市宏达重工有限公司"
    names = [(n.name, n.valid_to is None) for n in subject.names]
    assert names == [("沁阳市宏达机械有限公司", False), ("沁阳市宏达重工有限公司", True)]
    converted = service.get_subject(session, B)
    assert converted.uscc == B
    assert service.get_subject(session, "410882100000001").id == converted.id
    assert session.scalar(select(func.count()).select_from(Subject)) == 2


def test_gbk_csv_and_xlsx_with_title_rows(session, tmp_path):
    gbk = write_csv(tmp_path / "gbk.csv", [row(A, "沁阳市（焦作）宏达机械有限公司")], encoding="gbk")
    report = service.import_registry(session, actor=ACTOR, path=gbk)
    assert report["encoding"] == "gb18030" and report["created"] == 1

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["沁阳市市场主体登记信息导出"])
    ws.append([])
    ws.append([*HEADER, "备用列"])
    ws.append([B, "沁阳市乙有限公司", None, None, "李四", "有限责任公司", dt.date(2020, 1, 2), "存续", None, None, "x"])
    ws.append([])
    ws.append([C, "沁阳市丙有限公司", None, None, "王五", "有限责任公司", 43831, "存续", None, None, None])
    path = tmp_path / "reg.xlsx"
    wb.save(path)
    report = service.import_registry(session, actor=ACTOR, path=path)
    assert report["created"] == 2 and report["rejected"] == 0
    assert report["unknown_columns"] == ["备用列"]
    assert service.get_subject(session, C).registered_on == dt.date(2020, 1, 1)
    # The bracket and legal-form variants normalise to the same name.
    assert [s.uscc for s in service.search_organisations(session, q="沁阳市(焦作)宏达机械有限责任公司")] == [A]


def test_missing_columns_rejected_whole(session, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("甲,乙\n1,2\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as err:
        service.import_registry(session, actor=ACTOR, path=path)
    assert err.value.code in ("header_not_found", "registry_columns_missing")


def test_import_is_atomic(database, tmp_path, monkeypatch):
    rows = [row(code(f"MA{i:06d}"), f"沁阳市第{i}有限公司") for i in range(1, 12_001)]
    path = write_csv(tmp_path / "big.csv", rows)
    calls = {"n": 0}
    real = service._apply_chunk

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed mid-import")
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "_apply_chunk", crash_on_third)
    with pytest.raises(RuntimeError), database.session() as s:
        service.import_registry(s, actor=ACTOR, path=path)
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Subject)) == 0
        assert s.scalar(select(func.count()).select_from(SubjectName)) == 0
    monkeypatch.setattr(service, "_apply_chunk", real)
    with database.session() as s:
        report = service.import_registry(s, actor=ACTOR, path=path)
    assert report["created"] == 12_000
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Subject)) == 12_000
        assert s.scalar(select(func.count()).select_from(SubjectAlias)) == 0


def test_persons_are_stored_encrypted_and_shown_masked(session):
    from xinyong.identifiers import resident_id

    number = resident_id.make(region="410882", birth_date=dt.date(1980, 5, 17), sequence=123)
    subject = service.register_person(session, actor=ACTOR, name="王小明", id_number=number, profession="lawyer")
    session.commit()
    raw = session.execute(select(Subject.__table__)).mappings().one()
    assert number not in str(dict(raw))
    assert raw["resident_id_masked"].startswith("410882") and "*" in raw["resident_id_masked"]
    assert service.find_subject(session, number).id == subject.id
    view = service.public_view(subject)
    assert view["name"] == "王*明" and number not in str(view)
    assert service.reveal_resident_id(session, actor=ACTOR, subject=subject, purpose="执法核查") == number
    from xinyong.core.audit import events_for

    assert events_for(session, entity_type="subject", entity_id=subject.id)[0].action == "subjects.reveal_resident_id"
    assert number not in str([(e.before, e.after) for e in events_for(session)])


def test_absurd_numbers_are_row_problems(session, tmp_path):
    """成立日期 of 20 digits (a C long overflow) or an Excel serial of 1e30 is the row's date_invalid, never a crash;
    a number where text belongs (JSON 1e308 as the name) is text held to the column's length."""
    f = write_csv(
        tmp_path / "reg.csv",
        [
            row(A, "沁阳市宏达机械有限公司", date="99999999999999999999-01-01"),
            row(B, "沁阳市甲有限公司", date="2018年1月99999999999999999999日"),
        ],
    )
    report = service.import_registry(session, actor=ACTOR, path=f)
    assert report["rejected"] == 2 and report["problem_counts"] == {"date_invalid": 2}, report["problems"]
    session.rollback()
    rows = [
        dict(zip(HEADER, row(C, "__NAME", date="__DATE"), strict=True)),
        dict(zip(HEADER, row(D, "沁阳市乙有限公司", date="__DATE"), strict=True)),
    ]
    text = json.dumps(rows, ensure_ascii=False).replace('"__NAME"', "1e308", 1).replace('"__DATE"', "1e30")
    path = tmp_path / "reg.json"
    path.write_text(text, encoding="utf-8")
    report = service.import_registry(session, actor=ACTOR, path=path)
    assert report["rejected"] == 2 and report["problem_counts"] == {"date_invalid": 2, "too_long": 1}, report


def test_an_import_answers_the_common_summary(session, tmp_path):
    from xinyong.core.batches import BatchSummary

    f = write_csv(
        tmp_path / "reg.csv",
        [row(A, "沁阳市宏达机械有限公司"), row("123", "沁阳市错码有限公司"), row(A, "沁阳市宏达机械有限公司")],
    )
    report = service.import_registry(session, actor=ACTOR, path=f)
    common = report["summary"]
    assert set(common) == set(BatchSummary("x").as_dict())
    assert (
        common["importer"],
        common["batch"],
        common["status"],
        common["rows"],
        common["accepted"],
        common["rejected"],
        common["skipped"],
    ) == ("registry", report["import_id"], "partially_accepted", 3, 1, 1, 1)
    assert [e["row"] for e in common["errors"]] == report["rejected_rows"] == [3]
    assert report["duplicate_rows"] == 1

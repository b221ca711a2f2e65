"""Row builders for the ingest tests: valid penalty/licence rows of the current standard, by Chinese header."""

from __future__ import annotations

import datetime as dt
from typing import Any

from xinyong.identifiers import resident_id, uscc
from xinyong.ingest.standards import FIELDS, HeaderMap, detect_format
from xinyong.ingest.validate import validate_row
from xinyong.records.inputs import RecordInput, RecordKind, RowIssue

PENALTY = RecordKind.PENALTY
LICENCE = RecordKind.LICENCE

COMPANY = uscc.make(authority="9", category="1", region="350100", org_body="MA2YQ8K1")
SHOP = uscc.make(authority="9", category="2", region="350102", org_body="L1234567")
AUTHORITY = uscc.make(authority="1", category="1", region="350100", org_body="00310001")
AUTHORITY_NAME = "福州市鼓楼区市场监督管理局"
SOURCE = uscc.make(authority="1", category="1", region="350100", org_body="00310002")
PERSON_ID = resident_id.make(region="350102", birth_date=dt.date(1985, 6, 15), sequence=123)
TODAY = dt.date(2024, 6, 30)


def zh_headers(kind: RecordKind) -> list[str]:
    return [f.zh for f in FIELDS[kind] if f.zh]


def penalty_row(**changes: Any) -> dict[str, Any]:
    row = {
        "行政相对人名称": "福州市鼓楼区某某商贸有限公司",
        "行政相对人类别": "法人及非法人组织",
        "行政相对人代码_1(统一社会信用代码)": COMPANY,
        "法定代表人": "王建国",
        "行政处罚决定书文号": "榕鼓市监罚〔2024〕12号",
        "违法行为类型": "违反《中华人民共和国食品安全法》第三十四条",
        "违法事实": "经营超过保质期的食品",
        "处罚依据": "《中华人民共和国食品安全法》第一百二十四条",
        "处罚类别": "警告、罚款",
        "处罚内容": "警告，罚款人民币壹万伍仟元",
        "罚款金额(万元)": "1.5",
        "处罚决定日期": "2024-03-05",
        "处罚有效期": "2025-03-05",
        "公示截止期": "2024-09-05",
        "处罚机关": AUTHORITY_NAME,
        "处罚机关统一社会信用代码": AUTHORITY,
        "数据来源单位": "福州市鼓楼区市场监督管理局",
        "数据来源单位统一社会信用代码": SOURCE,
        "备注": "",
    }
    row.update(changes)
    return row


def licence_row(**changes: Any) -> dict[str, Any]:
    row = {
        "行政相对人名称": "福州市鼓楼区某某商贸有限公司",
        "行政相对人类别": "法人及非法人组织",
        "行政相对人代码_1(统一社会信用代码)": COMPANY,
        "法定代表人": "王建国",
        "行政许可决定文书名称": "食品经营许可决定书",
        "行政许可决定文书号": "榕鼓市监许〔2024〕7号",
        "许可类别": "普通",
        "许可证书名称": "食品经营许可证",
        "许可编号": "JY13501020001234",
        "许可内容": "预包装食品销售",
        "许可决定日期": "2024-03-05",
        "有效期自": "2024-03-05",
        "有效期至": "2029-03-04",
        "许可机关": AUTHORITY_NAME,
        "许可机关统一社会信用代码": AUTHORITY,
        "当前状态": "1",
        "数据来源单位": "福州市鼓楼区市场监督管理局",
        "数据来源单位统一社会信用代码": SOURCE,
    }
    row.update(changes)
    return row


def header_map(kind: RecordKind, headers: list[str] | None = None, **options: Any) -> HeaderMap:
    options.setdefault("today", TODAY)
    return detect_format(kind, headers or zh_headers(kind), **options)


def check(
    kind: RecordKind, row: dict[str, Any], *, headers: list[str] | None = None, **options: Any
) -> tuple[RecordInput | None, list[RowIssue]]:
    """Validate a row given as {header: value} against a file with ``headers`` (default: every Chinese header)."""
    headers = headers or zh_headers(kind)
    unknown = set(row) - set(headers)
    headers = headers + sorted(unknown)
    hm = header_map(kind, headers, **options)
    return validate_row(kind, hm, 2, [row.get(h) for h in headers])


def valid(kind: RecordKind, row: dict[str, Any], **options: Any) -> RecordInput:
    record, issues = check(kind, row, **options)
    assert issues == [], [i.message for i in issues]
    assert record is not None
    return record


def codes(kind: RecordKind, row: dict[str, Any], **options: Any) -> dict[str, RowIssue]:
    """The errors of an invalid row, by code."""
    record, issues = check(kind, row, **options)
    assert record is None and issues
    return {i.code: i for i in issues}

"""The normalised form of one 双公示 row: what ``ingest`` produces and ``records`` stores (pure, no database).

``ingest`` reads a department's file in any of the accepted formats (current standard with Chinese or coded
column names, legacy 2016 coded columns), validates each row and, for a valid row, builds a
:class:`RecordInput`. ``records.upsert`` turns it into a record version. Keeping this shape in one place is
what lets both sides be written and tested separately.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from xinyong.catalog.rules import PartyKind


class RecordKind(StrEnum):
    """The 双公示 kinds, validated by ``ingest.validate``'s fast path. Records of the other information classes
    (issue #18) carry their catalog class code as ``kind`` (``catalog.fields.record_kinds()``)."""

    LICENCE = "licence"  # 行政许可
    PENALTY = "penalty"  # 行政处罚


@dataclass(frozen=True)
class RowIssue:
    """One problem of one cell: stable code, Chinese message, the column as the sender named it."""

    row: int
    column: str
    value: str | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "code": self.code, "message": self.message}


@dataclass
class RecordInput:
    kind: RecordKind | str  # a RecordKind, or the code of another information class (ingest.classes)
    row: int  # row number in the sender's file (header = its own row number)
    # The counterpart (行政相对人)
    party_name: str
    party_kind: PartyKind
    party_uscc: str | None = None  # normalised, validated
    party_codes: dict[str, str] = field(
        default_factory=dict
    )  # registration_no, org_code, tax_no, institution_cert, social_org_cert
    party_id_type: str | None = None  # natural person: 身份证 …
    party_id_number: str | None = None  # natural person: normalised 18-digit resident ID (never stored in clear)
    legal_rep: str | None = None
    legal_rep_id_number: str | None = (
        None  # 法定代表人证件号码, normalised (18 digits for 身份证); never stored in clear
    )
    # Identity of the decision: (authority_uscc, doc_no_norm) identifies a record across resubmissions
    doc_no: str = ""  # as written
    doc_no_norm: str = ""  # brackets and spaces normalised for identity
    decision_date: dt.date | None = None
    authority: str = ""
    authority_uscc: str = ""
    source_unit: str = ""
    source_unit_uscc: str = ""
    # Licence
    licence_valid_from: dt.date | None = None
    licence_valid_to: dt.date | None = None
    licence_category: str | None = None  # 普通/特许/认可/核准/登记/其他
    current_status_valid: bool = True  # 当前状态: 1 有效 / 2 无效
    # Penalty
    penalty_types: list[str] = field(default_factory=list)  # 处罚类别, split on 、/;,
    fine_wan: Decimal | None = None  # 罚款金额（万元）
    confiscated_wan: Decimal | None = None
    penalty_valid_to: dt.date | None = None  # 处罚有效期
    publicity_end: dt.date | None = None  # 公示截止期 (as the department stated it)
    # Other classes: the record's 领域 (picks a publicity exception of the catalog, issue #18.5)
    domain: str | None = None
    # Everything of the standard, by canonical field key, JSON-safe (dates ISO, decimals as strings)
    data: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # unknown columns, kept as sent
    warnings: list[RowIssue] = field(default_factory=list)

"""The 双公示 data standard as data: fields, column names in every format seen, types, limits, enumerations.

One table per record kind (``FIELDS``) lists each field of the standard (``shared/standards.md`` §1.2–1.4) under a
canonical key, with its Chinese header (current standard), its coded header (current standard, ``CF_XDR_MC``…),
its 2016 coded header (``CF_XDR_SHXYM``, ``CF_WSH``, ``XK_JZQ``…) and the aliases real exports use. Required flags
and rules marked "unverified" in the standards document stay overridable: :func:`detect_format` takes ``relaxed``
keys to treat as optional, so an operator can correct them without a release.

:func:`detect_format` reads a file's header row and returns a :class:`HeaderMap`: the format detected, the column of
each canonical key, the unknown columns (kept aside as ``extra``) and the required columns that are missing (the
caller refuses the whole file: :meth:`HeaderMap.require_complete`). :func:`guess_kind` tells penalties from licences
when the sender did not say. Row validation is in :mod:`xinyong.ingest.validate`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from xinyong.catalog.rules import PARTY_KIND_LABELS, PartyKind
from xinyong.core.errors import ValidationFailed
from xinyong.ingest.readers import normalize_header
from xinyong.records.inputs import RecordKind

FieldType = Literal["text", "date", "amount", "enum", "code"]
Format = Literal["current_zh", "current_coded", "legacy_2016"]
FORMATS: tuple[Format, ...] = ("current_zh", "current_coded", "legacy_2016")
FORMAT_LABELS = {
    "current_zh": "现行标准（中文列名）",
    "current_coded": "现行标准（字段代码）",
    "legacy_2016": "2016 年试行标准（字段代码）",
}

#: Length cap of a column the standard gives no length for, and of unknown (extra) columns.
DEFAULT_MAX_LEN = 2000
EXTRA_MAX_LEN = 4000


@dataclass(frozen=True)
class StandardField:
    """One field of the standard.

    ``rule`` names the conditional rule that may make the field required (see :mod:`xinyong.ingest.validate`);
    ``check`` the code check applied to it (``uscc``, ``org_code``, ``id_number``); ``personal`` marks values
    that are masked in every message. ``max_len`` counts characters after trimming.
    """

    key: str
    zh: str | None
    coded: str | None
    legacy: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    type: FieldType = "text"
    max_len: int = DEFAULT_MAX_LEN
    required: bool = False
    legacy_required: bool = False
    rule: str | None = None
    enum: str | None = None
    check: str | None = None
    personal: bool = False
    confidence: Literal["verified", "unverified"] = "verified"

    def header_in(self, fmt: Format) -> str:
        """The column name this field has in a format (for messages about a column the file lacks)."""
        if fmt == "legacy_2016" and self.legacy:
            return self.legacy[0]
        if fmt == "current_coded" and self.coded:
            return self.coded
        return self.zh or self.coded or (self.legacy[0] if self.legacy else self.key)

    @property
    def label(self) -> str:
        return self.zh or self.key


def _f(key: str, zh: str | None, coded: str | None, legacy: str | tuple[str, ...] = (), **kw: Any) -> StandardField:
    return StandardField(key, zh, coded, (legacy,) if isinstance(legacy, str) else legacy, **kw)


def _party_fields(p: str) -> list[StandardField]:
    """The counterpart fields (#1–13), identical for penalties (``p="CF"``) and licences (``p="XK"``)."""
    return [
        _f(
            "party_name",
            "行政相对人名称",
            f"{p}_XDR_MC",
            f"{p}_XDR",
            max_len=200,
            required=True,
            legacy_required=True,
            aliases=("相对人名称", "当事人名称"),
        ),
        _f(
            "party_kind",
            "行政相对人类别",
            f"{p}_XDR_LB",
            type="enum",
            enum="party_kind",
            max_len=20,
            required=True,
            aliases=("相对人类别",),
        ),
        _f(
            "party_uscc",
            "行政相对人代码_1(统一社会信用代码)",
            f"{p}_XDR_SHXYM",
            f"{p}_XDR_SHXYM",
            type="code",
            check="uscc",
            max_len=18,
            rule="party_code",
            aliases=("行政相对人代码_1", "统一社会信用代码", "社会信用代码", "相对人统一社会信用代码"),
        ),
        _f(
            "party_registration_no",
            "行政相对人代码_2(工商注册号)",
            f"{p}_XDR_GSZC",
            f"{p}_XDR_GSDJ",
            type="code",
            max_len=50,
            aliases=("行政相对人代码_2", "工商注册号", "工商登记码", "注册号"),
        ),
        _f(
            "party_org_code",
            "行政相对人代码_3(组织机构代码)",
            f"{p}_XDR_ZZJG",
            f"{p}_XDR_ZDM",
            type="code",
            check="org_code",
            max_len=9,
            aliases=("行政相对人代码_3", "组织机构代码"),
        ),
        # VARCHAR(15) in the text, but 18- and 20-character tax numbers are real: 20 keeps them.
        _f(
            "party_tax_no",
            "行政相对人代码_4(税务登记号)",
            f"{p}_XDR_SWDJ",
            f"{p}_XDR_SWDJ",
            type="code",
            max_len=20,
            aliases=("行政相对人代码_4", "税务登记号"),
        ),
        _f(
            "party_institution_cert",
            "行政相对人代码_5(事业单位证书号)",
            f"{p}_XDR_SYDW",
            type="code",
            max_len=12,
            aliases=("行政相对人代码_5", "事业单位证书号"),
        ),
        _f(
            "party_social_org_cert",
            "行政相对人代码_6(社会组织登记证号)",
            f"{p}_XDR_SHZZ",
            type="code",
            max_len=50,
            aliases=("行政相对人代码_6", "社会组织登记证号"),
        ),
        _f(
            "legal_rep",
            "法定代表人",
            f"{p}_FRDB",
            f"{p}_FR",
            max_len=50,
            rule="legal_rep",
            aliases=("法定代表人(负责人)", "负责人"),
        ),
        _f("legal_rep_id_type", "法定代表人证件类型", f"{p}_FR_ZJLX", type="enum", enum="id_type", max_len=64),
        _f(
            "legal_rep_id_no",
            "法定代表人证件号码",
            f"{p}_FR_ZJHM",
            type="code",
            check="id_number",
            max_len=18,
            personal=True,
            aliases=("法定代表人身份证号", "法定代表人身份证号码"),
        ),
        _f(
            "party_id_type",
            "证件类型",
            f"{p}_XDR_ZJLX",
            type="enum",
            enum="id_type",
            max_len=64,
            rule="natural_person",
            aliases=("行政相对人证件类型",),
        ),
        _f(
            "party_id_no",
            "证件号码",
            f"{p}_XDR_ZJHM",
            f"{p}_XDR_SFZ",
            type="code",
            check="id_number",
            max_len=18,
            rule="natural_person",
            personal=True,
            aliases=("行政相对人证件号码", "身份证号", "身份证号码"),
        ),
    ]


def _tail_fields(
    p: str, *, authority: str, authority_coded: str, authority_legacy: str, source_coded: str, source_uscc_coded: str
) -> list[StandardField]:
    return [
        _f(
            "authority",
            authority,
            f"{p}_{authority_coded}",
            f"{p}_{authority_legacy}",
            max_len=255,
            required=True,
            legacy_required=True,
            aliases=("决定机关", "行政机关"),
        ),
        _f(
            "authority_uscc",
            f"{authority}统一社会信用代码",
            f"{p}_{authority_coded}DM",
            type="code",
            check="uscc",
            max_len=18,
            required=True,
            aliases=(f"{authority}代码",),
        ),
        _f("source_unit", "数据来源单位", f"{p}_{source_coded}", max_len=200, required=True),
        _f(
            "source_unit_uscc",
            "数据来源单位统一社会信用代码",
            f"{p}_{source_uscc_coded}",
            type="code",
            check="uscc",
            max_len=18,
            required=True,
            aliases=("数据来源单位代码",),
        ),
        _f("remarks", "备注", "BZ", "BZ", max_len=512),
        # 2016 columns without a current counterpart: kept in ``data`` under their own keys.
        _f("region_code", None, None, "DFBM", type="code", max_len=12, aliases=("地方编码",)),
        _f("timestamp", None, None, "SJC", max_len=64, aliases=("时间戳",)),
    ]


PENALTY_FIELDS: tuple[StandardField, ...] = (
    *_party_fields("CF"),
    _f(
        "doc_no",
        "行政处罚决定书文号",
        "CF_WSH",
        "CF_WSH",
        max_len=128,
        required=True,
        legacy_required=True,
        aliases=("处罚决定书文号", "决定书文号", "行政处罚决定文书号", "处罚文书号"),
    ),
    _f("case_name", None, None, "CF_AJMC", max_len=500, aliases=("案件名称",)),
    _f("violation_type", "违法行为类型", "CF_WFXW", required=True),
    _f("facts", "违法事实", "CF_SY", "CF_SY", max_len=2000, required=True, aliases=("处罚事由", "主要违法事实")),
    _f("basis", "处罚依据", "CF_YJ", "CF_YJ", max_len=2048, required=True),
    _f(
        "penalty_types",
        "处罚类别",
        "CF_CFLB",
        "CF_CFLB1",
        type="enum",
        enum="penalty_type",
        max_len=200,
        required=True,
        legacy_required=True,
        aliases=("处罚类别1", "处罚种类"),
    ),
    _f(
        "penalty_types_2", None, None, "CF_CFLB2", type="enum", enum="penalty_type", max_len=200, aliases=("处罚类别2",)
    ),
    _f("penalty_content", "处罚内容", "CF_NR", "CF_JG", max_len=4000, required=True, aliases=("处罚结果",)),
    _f("fine_wan", "罚款金额(万元)", "CF_NR_FK", type="amount", max_len=64, rule="fine", aliases=("罚款金额",)),
    _f(
        "confiscated_wan",
        "没收违法所得、没收非法财物的金额(万元)",
        "CF_NR_WFFF",
        type="amount",
        max_len=64,
        rule="confiscation",
        aliases=("没收违法所得、没收非法财物的金额", "没收金额(万元)", "没收金额"),
    ),
    _f("licence_revoked", "暂扣或吊销证照名称及编号", "CF_NR_ZKDX", max_len=200, rule="suspension"),
    _f(
        "decision_date",
        "处罚决定日期",
        "CF_JDRQ",
        "CF_JDRQ",
        type="date",
        max_len=64,
        required=True,
        legacy_required=True,
        aliases=("决定日期", "处罚日期"),
    ),
    _f("penalty_valid_to", "处罚有效期", "CF_YXQ", type="date", max_len=64, required=True, aliases=("处罚有效期至",)),
    _f("publicity_end", "公示截止期", "CF_GSJZQ", type="date", max_len=64, aliases=("公示截止日期",)),
    _f("status", None, None, "CF_ZT", type="enum", enum="status", max_len=20, aliases=("当前状态",)),
    *_tail_fields(
        "CF",
        authority="处罚机关",
        authority_coded="CFJG",
        authority_legacy="XZJG",
        source_coded="SJLY",
        source_uscc_coded="SJLYDM",
    ),
)

LICENCE_FIELDS: tuple[StandardField, ...] = (
    *_party_fields("XK"),
    _f(
        "decision_title",
        "行政许可决定文书名称",
        "XK_XKWS",
        max_len=500,
        required=True,
        aliases=("许可决定文书名称", "决定文书名称"),
    ),
    _f(
        "doc_no",
        "行政许可决定文书号",
        "XK_WSH",
        "XK_WSH",
        max_len=128,
        required=True,
        legacy_required=True,
        aliases=("许可决定文书号", "行政许可决定书文号", "决定文书号", "许可文书号"),
    ),
    _f("project_name", None, None, "XK_XMMC", max_len=500, aliases=("项目名称",)),
    _f(
        "licence_category",
        "许可类别",
        "XK_XKLB",
        "XK_SPLB",
        type="enum",
        enum="licence_category",
        max_len=64,
        required=True,
        aliases=("审批类别",),
    ),
    _f("certificate_name", "许可证书名称", "XK_XKZS", max_len=500),
    _f("licence_no", "许可编号", "XK_XKBH", max_len=128, aliases=("许可证编号", "许可证号")),
    _f("licence_content", "许可内容", "XK_NR", "XK_NR", max_len=4000, required=True),
    _f(
        "decision_date",
        "许可决定日期",
        "XK_JDRQ",
        "XK_JDRQ",
        type="date",
        max_len=64,
        required=True,
        legacy_required=True,
        aliases=("决定日期",),
    ),
    _f(
        "valid_from",
        "有效期自",
        "XK_YXQZ",
        type="date",
        max_len=64,
        required=True,
        confidence="unverified",
        aliases=("许可有效期自", "有效期起"),
    ),
    _f(
        "valid_to",
        "有效期至",
        "XK_YXQZI",
        "XK_JZQ",
        type="date",
        max_len=64,
        required=True,
        confidence="unverified",
        aliases=("许可有效期至", "有效期止", "截止期"),
    ),
    _f(
        "status",
        "当前状态",
        "XK_ZT",
        "XK_ZT",
        type="enum",
        enum="status",
        max_len=20,
        required=True,
        confidence="unverified",
    ),
    *_tail_fields(
        "XK",
        authority="许可机关",
        authority_coded="XKJG",
        authority_legacy="XZJG",
        source_coded="LYDW",
        source_uscc_coded="LYDWDM",
    ),
)

FIELDS: dict[RecordKind, tuple[StandardField, ...]] = {
    RecordKind.PENALTY: PENALTY_FIELDS,
    RecordKind.LICENCE: LICENCE_FIELDS,
}
KIND_LABELS = {RecordKind.PENALTY: "行政处罚", RecordKind.LICENCE: "行政许可"}

# ---------------------------------------------------------------------------------------------------- enumerations

#: 行政相对人类别: the standard's labels, plus spellings of older exports.
PARTY_KINDS: dict[str, PartyKind] = {
    **{label: PartyKind(kind) for kind, label in PARTY_KIND_LABELS.items()},
    **{kind.value: kind for kind in PartyKind},
    "法人和非法人组织": PartyKind.LEGAL_PERSON,
    "法人及其他组织": PartyKind.LEGAL_PERSON,
    "法人和其他组织": PartyKind.LEGAL_PERSON,
    "法人": PartyKind.LEGAL_PERSON,
    "非法人组织": PartyKind.LEGAL_PERSON,
    "个体户": PartyKind.INDIVIDUAL_BUSINESS,
}

#: 处罚类别: 行政处罚法 (2021) Art. 9, then the pre-2021 Art. 8 spellings still found in data. ``其他`` may carry
#: text (``其他-责令改正``). Several values in one cell are separated by 、；;，, (see :data:`PENALTY_TYPE_SEPARATORS`).
PENALTY_TYPES: tuple[str, ...] = (
    "警告",
    "通报批评",
    "罚款",
    "没收违法所得",
    "没收非法财物",
    "暂扣许可证件",
    "降低资质等级",
    "吊销许可证件",
    "限制开展生产经营活动",
    "责令停产停业",
    "责令关闭",
    "限制从业",
    "行政拘留",
    "其他",
    # before the 2021 revision
    "暂扣或者吊销许可证",
    "暂扣或者吊销执照",
    "暂扣或者吊销许可证/执照",
    "暂扣许可证",
    "吊销许可证",
    "暂扣执照",
    "吊销执照",
    "责令停产停业整顿",
)
PENALTY_TYPE_SEPARATORS = "、；;，,"
#: 许可类别; ``其他`` may carry the specific type (``其他-备案``).
LICENCE_CATEGORIES: tuple[str, ...] = ("普通", "特许", "认可", "核准", "登记", "其他")
#: 当前状态: 1 有效 / 2 无效, and the words departments write instead.
STATUSES: dict[str, bool] = {
    "1": True,
    "有效": True,
    "正常": True,
    "2": False,
    "无效": False,
    "撤销": False,
    "注销": False,
    "吊销": False,
    "撤回": False,
    "失效": False,
    "过期": False,
    "废止": False,
    "已撤销": False,
    "已注销": False,
    "已吊销": False,
}
#: 证件类型 (natural person and legal representative). ``其他-…`` is accepted too.
ID_TYPES: tuple[str, ...] = (
    "身份证",
    "居民身份证",
    "护照",
    "护照号",
    "港澳居民来往内地通行证",
    "台湾居民来往大陆通行证",
    "外国人永久居留身份证",
    "港澳居民居住证",
    "台湾居民居住证",
    "其他",
)
#: The 证件类型 values that mean a mainland resident identity card (its number has a check digit).
RESIDENT_ID_TYPES = frozenset({"身份证", "居民身份证", "身份证号", "身份证号码", "居民身份证号码", "二代身份证"})
#: 有效期至 spelled as "no end"; dates on or after OPEN_ENDED_FROM mean the same (the standard's 2099-12-31).
OPEN_ENDED_WORDS = frozenset({"长期", "长期有效", "永久", "永久有效", "无期限", "无固定期限", "长久"})
OPEN_ENDED_FROM = dt.date(2099, 12, 31)

# ---------------------------------------------------------------------------------------------------- header maps


def header_key(header: Any) -> str:
    """Comparable form of a column name: :func:`~xinyong.ingest.readers.normalize_header`, upper case, no ``_``."""
    return normalize_header(header).upper().replace("_", "")


def _names(f: StandardField, fmt: Format) -> tuple[str, ...]:
    if fmt == "current_zh":
        return ((f.zh,) if f.zh else ()) + f.aliases
    if fmt == "current_coded":
        return (f.coded,) if f.coded else ()
    return f.legacy


def _lookup(kind: RecordKind) -> tuple[dict[str, str], dict[Format, frozenset[str]]]:
    """header key → field key (every format), and the header keys proper to each format (for scoring)."""
    to_field: dict[str, str] = {}
    per_format: dict[Format, set[str]] = {fmt: set() for fmt in FORMATS}
    for fmt in FORMATS:
        for f in FIELDS[kind]:
            for name in _names(f, fmt):
                k = header_key(name)
                existing = to_field.setdefault(k, f.key)
                assert existing == f.key, f"column {name} names both {existing} and {f.key}"
                per_format[fmt].add(k)
    return to_field, {fmt: frozenset(v) for fmt, v in per_format.items()}


_LOOKUPS = {kind: _lookup(kind) for kind in RecordKind}
_FIELD_BY_KEY = {kind: {f.key: f for f in fields} for kind, fields in FIELDS.items()}


def field_of(kind: RecordKind, key: str) -> StandardField:
    return _FIELD_BY_KEY[kind][key]


def known_headers(kind: RecordKind | None = None) -> set[str]:
    """Every column name (as :func:`normalize_header` spells it) of one kind or both: ``open_table(known_headers=…)``
    uses it to find the header row below title rows."""
    kinds = [kind] if kind else list(RecordKind)
    names: set[str] = set()
    for k in kinds:
        for f in FIELDS[k]:
            for fmt in FORMATS:
                names.update(normalize_header(n) for n in _names(f, fmt))
                names.update(normalize_header(n).lower() for n in _names(f, fmt) if n.isascii())
    return names


#: Every column name of both kinds, for ``open_table(known_headers=KNOWN_HEADERS)`` when the kind is not known yet.
KNOWN_HEADERS: frozenset[str] = frozenset(known_headers())


class HeaderColumns:
    """What every header map (a 双公示 standard's, another class's: ``ingest.classes.ClassHeaderMap``) answers from
    its ``headers`` (as sent), ``columns`` (field key → column index), ``extra`` (index → header of a column outside
    the standard), ``missing`` (required columns absent) and ``format``."""

    headers: list[str]
    columns: dict[str, int]
    extra: dict[int, str]
    missing: list[str]
    format: Any

    @property
    def unknown(self) -> list[str]:
        """Headers of the columns kept aside as ``extra``, in file order."""
        return [self.extra[i] for i in sorted(self.extra)]

    def header_of(self, key: str) -> str:
        """The column as the sender wrote it, or the standard's name in the detected format if the file lacks it."""
        i = self.columns.get(key)
        if i is not None:
            return str(self.headers[i])
        return self._standard_header(key)

    def require_complete(self) -> None:
        """Refuse the whole file when required columns are missing (``columns_missing``, with the list)."""
        if self.missing:
            raise ValidationFailed(
                self._missing_message(),
                code="columns_missing",
                details={"missing": list(self.missing), "format": self.format},
            )

    def _standard_header(self, key: str) -> str:
        raise NotImplementedError

    def _missing_message(self) -> str:
        raise NotImplementedError


@dataclass
class HeaderMap(HeaderColumns):
    """How a file's columns map onto the standard, plus the options of its validation.

    ``columns``: canonical key → column index (first column wins when two name the same field; the later one is
    kept as extra). ``extra``: column index → header of the columns the standard does not know. ``missing``: the
    required columns absent from the file, spelled as in the detected format; ``missing_keys`` their keys.
    ``headers`` are the column names as given (used in every message). Options: ``allow_bad_check`` keeps codes
    whose only fault is the USCC check character as warnings (early pilot regions, operator's choice);
    ``today`` is the date "in the future" is measured against (``None``: the current date, taken once).
    """

    kind: RecordKind
    format: Format
    headers: list[str]
    columns: dict[str, int]
    extra: dict[int, str]
    missing: list[str]
    missing_keys: list[str]
    required: frozenset[str]
    scores: dict[str, int] = field(default_factory=dict)
    allow_bad_check: bool = False
    today: dt.date | None = None
    _compiled: Any = field(default=None, repr=False, compare=False)

    @property
    def standard(self) -> Format:
        """Alias of ``format`` (the name the collection service uses)."""
        return self.format

    def _standard_header(self, key: str) -> str:
        return field_of(self.kind, key).header_in(self.format)

    def _missing_message(self) -> str:
        return (
            f"{KIND_LABELS[self.kind]}文件缺少必填列：{'、'.join(self.missing)}（识别为{FORMAT_LABELS[self.format]}）"
        )


def detect_format(
    kind: RecordKind,
    headers: Iterable[Any],
    *,
    relaxed: Iterable[str] = (),
    allow_bad_check: bool = False,
    today: dt.date | None = None,
) -> HeaderMap:
    """Map a header row onto the standard of ``kind``.

    The format is the one whose own column names match most headers (ties: current coded before 2016, as the
    coded names they share mean the same); columns of any format are accepted in every format. Required columns
    follow the current standard, or the 2016 one for a 2016 file; ``relaxed`` keys are treated as optional
    (operators' correction of the rules the standards document marks unverified).
    """
    headers = ["" if h is None else str(h) for h in headers]
    to_field, per_format = _LOOKUPS[kind]
    keys = [header_key(h) for h in headers]
    scores: dict[str, int] = {fmt: sum(1 for k in keys if k in per_format[fmt]) for fmt in FORMATS}
    fmt: Format = max(FORMATS, key=lambda f: (scores[f], -FORMATS.index(f)))
    columns: dict[str, int] = {}
    extra: dict[int, str] = {}
    for i, k in enumerate(keys):
        if not k:
            continue
        key = to_field.get(k)
        if key is None or key in columns:
            extra[i] = headers[i]
        else:
            columns[key] = i
    relaxed = set(relaxed)
    unknown = relaxed - set(_FIELD_BY_KEY[kind])
    if unknown:
        raise ValueError(f"unknown field keys: {sorted(unknown)}")
    legacy = fmt == "legacy_2016"
    required = frozenset(
        f.key for f in FIELDS[kind] if (f.legacy_required if legacy else f.required) and f.key not in relaxed
    )
    missing_fields = [f for f in FIELDS[kind] if f.key in required and f.key not in columns]
    return HeaderMap(
        kind=kind,
        format=fmt,
        headers=headers,
        columns=columns,
        extra=extra,
        missing=[f.header_in(fmt) for f in missing_fields],
        missing_keys=[f.key for f in missing_fields],
        required=required,
        scores=dict(scores),
        allow_bad_check=allow_bad_check,
        today=today,
    )


def guess_kind(headers: Iterable[Any]) -> RecordKind:
    """Penalty or licence from the header row: the kind with more columns of its own (shared ones such as
    行政相对人名称 or 备注 do not count). Raises ``ValidationFailed(code="kind_unknown")`` when undecidable."""
    keys = {header_key(h) for h in headers if h is not None}
    own = {kind: set().union(*_LOOKUPS[kind][1].values()) for kind in RecordKind}
    shared = own[RecordKind.PENALTY] & own[RecordKind.LICENCE]
    scores = {kind: len((own[kind] - shared) & keys) for kind in RecordKind}
    penalty, licence = scores[RecordKind.PENALTY], scores[RecordKind.LICENCE]
    if penalty == licence:
        raise ValidationFailed(
            "无法从列名判断是行政处罚还是行政许可文件，请指定类型",
            code="kind_unknown",
            details={"scores": {k.value: v for k, v in scores.items()}},
        )
    return RecordKind.PENALTY if penalty > licence else RecordKind.LICENCE

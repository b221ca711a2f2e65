"""The import formats of the analytics domain and their row validation. Pure: no database.

Five file kinds (CSV / XLSX / JSON, Chinese column names, read by ``ingest.readers``); ``*`` marks a required
column. The full description with examples is in ``docs/analytics.md``.

- ``tenders``  招标项目: 项目编号*, 项目名称*, 招标人*, 招标人统一社会信用代码, 项目类别, 预算金额(元), 开标时间*
- ``bids``     投标记录: 项目编号*, 投标人名称*, 投标人统一社会信用代码, 投标报价(元)*, 投标时间, 联系人, 联系电话,
               法定代表人, 股东, 地址, 投标IP, 中标
- ``awards``   中标结果: 项目编号*, 中标人名称*, 中标人统一社会信用代码, 中标金额(元), 中标日期
- ``bidders``  投标人属性（可选）: 投标人名称*, 投标人统一社会信用代码, 法定代表人, 股东, 地址, 联系电话
- ``spot_checks`` 食品药品抽检: 抽样编号*, 被抽样单位名称*, 统一社会信用代码, 产品名称*, 类别*, 抽样日期*,
               检验结论*（合格/不合格）, 不合格项目, 抽检部门

Each parser returns ``(value, errors)``: the normalised row as a dict, or the Chinese reasons it is refused.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import Any

from xinyong.analytics.models import ImportKind
from xinyong.identifiers import uscc as uscc_rules
from xinyong.identifiers.names import normalize_org_name
from xinyong.ingest.values import AmountError, parse_date, yuan_to_fen

KINDS = tuple(ImportKind)
KIND_LABELS: dict[str, str] = {
    ImportKind.TENDERS: "招标项目",
    ImportKind.BIDS: "投标记录",
    ImportKind.AWARDS: "中标结果",
    ImportKind.BIDDERS: "投标人属性",
    ImportKind.SPOT_CHECKS: "食品药品抽检",
}

#: column key -> accepted header spellings (after ``readers.normalize_header``)
COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    ImportKind.TENDERS: {
        "project_no": ("项目编号", "招标项目编号", "标段编号"),
        "name": ("项目名称", "招标项目名称"),
        "tenderer": ("招标人", "招标人名称", "采购人"),
        "tenderer_uscc": ("招标人统一社会信用代码",),
        "category": ("项目类别", "交易类别"),
        "budget": ("预算金额(元)", "预算金额", "控制价(元)", "最高限价(元)"),
        "opened_on": ("开标时间", "开标日期"),
    },
    ImportKind.BIDS: {
        "project_no": ("项目编号", "招标项目编号", "标段编号"),
        "bidder_name": ("投标人名称", "投标人", "投标单位"),
        "bidder_uscc": ("投标人统一社会信用代码", "统一社会信用代码"),
        "price": ("投标报价(元)", "投标报价", "报价(元)"),
        "bid_at": ("投标时间", "递交时间"),
        "contact": ("联系人",),
        "phone": ("联系电话", "电话", "手机号码"),
        "legal_rep": ("法定代表人", "法人代表"),
        "shareholders": ("股东", "股东名称"),
        "address": ("地址", "注册地址", "住所"),
        "ip": ("投标IP", "IP地址", "投标ip"),
        "won": ("中标", "是否中标"),
    },
    ImportKind.AWARDS: {
        "project_no": ("项目编号", "招标项目编号", "标段编号"),
        "winner_name": ("中标人名称", "中标人", "中标单位"),
        "winner_uscc": ("中标人统一社会信用代码", "统一社会信用代码"),
        "price": ("中标金额(元)", "中标金额", "中标价(元)"),
        "awarded_on": ("中标日期", "中标时间", "公示日期"),
    },
    ImportKind.BIDDERS: {
        "bidder_name": ("投标人名称", "投标人", "企业名称"),
        "bidder_uscc": ("投标人统一社会信用代码", "统一社会信用代码"),
        "legal_rep": ("法定代表人", "法人代表"),
        "shareholders": ("股东", "股东名称"),
        "address": ("地址", "注册地址", "住所"),
        "phone": ("联系电话", "电话"),
    },
    ImportKind.SPOT_CHECKS: {
        "sample_no": ("抽样编号", "样品编号"),
        "subject_name": ("被抽样单位名称", "被抽样单位", "标称生产企业名称"),
        "subject_uscc": ("统一社会信用代码", "被抽样单位统一社会信用代码"),
        "product": ("产品名称", "样品名称"),
        "category": ("类别", "食品类别", "产品类别"),
        "checked_on": ("抽样日期",),
        "result": ("检验结论", "结论"),
        "failed_items": ("不合格项目", "不合格项目║检验结果"),
        "department": ("抽检部门", "任务来源"),
    },
}
REQUIRED: dict[str, tuple[str, ...]] = {
    ImportKind.TENDERS: ("project_no", "name", "tenderer", "opened_on"),
    ImportKind.BIDS: ("project_no", "bidder_name", "price"),
    ImportKind.AWARDS: ("project_no", "winner_name"),
    ImportKind.BIDDERS: ("bidder_name",),
    ImportKind.SPOT_CHECKS: ("sample_no", "subject_name", "product", "category", "checked_on", "result"),
}
LABELS = {kind: {key: names[0] for key, names in cols.items()} for kind, cols in COLUMNS.items()}
CATEGORIES = ("工程", "货物", "服务")
SPOT_CATEGORIES = ("食品", "药品", "保健食品", "化妆品", "医疗器械", "食用农产品")
_YES = {"是", "中标", "y", "yes", "true", "1"}
_NO = {"否", "未中标", "n", "no", "false", "0", ""}
_PHONE_JUNK = re.compile(r"[\s\-()（）+]")
_ADDRESS_JUNK = re.compile(r"[\s,，.。;；:：、\-—_/#()（）]")
_SPLIT = re.compile(r"[;；,，、/|\n]+")


def known_headers(kind: str) -> set[str]:
    return {name for names in COLUMNS[kind].values() for name in names}


def header_map(kind: str, headers: list[str]) -> dict[str, str]:
    """file header -> column key, for the headers this kind knows."""
    lookup = {name: key for key, names in COLUMNS[kind].items() for name in names}
    out: dict[str, str] = {}
    for h in headers:
        key = lookup.get(h) or lookup.get(h.lower())
        if key and key not in out.values():
            out[h] = key
    return out


def missing_columns(kind: str, headers: list[str]) -> list[str]:
    present = set(header_map(kind, headers).values())
    return [LABELS[kind][k] for k in REQUIRED[kind] if k not in present]


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text[:limit] if text else None


def normalize_phone(value: Any) -> str | None:
    """Digits only, without a +86 / 0086 prefix: the form two bids' phones are compared in."""
    text = _text(value, 60)
    if not text:
        return None
    digits = _PHONE_JUNK.sub("", text)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if digits.isdigit() and 7 <= len(digits) <= 20 else None


def normalize_address(value: Any) -> str | None:
    """An address as compared: NFKC, no spaces or punctuation (``沁阳市 覃怀街道, 12号`` = ``沁阳市覃怀街道12号``)."""
    text = _text(value, 300)
    return _ADDRESS_JUNK.sub("", text) if text else None


def normalize_person(value: Any) -> str | None:
    text = _text(value, 100)
    return re.sub(r"\s+", "", text) if text else None


def split_names(value: Any) -> list[str]:
    """The 股东 cell: names separated by ；，、/ or new lines; an organisation's name normalised for comparison."""
    text = _text(value, 4000)
    if not text:
        return []
    out: list[str] = []
    for part in _SPLIT.split(text):
        part = re.sub(r"\s+", "", part)
        if part:
            norm = normalize_org_name(part) if len(part) > 4 else part
            if norm and norm not in out:
                out.append(norm[:200])
    return out


def bidder_key(name: str, code: str | None) -> str:
    """How a bidder is known across tenders: its USCC, else its normalised name."""
    return code if code else "name:" + normalize_org_name(name)[:200]


def _uscc(value: Any, label: str, errors: list[str]) -> str | None:
    text = _text(value, 40)
    if not text:
        return None
    result = uscc_rules.validate(text)
    if not result.valid:
        errors.append(f"{label}「{text}」不是有效的统一社会信用代码")
        return None
    return result.normalized


def _date(value: Any, label: str, errors: list[str]) -> Any:
    try:
        return parse_date(value.split(" ")[0] if isinstance(value, str) else value)
    except (ValueError, TypeError, OverflowError):
        errors.append(f"{label}「{value}」不是有效日期")
        return None


def _required(row: dict[str, Any], kind: str, errors: list[str]) -> None:
    for key in REQUIRED[kind]:
        if row.get(key) is None or (isinstance(row[key], str) and not row[key].strip()):
            errors.append(f"缺少{LABELS[kind][key]}")


def _fen(value: Any, label: str, errors: list[str]) -> int | None:
    """An amount in yuan as fen; a refused one (not a number, not finite, negative, above the platform's amount
    ceiling ``XINYONG_AMOUNT_MAX_WAN``) is the row's error, never a crash nor a value the column cannot hold."""
    try:
        return yuan_to_fen(value)
    except AmountError as exc:
        errors.append(f"{label}：{exc.message}")
        return None


def parse_row(kind: str, row: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """One row (keys = column keys) as a normalised dict, or the reasons it is refused."""
    errors: list[str] = []
    _required(row, kind, errors)
    if errors:
        return None, errors
    parse = {
        ImportKind.TENDERS: _tender,
        ImportKind.BIDS: _bid,
        ImportKind.AWARDS: _award,
        ImportKind.BIDDERS: _bidder,
        ImportKind.SPOT_CHECKS: _spot_check,
    }[ImportKind(kind)]
    return parse(row, errors)


def _tender(row: dict[str, Any], errors: list[str]) -> tuple[dict[str, Any] | None, list[str]]:
    category = _text(row.get("category"), 20)
    if category and category not in CATEGORIES:
        errors.append(f"项目类别「{category}」应为 工程 / 货物 / 服务 之一")
    out = {
        "project_no": _text(row["project_no"], 100),
        "name": _text(row["name"], 300),
        "tenderer": _text(row["tenderer"], 200),
        "tenderer_uscc": _uscc(row.get("tenderer_uscc"), "招标人统一社会信用代码", errors),
        "category": category,
        "budget_fen": _fen(row.get("budget"), "预算金额", errors),
        "opened_on": _date(row["opened_on"], "开标时间", errors),
    }
    return (None, errors) if errors else (out, errors)


def _flag(value: Any, errors: list[str]) -> bool:
    text = str(value).strip().lower() if value is not None else ""
    if text in _YES:
        return True
    if text not in _NO:
        errors.append(f"中标「{value}」应为 是 或 否")
    return False


def _ip(value: Any, errors: list[str]) -> str | None:
    text = _text(value, 60)
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        errors.append(f"投标IP「{text}」不是有效的 IP 地址")
        return None


def _bid_time(value: Any, errors: list[str]) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if hasattr(value, "isoformat") and hasattr(value, "hour"):
        return value.isoformat(sep=" ", timespec="seconds")[:19]
    text = str(value).strip().replace("T", " ").replace("/", "-")
    if not re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}( \d{1,2}:\d{2}(:\d{2})?)?", text):
        errors.append(f"投标时间「{value}」应为 YYYY-MM-DD HH:MM:SS")
        return None
    return text[:19]


def _bidder_identity(row: dict[str, Any], errors: list[str]) -> tuple[str, str | None, str | None]:
    """The bidder's name, USCC and phone (normalised) of a bids or bidder-attributes row."""
    name = _text(row["bidder_name"], 200) or ""
    code = _uscc(row.get("bidder_uscc"), "投标人统一社会信用代码", errors)
    raw_phone = _text(row.get("phone"), 60)
    phone = normalize_phone(raw_phone)
    if raw_phone and phone is None:
        errors.append(f"联系电话「{raw_phone}」不是有效的电话号码")
    return name, code, phone


def _bid(row: dict[str, Any], errors: list[str]) -> tuple[dict[str, Any] | None, list[str]]:
    name, code, phone = _bidder_identity(row, errors)
    price = _fen(row["price"], "投标报价", errors)
    if price == 0:
        errors.append("投标报价不能为 0")
    out = {
        "project_no": _text(row["project_no"], 100),
        "bidder_name": name,
        "bidder_uscc": code,
        "bidder_key": bidder_key(name, code),
        "price_fen": price,
        "bid_at": _bid_time(row.get("bid_at"), errors),
        "contact": _text(row.get("contact"), 100),
        "phone": phone,
        "legal_rep": normalize_person(row.get("legal_rep")),
        "shareholders": split_names(row.get("shareholders")),
        "address": normalize_address(row.get("address")),
        "ip": _ip(row.get("ip"), errors),
        "won": _flag(row.get("won"), errors),
    }
    return (None, errors) if errors else (out, errors)


def _award(row: dict[str, Any], errors: list[str]) -> tuple[dict[str, Any] | None, list[str]]:
    name = _text(row["winner_name"], 200) or ""
    code = _uscc(row.get("winner_uscc"), "中标人统一社会信用代码", errors)
    out = {
        "project_no": _text(row["project_no"], 100),
        "winner_name": name,
        "winner_key": bidder_key(name, code),
        "price_fen": _fen(row.get("price"), "中标金额", errors),
        "awarded_on": _date(row.get("awarded_on"), "中标日期", errors),
    }
    return (None, errors) if errors else (out, errors)


def _bidder(row: dict[str, Any], errors: list[str]) -> tuple[dict[str, Any] | None, list[str]]:
    name, code, phone = _bidder_identity(row, errors)
    out = {
        "bidder_name": name,
        "bidder_key": bidder_key(name, code),
        "legal_rep": normalize_person(row.get("legal_rep")),
        "shareholders": split_names(row.get("shareholders")),
        "address": normalize_address(row.get("address")),
        "phone": phone,
    }
    return (None, errors) if errors else (out, errors)


def _spot_check(row: dict[str, Any], errors: list[str]) -> tuple[dict[str, Any] | None, list[str]]:
    category = _text(row["category"], 20)
    if category not in SPOT_CATEGORIES:
        errors.append(f"类别「{category}」应为 {' / '.join(SPOT_CATEGORIES)} 之一")
    result = _text(row["result"], 20)
    if result not in ("合格", "不合格"):
        errors.append(f"检验结论「{result}」应为 合格 或 不合格")
    out = {
        "sample_no": _text(row["sample_no"], 100),
        "subject_name": _text(row["subject_name"], 200),
        "subject_uscc": _uscc(row.get("subject_uscc"), "统一社会信用代码", errors),
        "product": _text(row["product"], 200),
        "category": category,
        "checked_on": _date(row["checked_on"], "抽样日期", errors),
        "passed": result == "合格",
        "failed_items": _text(row.get("failed_items"), 2000),
        "department": _text(row.get("department"), 200),
    }
    return (None, errors) if errors else (out, errors)

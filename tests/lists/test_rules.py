"""Pure rules of list entries (no database): counting on a day, effective status, term ends, the seed file."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from xinyong.core.errors import ValidationFailed
from xinyong.lists import types as lists_types
from xinyong.lists.rules import effective_status, in_force, term_end_for
from xinyong.lists.schemas import ListTypesFile, ListTypeSpec

D = dt.date


def entry(
    status: str = "active",
    listed_on: D | None = D(2024, 1, 10),
    term_end: D | None = D(2025, 1, 9),
    removed_on: D | None = None,
) -> SimpleNamespace:
    return SimpleNamespace(status=status, listed_on=listed_on, term_end=term_end, removed_on=removed_on)


def test_term_end_is_the_day_before_the_anniversary() -> None:
    assert term_end_for(D(2024, 1, 10), 12) == D(2025, 1, 9)
    assert term_end_for(D(2024, 1, 10), 36) == D(2027, 1, 9)
    # Month ends clamp: listed on 31 January for one month counts through 28/29 February minus nothing more.
    assert term_end_for(D(2023, 1, 31), 1) == D(2023, 2, 27)
    assert term_end_for(D(2024, 2, 29), 12) == D(2025, 2, 27)
    assert term_end_for(D(2024, 1, 10), None) is None


def test_entry_counts_on_its_term_end_and_not_the_day_after() -> None:
    e = entry()
    assert not in_force(e, D(2024, 1, 9))
    assert in_force(e, D(2024, 1, 10))
    assert in_force(e, D(2025, 1, 9))
    assert not in_force(e, D(2025, 1, 10))
    assert effective_status(e, D(2025, 1, 9)) == "active"
    assert effective_status(e, D(2025, 1, 10)) == "expired"


def test_removal_counts_from_removed_on() -> None:
    e = entry(status="removed", removed_on=D(2024, 6, 1))
    assert in_force(e, D(2024, 5, 31)) and effective_status(e, D(2024, 5, 31)) == "active"
    assert not in_force(e, D(2024, 6, 1)) and effective_status(e, D(2024, 6, 1)) == "removed"


def test_notified_never_counts_and_open_term_never_expires() -> None:
    assert not in_force(entry(status="notified", listed_on=None, term_end=None), D(2030, 1, 1))
    assert effective_status(entry(status="notified", listed_on=None, term_end=None), D(2030, 1, 1)) == "notified"
    assert in_force(entry(term_end=None), D(2099, 1, 1))


def _spec(**kw: object) -> dict[str, object]:
    base = {
        "code": "x_list",
        "name": "测试名单",
        "kind": "black",
        "domain": "tax",
        "authority": "某局",
        "info_class": "serious_dishonest_list",
        "legal_basis": [{"title": "某法"}],
        "term_months": 36,
        "max_term_months": 36,
        "requires_notice": True,
        "notice_workdays": 5,
        "party_kinds": ["legal_person"],
    }
    return {**base, **kw}


@pytest.mark.parametrize(
    "bad",
    [
        {"max_term_months": 12},  # maximum below default
        {"notice_workdays": None},  # notice required without a period
        {"kind": "grey"},  # unknown kind
        {"party_kinds": ["alien"]},  # unknown party kind
        {"legal_basis": []},  # no legal basis
        {"code": "Bad-Code"},  # malformed code
        {"removal_rules": [{"reason": "forgiven", "text": "x"}]},  # unknown removal reason
        {"surprise": 1},  # unknown field
    ],
)
def test_spec_rejects_inconsistent_types(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ListTypeSpec.model_validate(_spec(**bad))


def test_spec_file_rejects_duplicate_codes() -> None:
    with pytest.raises(ValueError, match="重复"):
        ListTypesFile.model_validate({"types": [_spec(), _spec()]})


def test_shipped_list_types_are_valid_and_realistic() -> None:
    types = {t.code: t for t in lists_types.load_list_types().types}
    assert {"tax_serious_dishonest", "court_dishonest_debtor", "samr_abnormal", "tax_a_grade"} <= set(types)
    assert {t.kind for t in types.values()} == {"red", "black", "abnormal", "debtor", "other"}
    # 其他: records and grades that are neither a red nor a black list (不文明行为记录, 中介机构 D 级)
    assert {c for c, t in types.items() if t.kind == "other"} == {"tourism_uncivilised", "intermediary_d_grade"}
    assert types["court_dishonest_debtor"].external and types["samr_abnormal"].external
    assert all(t.notice_workdays for t in types.values() if t.requires_notice)


def test_unreadable_or_invalid_seed_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as exc:
        lists_types.load_list_types(tmp_path / "missing.yaml")
    assert exc.value.code == "list_types_unreadable"
    bad = tmp_path / "bad.yaml"
    bad.write_text("types:\n  - code: x\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as exc:
        lists_types.load_list_types(bad)
    assert exc.value.code == "invalid_list_types" and exc.value.details

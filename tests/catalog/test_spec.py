"""The shipped catalog file: it loads, every class is valid, and it says what the national rules say."""

from __future__ import annotations

import copy

import pytest
import yaml

from xinyong.catalog.rules import PartyKind, PublicAttribute
from xinyong.catalog.spec import (
    DEFAULT_CATALOG_PATH,
    dump_catalog,
    load_catalog,
    parse_catalog,
)
from xinyong.core.errors import ValidationFailed

REQUIRED_CLASSES = {
    "registration",
    "licence",
    "penalty",
    "red_list",
    "serious_dishonest_list",
    "abnormal_operations",
    "market_serious_illegal_list",
    "dishonest_judgment_debtor",
    "commitment",
    "evaluation",
    "honour",
    "judicial",
    "qualification",
    "contract",
}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))


def _class(raw: dict, code: str) -> dict:
    return next(c for c in raw["classes"] if c["code"] == code)


def test_loads_with_edition_and_sources(catalog) -> None:
    assert catalog.edition and catalog.title
    assert any("第58号" in (s.number or "") for s in catalog.sources)
    assert {c.code for c in catalog.classes} >= REQUIRED_CLASSES


def test_every_class_is_complete(catalog) -> None:
    for spec in catalog.classes:
        assert spec.legal_basis, spec.code
        assert spec.category in catalog.categories, spec.code
        assert set(spec.owner_departments) <= set(catalog.department_kinds), spec.code
        assert spec.applies_to.kinds(), spec.code
        rule = spec.rule()  # every class yields a usable rule
        assert rule.code == spec.code


def test_natural_persons_public_only_with_a_legal_basis(catalog) -> None:
    for spec in catalog.classes:
        if spec.natural_person_attribute is PublicAttribute.PUBLIC:
            assert spec.natural_person_basis, spec.code
    assert catalog.rules()["penalty"].natural_person_attribute is PublicAttribute.SHARED
    assert catalog.rules()["dishonest_judgment_debtor"].natural_person_attribute is PublicAttribute.PUBLIC


def test_penalty_follows_order_58(catalog) -> None:
    p = catalog.rules()["penalty"].publicity
    assert p.mode == "fixed_period" and p.starts_from == "decision_date"
    assert (p.windows["general"].min_months, p.windows["general"].max_months) == (3, 12)
    assert (p.windows["serious"].min_months, p.windows["serious"].max_months) == (12, 36)
    assert (p.timeliness.days, p.timeliness.unit) == (7, "workday")
    assert (p.withdrawal.days, p.withdrawal.unit) == (3, "workday")
    only, fine = p.not_published
    assert set(only.penalty_types_only) == {"警告", "通报批评"} and only.confidence == "low"
    assert fine.fine_max_yuan[PartyKind.NATURAL_PERSON] == 200
    assert fine.fine_max_yuan[PartyKind.LEGAL_PERSON] == 3000
    assert fine.confidence == "low"
    repair = catalog.rules()["penalty"].repair
    assert repair.repairable and repair.mode == "end_publicity" and repair.requires_commitment


def test_licences_public_while_valid_and_timely(catalog) -> None:
    p = catalog.rules()["licence"].publicity
    assert p.mode == "while_valid" and p.windows == {}
    assert (p.timeliness.days, p.timeliness.unit) == (7, "workday")


def test_unverified_numbers_are_marked(catalog) -> None:
    # standards.md: the 7-working-day rule and the 3-day withdrawal are "unverified: keep configurable".
    p = catalog.rules()["penalty"].publicity
    assert p.timeliness.confidence == "unverified" and p.withdrawal.confidence == "unverified"
    assert all(c.confidence != "verified" for c in catalog.classes)


def test_dump_reloads_identically(catalog) -> None:
    assert parse_catalog(yaml.safe_load(dump_catalog(catalog))) == catalog


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda c: _class(c, "penalty")["publicity"]["windows"]["general"].update(min_months=13), "不得长于"),
        (lambda c: _class(c, "penalty")["publicity"]["windows"]["general"].update(min_days=5), "按月或按日"),
        (lambda c: _class(c, "penalty")["publicity"]["windows"]["general"].pop("max_months"), "最长期限"),
        (lambda c: _class(c, "penalty").update(public_attribute="secret"), "取值无效"),
        (lambda c: _class(c, "penalty").update(natural_person_attribute="public"), "法律依据"),
        (lambda c: _class(c, "evaluation").update(natural_person_attribute="public"), "更公开"),
        (lambda c: _class(c, "penalty").update(legal_basis=[]), "legal_basis"),
        (lambda c: _class(c, "licence")["publicity"].update(windows={"general": {"max_months": 3}}), "不使用 windows"),
        (lambda c: _class(c, "penalty")["repair"].pop("mode"), "修复方式"),
        (
            lambda c: _class(c, "penalty")["publicity"]["not_published"][0].update(fine_max_yuan={"legal_person": 1}),
            "只能设置",
        ),
        (lambda c: c["classes"].append(copy.deepcopy(_class(c, "penalty"))), "重复"),
        (lambda c: _class(c, "penalty").update(colour="red"), "不认识的字段"),
    ],
)
def test_invalid_catalogs_are_rejected(raw: dict, mutate, fragment: str) -> None:
    mutate(raw)
    with pytest.raises(ValidationFailed) as err:
        parse_catalog(raw)
    assert err.value.code == "invalid_catalog"
    assert fragment in str(err.value.details)


def test_unknown_category_or_department_kind_is_rejected(raw: dict) -> None:
    _class(raw, "penalty")["category"] = "不存在的类别"
    with pytest.raises(ValidationFailed) as err:
        parse_catalog(raw)
    assert err.value.code == "invalid_info_class" and err.value.details[0]["location"] == ["category"]
    _class(raw, "penalty")["category"] = "行政管理信息"
    _class(raw, "penalty")["owner_departments"] = ["ministry_of_magic"]
    with pytest.raises(ValidationFailed) as err:
        parse_catalog(raw)
    assert err.value.details[0]["location"] == ["owner_departments"]


def test_unreadable_or_broken_files_give_clear_errors(tmp_path) -> None:
    with pytest.raises(ValidationFailed) as err:
        load_catalog(tmp_path / "missing.yaml")
    assert err.value.code == "catalog_file_unreadable"
    broken = tmp_path / "broken.yaml"
    broken.write_text("classes: [unclosed", encoding="utf-8")
    with pytest.raises(ValidationFailed) as err:
        load_catalog(broken)
    assert err.value.code == "catalog_file_invalid_yaml"

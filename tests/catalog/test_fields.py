"""Class data standards (issue #18): the shipped files load, agree with the catalog and with the 双公示 field
definitions of ingest.standards, and a malformed file is refused at start with a clear message."""

from __future__ import annotations

import copy

import pytest
import yaml

from xinyong.catalog.fields import DEFAULT_CLASSES_DIR, generic_kinds, load_standards, record_kinds
from xinyong.catalog.rules import PublicAttribute
from xinyong.catalog.spec import load_catalog, parse_catalog
from xinyong.core.errors import ValidationFailed
from xinyong.ingest.standards import FIELDS
from xinyong.records.inputs import RecordKind

SHIPPED = load_standards()


def test_every_class_with_a_standard_is_a_catalog_class_with_legal_basis():
    catalog = {c.code: c for c in load_catalog().classes}
    assert set(generic_kinds()) == {
        "honour",
        "judicial",
        "qualification",
        "contract",
        "tax_arrears",
        "social_insurance",
        "annual_report",
        "spot_check",
    }
    assert record_kinds()[:2] == ("licence", "penalty")
    for code, standard in SHIPPED.items():
        assert code in catalog, code
        assert standard.legal_basis and catalog[code].legal_basis
        assert standard.public_keys, code
        mode = catalog[code].publicity.mode
        if mode == "while_valid" and code != "penalty":
            assert standard.publicity.end_field, f"{code}: a while_valid class needs the field its validity ends on"


@pytest.mark.parametrize("kind", list(RecordKind))
def test_the_shuang_gongshi_files_agree_with_ingest_standards(kind):
    """One field definition: the YAML of licences and penalties is ingest/standards.py's (scripts/class_fields.py)."""
    standard = SHIPPED[kind.value]
    assert standard.fast_path
    ours = {f.key: f for f in standard.fields}
    assert list(ours) == [f.key for f in FIELDS[kind]]
    for f in FIELDS[kind]:
        y = ours[f.key]
        assert (y.zh, y.coded, tuple(y.legacy), tuple(y.aliases)) == (f.zh, f.coded, f.legacy, f.aliases), f.key
        assert (y.type, y.max_len, y.required, y.legacy_required) == (f.type, f.max_len, f.required, f.legacy_required)
        assert (y.rule, y.enum, y.check, y.personal) == (f.rule, f.enum, f.check, f.personal), f.key


def _write(tmp_path, code: str, doc) -> None:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, allow_unicode=True)
    (tmp_path / f"{code}.yaml").write_text(text, encoding="utf-8")


def _doc(code: str = "honour") -> dict:
    return yaml.safe_load((DEFAULT_CLASSES_DIR / f"{code}.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["fields"][0].pop("zh") and d["fields"][0].pop("coded"), "至少要有一个列名"),
        (lambda d: d.update(identity=["nope"]), "识别字段"),
        (lambda d: d["publicity"].update(start_field="honour_name"), "须为日期字段"),
        (lambda d: d["fields"].append(copy.deepcopy(d["fields"][0])), "字段代码重复"),
        (lambda d: d["fields"][1].update(type="colour"), "fields.1.type"),
        (lambda d: d.update(legal_basis=[]), "legal_basis"),
        (lambda d: d["fields"][5].update(public=True), "不能向社会公开"),
        (lambda d: d.update(code="other"), "应与文件名"),
    ],
)
def test_a_malformed_standard_is_refused_with_a_clear_message(tmp_path, change, expected):
    doc = _doc()
    change(doc)
    _write(tmp_path, "honour", doc)
    with pytest.raises(ValidationFailed) as exc:
        load_standards(tmp_path)
    assert exc.value.code == "invalid_class_standard"
    assert "honour.yaml" in exc.value.message and expected in exc.value.message + str(exc.value.details)


def test_unreadable_yaml_and_an_empty_directory(tmp_path):
    with pytest.raises(ValidationFailed) as exc:
        load_standards(tmp_path)
    assert exc.value.code == "class_standards_missing"
    _write(tmp_path, "honour", "code: [unclosed")
    with pytest.raises(ValidationFailed) as exc:
        load_standards(tmp_path)
    assert exc.value.code == "class_standard_invalid_yaml"


def test_publicity_exceptions_are_catalog_data_with_legal_basis():
    catalog = load_catalog()
    rule = catalog.rules()["contract"]
    assert rule.public_attribute is PublicAttribute.SHARED
    honoured = rule.for_domain("守合同重信用")
    assert honoured.public_attribute is PublicAttribute.PUBLIC and honoured.publicity.mode == "while_valid"
    assert rule.for_domain("政府采购") is rule and rule.for_domain(None) is rule
    data = catalog.model_dump(mode="json", exclude_none=True)
    contract = next(c for c in data["classes"] if c["code"] == "contract")
    contract["params"]["publicity_overrides"][0]["legal_basis"] = []
    with pytest.raises(ValidationFailed) as exc:
        parse_catalog(data)
    assert "publicity_overrides[0]" in str(exc.value.details)

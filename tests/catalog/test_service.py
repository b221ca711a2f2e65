"""Catalog services on both backends: seeding, audited corrections, rules, export."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import func, select

from xinyong.auth.roles import Principal, Role, system_principal
from xinyong.catalog import service
from xinyong.catalog.models import CatalogMeta, InfoClass
from xinyong.catalog.spec import DEFAULT_CATALOG_PATH, load_catalog
from xinyong.core.audit import AuditEvent, events_for, verify_chain
from xinyong.core.errors import Conflict, Forbidden, NotFound, ValidationFailed

ADMIN = system_principal("tests")
OPERATOR = Principal(kind="user", name="op", role=Role.DEPT_OPERATOR, department_id=1, user_id=7)


def _events(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.fixture
def seeded(session):
    service.seed_catalog(session, actor=ADMIN)
    session.commit()
    return session


def test_seed_creates_every_class_and_is_idempotent(session) -> None:
    report = service.seed_catalog(session, actor=ADMIN)
    session.commit()
    expected = [c.code for c in load_catalog().classes]
    assert sorted(report.created) == sorted(expected)
    assert [c.code for c in service.list_classes(session)] == expected  # catalog order
    assert service.catalog_meta(session).edition == load_catalog().edition
    events = _events(session)
    assert events == len(expected) + 1  # one per class, one for the edition

    again = service.seed_catalog(session, actor=ADMIN)
    session.commit()
    assert sorted(again.unchanged) == sorted(expected) and not again.created and not again.updated
    assert _events(session) == events  # nothing changed, nothing audited
    assert verify_chain(session).ok


def test_stored_class_round_trips(seeded) -> None:
    for spec in load_catalog().classes:
        assert service.spec_of(service.get_class(seeded, spec.code)) == spec


def test_update_is_audited_with_before_after_and_reason(seeded) -> None:
    change = service.update_class(
        seeded,
        actor=ADMIN,
        code="penalty",
        reason="本市规定一般失信行为最长公示6个月",
        changes={"publicity.windows.general.max_months": 6},
    )
    seeded.commit()
    assert change.changed == ["publicity"]
    obj = service.get_class(seeded, "penalty")
    assert obj.revision == 2 and obj.origin == "admin"
    assert obj.publicity["windows"]["general"]["max_months"] == 6
    assert obj.publicity["windows"]["serious"]["max_months"] == 36  # the rest of the block untouched

    event = events_for(seeded, entity_type="info_class", entity_id="penalty", limit=1)[0]
    assert event.action == "catalog.class.update"
    assert event.actor == ADMIN.actor and event.reason == "本市规定一般失信行为最长公示6个月"
    assert event.before["publicity"]["windows"]["general"]["max_months"] == 12
    assert event.after["publicity"]["windows"]["general"]["max_months"] == 6
    assert (event.before["revision"], event.after["revision"]) == (1, 2)
    assert set(event.after) == {"revision", "origin", "publicity"}  # only what changed
    assert verify_chain(seeded).ok


def test_publicity_rule_follows_updates(seeded) -> None:
    rule = service.publicity_rule(seeded, "penalty")
    assert service.publicity_rule(seeded, "penalty") is rule  # cached within the transaction
    assert rule.publicity.windows["general"].max_months == 12
    service.update_class(
        seeded, actor=ADMIN, code="penalty", reason="调整", changes={"publicity.windows.general.max_months": 9}
    )
    assert service.publicity_rule(seeded, "penalty").publicity.windows["general"].max_months == 9
    seeded.rollback()
    assert service.publicity_rule(seeded, "penalty").publicity.windows["general"].max_months == 12


def test_several_changes_and_removing_an_optional_block(seeded) -> None:
    change = service.update_class(
        seeded,
        actor=ADMIN,
        code="licence",
        reason="本地不再考核时效",
        changes={
            "public_attribute": "conditional",
            "publicity.timeliness": None,
            "params.long_term_validity_end": "2199-12-31",
        },
    )
    assert change.changed == ["public_attribute", "publicity", "params"]
    rule = service.publicity_rule(seeded, "licence")
    assert rule.public_attribute == "conditional" and rule.publicity.timeliness is None
    change = service.update_class(
        seeded,
        actor=ADMIN,
        code="penalty",
        reason="提高本地小额罚款标准",
        changes={"publicity.not_published.1.fine_max_yuan.legal_person": 5000},
    )
    assert service.publicity_rule(seeded, "penalty").publicity.not_published[1].fine_max_yuan["legal_person"] == 5000


def test_no_op_update_is_not_audited(seeded) -> None:
    events = _events(seeded)
    change = service.update_class(
        seeded, actor=ADMIN, code="penalty", reason="确认", changes={"public_attribute": "public"}
    )
    assert change.changed == [] and change.info_class.revision == 1
    assert _events(seeded) == events


INVALID_UPDATES = [
    ({"publicity.windows.general.min_months": 13}, "x", "invalid_change", "不得长于"),
    ({"public_attribute": "secret"}, "x", "invalid_change", "取值无效"),
    ({"public_attribute": "public"}, "  ", "reason_required", ""),
    ({}, "x", "no_changes", ""),
    ({"colour": "red"}, "x", "unknown_field", ""),
    ({"publicity.windows.general.max_monthz": 5}, "x", "invalid_change", "不认识的字段"),
    ({"publicity.not_published.9.note": "x"}, "x", "unknown_field", ""),
    ({"code": "fine"}, "x", "immutable_field", ""),
    ({"category": "不存在的类别"}, "x", "invalid_info_class", "未知的目录类别"),
    ({"owner_departments": ["ministry_of_magic"]}, "x", "invalid_info_class", "未知的部门类型"),
    ({"natural_person_attribute": "public"}, "x", "invalid_change", "法律依据"),
    ({"legal_basis": []}, "x", "invalid_change", "legal_basis"),
]


def test_invalid_updates_are_rejected(seeded) -> None:
    # One database per backend for all cases (each PostgreSQL set-up costs a TRUNCATE of every table).
    events = _events(seeded)
    for changes, reason, code, fragment in INVALID_UPDATES:
        with pytest.raises(ValidationFailed) as err:
            service.update_class(seeded, actor=ADMIN, code="penalty", changes=changes, reason=reason)
        assert err.value.code == code, changes
        assert fragment in err.value.message + str(err.value.details), changes
        seeded.rollback()
        assert service.get_class(seeded, "penalty").revision == 1
        assert _events(seeded) == events


def test_update_guards(seeded) -> None:
    with pytest.raises(Forbidden):
        service.update_class(seeded, actor=OPERATOR, code="penalty", changes={"note": "x"}, reason="x")
    with pytest.raises(Forbidden):
        service.seed_catalog(seeded, actor=OPERATOR)
    with pytest.raises(NotFound) as err:
        service.update_class(seeded, actor=ADMIN, code="nope", changes={"note": "x"}, reason="x")
    assert err.value.code == "info_class_not_found"
    with pytest.raises(Conflict) as err:
        service.update_class(
            seeded, actor=ADMIN, code="penalty", changes={"note": "x"}, reason="x", expected_revision=5
        )
    assert err.value.code == "revision_mismatch"
    change = service.update_class(
        seeded, actor=ADMIN, code="penalty", changes={"note": "x"}, reason="x", expected_revision=1
    )
    assert change.info_class.revision == 2


def test_seed_keeps_admin_edits_unless_replace(seeded) -> None:
    service.update_class(
        seeded, actor=ADMIN, code="penalty", reason="本地规定", changes={"publicity.windows.general.max_months": 6}
    )
    seeded.commit()
    report = service.seed_catalog(seeded, actor=ADMIN)
    assert report.kept == ["penalty"] and "penalty" not in report.unchanged
    assert service.get_class(seeded, "penalty").publicity["windows"]["general"]["max_months"] == 6

    report = service.seed_catalog(seeded, actor=ADMIN, replace=True)
    seeded.commit()
    assert report.updated == ["penalty"]
    obj = service.get_class(seeded, "penalty")
    assert obj.origin == "seed" and obj.revision == 3
    assert obj.publicity["windows"]["general"]["max_months"] == 12
    event = events_for(seeded, entity_type="info_class", entity_id="penalty", limit=1)[0]
    assert event.action == "catalog.class.reseed" and event.before["origin"] == "admin"
    assert verify_chain(seeded).ok


def test_new_edition_updates_seeded_classes(seeded, tmp_path) -> None:
    data = yaml.safe_load(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))
    data["edition"] = "local-2025.1"
    data["classes"] = [c for c in data["classes"] if c["code"] != "contract"]
    licence = next(c for c in data["classes"] if c["code"] == "licence")
    licence["publicity"]["timeliness"]["days"] = 5
    path = tmp_path / "local.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    report = service.seed_catalog(seeded, actor=ADMIN, path=path)
    seeded.commit()
    assert report.edition == "local-2025.1" and report.updated == ["licence"] and report.not_in_file == ["contract"]
    assert service.publicity_rule(seeded, "licence").publicity.timeliness.days == 5
    assert service.get_class(seeded, "licence").seed_edition == "local-2025.1"
    assert service.get_class(seeded, "contract").seed_edition == load_catalog().edition  # left alone
    meta_event = events_for(seeded, entity_type="catalog", limit=1)[0]
    assert meta_event.before["edition"] == load_catalog().edition and meta_event.after["edition"] == "local-2025.1"


def test_export_reproduces_the_catalog(seeded, tmp_path) -> None:
    service.update_class(
        seeded, actor=ADMIN, code="penalty", reason="本地规定", changes={"publicity.windows.serious.min_months": 18}
    )
    path = tmp_path / "export.yaml"
    path.write_text(service.export_yaml(seeded), encoding="utf-8")
    exported = load_catalog(path)
    assert exported.edition == load_catalog().edition
    assert exported.rules()["penalty"].publicity.windows["serious"].min_months == 18
    stored = {o.code: service.spec_of(o) for o in service.list_classes(seeded)}
    assert {c.code: c for c in exported.classes} == stored


def test_reading_before_seed(session) -> None:
    assert service.list_classes(session) == []
    with pytest.raises(NotFound) as err:
        service.catalog_meta(session)
    assert err.value.code == "catalog_not_seeded"
    with pytest.raises(NotFound):
        service.publicity_rule(session, "penalty")
    assert session.scalar(select(func.count()).select_from(CatalogMeta)) == 0
    assert session.scalar(select(func.count()).select_from(InfoClass)) == 0

"""Public name search: partial Chinese names, codes, persons never found, bounds on every input."""

from __future__ import annotations

import pytest

from tests.subjects.test_registry_import import A, B, C, D, code, row, write_csv
from xinyong.auth.roles import system_principal
from xinyong.subjects import service
from xinyong.subjects.search import MATCH_CAP, ensure_search_index, search_subjects

ACTOR = system_principal("t")
PERSON_ID = "410882199001011234"


def _person_id() -> str:
    from xinyong.identifiers import resident_id

    body = PERSON_ID[:17]
    return body + resident_id.calc_check_digit(body)


@pytest.fixture
def registry(session, tmp_path):
    service.import_registry(session, actor=ACTOR, path=write_csv(tmp_path / "r.csv", [
        row(A, "沁阳市宏达机械有限公司"), row(B, "沁阳市宏达机械配件厂"), row(C, "焦作市（沁阳）宏达科技有限责任公司"),
        row(D, "沁阳市怀府小吃店", kind="个体工商户"), row("", "沁阳市老字号有限公司", reg="410882100000001")]))
    service.register_person(session, actor=ACTOR, name="王宏达", id_number=_person_id())
    session.commit()
    return session


def names(result) -> list[str]:
    return [h.name for h in result.items]


def test_partial_chinese_names_ranked(registry):
    assert names(search_subjects(registry, q="宏达机械", limit=10)) == ["沁阳市宏达机械配件厂", "沁阳市宏达机械有限公司"]
    # Normalised like the registry: full-width brackets and 有限责任公司 find the same subject.
    assert names(search_subjects(registry, q="(沁阳)宏达科技有限公司", limit=10)) == ["焦作市（沁阳）宏达科技有限责任公司"]
    # Two characters (below a trigram) still work; the person 王宏达 is never among the results.
    found = search_subjects(registry, q="宏达", limit=10)
    assert len(found.items) == 3 and "王宏达" not in names(found)
    assert search_subjects(registry, q="王宏达").items == []
    assert names(search_subjects(registry, q="小吃", kind="individual_business")) == ["沁阳市怀府小吃店"]
    assert search_subjects(registry, q="宏达", kind="natural_person").items == []


def test_index_follows_writes(registry, tmp_path):
    ensure_search_index(registry)
    service.import_registry(registry, actor=ACTOR, path=write_csv(tmp_path / "s.csv", [
        row(A, "沁阳市新名称机械有限公司"), row(code("MA000009"), "沁阳市新来的商贸有限公司")]))
    registry.commit()
    assert names(search_subjects(registry, q="新来的商贸")) == ["沁阳市新来的商贸有限公司"]
    assert names(search_subjects(registry, q="新名称")) == ["沁阳市新名称机械有限公司"]
    assert "沁阳市宏达机械有限公司" not in names(search_subjects(registry, q="宏达机械"))


def test_codes_and_person_ids(registry):
    assert [h.uscc for h in search_subjects(registry, q=A.lower()).items] == [A]
    legacy = search_subjects(registry, q="410882100000001")
    assert legacy.mode == "code" and names(legacy) == ["沁阳市老字号有限公司"]
    # A resident ID is never looked up: the same empty answer whether or not the person exists.
    for number in (_person_id(), "11010519491231002X"):
        result = search_subjects(registry, q=number)
        assert result.items == [] and result.total == 0 and result.mode == "person_id"


def test_bad_input_is_bounded(registry):
    for q in ("'; DROP TABLE subjects; --", '"宏达" OR 1=1', "<script>alert(1)</script>", "%", "_", '"', "宏" * 10_000,
              "*", "NEAR(宏达 机械)", "\x00", "   "):
        result = search_subjects(registry, q=q, limit=10)
        assert result.items == [] or all("宏" in n for n in names(result))
    assert len(search_subjects(registry, q="宏" * 10_000).query) == 100
    assert search_subjects(registry, q="宏达", offset=10**9).items == []
    assert search_subjects(registry, q="宏达", offset=-1, limit=-5).offset == 0
    assert len(search_subjects(registry, q="沁阳", limit=10**9).items) <= 100
    assert MATCH_CAP >= 100
    assert search_subjects(registry, q="%").items == []  # LIKE wildcards are literal

"""Public name search: partial Chinese names, codes, persons never found, bounds on every input."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.subjects.test_registry_import import A, B, C, D, code, row, write_csv
from xinyong.auth.roles import system_principal
from xinyong.subjects import search, service
from xinyong.subjects.models import Subject
from xinyong.subjects.search import (
    MATCH_CAP,
    TOO_SHORT_MESSAGE,
    bigram_token,
    contains_statement,
    ensure_search_index,
    forget_ensured,
    search_subjects,
)

ACTOR = system_principal("t")
PERSON_ID = "410882199001011234"


def _person_id() -> str:
    from xinyong.identifiers import resident_id

    body = PERSON_ID[:17]
    return body + resident_id.calc_check_digit(body)


@pytest.fixture
def registry(session, tmp_path):
    service.import_registry(
        session,
        actor=ACTOR,
        path=write_csv(
            tmp_path / "r.csv",
            [
                row(A, "沁阳市宏达机械有限公司"),
                row(B, "沁阳市宏达机械配件厂"),
                row(C, "焦作市（沁阳）宏达科技有限责任公司"),
                row(D, "沁阳市怀府小吃店", kind="个体工商户"),
                row("", "沁阳市老字号有限公司", reg="410882100000001"),
            ],
        ),
    )
    service.register_person(session, actor=ACTOR, name="王宏达", id_number=_person_id())
    session.commit()
    return session


def names(result) -> list[str]:
    return [h.name for h in result.items]


def test_partial_chinese_names_ranked(registry):
    assert names(search_subjects(registry, q="宏达机械", limit=10)) == [
        "沁阳市宏达机械配件厂",
        "沁阳市宏达机械有限公司",
    ]
    # Normalised like the registry: full-width brackets and 有限责任公司 find the same subject.
    assert names(search_subjects(registry, q="(沁阳)宏达科技有限公司", limit=10)) == [
        "焦作市（沁阳）宏达科技有限责任公司"
    ]
    # Two characters (below a trigram) still work; the person 王宏达 is never among the results.
    found = search_subjects(registry, q="宏达", limit=10)
    assert len(found.items) == 3 and "王宏达" not in names(found)
    assert search_subjects(registry, q="王宏达").items == []
    assert names(search_subjects(registry, q="小吃", kind="individual_business")) == ["沁阳市怀府小吃店"]
    assert search_subjects(registry, q="宏达", kind="natural_person").items == []


def test_index_follows_writes(registry, tmp_path):
    ensure_search_index(registry)
    service.import_registry(
        registry,
        actor=ACTOR,
        path=write_csv(
            tmp_path / "s.csv", [row(A, "沁阳市新名称机械有限公司"), row(code("MA000009"), "沁阳市新来的商贸有限公司")]
        ),
    )
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
    for q in (
        "'; DROP TABLE subjects; --",
        '"宏达" OR 1=1',
        "<script>alert(1)</script>",
        "%",
        "_",
        '"',
        "宏" * 10_000,
        "*",
        "NEAR(宏达 机械)",
        "\x00",
        "   ",
    ):
        result = search_subjects(registry, q=q, limit=10)
        assert result.items == [] or all("宏" in n for n in names(result))
    assert len(search_subjects(registry, q="宏" * 10_000).query) == 100
    assert search_subjects(registry, q="宏达", offset=10**9).items == []
    assert search_subjects(registry, q="宏达", offset=-1, limit=-5).offset == 0
    assert len(search_subjects(registry, q="沁阳", limit=10**9).items) <= 100
    assert MATCH_CAP >= 100
    assert search_subjects(registry, q="%").items == []  # LIKE wildcards are literal


def _bigram_ids(session, pair: str) -> set[int]:
    """What the SQLite bigram table itself holds for ``pair`` (not through search_subjects)."""
    return set(
        session.scalars(
            text("SELECT rowid FROM subjects_bigram WHERE subjects_bigram MATCH :t"), {"t": f'"{bigram_token(pair)}"'}
        )
    )


def test_two_characters_use_the_bigram_index(registry):
    # Every bigram position: first (沁阳), middle (达机), with a bracket ("(沁" after normalisation), Latin, last.
    assert len(search_subjects(registry, q="沁阳").items) == 5
    assert names(search_subjects(registry, q="达机")) == ["沁阳市宏达机械配件厂", "沁阳市宏达机械有限公司"]
    assert names(search_subjects(registry, q="（沁")) == ["焦作市（沁阳）宏达科技有限责任公司"]
    assert names(search_subjects(registry, q="件厂")) == ["沁阳市宏达机械配件厂"]
    assert names(search_subjects(registry, q="小吃")) == ["沁阳市怀府小吃店"]
    assert search_subjects(registry, q="达科").total == 1 and search_subjects(registry, q="科达").total == 0
    # The person 王宏达 shares 宏达 with three companies but is never found, not even by 王宏 alone.
    assert search_subjects(registry, q="王宏").items == [] and search_subjects(registry, q="王宏").mode == "name"
    if registry.get_bind().dialect.name == "sqlite":
        person = registry.scalar(text("SELECT id FROM subjects WHERE kind = 'natural_person'"))
        assert person not in _bigram_ids(registry, "宏达") and len(_bigram_ids(registry, "宏达")) == 3
        assert _bigram_ids(registry, "王宏") == set()


def test_bigram_index_follows_renames_and_deletes(registry, tmp_path):
    ensure_search_index(registry)
    service.import_registry(
        registry,
        actor=ACTOR,
        path=write_csv(
            tmp_path / "s.csv", [row(A, "沁阳市新名称机械有限公司"), row(code("MA000009"), "沁阳市新来商贸有限公司")]
        ),
    )
    registry.commit()
    assert names(search_subjects(registry, q="新来")) == ["沁阳市新来商贸有限公司"]
    assert names(search_subjects(registry, q="名称")) == ["沁阳市新名称机械有限公司"]
    assert "沁阳市新名称机械有限公司" not in names(search_subjects(registry, q="宏达"))
    gone = registry.scalar(text("SELECT id FROM subjects WHERE name = '沁阳市新来商贸有限公司'"))
    # the registry import recorded its legal representative (related persons): that row goes first
    registry.execute(text("DELETE FROM related_persons WHERE subject_id = :i"), {"i": gone})
    registry.execute(text("DELETE FROM subjects WHERE id = :i"), {"i": gone})
    registry.commit()
    assert search_subjects(registry, q="新来").items == []
    if registry.get_bind().dialect.name == "sqlite":
        registry.execute(text("INSERT INTO subjects_bigram(subjects_bigram) VALUES ('integrity-check')"))


def test_one_character_is_refused_with_a_message(registry):
    for q in ("宏", " 达 ", "A", "（"):
        result = search_subjects(registry, q=q)
        assert (result.mode, result.items, result.total, result.message) == ("too_short", [], 0, TOO_SHORT_MESSAGE)
    assert search_subjects(registry, q="").mode == "empty"


def test_exact_and_prefix_matches_survive_the_cap(registry, tmp_path, monkeypatch):
    service.import_registry(
        registry,
        actor=ACTOR,
        path=write_csv(tmp_path / "s.csv", [row(code("MA000011"), "宏达"), row(code("MA000012"), "宏达商贸有限公司")]),
    )
    registry.commit()
    # The two are the newest rows, last in index order: with a cap of 2 the index alone would miss them.
    monkeypatch.setattr(search, "MATCH_CAP", 2)
    for q in ("宏达", "宏达商贸"):
        result = search_subjects(registry, q=q, limit=10)
        assert result.capped == (q == "宏达") and result.total <= 2
    assert names(search_subjects(registry, q="宏达", limit=10)) == ["宏达", "宏达商贸有限公司"]
    assert names(search_subjects(registry, q="宏达", offset=1)) == ["宏达商贸有限公司"]
    assert names(search_subjects(registry, q="宏达商贸")) == ["宏达商贸有限公司"]


def test_missing_bigram_index_is_rebuilt_from_existing_rows(registry):
    ensure_search_index(registry)
    dialect = registry.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("subjects_bigram_ai", "subjects_bigram_ad", "subjects_bigram_au"):
            registry.execute(text(f"DROP TRIGGER {trigger}"))
        registry.execute(text("DROP TABLE subjects_bigram"))
    else:
        registry.execute(text("DROP INDEX ix_subjects_name_norm_bigram"))
    registry.commit()
    forget_ensured()
    assert ensure_search_index(registry) is True
    assert len(search_subjects(registry, q="宏达").items) == 3
    if dialect == "sqlite":
        assert len(_bigram_ids(registry, "宏达")) == 3


def test_postgres_queries_can_use_the_indexes(registry):
    """The query must repeat the index expression and the partial predicate exactly, or PostgreSQL scans."""
    if registry.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL plans")
    ensure_search_index(registry)
    registry.execute(text("SET LOCAL enable_seqscan = off"))
    for norm, kind, index in (
        ("宏达", None, "ix_subjects_name_norm_bigram"),
        ("宏达机", None, "ix_subjects_name_norm_trgm"),
    ):
        stmt = contains_statement("postgresql", norm, kind)
        sql = stmt.compile(dialect=registry.get_bind().dialect, compile_kwargs={"literal_binds": True})
        plan = "\n".join(registry.scalars(text(f"EXPLAIN {sql}")))
        assert index in plan, plan
    registry.rollback()


def test_migration_creates_the_bigram_index(tmp_path):
    from xinyong.core.db import Database
    from xinyong.core.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    db = Database(url)
    with db.sessionmaker() as session:
        tables = set(session.scalars(text("SELECT name FROM sqlite_master WHERE name LIKE 'subjects_bigram%'")))
        assert {"subjects_bigram", "subjects_bigram_ai", "subjects_bigram_ad", "subjects_bigram_au"} <= tables
        service.import_registry(
            session, actor=ACTOR, path=write_csv(tmp_path / "r.csv", [row(A, "沁阳市宏达机械有限公司")])
        )
        session.commit()
        assert ensure_search_index(session) is False  # the migration made everything
        assert [h.name for h in search_subjects(session, q="宏达").items] == ["沁阳市宏达机械有限公司"]
        assert session.get(Subject, search_subjects(session, q="达机").items[0].id).uscc == A
    db.dispose()


def test_one_character_query_gets_the_explanation_on_the_page(client):
    page = client.get("/search", params={"q": "宏"}, headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "请至少输入两个字" in page.text and "未找到" not in page.text

"""The set-based engine on both databases: indicators from every source, decay, caps, overrides, the same numbers
as the pure reference (``evaluation.rules``), bounded history, incremental runs and grade-change events."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from tests.evaluation.helpers import TODAY, commitment, entry, org, record, seed
from tests.factories import ACTOR
from xinyong.evaluation import rules, service
from xinyong.evaluation.models import EvaluationResult, GradeHistory
from xinyong.evaluation.spec import shipped_models

GENERAL = "public_credit_legal_person"


def _result(session, subject, model=GENERAL) -> EvaluationResult:
    return session.scalars(
        select(EvaluationResult).where(EvaluationResult.subject_id == subject.id, EvaluationResult.model_code == model)
    ).one()


def _spec(code=GENERAL):
    return next(m for m in shipped_models() if m.code == code)


def _values(spec, result) -> dict[str, float]:
    return {i.code: c[0] for i, c in zip(spec.indicators, result.contributions, strict=True)}


def _run(session, **kw):
    out = service.run_evaluation(session, actor=ACTOR, as_of=TODAY, **kw)
    session.commit()
    return out


@pytest.fixture
def depts(session):
    return seed(session)


def test_general_model_grades_with_contributions_matching_the_reference(session, depts) -> None:
    clean = org(session, registered=dt.date(2012, 3, 1))
    record(session, clean, depts["scjgj"], kind="licence", decided=dt.date(2025, 1, 1), valid_to=dt.date(2027, 1, 1))
    record(session, clean, depts["scjgj"], kind="licence", decided=dt.date(2019, 1, 1), valid_to=dt.date(2020, 1, 1))
    fined = org(session, registered=dt.date(2024, 1, 1))
    record(session, fined, depts["scjgj"], decided=dt.date(2026, 3, 1))  # within 1 year: ×1
    record(session, fined, depts["scjgj"], decided=dt.date(2024, 12, 1))  # 1–2 years: ×0.5
    record(session, fined, depts["scjgj"], decided=dt.date(2022, 1, 1))  # older than 3 years: 0
    record(session, fined, depts["scjgj"], decided=dt.date(2026, 2, 1), ended_on=dt.date(2026, 5, 1))  # repaired
    listed = org(session)
    entry(session, listed, "tax_serious_dishonest")
    broken = org(session, registered=dt.date(2000, 1, 1))
    commitment(session, broken, depts["scjgj"], broken_on=dt.date(2026, 2, 1))
    gone = org(session, status="注销")

    [summary] = _run(session, model=GENERAL)
    assert summary["scope"] == "full" and summary["evaluated"] == 4 and summary["changed"] == 4
    spec = _spec()

    r = _result(session, clean)
    v = _values(spec, r)
    assert v["years_registered"] == 14 and v["licences_held"] == 1
    assert (r.score, r.grade, r.rule) == (87.0, "B", None)  # 80 + 6 + 1
    r = _result(session, fined)
    v = _values(spec, r)
    assert v["years_registered"] == 2 and v["penalties_general"] == 1.5
    assert r.score == 80 + 1 - 4.5 and r.grade == "B"
    r = _result(session, listed)
    assert r.grade == "D" and r.rule == "serious_black_list" and _values(spec, r)["black_list"] == 1
    r = _result(session, broken)
    assert _values(spec, r)["commitments_broken"] == 1 and r.score == 80 + 6 - 8 and r.grade == "B"
    assert (
        session.scalar(select(func.count()).select_from(EvaluationResult).where(EvaluationResult.subject_id == gone.id))
        == 0
    )

    # The SQL engine and the pure reference agree on every stored result.
    for res in session.scalars(select(EvaluationResult)):
        ref = rules.evaluate(spec, _values(spec, res))
        assert (ref.score, ref.grade, ref.rule, ref.contributions) == (
            res.score,
            res.grade,
            res.rule,
            res.contributions,
        )


def test_rerun_without_changes_adds_no_history_and_changes_are_recorded(session, depts) -> None:
    a = org(session)
    b = org(session)
    _run(session, model=GENERAL)
    assert session.scalar(select(func.count()).select_from(GradeHistory)) == 2
    [again] = _run(session, model=GENERAL)
    assert again["changed"] == 0 and session.scalar(select(func.count()).select_from(GradeHistory)) == 2

    entry(session, a, "samr_abnormal")
    [third] = _run(session, model=GENERAL, subject_codes=[a.uscc])
    assert third["scope"] == "subset" and third["evaluated"] == 1 and third["changed"] == 1
    assert third["grade_changed"] == 1
    res = _result(session, a)
    assert res.grade == "C" and res.rule == "abnormal_cap"
    hist = session.scalars(select(GradeHistory).where(GradeHistory.subject_id == a.id).order_by(GradeHistory.id)).all()
    assert [(h.from_grade, h.to_grade) for h in hist] == [(None, "B"), ("B", "C")]
    assert _result(session, b).run_id != res.run_id  # b was not touched by the subset run


def test_changed_since_picks_subjects_with_new_data_and_leaving_population_is_history(session, depts) -> None:
    a = org(session)
    b = org(session)
    _run(session, model=GENERAL)
    record(session, b, depts["scjgj"], decided=dt.date(2026, 5, 1), severity="serious")
    [run] = _run(session, model=GENERAL, changed_since="last")
    assert run["scope"] == "subset" and run["selection"]["selected"] == 1 and run["evaluated"] == 1
    res = _result(session, b)
    assert (res.score, res.grade, res.rule) == (74.0, "C", None)  # 80 + 6 − 12: the threshold already says C

    a.status = "注销"
    session.commit()
    [full] = _run(session, model=GENERAL)
    assert full["removed"] == 1
    assert (
        session.scalar(select(func.count()).select_from(EvaluationResult).where(EvaluationResult.subject_id == a.id))
        == 0
    )
    last = session.scalars(
        select(GradeHistory).where(GradeHistory.subject_id == a.id).order_by(GradeHistory.id.desc())
    ).first()
    assert last.to_grade is None and last.from_grade == "B"


@pytest.mark.parametrize("since", ["last", "time"])
def test_an_incremental_run_sees_what_the_days_changed_without_any_row_changing(session, depts, since) -> None:
    """Between the last run's day and this one's, a list entry's term ended, a penalty passed a decay step and a
    registration had its anniversary: no row changed, yet those subjects are evaluated again; a subject with
    nothing dated in between is not."""
    expiring = org(session)
    entry(
        session,
        expiring,
        "tax_serious_dishonest",
        listed_on=dt.date(2025, 1, 10),
        term_end=TODAY + dt.timedelta(days=5),
    )
    fined = org(session)
    record(session, fined, depts["scjgj"], decided=TODAY - dt.timedelta(days=360))  # ×1 today, ×0.5 in 10 days
    quiet = org(session)
    record(session, quiet, depts["scjgj"], decided=dt.date(2026, 1, 10))
    birthday = org(session, registered=dt.date(2010, 6, 20))  # 15 full years today, 16 in 10 days
    _run(session, model=GENERAL)
    assert _values(_spec(), _result(session, birthday))["years_registered"] == 15
    assert _result(session, expiring).grade == "D"
    assert _values(_spec(), _result(session, fined))["penalties_general"] == 1
    before_quiet = _result(session, quiet).run_id

    later = TODAY + dt.timedelta(days=10)
    changed_since = "last" if since == "last" else dt.datetime.now(dt.UTC)
    [run] = service.run_evaluation(session, actor=ACTOR, as_of=later, model=GENERAL, changed_since=changed_since)
    session.commit()
    assert run["scope"] == "subset" and run["selection"]["selected"] == 3
    assert _values(_spec(), _result(session, birthday))["years_registered"] == 16
    assert _result(session, expiring).grade != "D" and _result(session, expiring).rule is None
    assert _values(_spec(), _result(session, fined))["penalties_general"] == 0.5
    assert _result(session, quiet).run_id == before_quiet
    # A full run on that day agrees with what the incremental one left.
    [full] = service.run_evaluation(session, actor=ACTOR, as_of=later, model=GENERAL)
    session.commit()
    assert full["changed"] == 0


def test_domain_models_select_their_population_and_grade_by_their_scale(session, depts) -> None:
    clinic = org(session, name="沁阳市仁和诊所")
    record(session, clinic, depts["wjw"], decided=dt.date(2026, 2, 1))
    record(session, clinic, depts["wjw"], decided=dt.date(2026, 3, 1), types=("警告", "责令停产停业"))
    plant = org(session, name="沁阳市化工有限公司")
    record(session, plant, depts["sthjj"], kind="licence", decided=dt.date(2025, 1, 1), valid_to=dt.date(2030, 1, 1))
    record(session, plant, depts["sthjj"], decided=dt.date(2026, 1, 5))
    other = org(session)
    _run(session)
    med = _result(session, clinic, "medical_institution_demerit")
    assert med.score == 12 and med.grade == "D"  # 3 + 3 + 6 demerit points; 12+ is 执业不良
    env = _result(session, plant, "environment_credit")
    assert env.score == 90 and env.grade == "B"
    for model in ("medical_institution_demerit", "environment_credit"):
        assert (
            session.scalar(
                select(func.count())
                .select_from(EvaluationResult)
                .where(EvaluationResult.subject_id == other.id, EvaluationResult.model_code == model)
            )
            == 0
        )


def test_grade_change_is_an_event_for_watched_subjects_only(session, depts) -> None:
    from tests.watches.helpers import make_receiver, watch
    from xinyong.watches.models import OutboxEvent

    a = org(session)
    b = org(session)
    receiver, _ = make_receiver(session, event_types=["grade.changed"])
    watch(session, receiver, a.uscc)
    session.commit()
    _run(session, model=GENERAL)
    assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0  # first grades are not changes
    entry(session, a, "court_dishonest_debtor")
    entry(session, b, "court_dishonest_debtor")
    [run] = _run(session, model=GENERAL)
    assert run["grade_changed"] == 2 and run["events"] == 1
    event = session.scalars(select(OutboxEvent)).one()
    assert event.subject_id == a.id and event.event_type == "grade.changed"
    assert event.payload["data"]["from"] == "B" and event.payload["data"]["to"] == "D"
    assert event.payload["data"]["model"] == GENERAL


def test_indicators_on_other_information_classes(session, depts) -> None:
    """Issue #18: unsettled tax arrears, social-insurance records, spot checks that found problems and honours are
    indicators of the general model (source: records); settled arrears and clean spot checks do not count."""
    from tests.evaluation.helpers import record as make_record

    s = org(session, registered=dt.date(2024, 1, 1))
    d = depts["scjgj"]
    make_record(session, s, d, kind="tax_arrears", decided=dt.date(2026, 1, 5))  # not settled
    make_record(session, s, d, kind="tax_arrears", decided=dt.date(2025, 6, 5), valid_to=dt.date(2025, 9, 1))
    spot = make_record(session, s, d, kind="spot_check", decided=dt.date(2026, 2, 1))
    spot.domain = "未按规定公示应当公示的信息"
    clean = make_record(session, s, d, kind="spot_check", decided=dt.date(2026, 3, 1))
    clean.domain = "未发现问题"
    make_record(session, s, d, kind="honour", decided=dt.date(2025, 12, 1))
    session.commit()
    _run(session, model=GENERAL)
    v = _values(_spec(), _result(session, s))
    assert (v["tax_arrears"], v["spot_check_failures"], v["honours"], v["social_insurance"]) == (1, 1, 1, 0)


def _odd_model():
    """The general model with weights whose values and points are neither whole nor quarter numbers, and a score
    scale that clamps at both ends: every branch of the rounding and the clamp is taken."""
    from xinyong.evaluation.spec import parse_model

    data = _spec().dump()
    data["code"], data["version"] = "odd_weights", "1"
    data["score"].update(base=95.0, min=88.0, max=100.0)
    for ind in data["indicators"]:
        if ind["code"] == "penalties_general":
            ind["decay"] = [{"months": 12, "factor": 0.7}, {"months": 24, "factor": 0.3}, {"months": 36, "factor": 0.1}]
            ind.update(per=-1.37, cap=-5.55)
        elif ind["code"] == "licences_held":
            ind.update(per=0.33, cap=0.99)
        elif ind["code"] == "commitments_broken":
            ind["decay"] = [{"months": 12, "factor": 1 / 3}]
    return parse_model(data)


def test_postgresql_shortcuts_give_the_generic_results(session, depts, monkeypatch) -> None:
    """On the same data, PostgreSQL's shortcuts (rounding, the JSON of the contributions, registration years, the
    clamp) give the same scores, grades, rules and contribution documents as the generic expressions, to the bit."""
    import random

    from sqlalchemy import Text, cast
    from sqlalchemy.dialects.postgresql import JSONB

    from xinyong.evaluation import engine

    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the shortcuts are PostgreSQL's")
    rng = random.Random(19)
    for n in range(40):
        registered = rng.choice([None, dt.date(2027, 1, 1), dt.date(2026, 6, 16), dt.date(2016, 6, 15)])
        registered = registered or (
            None if n % 7 == 0 else dt.date(1995, 1, 1) + dt.timedelta(days=rng.randrange(11_500))
        )
        s = org(session, registered=registered, status=rng.choice(["存续", "存续", "吊销", None]))
        for _ in range(rng.randrange(6)):
            decided = TODAY - dt.timedelta(days=rng.randrange(5 * 365))
            if rng.random() < 0.4:
                record(
                    session,
                    s,
                    depts["scjgj"],
                    kind="licence",
                    decided=decided,
                    valid_to=decided + dt.timedelta(days=900),
                )
            else:
                ended = decided + dt.timedelta(days=200) if rng.random() < 0.2 else None
                severity = "serious" if rng.random() < 0.2 else "general"
                record(session, s, depts["wjw"], decided=decided, severity=severity, ended_on=ended)
        if rng.random() < 0.2:
            entry(session, s, rng.choice(["samr_abnormal", "tax_serious_dishonest"]))
        if rng.random() < 0.3:
            commitment(session, s, depts["scjgj"], broken_on=TODAY - dt.timedelta(days=rng.randrange(700)))
    session.commit()

    def rows(spec, shortcuts: bool) -> list[tuple]:
        monkeypatch.setattr(engine, "PG_SHORTCUTS", shortcuts)
        q = engine.results_query(session, spec, TODAY, subset=False).subquery()
        out = session.execute(
            # The documents compared as JSON values (jsonb's text of each; the generic json_build_array spaces its
            # text, the shortcut's format does not).
            select(q.c.subject_id, q.c.score, q.c.grade, q.c.rule, cast(cast(q.c.contributions, JSONB), Text)).order_by(
                q.c.subject_id
            )
        ).all()
        return [(sid, repr(score), grade, rule, doc) for sid, score, grade, rule, doc in out]

    for spec in [*shipped_models(), _odd_model()]:
        generic, fast = rows(spec, False), rows(spec, True)
        assert fast == generic, spec.code
    odd = rows(_odd_model(), True)
    scores = {float(r[1]) for r in odd}
    assert {88.0, 100.0} <= scores and any(s != round(s * 4) / 4 for s in scores)  # clamped both ways, odd values
    assert any('"' not in r[4] and ".7" in r[4] for r in odd)  # a decayed 0.7 in a document
    monkeypatch.setattr(engine, "PG_SHORTCUTS", True)
    q = engine.results_query(session, _odd_model(), TODAY, subset=False).subquery()
    stored = session.scalars(select(cast(q.c.contributions, Text))).all()
    assert stored and all(" " not in doc for doc in stored)  # the text stored (json, migration 0024): compact


def test_a_run_that_writes_many_rows_leaves_the_planner_statistics_of_its_tables(session, depts, monkeypatch) -> None:
    """PostgreSQL: a run writing ``ANALYZE_AFTER`` rows or more analyses the results and history tables once it
    has committed (the next small run is planned on what is there, not on an empty table); a smaller one does not."""
    from sqlalchemy import text

    from xinyong.evaluation import engine

    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("planner statistics of PostgreSQL")

    def tuples() -> list[float]:
        found = session.execute(
            text(
                "SELECT relname, reltuples FROM pg_class "
                "WHERE relname IN ('evaluation_results', 'evaluation_history') ORDER BY relname"
            )
        )
        return [reltuples for _, reltuples in found]

    session.execute(text("TRUNCATE evaluation_results, evaluation_history"))  # reltuples -1: never analysed
    for _ in range(3):
        org(session)
    session.commit()
    monkeypatch.setattr(engine, "ANALYZE_AFTER", 4)
    _run(session, model=GENERAL)  # 3 results and 3 history rows: 3 < 4
    assert tuples() == [-1, -1]
    org(session)
    session.commit()
    [summary] = _run(session, model=GENERAL)  # a first result: 1 row written
    assert summary["changed"] == 1 and tuples() == [-1, -1]
    monkeypatch.setattr(engine, "ANALYZE_AFTER", 1)
    org(session)
    session.commit()
    _run(session, model=GENERAL)
    assert tuples() == [5, 5]  # history: 4 first results + the fifth subject's


def test_two_large_runs_at_once_both_finish(database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Two first runs at once on a database without its models, both reaching ``ANALYZE_AFTER``: the shipped models
    are loaded once (the second run waits for the first's; on PostgreSQL it used to fail on their unique key), and
    the statistics are taken after each run commits, outside it, so neither waits inside its transaction for the
    other. Both finish, each having evaluated every subject."""
    import threading

    from xinyong.evaluation import engine

    with database.sessionmaker() as session:
        seed(session)
        for _ in range(4):
            org(session)
        session.commit()
    monkeypatch.setattr(engine, "ANALYZE_AFTER", 1)
    barrier = threading.Barrier(2)
    out: list[object] = []

    def run(model: str) -> None:
        try:
            barrier.wait(timeout=10)
            with database.session() as session:  # the application's write session: on SQLite it waits its turn
                [summary] = service.run_evaluation(session, actor=ACTOR, as_of=TODAY, model=model)
            out.append(summary["evaluated"])
        except Exception as exc:  # noqa: BLE001
            out.append(exc)

    threads = [threading.Thread(target=run, args=(GENERAL,)), threading.Thread(target=run, args=(GENERAL,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert out == [4, 4], out

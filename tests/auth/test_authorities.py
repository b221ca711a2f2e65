"""The authority rule as a pure function (``xinyong.auth.authorities``): no database."""

from __future__ import annotations

import pytest

from tests.factories import make_uscc
from xinyong.auth.authorities import NAME_MISMATCH, NOT_REGISTERED, Authorities

OWN = make_uscc(9101)
UNIT = make_uscc(9102)
STRANGER = make_uscc(9103)


@pytest.fixture
def sthj() -> Authorities:
    return Authorities.of(
        department_name="沁阳市生态环境局",
        department_uscc=OWN,
        short_name="生态环境局",
        registered=[(UNIT, "焦作市生态环境局沁阳分局")],
    )


def test_own_and_registered_authorities_pass_by_code(sthj: Authorities) -> None:
    assert sthj.check(name="沁阳市生态环境局", uscc=OWN) is None
    assert sthj.check(name="生态环境局", uscc=OWN) is None  # the short name is the department's too
    assert sthj.check(name="焦作市生态环境局沁阳分局", uscc=UNIT) is None
    assert sthj.check(name=None, uscc=UNIT) is None  # a code alone is enough
    assert sthj.usccs == {OWN, UNIT}


def test_names_compare_by_their_matching_key_not_by_likeness(sthj: Authorities) -> None:
    # Full-width letters, spaces and bracket forms are the same name …
    assert sthj.check(name=" 焦作市生态环境局 沁阳分局 ", uscc=UNIT) is None
    assert sthj.check(name="焦作市生态环境局沁阳分局", uscc=UNIT.lower()) is None
    # … a different name is not, however close.
    problem = sthj.check(name="焦作市生态环境局沁阳县分局", uscc=UNIT)
    assert problem is not None and problem.code == NAME_MISMATCH and problem.field == "name"


def test_unknown_code_is_refused_naming_the_authority_and_who_registers_it(sthj: Authorities) -> None:
    problem = sthj.check(name="沁阳市市场监督管理局", uscc=STRANGER, label="处罚机关")
    assert problem is not None
    assert (problem.code, problem.field) == (NOT_REGISTERED, "uscc")
    assert "处罚机关「沁阳市市场监督管理局」" in problem.message and STRANGER in problem.message
    assert "沁阳市生态环境局" in problem.message and "平台管理员" in problem.message


def test_known_code_under_another_name_is_refused(sthj: Authorities) -> None:
    """The finding: a department's own (or registered) code under another authority's name would still publish
    the decision under that name."""
    problem = sthj.check(name="沁阳市市场监督管理局", uscc=OWN, label="许可机关")
    assert problem is not None and problem.code == NAME_MISMATCH
    assert "「沁阳市生态环境局」" in problem.message and "许可机关「沁阳市市场监督管理局」" in problem.message


def test_a_name_without_code_must_be_one_of_the_names(sthj: Authorities) -> None:
    assert sthj.check(name="焦作市生态环境局沁阳分局", uscc=None) is None
    assert sthj.check(name="生态环境局", uscc="") is None
    problem = sthj.check(name="沁阳市市场监督管理局", uscc=None, label="认定机关")
    assert problem is not None and (problem.code, problem.field) == (NOT_REGISTERED, "name")
    assert "未填写统一社会信用代码" in problem.message and problem.message.startswith(
        "认定机关「沁阳市市场监督管理局」"
    )


def test_nothing_named_is_left_to_the_required_field_rules(sthj: Authorities) -> None:
    assert sthj.check(name=None, uscc=None) is None
    assert sthj.check(name="  ", uscc="") is None


def test_find_returns_the_registered_authority(sthj: Authorities) -> None:
    found = sthj.find(name="焦作市生态环境局沁阳分局", uscc=None)
    assert found is not None and found.uscc == UNIT and not found.own
    assert sthj.find(name=None, uscc=f" {UNIT.lower()}") == found
    own = sthj.find(name=None, uscc=OWN)
    assert own is not None and own.own and own.name == "沁阳市生态环境局"
    assert sthj.find(name="沁阳市市场监督管理局", uscc=None) is None
    assert sthj.find(name="别的机关", uscc=UNIT) is None


def test_results_are_remembered_but_never_mixed_up(sthj: Authorities) -> None:
    for _ in range(3):
        assert sthj.check(name="焦作市生态环境局沁阳分局", uscc=UNIT) is None
        assert sthj.check(name="焦作市生态环境局沁阳分局", uscc=STRANGER) is not None
    first = sthj.check(name="某局", uscc=STRANGER, label="处罚机关")
    second = sthj.check(name="某局", uscc=STRANGER, label="许可机关")
    assert first is not None and second is not None and "处罚机关" in first.message and "许可机关" in second.message

"""The measures file: the built-in catalogue is valid and complete enough; bad files are refused clearly."""

from __future__ import annotations

import copy

import pytest
import yaml

from xinyong.core.errors import ValidationFailed
from xinyong.measures.spec import (
    DEFAULT_MEASURES_PATH,
    SCENARIOS,
    load_measures,
    parse_measures,
    seeded_list_kinds,
)


def _raw() -> dict:
    return yaml.safe_load(DEFAULT_MEASURES_PATH.read_text(encoding="utf-8"))


def test_builtin_catalogue_is_valid_and_rich_enough() -> None:
    spec = load_measures()
    assert len(spec.measures) >= 40
    kinds = seeded_list_kinds()
    for m in spec.measures:
        if m.kind == "punish":
            assert m.legal_basis, m.code
            assert all(b.title.strip() for b in m.legal_basis)
        assert set(m.list_types) <= set(kinds)
        assert set(m.scenarios) <= set(SCENARIOS)
    # Every seeded list type triggers something, and every check scenario has measures — except the record of
    # tourists' uncivilised behaviour (旅游不文明行为记录), on which no text found confirms a measure (list_types.yaml).
    untriggered = {"tourism_uncivilised"}
    assert {c for m in spec.measures for c in m.list_types} == set(kinds) - untriggered
    assert {s for m in spec.measures for s in m.scenarios} == set(SCENARIOS)
    rewards = [m for m in spec.measures if m.kind == "reward"]
    assert rewards and all(kinds[c] == "red" for m in rewards for c in m.list_types)
    titles = {m.title for m in spec.measures}
    assert {"限制高消费及非生活和工作必需的消费", "容缺受理", "一至三年内禁止参加政府采购活动"} <= titles
    docs = {m.doc_no for m in spec.memoranda}
    assert {"发改财金〔2014〕3062号", "发改财金〔2016〕141号", "发改财金〔2016〕1467号"} <= docs


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda d: d["measures"][0]["list_types"].append("no_such_list"), "measures_unknown_list_type"),
        (lambda d: d["measures"][0]["scenarios"].append("lottery"), "measures_file_invalid"),
        (lambda d: d["measures"][0].update(legal_basis=[]), "measures_file_invalid"),
        (lambda d: d["measures"][0].update(memorandum="no_such_memo"), "measures_file_invalid"),
        (lambda d: d["measures"].append(copy.deepcopy(d["measures"][0])), "measures_file_invalid"),
    ],
)
def test_bad_files_are_refused_with_a_clear_code(change, code, tmp_path) -> None:
    data = _raw()
    change(data)
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValidationFailed) as info:
        load_measures(path)
    assert info.value.code == code


def test_reward_triggered_by_black_list_is_refused() -> None:
    data = _raw()
    reward = next(m for m in data["measures"] if m["kind"] == "reward")
    reward["list_types"] = ["court_dishonest_debtor"]
    spec = parse_measures(data)
    with pytest.raises(ValidationFailed, match="激励措施只能由红名单触发"):
        spec.check_list_types(seeded_list_kinds())

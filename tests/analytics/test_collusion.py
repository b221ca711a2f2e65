"""The red-flag rules on hand-made bids: each flag fires on its pattern and stays quiet on the look-alike."""

from __future__ import annotations

import datetime as dt

from xinyong.analytics import collusion
from xinyong.analytics.collusion import BidFact
from xinyong.analytics.risk_config import trading_settings

D = dt.date(2024, 3, 1)
S = trading_settings()


def bid(tid: int, key: str, price: int, **kw: object) -> BidFact:
    return BidFact(tid, kw.pop("on", D), key, f"公司{key}", price * 100, **kw)  # type: ignore[arg-type]


def kinds(result: collusion.Result, tid: int) -> set[str]:
    return {f["kind"] for t in result.tenders if t["tender_id"] == tid for f in t["flags"]}


def test_shared_phone_with_close_prices_is_high_risk_with_masked_evidence() -> None:
    bids = [
        bid(1, "A", 1_000_000, phone="13812345678"),
        bid(1, "B", 1_001_000, phone="13812345678"),
        bid(1, "C", 1_002_000),
        bid(1, "D", 1_000_500),
    ]
    r = collusion.analyse(bids, settings=S)
    [t] = r.tenders
    assert {"shared_phone", "close_prices"} <= kinds(r, 1)
    assert t["level"] == "high" and t["score"] == 40 + 25
    phone = next(f for f in t["flags"] if f["kind"] == "shared_phone")
    assert phone["evidence"]["value"] == "138****5678"
    assert [b["key"] for b in phone["bidders"]] == ["A", "B"]


def test_sister_companies_sharing_address_and_parent_are_not_high_risk() -> None:
    bids = [
        bid(1, "A", 900_000, address="沁阳市集团大厦"),
        bid(1, "B", 1_000_000, address="沁阳市集团大厦"),
        bid(1, "C", 950_000),
    ]
    r = collusion.analyse(bids, shareholders={"A": ["某集团"], "B": ["某集团"]}, settings=S)
    [t] = r.tenders
    assert kinds(r, 1) == {"shared_address", "shared_shareholder"}
    assert t["score"] == 30 and t["level"] == "medium"  # worth a look, not high risk


def test_same_value_of_one_bidder_is_not_shared() -> None:
    r = collusion.analyse([bid(1, "A", 100, ip="1.2.3.4"), bid(1, "B", 200, ip="5.6.7.8")], settings=S)
    assert r.tenders == []


def test_price_ladder_is_found_among_honest_outsiders() -> None:
    prices = [861_000, 870_000, 879_000, 888_000, 950_123, 990_777]
    r = collusion.analyse([bid(1, k, p) for k, p in zip("ABCDEF", prices, strict=True)], settings=S)
    [flag] = [f for f in r.tenders[0]["flags"] if f["kind"] == "arithmetic_prices"]
    assert [b["key"] for b in flag["bidders"]] == ["A", "B", "C", "D"]
    assert flag["evidence"]["step"] == 9000


def test_honest_spread_prices_raise_no_price_flag() -> None:
    r = collusion.analyse(
        [bid(1, k, p) for k, p in zip("ABCD", (861_000, 902_500, 940_300, 991_000), strict=True)], settings=S
    )
    assert r.tenders == []


def test_rotation_among_a_stable_group_and_dominant_winner_is_not_rotation() -> None:
    bids = []
    for t in range(6):
        on = D + dt.timedelta(days=30 * t)
        for i, k in enumerate("ABC"):
            bids.append(bid(t, k, 1_000_000 + 37_000 * ((i - t) % 3) + 1_111 * i, on=on, won=(t % 3 == i)))
        bids.append(bid(t, f"X{t}", 1_200_000, on=on))
    r = collusion.analyse(bids, settings=S)
    assert all("rotation" in kinds(r, t) for t in range(6))
    [group] = r.groups
    assert {m["key"] for m in group["members"]} == {"A", "B", "C"}
    # The same group where A always wins is a dominant winner, not a rotation.
    for b in bids:
        b.won = b.bidder_key == "A"
    r = collusion.analyse(bids, settings=S)
    assert not any("rotation" in kinds(r, t) for t in range(6))


def test_cover_bidder_always_losing_to_one_winner_but_not_an_honest_frequent_loser() -> None:
    bids = []
    for t in range(5):
        bids += [bid(t, "W", 800_000 + t * 10_000, won=True), bid(t, "COVER", 900_000 + t * 3_333)]
    for t in range(5, 10):  # the honest loser loses to a different winner each time
        bids += [bid(t, f"W{t}", 800_000 + t * 7_000, won=True), bid(t, "LOSER", 950_000 + t * 1_234)]
    r = collusion.analyse(bids, settings=S)
    assert all(kinds(r, t) == {"always_loses_to"} for t in range(5))
    assert all(kinds(r, t) == set() for t in range(5, 10))


def test_score_counts_each_kind_once_and_price_patterns_as_one() -> None:
    assert collusion.score(["shared_ip", "shared_ip", "close_prices", "near_identical_prices"], S) == 50 + 25
    assert collusion.score(["shared_ip", "shared_phone", "shared_legal_rep"], S) == 100


def test_precision_recall() -> None:
    assert collusion.precision_recall({1, 2, 3, 4}, {2, 3, 5}) == {
        "flagged": 4,
        "truth": 3,
        "true_positives": 2,
        "precision": 0.5,
        "recall": 0.6667,
    }


def test_planted_rings_are_found_with_good_precision() -> None:
    """The demo generator's truth: high-risk tenders are mostly planted rings, and most rings are found."""
    from xinyong.analytics import trading_formats as fmt
    from xinyong.demo.trading import generate

    d = generate(tenders=1500)
    tid = {r["项目编号"]: i for i, r in enumerate(d.tenders)}
    on = {r["项目编号"]: dt.date.fromisoformat(r["开标时间"]) for r in d.tenders}
    won = {(a["项目编号"], a["中标人统一社会信用代码"]) for a in d.awards}
    facts = [
        BidFact(
            tid[b["项目编号"]],
            on[b["项目编号"]],
            b["投标人统一社会信用代码"],
            b["投标人名称"],
            round(float(b["投标报价(元)"]) * 100),
            fmt.normalize_phone(b["联系电话"]),
            b["法定代表人"] or None,
            fmt.normalize_address(b["地址"]),
            b["投标IP"],
            (b["项目编号"], b["投标人统一社会信用代码"]) in won,
        )
        for b in d.bids
    ]
    holders = {b["投标人统一社会信用代码"]: fmt.split_names(b["股东"]) for b in d.bidders}
    r = collusion.analyse(facts, shareholders=holders, settings=S)
    nos = {i: no for no, i in tid.items()}
    quality = collusion.precision_recall({nos[t["tender_id"]] for t in r.tenders if t["level"] == "high"}, d.truth)
    assert quality["precision"] >= 0.85
    assert 0.5 <= quality["recall"] < 1.0  # the subtle rings are planted to be missed

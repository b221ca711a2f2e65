"""Collusion red flags in public-resource trading (围标串标), explainable. Pure: no database.

Input: every bid (tender, bidder key, price, contact data, won) and the bidders' shareholders. Output: per tender
its red flags, each with the evidence a reviewer needs (which bidders, which shared value, which prices), a
weight and a score; and the bidder groups (connected components of the graph whose edges are the flags that tie
two bidders together) ranked by risk.

The flags (weights and thresholds from ``analytics/data/risk.yaml``):
- ``shared_ip`` / ``shared_phone`` / ``shared_legal_rep`` / ``shared_shareholder`` / ``shared_address``: two or
  more distinct bidders in one tender with the same value. Bids prepared on one computer or by one person are the
  classic sign (《招标投标法实施条例》第四十条); an address alone is weak (group subsidiaries share offices).
- ``close_prices``: the coefficient of variation of the tender's bids is tiny (prices agreed in advance).
- ``arithmetic_prices``: four or more consecutive bids evenly spaced (a price ladder worked out by one hand).
- ``near_identical_prices``: two bids differing by almost nothing.
- ``rotation``: within a time window, a stable group of bidders (each pair bids together in most of the tenders
  either enters) bids together again and again and the wins rotate among its members.
- ``always_loses_to``: a bidder that never wins and loses most of its bids to the same winner (a cover bidder).

Set-based and single-pass: bids are grouped per tender and per attribute value with dictionaries (what a SQL
``GROUP BY tender, value HAVING count(DISTINCT bidder) > 1`` does), so 100,000 bids take about a second.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from xinyong.identifiers.masking import mask_phone

FLAG_LABELS = {
    "shared_ip": "同一项目投标人投标IP相同",
    "shared_phone": "同一项目投标人联系电话相同",
    "shared_legal_rep": "同一项目投标人法定代表人相同",
    "shared_shareholder": "同一项目投标人有共同股东",
    "shared_address": "同一项目投标人地址相同",
    "close_prices": "投标报价高度接近（离散系数过低）",
    "arithmetic_prices": "投标报价呈等差排列",
    "near_identical_prices": "两家投标报价几乎相同",
    "rotation": "稳定投标人群体轮流中标",
    "always_loses_to": "陪标：总是输给同一中标人",
}
SHARED_ATTRIBUTES = (
    ("ip", "shared_ip"),
    ("phone", "shared_phone"),
    ("legal_rep", "shared_legal_rep"),
    ("address", "shared_address"),
)
LEVEL_LABELS = {"high": "高", "medium": "中", "low": "低"}


@dataclass(slots=True)
class BidFact:
    tender_id: int
    opened_on: dt.date
    bidder_key: str
    bidder_name: str
    price_fen: int
    phone: str | None = None
    legal_rep: str | None = None
    address: str | None = None
    ip: str | None = None
    won: bool = False


@dataclass(frozen=True)
class Settings:
    """Weights and thresholds (``risk.yaml`` → ``trading``)."""

    weights: dict[str, int]
    high: int = 60
    medium: int = 30
    cv_max: float = 0.01
    min_bids_for_prices: int = 3
    progression_min_bids: int = 4
    progression_tolerance: float = 0.0005
    progression_step_tolerance: float = 0.02
    near_identical_ratio: float = 0.0001
    window_days: int = 730
    rotation_min_members: int = 3
    rotation_min_tenders: int = 4
    rotation_cobid_share: float = 0.6
    rotation_max_win_share: float = 0.6
    loser_min_losses: int = 4
    loser_share: float = 0.8
    max_pair_tender_size: int = 40

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Settings:
        fields = {k: v for k, v in config.items() if k in cls.__dataclass_fields__ and k != "weights"}
        weights = {k: int(v) for k, v in (config.get("weights") or {}).items()}
        unknown = set(weights) - set(FLAG_LABELS)
        if unknown or set(FLAG_LABELS) - set(weights):
            raise ValueError(f"trading weights must name exactly the flags {sorted(FLAG_LABELS)}")
        return cls(weights=weights, **fields)

    def level(self, score: int) -> str:
        return "high" if score >= self.high else "medium" if score >= self.medium else "low"


@dataclass
class Flag:
    kind: str
    bidders: list[str]  # bidder keys
    evidence: dict[str, Any] = field(default_factory=dict)

    def view(self, settings: Settings, names: dict[str, str]) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": FLAG_LABELS[self.kind],
            "weight": settings.weights[self.kind],
            "bidders": [{"key": k, "name": names.get(k, k)} for k in self.bidders],
            "evidence": self.evidence,
        }


@dataclass
class Result:
    tenders: list[dict[str, Any]]  # flagged tenders, highest score first
    groups: list[dict[str, Any]]  # bidder groups, highest score first
    scores: dict[int, int]  # tender id -> score (flagged tenders only)
    summary: dict[str, Any]


PRICE_KINDS = frozenset({"close_prices", "arithmetic_prices", "near_identical_prices"})


def score(kinds: Iterable[str], settings: Settings) -> int:
    """Each kind of flag counts once (repeats are evidence, not extra risk), the price patterns together only as
    much as the strongest of them (they are one signal seen three ways); capped at 100."""
    distinct = set(kinds)
    ties = sum(settings.weights[k] for k in distinct - PRICE_KINDS)
    prices = max((settings.weights[k] for k in distinct & PRICE_KINDS), default=0)
    return min(100, ties + prices)


def _display(attribute: str, value: str) -> str:
    return mask_phone(value) if attribute == "phone" else value


def _shared(bids: list[BidFact], shareholders: dict[str, list[str]]) -> list[Flag]:
    flags: list[Flag] = []
    for attribute, kind in SHARED_ATTRIBUTES:
        by_value: dict[str, list[str]] = {}
        for b in bids:
            value = getattr(b, attribute)
            if value:
                by_value.setdefault(value, []).append(b.bidder_key)
        for value, keys in by_value.items():
            distinct = sorted(set(keys))
            if len(distinct) > 1:
                flags.append(Flag(kind, distinct, {"attribute": attribute, "value": _display(attribute, value)}))
    if shareholders:
        by_holder: dict[str, set[str]] = {}
        for b in bids:
            for holder in shareholders.get(b.bidder_key, ()):
                by_holder.setdefault(holder, set()).add(b.bidder_key)
        for holder, holders in by_holder.items():
            if len(holders) > 1:
                flags.append(Flag("shared_shareholder", sorted(holders), {"attribute": "shareholder", "value": holder}))
    return flags


def price_flags(bids: list[BidFact], settings: Settings) -> list[Flag]:
    """Price patterns of one tender's bids."""
    if len(bids) < settings.min_bids_for_prices:
        return []
    ordered = sorted(bids, key=lambda b: b.price_fen)
    prices = [b.price_fen for b in ordered]
    mean = statistics.fmean(prices)
    if mean <= 0:
        return []
    flags: list[Flag] = []
    cv = statistics.pstdev(prices) / mean
    yuan = [p / 100 for p in prices]
    if cv < settings.cv_max:
        flags.append(
            Flag(
                "close_prices",
                [b.bidder_key for b in ordered],
                {"coefficient_of_variation": round(cv, 5), "threshold": settings.cv_max, "prices": yuan},
            )
        )
    diffs = [b - a for a, b in itertools.pairwise(prices)]
    run = _longest_ladder(diffs, settings.progression_tolerance * mean, settings.progression_step_tolerance)
    if run is not None and run[1] - run[0] + 1 >= settings.progression_min_bids:
        first, last = run
        steps = diffs[first:last]
        flags.append(
            Flag(
                "arithmetic_prices",
                [b.bidder_key for b in ordered[first : last + 1]],
                {"step": round(statistics.fmean(steps) / 100, 2), "prices": yuan[first : last + 1]},
            )
        )
    for a, b, d in zip(ordered, ordered[1:], diffs, strict=False):
        if d <= settings.near_identical_ratio * mean:
            flags.append(
                Flag(
                    "near_identical_prices",
                    [a.bidder_key, b.bidder_key],
                    {"prices": [a.price_fen / 100, b.price_fen / 100], "difference": d / 100},
                )
            )
    return flags


def _longest_ladder(diffs: list[int], tolerance: float, step_share: float) -> tuple[int, int] | None:
    """(first, last) bid index of the longest run of consecutive sorted bids with (nearly) equal positive steps:
    a cover bidders' price ladder shows even when honest outsiders bid too."""
    best: tuple[int, int] | None = None
    i = 0
    while i < len(diffs):
        if diffs[i] <= 0:
            i += 1
            continue
        lo = hi = diffs[i]
        j = i + 1
        while (
            j < len(diffs)
            and diffs[j] > 0
            and max(hi, diffs[j]) - min(lo, diffs[j]) <= min(tolerance, step_share * min(lo, diffs[j]))
        ):
            lo, hi = min(lo, diffs[j]), max(hi, diffs[j])
            j += 1
        if best is None or j - i > best[1] - best[0]:
            best = (i, j)
        i = j if j > i + 1 else i + 1
    return best


class _Components:
    """Union-find over bidder keys: groups are the connected components of the flag graph."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent.setdefault(x, x)
        if parent != x:
            parent = self.parent[x] = self.find(parent)
        return parent

    def union(self, keys: Iterable[str]) -> None:
        it = iter(keys)
        first = next(it, None)
        if first is None:
            return
        root = self.find(first)
        for k in it:
            other = self.find(k)
            if other != root:
                self.parent[other] = root

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for k in self.parent:
            out[self.find(k)].append(k)
        return out


def _winners(by_tender: dict[int, list[BidFact]]) -> dict[int, str]:
    out: dict[int, str] = {}
    for tid, bids in by_tender.items():
        won = [b.bidder_key for b in bids if b.won]
        if len(won) == 1:
            out[tid] = won[0]
    return out


def rotation_flags(
    by_tender: dict[int, list[BidFact]],
    winners: dict[int, str],
    settings: Settings,
) -> dict[int, list[Flag]]:
    """Stable groups that rotate wins, per time window (``window_days`` from the first opening)."""
    out: dict[int, list[Flag]] = defaultdict(list)
    if not by_tender:
        return out
    start = min(bids[0].opened_on for bids in by_tender.values())
    # Two tilings offset by half a window, so a ring active across a window boundary is still seen whole.
    windows: dict[tuple[int, int], list[int]] = defaultdict(list)
    half = settings.window_days // 2
    for tid, bids in by_tender.items():
        days = (bids[0].opened_on - start).days
        windows[(0, days // settings.window_days)].append(tid)
        windows[(1, (days + half) // settings.window_days)].append(tid)
    seen: set[tuple[int, frozenset[str]]] = set()
    for tids in windows.values():
        entered: Counter[str] = Counter()
        pairs: Counter[tuple[str, str]] = Counter()
        for tid in tids:
            keys = sorted({b.bidder_key for b in by_tender[tid]})
            entered.update(keys)
            if len(keys) > settings.max_pair_tender_size:
                continue  # a crowded open tender says nothing about who arranges with whom
            for i, a in enumerate(keys):
                for b in keys[i + 1 :]:
                    pairs[(a, b)] += 1
        comps = _Components()
        for (a, b), n in pairs.items():
            if n >= settings.rotation_min_tenders and n >= settings.rotation_cobid_share * min(entered[a], entered[b]):
                comps.union((a, b))
        for members in comps.groups().values():
            if len(members) < settings.rotation_min_members:
                continue
            group = set(members)
            together = [
                tid
                for tid in tids
                if len(group.intersection(b.bidder_key for b in by_tender[tid])) >= settings.rotation_min_members
            ]
            won = [(tid, winners[tid]) for tid in together if winners.get(tid) in group]
            wins = Counter(w for _, w in won)
            if (
                len(together) < settings.rotation_min_tenders
                or len(wins) < settings.rotation_min_members
                or len(won) < 0.8 * len(together)
                or max(wins.values()) > settings.rotation_max_win_share * len(won)
            ):
                continue
            first = min(by_tender[t][0].opened_on for t in together)
            last = max(by_tender[t][0].opened_on for t in together)
            evidence = {
                "window": [first.isoformat(), last.isoformat()],
                "tenders_together": len(together),
                "wins": dict(sorted(wins.items(), key=lambda kv: -kv[1])),
                "members": len(group),
            }
            for tid in together:
                if (tid, frozenset(group)) not in seen:
                    seen.add((tid, frozenset(group)))
                    out[tid].append(Flag("rotation", sorted(group), evidence))
    return out


def loser_flags(
    by_tender: dict[int, list[BidFact]],
    winners: dict[int, str],
    settings: Settings,
) -> dict[int, list[Flag]]:
    """Bidders that never win and lose most of their bids to one and the same winner."""
    bids_of: Counter[str] = Counter()
    wins_of: Counter[str] = Counter()
    lost_to: dict[tuple[str, str], list[int]] = defaultdict(list)
    for tid, bids in by_tender.items():
        winner = winners.get(tid)
        for b in bids:
            bids_of[b.bidder_key] += 1
            if b.bidder_key == winner:
                wins_of[b.bidder_key] += 1
            elif winner is not None:
                lost_to[(b.bidder_key, winner)].append(tid)
    out: dict[int, list[Flag]] = defaultdict(list)
    for (loser, winner), tids in lost_to.items():
        if (
            wins_of[loser] == 0
            and len(tids) >= settings.loser_min_losses
            and len(tids) >= settings.loser_share * bids_of[loser]
        ):
            evidence = {"loser": loser, "winner": winner, "losses_to_winner": len(tids), "bids": bids_of[loser]}
            for tid in tids:
                out[tid].append(Flag("always_loses_to", [loser, winner], evidence))
    return out


def analyse(bids: Iterable[BidFact], *, shareholders: dict[str, list[str]] | None = None, settings: Settings) -> Result:
    """Every red flag, tender scores and bidder groups for these bids."""
    shareholders = shareholders or {}
    by_tender: dict[int, list[BidFact]] = defaultdict(list)
    names: dict[str, str] = {}
    count = 0
    for b in bids:
        by_tender[b.tender_id].append(b)
        names[b.bidder_key] = b.bidder_name
        count += 1
    winners = _winners(by_tender)
    flags: dict[int, list[Flag]] = defaultdict(list)
    for tid, tender_bids in by_tender.items():
        if len(tender_bids) < 2:
            continue
        found = _shared(tender_bids, shareholders) + price_flags(tender_bids, settings)
        if found:
            flags[tid].extend(found)
    for extra in (rotation_flags(by_tender, winners, settings), loser_flags(by_tender, winners, settings)):
        for tid, found in extra.items():
            flags[tid].extend(found)

    comps = _Components()
    tender_views: list[dict[str, Any]] = []
    scores: dict[int, int] = {}
    for tid, found in flags.items():
        s = score((f.kind for f in found), settings)
        scores[tid] = s
        for f in found:
            if f.kind not in PRICE_KINDS:
                comps.union(f.bidders)  # price patterns alone say nothing about who is tied to whom
        tender_bids = by_tender[tid]
        tender_views.append(
            {
                "tender_id": tid,
                "opened_on": tender_bids[0].opened_on.isoformat(),
                "bids": len(tender_bids),
                "winner": winners.get(tid),
                "score": s,
                "level": settings.level(s),
                "flags": [f.view(settings, names) for f in sorted(found, key=lambda f: -settings.weights[f.kind])],
            }
        )
    tender_views.sort(key=lambda t: (-t["score"], t["opened_on"], t["tender_id"]))
    groups = _groups(comps, flags, scores, by_tender, names, winners, settings)
    levels = Counter(t["level"] for t in tender_views)
    summary = {
        "bids": count,
        "tenders": len(by_tender),
        "bidders": len(names),
        "flagged_tenders": len(tender_views),
        "high": levels["high"],
        "medium": levels["medium"],
        "low": levels["low"],
        "groups": len(groups),
        "flags": dict(Counter(f.kind for found in flags.values() for f in found)),
    }
    return Result(tender_views, groups, scores, summary)


def _groups(
    comps: _Components,
    flags: dict[int, list[Flag]],
    scores: dict[int, int],
    by_tender: dict[int, list[BidFact]],
    names: dict[str, str],
    winners: dict[int, str],
    settings: Settings,
) -> list[dict[str, Any]]:
    members_of = comps.groups()
    root_of = {k: root for root, keys in members_of.items() for k in keys}
    tenders_of: dict[str, set[int]] = defaultdict(set)
    kinds_of: dict[str, Counter[str]] = defaultdict(Counter)
    for tid, found in flags.items():
        for f in found:
            root = root_of.get(f.bidders[0])
            if root is not None and f.kind not in PRICE_KINDS:
                tenders_of[root].add(tid)
                kinds_of[root][f.kind] += 1
    out: list[dict[str, Any]] = []
    for root, keys in members_of.items():
        if len(keys) < 2 or not tenders_of[root]:
            continue
        tids = tenders_of[root]
        top = max(scores[t] for t in tids)
        s = min(100, top + 5 * (len(tids) - 1))  # each further flagged tender makes chance less likely
        member_set = set(keys)
        wins = Counter(winners[t] for t in tids if winners.get(t) in member_set)
        out.append(
            {
                "members": sorted(
                    ({"key": k, "name": names.get(k, k), "wins_in_flagged": wins.get(k, 0)} for k in keys),
                    key=lambda m: m["name"],
                ),
                "size": len(keys),
                "tenders": len(tids),
                "score": s,
                "level": settings.level(s),
                "max_tender_score": top,
                "flags": dict(kinds_of[root].most_common()),
                "tender_ids": sorted(tids, key=lambda t: -scores[t])[:50],
            }
        )
    out.sort(key=lambda g: (-g["score"], -g["tenders"], g["members"][0]["name"]))
    for rank, g in enumerate(out, 1):
        g["rank"] = rank
    return out


def precision_recall(flagged: set[Any], truth: set[Any]) -> dict[str, float | int]:
    """How well the flagged set finds the truth: precision = share of flagged that are true, recall = share of
    true that are flagged."""
    hit = len(flagged & truth)
    return {
        "flagged": len(flagged),
        "truth": len(truth),
        "true_positives": hit,
        "precision": round(hit / len(flagged), 4) if flagged else 1.0,
        "recall": round(hit / len(truth), 4) if truth else 1.0,
    }

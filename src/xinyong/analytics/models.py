"""Tables of `analytics`: public-resource trading (tenders, bids, bidder attributes, analysis runs) and food/drug
spot checks (抽检).

Trading data comes from the trading centre's files (``analytics.trading_formats``), keyed by natural keys so that
importing a file again changes nothing: a tender by its 项目编号, a bid by (tender, bidder key), a shareholder by
(bidder key, shareholder), a spot check by its 抽样编号. The bidder key is the USCC when the bid has one, otherwise
``name:`` + the normalised name, so bidders without a code still group across tenders.

The assessment's expected volumes (:class:`ExpectedVolume`, 应报尽报) are set by the platform admin per department and
information class; where none is set the assessment learns the expectation from the department's own history
(``analytics.volumes``).

An analysis run (:class:`TradingAnalysis`) keeps its full result (ranked tenders with their flags and evidence,
ranked bidder groups): what the regulator acted on stays readable even after new data arrives.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.core.columns import actor_column, count_column, now_column, pk_column
from xinyong.core.db import Base, BigId, Json


class ImportKind(StrEnum):
    """What an imported file holds (``analytics_imports.kind``; formats in ``trading_formats``)."""

    TENDERS = "tenders"  # 招标项目
    BIDS = "bids"  # 投标记录
    AWARDS = "awards"  # 中标结果
    BIDDERS = "bidders"  # 投标人属性
    SPOT_CHECKS = "spot_checks"  # 食品药品抽检


class TradingImport(Base):
    """One imported file (tenders, bids, awards, bidder attributes or spot checks) and its outcome."""

    __tablename__ = "analytics_imports"
    __table_args__ = (Index("ix_analytics_imports_kind_sha256", "kind", "sha256"),)

    id: Mapped[int] = pk_column()
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    filename: Mapped[str] = mapped_column(String(300), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    actor: Mapped[str] = actor_column()
    rows: Mapped[int] = count_column()
    created: Mapped[int] = count_column()
    updated: Mapped[int] = count_column()
    unchanged: Mapped[int] = count_column()
    report: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = now_column()


class Tender(Base):
    """A tender (招标项目) and, once awarded, its award (中标结果)."""

    __tablename__ = "trading_tenders"

    id: Mapped[int] = pk_column()
    project_no: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    tenderer: Mapped[str] = mapped_column(String(200), nullable=False)
    tenderer_uscc: Mapped[str | None] = mapped_column(String(18))
    category: Mapped[str | None] = mapped_column(String(20))  # 工程 / 货物 / 服务
    budget_fen: Mapped[int | None] = mapped_column(BigInteger)
    opened_on: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)  # 开标日期
    winner_key: Mapped[str | None] = mapped_column(String(220))
    award_price_fen: Mapped[int | None] = mapped_column(BigInteger)
    awarded_on: Mapped[dt.date | None] = mapped_column(Date)
    import_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("analytics_imports.id"))
    updated_at: Mapped[dt.datetime] = now_column()


class Bid(Base):
    """One bidder's bid in one tender, with the contact data the red flags compare."""

    __tablename__ = "trading_bids"
    __table_args__ = (UniqueConstraint("tender_id", "bidder_key"), Index("ix_trading_bids_bidder_key", "bidder_key"))

    id: Mapped[int] = pk_column()
    tender_id: Mapped[int] = mapped_column(BigId, ForeignKey("trading_tenders.id"), nullable=False)
    bidder_key: Mapped[str] = mapped_column(String(220), nullable=False)
    bidder_name: Mapped[str] = mapped_column(String(200), nullable=False)
    bidder_uscc: Mapped[str | None] = mapped_column(String(18))
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"), index=True)
    price_fen: Mapped[int] = mapped_column(BigInteger, nullable=False)
    bid_at: Mapped[str | None] = mapped_column(String(19))  # local time as sent, "YYYY-MM-DD HH:MM:SS"
    contact: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(30))  # digits only
    legal_rep: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(300))
    ip: Mapped[str | None] = mapped_column(String(45))
    won: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    import_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("analytics_imports.id"))


class BidderShareholder(Base):
    """A shareholder of a bidder (from the bids file's 股东 column or the bidder-attributes file)."""

    __tablename__ = "trading_shareholders"
    __table_args__ = (UniqueConstraint("bidder_key", "shareholder"),)

    id: Mapped[int] = pk_column()
    bidder_key: Mapped[str] = mapped_column(String(220), nullable=False)
    shareholder: Mapped[str] = mapped_column(String(200), nullable=False)


class BidderAttribute(Base):
    """Attributes of a bidder from the optional bidder-attributes file; they fill a bid's missing values."""

    __tablename__ = "trading_bidder_attributes"

    bidder_key: Mapped[str] = mapped_column(String(220), primary_key=True)
    bidder_name: Mapped[str] = mapped_column(String(200), nullable=False)
    legal_rep: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(30))


class TradingAnalysis(Base):
    """One run of the collusion analysis with its whole result (tenders and groups ranked, flags with evidence)."""

    __tablename__ = "trading_analyses"

    id: Mapped[int] = pk_column()
    actor: Mapped[str] = actor_column()
    started_at: Mapped[dt.datetime] = now_column()
    seconds: Mapped[float] = mapped_column(nullable=False, default=0.0)
    params: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    summary: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    tenders: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False, default=list)
    groups: Mapped[list[dict[str, Any]]] = mapped_column(Json, nullable=False, default=list)


class SpotCheck(Base):
    """A food or drug sampling inspection (抽检) result; failures feed the food/drug risk warning."""

    __tablename__ = "food_drug_spot_checks"
    __table_args__ = (Index("ix_food_drug_spot_checks_subject_checked", "subject_id", "checked_on"),)

    id: Mapped[int] = pk_column()
    sample_no: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    subject_name: Mapped[str] = mapped_column(String(200), nullable=False)
    subject_uscc: Mapped[str | None] = mapped_column(String(18))
    subject_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("subjects.id"))
    product: Mapped[str] = mapped_column(String(200), nullable=False)
    category: Mapped[str] = mapped_column(String(20), nullable=False)  # 食品 / 药品 / 保健食品 / 化妆品 / 医疗器械
    checked_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    failed_items: Mapped[str | None] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(String(200))
    import_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("analytics_imports.id"))


class ExpectedVolume(Base):
    """How many records of one information class (行政许可 / 行政处罚) a department is expected to submit per month
    (应报尽报), as the platform admin configured it. Without a row the assessment learns it from the department's own
    history (``analytics.volumes``)."""

    __tablename__ = "assessment_expected_volumes"
    __table_args__ = (
        UniqueConstraint("department_id", "info_class"),
        CheckConstraint("info_class IN ('licence', 'penalty')", name="info_class"),
        CheckConstraint("monthly >= 0", name="monthly"),
    )

    id: Mapped[int] = pk_column()
    department_id: Mapped[int] = mapped_column(BigId, ForeignKey("departments.id"), nullable=False)
    info_class: Mapped[str] = mapped_column(String(10), nullable=False)
    monthly: Mapped[int] = mapped_column(Integer, nullable=False)
    note: Mapped[str | None] = mapped_column(String(200))
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False)
    updated_at: Mapped[dt.datetime] = now_column()

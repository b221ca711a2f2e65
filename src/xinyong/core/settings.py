"""Platform settings, read from the environment (prefix ``XINYONG_``) or a ``.env`` file.

Secrets: ``XINYONG_SECRET_KEY`` is the master key from which the personal-data keys (HMAC for look-ups,
AES-GCM for stored identity numbers) and the session key are derived. A production deployment must set it;
without it a key is generated once into ``<data dir>/secret.key`` (mode 0600) so that a demo works with zero
set-up and a restarted demo can still read its own data.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The largest amount any column can hold, in 万元: fines are stored in fen (1/100 yuan) in a 64-bit integer on
#: both databases (2^63-1 fen); the configured ceiling may not exceed it.
AMOUNT_STORABLE_MAX_WAN = Decimal(2**63 - 1) / 1_000_000


def _default_data_dir() -> Path:
    return Path(os.environ.get("XINYONG_DATA_DIR", Path.cwd() / "var"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYONG_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    #: A read-only replica of ``database_url`` (PostgreSQL streaming replication, docs/deployment.md): the reads
    #: that may lag a moment — the credit check's look-ups, the portal's pages, the government file — go to it
    #: (``core.db.Database.replica``); every write, and every read that must see its own write, stays on the
    #: primary. Unset: everything on the primary.
    database_read_url: str | None = None
    secret_key: str | None = None
    # Working days: the calendar library knows declared years only. Beyond them, these dates are added
    # (ISO dates, comma separated, e.g. the next year's declared holidays before the library is updated) and
    # the policy decides the rest: "weekends" treats Mon-Fri as working days and logs a warning, "error"
    # refuses to compute (a clear error, never a crash).
    extra_holidays: str = ""
    extra_workdays: str = ""
    workdays_unknown_year: str = "weekends"
    timezone: str = "Asia/Shanghai"
    # The platform runs the demo city (``xinyong demo`` sets XINYONG_DEMO=1 before it serves): the admin's console
    # then shows the demo outbox (演示短信/邮件发件箱, ``cases.notify.demo_outbox``) with the one-time codes sent to
    # the demo contacts. Never set it in production: the page shows codes in clear.
    demo: bool = False
    city_name: str = "沁阳市"
    city_region_code: str = "410882"
    # Imports (every importer reads through ``ingest.readers``; docs/data-standards.md "Limits"). Enforced while a
    # file is read, before a value is kept: a longer cell or row is a row error (``cell_too_long`` /
    # ``row_too_long``) and the rejected row keeps only the first ``import_rejected_cell_chars`` of each cell.
    import_max_cell_chars: int = Field(32_768, ge=256)
    import_max_row_chars: int = Field(262_144, ge=1_024)
    import_rejected_cell_chars: int = Field(2_048, ge=16)
    #: JSON files are parsed whole (their columns are the union of every object's keys): larger ones are refused.
    import_max_json_bytes: int = Field(32 * 1024 * 1024, ge=1_024)
    # Uploads over HTTP (``core.uploads``): the largest file a bulk import accepts (413 ``file_too_large`` as soon
    # as the declared or received size passes it) and the size kept in memory before the temporary copy goes to
    # an encrypted file under ``<data dir>/tmp/uploads``.
    upload_max_bytes: int = Field(1024 * 1024 * 1024, ge=1_024)
    upload_memory_bytes: int = Field(1024 * 1024, ge=0)

    # Audit anchors (docs/operations.md, "Audit log"): the file `xinyong audit anchor` appends to and
    # `xinyong audit verify` and GET /api/v1/audit/anchors read when no --out/--anchors is given; and the age in
    # seconds past which the newest anchor is stale (events after it could be deleted undetected): `audit verify`
    # then exits 1. 0 switches the age check off.
    audit_anchors_file: Path | None = None
    audit_anchor_max_age: int = Field(default=900, ge=0)
    # The largest amount (万元) an import accepts: 罚款金额, 没收金额 of 双公示, bids and awards of public-resource
    # trading (in yuan: × 10,000), a fine corrected after an objection. Above it a row is refused
    # (``amount_too_large``): 1e30 is a typing or unit error. Default 10^8 万元 (1 万亿元).
    amount_max_wan: Decimal = Field(Decimal(100_000_000), gt=0, le=AMOUNT_STORABLE_MAX_WAN)
    # 信易贷 authorisations (docs/sharing.md): the longest period a subject may authorise an institution for, and
    # the period when none is named, in days. Local practice, not a national number (unverified): configurable.
    financing_max_authorisation_days: int = Field(366, ge=1, le=3_660)
    financing_default_authorisation_days: int = Field(90, ge=1, le=3_660)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'xinyong.db'}"

    @property
    def master_key(self) -> bytes:
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI's --db option change the environment)."""
    # import cycle: core.db reads these settings
    from xinyong.core.db import get_db_settings

    get_settings.cache_clear()
    get_db_settings.cache_clear()

"""Settings of the due-process workflows (environment prefix ``XINYONG_CASES_``).

Time limits the catalog carries (credit repair: ``repair.accept`` / ``repair.decide`` / ``reapply_bar_months`` of
the class) are always read from the catalog. The limits below are the ones the catalog has no block for
(objections, complaints) and the fall-backs for a repairable class without a limit of its own; they are
low-confidence national defaults (see ``/shared/standards.md`` §3, §5.2) that a city sets by environment.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CasesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYONG_CASES_", env_file=".env", extra="ignore")

    # Working days: accept or refuse a filing, then decide.
    objection_accept_workdays: int = Field(2, ge=0)
    objection_decide_workdays: int = Field(10, ge=1)
    complaint_accept_workdays: int = Field(5, ge=0)
    complaint_decide_workdays: int = Field(15, ge=1)
    repair_accept_workdays: int = Field(3, ge=0)  # when the class has no repair.accept
    repair_decide_workdays: int = Field(5, ge=1)  # when the class has no repair.decide
    repair_bar_months: int = Field(36, ge=0)  # when the class has no reapply_bar_months
    # Documents: PDF, PNG and JPEG only, at most this many bytes each, at most this many per case.
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_documents_per_case: int = Field(20, ge=1)
    # One-time codes: validity, attempts, and how many may be sent to one subject per hour.
    code_ttl_minutes: int = Field(10, ge=1)
    code_max_attempts: int = Field(5, ge=1)
    codes_per_hour: int = Field(5, ge=1)
    # Notification channels: "log" (demo: a line in <data dir>/notifications.log), "smtp" (email) or "http" (SMS
    # gateway that takes a JSON POST {"to", "text"}).
    email_backend: str = "log"
    sms_backend: str = "log"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_from: str = "xinyong@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    sms_gateway_url: str | None = None
    sms_gateway_token: str | None = None
    notify_max_attempts: int = Field(5, ge=1)


@lru_cache
def get_cases_settings() -> CasesSettings:
    return CasesSettings()


def reset_cases_settings() -> None:
    get_cases_settings.cache_clear()

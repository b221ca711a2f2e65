"""Settings of the credit reports (environment prefix ``XINYONG_REPORTS_``; the public base URL is platform-wide).

``XINYONG_PUBLIC_BASE_URL`` is where the public reaches the portal: the QR code of every report encodes
``<base>/reports/verify?code=<short code>``. Set it in production before issuing reports — a printed QR code cannot
be changed afterwards (the verification API resolves the short code whatever the URL was).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ReportsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYONG_REPORTS_", env_file=".env", extra="ignore")

    public_base_url: str = Field(
        "http://127.0.0.1:8000", validation_alias=AliasChoices("XINYONG_PUBLIC_BASE_URL", "XINYONG_REPORTS_BASE_URL")
    )
    # Path of the portal's verification page; ``{code}`` is the report's short code.
    verify_path: str = "/reports/verify?code={code}"
    # Reports issued for one subject per hour (the public endpoint needs no login: this bounds the work one
    # subject can cause; per-client limits belong to the reverse proxy).
    per_subject_per_hour: int = Field(30, ge=1)
    # Rows printed per section; a subject with more gets the newest ones and an explicit note of how many more.
    max_rows_per_section: int = Field(300, ge=10)
    # Largest upload accepted for verification by file.
    max_verify_bytes: int = Field(20 * 1024 * 1024, ge=1024)

    def verify_url(self, short_code: str) -> str:
        return self.public_base_url.rstrip("/") + self.verify_path.format(code=short_code)


@lru_cache
def get_reports_settings() -> ReportsSettings:
    return ReportsSettings()


def reset_reports_settings() -> None:
    get_reports_settings.cache_clear()

"""Platform settings, read from the environment (prefix ``XINYONG_``) or a ``.env`` file.

Secrets: ``XINYONG_SECRET_KEY`` is the master key from which the personal-data keys (HMAC for look-ups,
AES-GCM for stored identity numbers) and the session key are derived. A production deployment must set it;
without it a key is generated once into ``<data dir>/secret.key`` (mode 0600) so that a demo works with zero
set-up and a restarted demo can still read its own data.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(os.environ.get("XINYONG_DATA_DIR", Path.cwd() / "var"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYONG_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    secret_key: str | None = None
    # Working days: the calendar library knows declared years only. Beyond them, these dates are added
    # (ISO dates, comma separated, e.g. the next year's declared holidays before the library is updated) and
    # the policy decides the rest: "weekends" treats Mon-Fri as working days and logs a warning, "error"
    # refuses to compute (a clear error, never a crash).
    extra_holidays: str = ""
    extra_workdays: str = ""
    workdays_unknown_year: str = "weekends"
    timezone: str = "Asia/Shanghai"
    city_name: str = "沁阳市"
    city_region_code: str = "410882"

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
    from xinyong.core.db import get_db_settings

    get_settings.cache_clear()
    get_db_settings.cache_clear()

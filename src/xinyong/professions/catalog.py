"""The key professions (重点职业人群) as data: ``data/professions.yaml``, validated once per process.

Pure (no database): who supervises a profession, which licence it holds, its legal basis (with its confidence),
which departments may read its members' files and which lists are about it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from xinyong.core.errors import ConfigurationError, NotFound

DEFAULT_PATH = Path(__file__).parent / "data" / "professions.yaml"
Confidence = Literal["verified", "unverified", "low"]
#: ``file_readers`` value that lets every department read (with a purpose, logged).
ANY = "any"


class LegalBasis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1)
    article: str | None = None
    note: str | None = None
    confidence: Confidence = "unverified"


class Profession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    name: str = Field(min_length=1, max_length=40)
    supervisor_kind: str = Field(min_length=1)
    departments: list[str] = Field(min_length=1)
    licence: str = Field(min_length=1)
    legal_basis: list[LegalBasis] = Field(min_length=1)
    file_readers: list[str] = Field(default_factory=list)
    lists: list[str] = Field(default_factory=list)
    hr_only: bool = False  # the file is for authorised HR use only (公务员诚信档案)
    note: str = ""
    confidence: Confidence = "unverified"

    def may_read(self, department_code: str | None) -> bool:
        """Whether a department's operators and viewers may read a member's file (the admin always may)."""
        return ANY in self.file_readers or (department_code is not None and department_code in self.file_readers)

    def view(self) -> dict[str, object]:
        return self.model_dump()


class ProfessionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purposes: dict[str, str] = Field(min_length=1)
    professions: list[Profession] = Field(min_length=1)


@lru_cache(maxsize=4)
def _file(path: str) -> ProfessionsFile:
    try:
        data = ProfessionsFile.model_validate(yaml.safe_load(Path(path).read_text("utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ConfigurationError(f"职业目录文件 {path} 无效：{exc}", code="professions_config_invalid") from exc
    if "other" not in data.purposes:
        raise ConfigurationError("职业目录的查询事由须含 other", code="professions_config_invalid")
    codes = [p.code for p in data.professions]
    if len(codes) != len(set(codes)):
        raise ConfigurationError("职业目录中的职业代码重复", code="professions_config_invalid")
    return data


def professions(path: Path | str | None = None) -> dict[str, Profession]:
    """Every profession by code, in the file's order."""
    return {p.code: p for p in _file(str(path or DEFAULT_PATH)).professions}


def purposes(path: Path | str | None = None) -> dict[str, str]:
    """The 查询事由 of a profession file: code -> label."""
    return dict(_file(str(path or DEFAULT_PATH)).purposes)


def get(code: str) -> Profession:
    found = professions().get((code or "").strip())
    if found is None:
        raise NotFound(
            f"未知的职业代码 {code[:40]!r}", code="profession_unknown", details={"allowed": sorted(professions())}
        )
    return found


def profession_lists() -> dict[str, str]:
    """List type code -> the profession it is about."""
    return {lt: p.code for p in professions().values() for lt in p.lists}

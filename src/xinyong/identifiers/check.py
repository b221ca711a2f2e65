"""The result of checking one identifier: what it is, whether it is valid, and why (in Chinese)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from xinyong.identifiers._text import compact


class CodeKind(StrEnum):
    """What a checked code is (``CodeCheck.kind``)."""

    USCC = "uscc"
    ORG_CODE = "org_code"
    RESIDENT_ID = "resident_id"
    UNKNOWN = "unknown"


KIND_NAMES = {
    CodeKind.USCC: "统一社会信用代码",
    CodeKind.ORG_CODE: "组织机构代码",
    CodeKind.RESIDENT_ID: "居民身份证号码",
    CodeKind.UNKNOWN: "无法识别",
}

# Any run of 7+ digits (or X) in a message could be part of a personal ID number (birth date, body).
_DIGIT_RUN = re.compile(r"[0-9X]{7,}")


@dataclass(frozen=True)
class Issue:
    """One finding: a stable snake_case ``code`` for programs and a Chinese ``message`` for people."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class CodeCheck:
    """Outcome of validating one code. ``valid`` is true exactly when there are no errors; warnings
    (unknown region, a tolerated bad check digit …) never make a code invalid but should be reviewed."""

    kind: CodeKind
    input: str
    normalized: str | None
    valid: bool
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def personal(self) -> bool:
        """Whether the input may be a person's ID number and must be masked before it is shown.

        Resident IDs always; an *invalid* code of another kind too when it could be a mistyped ID number (14 or
        more digits and at most one other character): it must not leak because it failed to parse. Valid
        organisation codes are public and never masked.
        """
        if self.kind is CodeKind.RESIDENT_ID:
            return True
        if self.valid:
            return False
        c = compact(self.input)
        digits = sum(ch.isdigit() for ch in c)
        return digits >= 14 and len(c) - digits <= 1

    def to_dict(self, *, mask: bool = False) -> dict[str, Any]:
        """JSON-safe dict. With ``mask=True`` a (possible) personal ID number is masked everywhere: in the input,
        the normalised form, the messages, and the details (the birth date is removed)."""
        if not (mask and self.personal):
            return {
                "kind": self.kind,
                "input": self.input,
                "normalized": self.normalized,
                "valid": self.valid,
                "errors": [i.to_dict() for i in self.errors],
                "warnings": [i.to_dict() for i in self.warnings],
                "details": dict(self.details),
                "masked": False,
            }
        # lazy: only a masked view needs it; `xinyong validate --json` loads no masking (tests/test_cli.py)
        from xinyong.identifiers.masking import mask_possible_id, mask_resident_id

        def scrub(message: str) -> str:
            return _DIGIT_RUN.sub(lambda m: "*" * len(m.group()), message)

        if self.kind is CodeKind.RESIDENT_ID:
            details = {k: (None if k == "birth_date" else v) for k, v in self.details.items()}
        else:  # a mistyped ID number read as something else: its details would reveal its digits
            details = {}
        return {
            "kind": self.kind,
            "input": mask_resident_id(self.input) if self.kind == "resident_id" else mask_possible_id(self.input),
            "normalized": mask_resident_id(self.normalized) if self.normalized else None,
            "valid": self.valid,
            "errors": [{"code": i.code, "message": scrub(i.message)} for i in self.errors],
            "warnings": [{"code": i.code, "message": scrub(i.message)} for i in self.warnings],
            "details": details,
            "masked": True,
        }

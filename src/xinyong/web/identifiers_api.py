"""HTTP API of ``identifiers``: check codes without storing anything (open to everyone). In ``web``, not in
``identifiers``: its policy (``auth.deps.public``) is a layer above the pure functions it serves."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from xinyong.auth.deps import public
from xinyong.core.errors import ValidationFailed
from xinyong.identifiers.detect import explain
from xinyong.identifiers.schemas import CodeCheckOut

router = APIRouter(prefix="/identifiers", tags=["identifiers"])

MAX_CODES = 100
MAX_CODE_LENGTH = 64


@router.get("/validate", response_model=list[CodeCheckOut], dependencies=[Depends(public)])
def validate_codes(
    code: list[str] = Query(default=[], description="待校验的代码，可重复，最多100个"),
    allow_bad_check: bool = Query(False, description="统一社会信用代码第18位校验码错误时仅作警告（待复核）"),
) -> list[CodeCheckOut]:
    """校验统一社会信用代码、组织机构代码或居民身份证号码（自动识别类型）；身份证号码遮蔽后返回。"""
    if not code:
        raise ValidationFailed("请至少提供一个代码（参数 code）", code="no_code")
    if len(code) > MAX_CODES:
        raise ValidationFailed(
            f"一次最多校验{MAX_CODES}个代码，实为{len(code)}个",
            code="too_many_codes",
            details={"max": MAX_CODES, "given": len(code)},
        )
    too_long = [i for i, c in enumerate(code) if len(c) > MAX_CODE_LENGTH]
    if too_long:
        raise ValidationFailed(
            f"代码长度不能超过{MAX_CODE_LENGTH}个字符",
            code="code_too_long",
            details={"max_length": MAX_CODE_LENGTH, "positions": too_long},
        )
    return [CodeCheckOut.model_validate(explain(c, allow_bad_check=allow_bad_check).to_dict(mask=True)) for c in code]

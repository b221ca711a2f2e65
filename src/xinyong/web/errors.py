"""The API's error body (``{"error": {"code", "message", "details"}}``) and its OpenAPI shape."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

_HTTP_MESSAGES = {
    400: ("bad_request", "请求格式错误"),
    401: ("unauthenticated", "需要登录或提供 API 令牌"),
    403: ("forbidden", "无权访问"),
    404: ("not_found", "请求的资源不存在"),
    405: ("method_not_allowed", "不支持该请求方法"),
    413: ("payload_too_large", "请求内容过大"),
    429: ("too_many_requests", "请求过于频繁，请稍后再试"),
}


class ErrorDetailOut(BaseModel):
    code: str = Field(description="稳定的错误代码（snake_case），供程序判断")
    message: str = Field(description="中文说明")
    details: Any = Field(None, description="补充信息（如参数校验的各项错误、文件中出错的行）")


class ErrorOut(BaseModel):
    """The body of every refusal of the API."""

    error: ErrorDetailOut


#: Declared on every API route: any 4xx answer (401 no or bad token, 403 role or department not allowed, 404, 409
#: a conflicting version or duplicate, 413, 422 invalid parameters or content, 429) carries the common error body.
#: Without it the OpenAPI document named only 200 and 422 (with FastAPI's ``{"detail": …}``, which the API never
#: sends), so generated clients and fuzzers could not tell a refusal from a defect.
REFUSALS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorOut, "description": "请求被拒绝：原因见 error.code 与 error.message"},
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        err["details"] = details
    return {"error": err}


def http_error_body(status: int) -> dict[str, Any]:
    """The API's answer to an HTTP-level refusal (401, 404, 413 …), as the handler below gives it."""
    return error_body(*_HTTP_MESSAGES.get(status, ("http_error", "请求无法处理")))

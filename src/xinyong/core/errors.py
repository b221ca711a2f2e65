"""Errors with a stable machine code and a Chinese message for people.

Every error the platform reports to a user (API or CLI) is an :class:`XinyongError`. The API turns it into
``{"error": {"code": ..., "message": ..., "details": ...}}`` with its HTTP status; the CLI prints the message
and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class XinyongError(Exception):
    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self, message: str, *, code: str | None = None, details: Any = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationFailed(XinyongError):
    status_code = 422
    code = "validation_failed"


class NotFound(XinyongError):
    status_code = 404
    code = "not_found"


class Conflict(XinyongError):
    status_code = 409
    code = "conflict"


class Unauthenticated(XinyongError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(XinyongError):
    status_code = 403
    code = "forbidden"


class Busy(XinyongError):
    """The database stayed busy (other writers, a deadlock) beyond the bound of retries: try again later.

    The API answers 503 with ``Retry-After`` (``retry_after`` seconds); the CLI exits with status 2."""

    status_code = 503
    code = "database_busy"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None, retry_after: int = 5) -> None:
        super().__init__(message, code=code, details=details)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class ConfigurationError(XinyongError):
    status_code = 500
    code = "configuration_error"

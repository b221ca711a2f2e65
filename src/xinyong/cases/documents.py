"""Uploaded documents: type-checked by content, size-limited, hashed, stored under the data dir.

Only PDF, PNG and JPEG are accepted, recognised by their first bytes (and a minimal structure check), never by
the name or the declared content type; a file whose name promises another type than its content is refused as
disguised. Files are stored once per content (``<data dir>/cases/documents/<aa>/<sha256>``, written to a
temporary name and renamed), so the same evidence uploaded twice takes the space once. The stored files are
never served to the public: only the handling department and the admin read them back.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from enum import StrEnum
from pathlib import Path

from xinyong.cases.config import get_cases_settings
from xinyong.core.errors import NotFound, ValidationFailed
from xinyong.core.settings import get_settings

MEDIA_TYPES = {"pdf": "application/pdf", "png": "image/png", "jpeg": "image/jpeg"}
EXTENSIONS = {"pdf": (".pdf",), "png": (".png",), "jpeg": (".jpg", ".jpeg")}


class DocumentKind(StrEnum):
    EVIDENCE = "evidence"
    COMMITMENT = "commitment"
    DECISION = "decision"
    OTHER = "other"


DOCUMENT_KINDS = tuple(DocumentKind)
_SAFE_NAME = re.compile(r"[^\w.\-（）() \u4e00-\u9fff]")


def detect_type(content: bytes) -> str | None:
    """``pdf`` / ``png`` / ``jpeg`` from the content, or ``None`` when it is none of them (or truncated)."""
    if content.startswith(b"%PDF-") and b"%%EOF" in content[-1024:]:
        return "pdf"
    if (
        content.startswith(b"\x89PNG\r\n\x1a\n")
        and content[12:16] == b"IHDR"
        and content.rstrip(b"\0").endswith(b"IEND\xaeB`\x82")
    ):
        return "png"
    if content.startswith(b"\xff\xd8\xff") and content.rstrip(b"\0").endswith(b"\xff\xd9"):
        return "jpeg"
    return None


def safe_filename(name: str) -> str:
    """The base name with path parts and unusual characters removed (kept for people, never used as a path)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _SAFE_NAME.sub("_", base)[:200]
    return base or "document"


def check_upload(filename: str, content: bytes) -> tuple[str, str]:
    """``(type, media type)`` of an acceptable upload, else :class:`ValidationFailed` with a stable code:
    ``document_empty``, ``document_too_large``, ``document_type_not_allowed``, ``document_disguised``."""
    limit = get_cases_settings().max_upload_bytes
    if not content:
        raise ValidationFailed("上传的文件为空", code="document_empty")
    if len(content) > limit:
        raise ValidationFailed(
            f"文件过大：{len(content)} 字节，上限 {limit} 字节",
            code="document_too_large",
            details={"size": len(content), "limit": limit},
        )
    kind = detect_type(content)
    if kind is None:
        raise ValidationFailed("只接受 PDF、PNG、JPEG 文件（按文件内容识别）", code="document_type_not_allowed")
    ext = os.path.splitext(filename or "")[1].lower()
    if ext and not any(ext == e for e in EXTENSIONS[kind]):
        raise ValidationFailed(
            f"文件名后缀 {ext} 与文件内容（{kind.upper()}）不符",
            code="document_disguised",
            details={"extension": ext, "content": kind},
        )
    return kind, MEDIA_TYPES[kind]


def storage_root() -> Path:
    return get_settings().data_dir / "cases" / "documents"


def path_for(sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValidationFailed("文件哈希格式无效", code="bad_document_hash")
    return storage_root() / sha256[:2] / sha256


def store_bytes(content: bytes) -> str:
    """Write the content (once) and return its SHA-256."""
    digest = hashlib.sha256(content).hexdigest()
    target = path_for(digest)
    if target.exists():
        return digest
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def read_bytes(sha256: str) -> bytes:
    path = path_for(sha256)
    if not path.exists():
        raise NotFound("文件内容缺失（存储目录中找不到）", code="document_content_missing")
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != sha256:
        raise NotFound("文件内容与登记的哈希不符（可能已被改动）", code="document_corrupted")
    return content

"""Keys for personal data: keyed look-up hashes and authenticated encryption of identity numbers.

A full ID number is never stored in clear. The database keeps two things instead:
- a *look-up hash* (HMAC-SHA256 of the normalised value) to find a person by number without being able to read
  the number back — deterministic, so equal numbers give equal hashes; a separate key per purpose, so hashes of
  different kinds of value cannot be correlated;
- a *token* (AES-256-GCM, random nonce) for the few places that must show or export the number to an authorised
  user. Tokens carry a version prefix (``v1:``) so the key or scheme can be rotated later.

All keys are derived from the platform master key (``XINYONG_SECRET_KEY``) with HKDF; the master key itself is not
kept by the vault.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Callable
from threading import Lock

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from xinyong.identifiers import names, orgcode, resident_id, uscc

VERSION = "v1"
_SALT = b"xinyong.identifiers.vault"
_NONCE_BYTES = 12
_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _derive(key: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=info.encode()).derive(key)


def _normalize_resident_id(value: str) -> str:
    n = resident_id.compact(value)
    return resident_id.to_18(n) if len(n) == 15 and n.isdigit() else n


def _normalize_generic(value: str) -> str:
    return "".join(unicodedata.normalize("NFKC", value).split()).casefold()


#: How each purpose's value is normalised before hashing, so that ``110105491231002`` and ``11010519491231002x``
#: give the same hash. Other purposes get the generic form (NFKC, no whitespace, case-folded).
NORMALIZERS: dict[str, Callable[[str], str]] = {
    "resident_id": _normalize_resident_id,
    "uscc": uscc.compact,
    "org_code": orgcode.compact,
    "person_name": names.normalize_person_name,
    "org_name": names.normalize_org_name,
    "phone": lambda v: "".join(ch for ch in unicodedata.normalize("NFKC", v) if ch.isdigit()),
}


class Vault:
    """Derives and holds the personal-data keys. Thread-safe; cheap to use once built."""

    def __init__(self, master_key: bytes) -> None:
        if not isinstance(master_key, bytes | bytearray) or len(master_key) < 16:
            raise ValueError("主密钥至少需要16字节")
        self._lookup_root = _derive(bytes(master_key), "xinyong/lookup")
        self._aead = AESGCM(_derive(bytes(master_key), f"xinyong/encrypt/{VERSION}"))
        self._lookup_keys: dict[str, bytes] = {}
        self._lock = Lock()

    def __repr__(self) -> str:
        return "Vault(<keys hidden>)"

    def _lookup_key(self, purpose: str) -> bytes:
        key = self._lookup_keys.get(purpose)
        if key is None:
            if not _PURPOSE.fullmatch(purpose):
                raise ValueError(f"用途名应为小写字母、数字和下划线：{purpose!r}")
            with self._lock:
                key = self._lookup_keys.setdefault(purpose, _derive(self._lookup_root, purpose))
        return key

    def normalize(self, value: str, *, purpose: str = "resident_id") -> str:
        """The form of ``value`` that :meth:`lookup_hash` hashes."""
        return NORMALIZERS.get(purpose, _normalize_generic)(value)

    def lookup_hash(self, value: str, *, purpose: str = "resident_id") -> str:
        """HMAC-SHA256 (hex) of the normalised value with the purpose's own key; deterministic."""
        key = self._lookup_key(purpose)
        return hmac.new(key, self.normalize(value, purpose=purpose).encode(), hashlib.sha256).hexdigest()

    def encrypt(self, value: str, *, associated_data: str | None = None) -> str:
        """``v1:<base64url(nonce | ciphertext | tag)>``. ``associated_data`` (e.g. the row's table and id) is
        authenticated but not stored: the same value must be given to :meth:`decrypt`."""
        nonce = os.urandom(_NONCE_BYTES)
        aad = associated_data.encode() if associated_data is not None else None
        sealed = self._aead.encrypt(nonce, value.encode(), aad)
        return f"{VERSION}:" + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, *, associated_data: str | None = None) -> str:
        """The value sealed in ``token``. Raises :class:`ValueError` if the token is malformed, of an unknown
        version, tampered with, or sealed with another key or associated data."""
        version, sep, body = (token or "").partition(":")
        if not sep:
            raise ValueError("密文格式无效")
        if version != VERSION:
            raise ValueError(f"不支持的密文版本：{version!r}")
        try:
            blob = base64.urlsafe_b64decode(body.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError("密文格式无效") from exc
        if len(blob) < _NONCE_BYTES + 16:
            raise ValueError("密文格式无效")
        aad = associated_data.encode() if associated_data is not None else None
        try:
            plain = self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise ValueError("密文校验失败：已被篡改，或密钥、关联数据不符") from exc
        return plain.decode()


_cached: tuple[object, Vault] | None = None


def get_vault() -> Vault:
    """The platform's vault, built from ``get_settings().master_key`` and rebuilt when the settings are reset."""
    global _cached
    # lazy: the settings load pydantic-settings (~0.15 s), which `xinyong validate` does without
    from xinyong.core.settings import get_settings

    settings = get_settings()
    cached = _cached
    if cached is None or cached[0] is not settings:
        cached = (settings, Vault(settings.master_key))
        _cached = cached
    return cached[1]

"""Natural persons' ID numbers as the receiver's format requires: ``masked`` (the default), ``hashed`` or ``clear``.

The platform never stores a clear ID number outside the subject's sealed copy (``subjects.resident_id_enc``): the
feed's payloads, the record versions and the list entries hold them masked, and so does every rendered row. The
receiver's setting (``XINYONG_EXCHANGE_ID_MODE``) is applied **only to the push body, at send time**
(:func:`apply`, called by ``exchange.push`` on the rendered batch, which lives in memory until the HTTP call):

- ``masked`` — as stored (``410882********123X``);
- ``hashed`` — ``HMAC-SHA256(XINYONG_EXCHANGE_ID_HASH_KEY, normalised ID)`` in hex: the receiver, holding the
  shared key, matches persons without receiving the number; without the key the mode refuses to run;
- ``clear`` — decrypted from the subject's sealed copy for the body and nowhere else: not in the outbox at rest,
  the receipts, the error texts (:func:`scrub` masks any ID number a receiver echoes back) or the logs.

Which columns: the party's 证件号码 of a natural person's licence or penalty (``XK_XDR_ZJHM`` / ``CF_XDR_ZJHM``),
主体代码 of a natural person's list entry, 承诺人代码 of a natural person's commitment. A legal representative's
ID number (``…_FR_ZJHM``) stays masked in every mode: the platform keeps no clear copy of it. Only the messages the
catalog lets be shared exist in the first place (``exchange.producers``: natural persons' data only where the
class's ``natural_person_attribute`` is not ``restricted``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.core.errors import ConfigurationError, ValidationFailed
from xinyong.identifiers.masking import mask_resident_id
from xinyong.identifiers.vault import get_vault
from xinyong.subjects.models import Subject

IdMode = Literal["masked", "hashed", "clear"]
MODES: tuple[str, ...] = ("masked", "hashed", "clear")
NATURAL_PERSON = "natural_person"

#: The column of a natural person's ID number, per message kind.
COLUMNS = {"licence": "XK_XDR_ZJHM", "penalty": "CF_XDR_ZJHM", "list_entry": "主体代码", "commitment": "承诺人代码"}

_ID_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9Xx])")


def scrub(text: str) -> str:
    """``text`` with every string that looks like an ID number masked (what a receiver echoes back in an error
    or a rejection is stored and shown only so)."""
    return _ID_IN_TEXT.sub(lambda m: mask_resident_id(m.group(1)), text or "")


def check_mode(mode: str, hash_key: str | None) -> IdMode:
    if mode not in MODES:
        raise ValidationFailed(f"身份证号码传输方式应为 {'、'.join(MODES)} 之一：{mode!r}", code="bad_id_mode")
    if mode == "hashed" and not hash_key:
        raise ConfigurationError(
            "哈希方式须配置与省级平台约定的密钥（XINYONG_EXCHANGE_ID_HASH_KEY）", code="exchange_id_hash_key_missing"
        )
    return mode  # type: ignore[return-value]


def hashed(number: str, key: str) -> str:
    normalised = get_vault().normalize(number, purpose="resident_id")
    return hmac.new(key.encode(), normalised.encode(), hashlib.sha256).hexdigest()


def apply(session: Session, items: Iterable[dict[str, Any]], *, mode: str, hash_key: str | None = None) -> int:
    """Put natural persons' ID numbers of rendered messages (``render.render_messages``) in the receiver's
    form, in place; returns how many were changed. ``masked`` changes nothing."""
    mode = check_mode(mode, hash_key)
    if mode == "masked":
        return 0
    items = [i for i in items if i.get("subject_id") is not None and COLUMNS.get(i["kind"]) in (i.get("row") or {})]
    wanted = sorted({int(i["subject_id"]) for i in items})
    sealed: dict[int, str] = {}
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        for sid, enc in session.execute(
            select(Subject.id, Subject.resident_id_enc).where(
                Subject.id.in_(chunk), Subject.kind == NATURAL_PERSON, Subject.resident_id_enc.is_not(None)
            )
        ):
            if enc:
                sealed[sid] = enc
    if not sealed:
        return 0
    vault = get_vault()
    changed = 0
    for item in items:
        enc = sealed.get(int(item["subject_id"]))
        if enc is None:
            continue  # not a natural person (a company's code is no personal data), or no sealed copy
        number = vault.decrypt(enc)
        item["row"][COLUMNS[item["kind"]]] = number if mode == "clear" else hashed(number, hash_key or "")
        changed += 1
    return changed

"""A record version's stored (compact) form and the one accessor that rebuilds its full form (issue #19).

A version is stored once, compactly: what its readers see is always the *full* form — ``content`` with every
field of the record (``records.upsert`` builds it; the content hash is taken of it), ``data`` with every column
the row carried, and ``changed_fields`` naming what changed from the previous version (all of ``content``'s keys
for a first version). Stored is what cannot be rebuilt:

- ``content`` without the fields equal to their default (``None``; ``{}`` for ``party_codes``, ``[]`` for
  ``penalty_types``, ``""`` for the text fields a row may leave empty). Should a content lack a field of
  :data:`CONTENT_FIELDS` (not written by this code), ``"-"`` holds the bits of the fields absent.
- ``data`` without the columns whose value is the same (same type, same value) as ``content``'s field of that
  name; ``"="`` holds the bits (over :data:`SHARED_FIELDS`) of the columns so left out.
- ``changed_fields`` of a first version ``[]``: "all of content's fields" (the upsert writes exactly that list).

The bits are positions in :data:`SHARED_FIELDS`: **append only** — a field added to the content goes at the end
(a version stored before it has no such field, and reads its default once this module knows it).

Every reader of ``RecordVersion.content`` / ``.data`` / ``.changed_fields`` gets the full form: ORM objects are
rebuilt by :func:`expand` as they are loaded or refreshed (``records.models`` listens to the ORM's ``load`` and
``refresh`` events: the full form becomes their loaded state, never written back); a query that selects the
columns themselves (``select(RecordVersion.content, …)``, raw SQL, JSON operators in SQL) reads the stored form
and passes it through :func:`full`.
Migration 0022_compact_versions rewrote the versions stored before in this form (downgrade: back in full).

**Packed** (issue #19, migration 0025_packed_versions): a version's two documents are stored as one ``packed``
value — ``[content, data]`` in the stored form above, as JSON, compressed by zlib with a preset dictionary — and its
``content`` / ``data`` columns are then NULL. The dictionary is named inside the packed bytes (zlib's header carries
its Adler-32 checksum, and zlib's trailer the checksum of the text, so a wrong dictionary is an error, never wrong
documents): :data:`BUILTIN_DICTIONARY` (in this code, frozen: the field names and the national formats' recurring
phrases), or one trained from the city's own versions and stored in ``version_dictionaries`` (``records.packing``,
which writes and reads them; a dictionary is never changed nor deleted). A version stored before, or written by
``xinyong demo --size`` in SQL, is *plain* (its documents in the columns) until ``xinyong records pack-versions``
packs it; readers accept both.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson
from sqlalchemy.orm.attributes import set_committed_value

#: The fields of a version's content, in the order ``records.upsert`` builds them, with the value a stored
#: content leaves out. ``domain`` (other classes) is in the content only when set: it has no default.
CONTENT_FIELDS: tuple[tuple[str, Any], ...] = (
    ("kind", None),
    ("party_name", None),
    ("party_kind", None),
    ("party_uscc", None),
    ("party_codes", {}),
    ("party_id_type", None),
    ("party_id_masked", None),
    ("legal_rep", None),
    ("legal_rep_id_masked", None),
    ("doc_no", ""),
    ("doc_no_norm", ""),
    ("decision_date", None),
    ("authority", ""),
    ("authority_uscc", ""),
    ("source_unit", ""),
    ("source_unit_uscc", ""),
    ("licence_valid_from", None),
    ("licence_valid_to", None),
    ("licence_category", None),
    ("current_status_valid", None),
    ("penalty_types", []),
    ("fine_wan", None),
    ("confiscated_wan", None),
    ("penalty_valid_to", None),
    ("publicity_end", None),
    ("severity", None),
)

#: The content fields a data column may share with the content (bit ``i`` of ``data["="]``). Append only.
SHARED_FIELDS: tuple[str, ...] = (*(k for k, _ in CONTENT_FIELDS), "domain")

#: Reserved keys of the stored form (never a content field or a column key of a standard).
ABSENT, SHARED = "-", "="

_DEFAULTS = dict(CONTENT_FIELDS)
_MUTABLE_DEFAULTS = tuple(k for k, d in CONTENT_FIELDS if type(d) is list or type(d) is dict)
_BIT = {k: 1 << i for i, k in enumerate(SHARED_FIELDS)}
_CONTENT_BITS = tuple((k, d, 1 << i) for i, (k, d) in enumerate(CONTENT_FIELDS))
_SHARED_BITS = tuple((k, 1 << i) for i, k in enumerate(SHARED_FIELDS))
_MISSING = object()


#: Finds a dictionary's bytes by its checksum in the database (``records.models.dictionary_loader``); None if absent.
Loader = Callable[[int], bytes | None]


class Full(NamedTuple):
    """A version's full form."""

    content: dict[str, Any]
    data: dict[str, Any]
    changed_fields: list[str]


def _same(a: Any, b: Any) -> bool:
    """Equal as stored JSON: same type and value (``1`` is not ``True`` nor ``1.0``; containers compared as text)."""
    kind = type(a)
    if kind is not type(b) or a != b:
        return False
    return (kind is not list and kind is not dict) or orjson.dumps(a) == orjson.dumps(b)


def _copy(value: Any) -> Any:
    return list(value) if type(value) is list else dict(value) if type(value) is dict else value


# Writing --------------------------------------------------------------------------------------------------------


def compact_content(content: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a full content: fields at their default left out (and the absent ones marked)."""
    out: dict[str, Any] = {}
    absent = 0
    for key, default, bit in _CONTENT_BITS:  # the defaults are all None or empty ("", {}, [])
        value = content.get(key, _MISSING)
        if value is _MISSING:
            absent |= bit
        elif value is None:
            if default is not None:
                out[key] = None
        elif value or type(value) is not type(default):
            out[key] = value
    for key, value in content.items():
        if key not in _DEFAULTS:
            if key == ABSENT:
                raise ValueError(f"a version's content cannot have a field named {ABSENT!r}")
            out[key] = value
    if absent:
        out[ABSENT] = absent
    return out


def compact_data(content: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a full ``data`` next to its full ``content``: the columns equal to content's left out."""
    out: dict[str, Any] = {}
    shared = 0
    for key, value in data.items():
        bit = _BIT.get(key)
        if bit is not None and _same(content.get(key, _MISSING), value):
            shared |= bit
        elif key == SHARED:
            raise ValueError(f"a version's data cannot have a column named {SHARED!r}")
        else:
            out[key] = value
    if shared:
        out[SHARED] = shared
    return out


def compact_changed_fields(version_no: int, changed_fields: list[str], content: dict[str, Any]) -> list[str]:
    """``[]`` for a first version listing all of its (full) content's fields; otherwise the list as it is. A first
    version listing nothing cannot be stored (it would read as "all"): no writer makes one."""
    if version_no == 1:
        if not changed_fields:
            raise ValueError("a first version's changed fields cannot be empty ([] stands for all of them)")
        if changed_fields == sorted(content):
            return []
    return changed_fields


def compact(
    version_no: int, content: dict[str, Any], data: dict[str, Any], changed_fields: list[str]
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The stored form of a full version: ``(content, data, changed_fields)``."""
    return (
        compact_content(content),
        compact_data(content, data),
        compact_changed_fields(version_no, changed_fields, content),
    )


# Reading --------------------------------------------------------------------------------------------------------


def full_content(stored: dict[str, Any]) -> dict[str, Any]:
    """The full content of a stored one (a full content is returned equal to itself)."""
    out = dict(_DEFAULTS)  # the fields in order, then the stored values in place (other fields after them)
    for key in _MUTABLE_DEFAULTS:
        out[key] = _copy(out[key])
    out.update(stored)
    absent = out.pop(ABSENT, 0)
    if absent:
        for key, _, bit in _CONTENT_BITS:
            if absent & bit:
                del out[key]
    return out


def full_data(content: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The full data of a stored one, next to the version's *full* content."""
    shared = stored.get(SHARED, 0)
    if not shared:
        return stored
    out = {key: _copy(content[key]) for key, bit in _SHARED_BITS if shared & bit}
    out.update((k, v) for k, v in stored.items() if k != SHARED)
    return out


def full_changed_fields(version_no: int, stored: list[str], content: dict[str, Any]) -> list[str]:
    return sorted(content) if version_no == 1 and not stored else stored


def full(
    version_no: int,
    content: dict[str, Any] | None,
    data: dict[str, Any] | None,
    changed_fields: list[str],
    packed: bytes | None = None,
    load: Loader | None = None,
) -> Full:
    """A version's full form from its stored columns (any of them may already be full: the result is the same).
    A packed version (``packed`` not None; ``content`` and ``data`` then NULL) is unpacked first, its dictionary
    found by :func:`documents`."""
    content, data = documents(content, data, packed, load)
    whole = full_content(content)
    return Full(whole, full_data(whole, data), full_changed_fields(version_no, changed_fields, whole))


_EXPANDED = ("version_no", *Full._fields, "packed")


def expand(version: Any, load: Loader | None = None) -> Any:
    """Rebuild a loaded ORM ``RecordVersion`` in place, as its loaded state (nothing is written back). Idempotent;
    a version whose columns are not all loaded is left until they are (the next ``refresh``). A packed version's
    ``content`` and ``data`` become its unpacked full documents (``packed`` stays as stored)."""
    loaded = version.__dict__
    if all(name in loaded for name in _EXPANDED):
        packed = loaded["packed"]
        if packed is not None and loaded["content"] is not None:
            packed = None  # already unpacked (expanded before)
        whole = full(loaded["version_no"], loaded["content"], loaded["data"], loaded["changed_fields"], packed, load)
        for name, value in zip(Full._fields, whole, strict=True):
            set_committed_value(version, name, value)
    return version


# Packing --------------------------------------------------------------------------------------------------------

#: The dictionary of a version packed before any is trained: the national formats' document skeletons (a licence's
#: and a penalty's, keys in the writer's order) after the phrases that recur in decisions — no city's data.
#: **Frozen**: a packed version names its dictionary by checksum, so changing one byte here would make every version
#: packed with it unreadable (tests/records/test_packing.py pins its checksum).
BUILTIN_DICTIONARY: bytes = (
    "行政许可决定书准予行政许可决定书食品经营许可证营业执照有限责任公司股份有限公司分公司个体工商户合作社商贸贸易科技"
    "建设工程餐饮药品医疗器械生产经营销售行政处罚决定书没收违法所得、没收非法财物没收违法所得暂扣许可证件吊销许可证件"
    "降低资质等级限制开展生产经营活动责令停产停业责令关闭限制从业行政拘留通报批评警告罚款违反了《中华人民共和国"
    "依据《中华人民共和国条例》第办法》第规定》第法》第条第款第项之规定的规定经查，当事人当事人上述行为决定处以元万元"
    "市场监督管理局生态环境局税务局应急管理局住房和城乡建设局交通运输局卫生健康委员会人力资源和社会保障局城市管理局"
    "文化广电和旅游局农业农村局自然资源和规划局公安局消防救援支队行政审批服务局人民政府街道办事处综合行政执法局监管局"
    "分局支队大队"
    '"party_kind":"individual_business","party_kind":"natural_person","party_id_type":"身份证","party_id_masked":"'
    '[{"kind":"licence","party_name":"有限公司","party_kind":"legal_person","party_uscc":"91","legal_rep":"",'
    '"doc_no":"","doc_no_norm":"","decision_date":"20","authority":"市","authority_uscc":"11","source_unit":"市",'
    '"source_unit_uscc":"11","licence_valid_from":"20","licence_valid_to":"20","licence_category":"普通",'
    '"current_status_valid":true,"severity":"general"},{"decision_title":"","project_name":"","certificate_name":"",'
    '"licence_no":"","licence_content":"","remarks":"","=":0}]'
    '[{"kind":"penalty","party_name":"有限公司","party_kind":"legal_person","party_uscc":"91","legal_rep":"",'
    '"doc_no":"","doc_no_norm":"","decision_date":"20","authority":"市","authority_uscc":"11","source_unit":"市",'
    '"source_unit_uscc":"11","current_status_valid":true,"penalty_types":["罚款"],"fine_wan":"","confiscated_wan":"",'
    '"penalty_valid_to":"20","publicity_end":"20","severity":"general"},{"case_name":"",'
    '"violation_type":"违反《中华人民共和国","facts":"经查，当事人","basis":"《中华人民共和国",'
    '"penalty_types":["罚款","没收违法所得"],"penalty_content":"罚款。","remarks":"","=":0}]'
).encode()

#: zlib's level and memory level for packing: level 6 is zlib's default; memory level 5 packs these short documents
#: as small as 8 does, and its smaller state is copied faster (:class:`Packer`). A 32 KB dictionary fills the window.
LEVEL, MEM_LEVEL = 6, 5
#: The largest useful dictionary: zlib looks back 32 KB at most.
MAX_DICTIONARY = 32 * 1024


def checksum(dictionary: bytes) -> int:
    """The Adler-32 checksum zlib writes into a stream packed with ``dictionary`` (its name in packed bytes)."""
    return zlib.adler32(dictionary)


def dictionary_of(packed: bytes) -> int:
    """The checksum of the dictionary ``packed`` was packed with (RFC 1950: the DICTID after the two header bytes)."""
    if len(packed) < 6 or not packed[1] & 0x20:
        raise ValueError("not a packed version (no preset dictionary in its zlib header)")
    return int.from_bytes(packed[2:6], "big")


class Packer:
    """Packs versions' documents with one dictionary: ``id`` (0: the built-in one) and its bytes. The compressor
    primed with the dictionary is copied for each version (≈ 15 µs) instead of being primed again (≈ 50 µs)."""

    def __init__(self, dictionary_id: int, dictionary: bytes) -> None:
        if not dictionary or len(dictionary) > MAX_DICTIONARY:
            raise ValueError(f"a dictionary has 1 to {MAX_DICTIONARY} bytes, not {len(dictionary)}")
        self.id = dictionary_id
        self.dictionary = dictionary
        self.checksum = checksum(dictionary)
        self.dictid = self.checksum.to_bytes(4, "big")  # as the zlib header of what it packs names it
        self._primed = zlib.compressobj(LEVEL, zlib.DEFLATED, 15, MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, dictionary)

    def pack(self, content: dict[str, Any], data: dict[str, Any]) -> bytes:
        """The packed form of a version's *stored* (compact) ``content`` and ``data``."""
        return self.pack_text(dumps_documents(content, data))

    def packed_it(self, packed: bytes) -> bool:
        """Whether ``packed`` was packed with this dictionary (:func:`dictionary_of`, without the checks)."""
        return packed[2:6] == self.dictid

    def pack_text(self, text: bytes) -> bytes:
        """The packed form of :func:`dumps_documents`' text."""
        c = self._primed.copy()
        return c.compress(text) + c.flush()


def dumps_documents(content: dict[str, Any], data: dict[str, Any]) -> bytes:
    """The text a version's stored documents are packed as: ``[content, data]`` in JSON."""
    return orjson.dumps((content, data))


def unpack(packed: bytes, dictionary: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(content, data)`` as stored (compact) from packed bytes and their dictionary (:func:`dictionary_of`).
    Raises ``zlib.error`` if the dictionary or the bytes are not the ones packed."""
    d = zlib.decompressobj(15, dictionary)
    raw = d.decompress(packed)
    if not d.eof or d.unused_data:
        raise zlib.error("a packed version is truncated or has bytes after its end")
    content, data = orjson.loads(raw)
    return content, data


#: Dictionaries by checksum, as found (they never change): the built-in one, then those a loader returned.
_KNOWN: dict[int, bytes] = {checksum(BUILTIN_DICTIONARY): BUILTIN_DICTIONARY}


def remember(dictionary: bytes) -> int:
    """Keep ``dictionary`` for unpacking in this process; its checksum."""
    key = checksum(dictionary)
    _KNOWN[key] = dictionary
    return key


def documents(
    content: dict[str, Any] | None, data: dict[str, Any] | None, packed: bytes | None, load: Loader | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A version's stored ``(content, data)``: its columns, or unpacked when ``packed``. The dictionary is one this
    process knows (:func:`remember`) or ``load`` finds; a packed version whose dictionary is in neither is an error
    (``LookupError``), as is a plain one without its documents."""
    if packed is None:
        if content is None or data is None:
            raise ValueError("a version is either packed or has its content and data")
        return content, data
    key = dictionary_of(packed)
    dictionary = _KNOWN.get(key)
    if dictionary is None and load is not None:
        dictionary = load(key)
        if dictionary is not None:
            _KNOWN[key] = dictionary
    if dictionary is None:
        raise LookupError(f"the dictionary {key:#010x} a version was packed with is not in this database")
    return unpack(packed, dictionary)

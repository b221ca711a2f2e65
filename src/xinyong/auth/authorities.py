"""The authority rule: a department submits only decisions of the authorities it reports for. Pure: no database.

A decision names its deciding authority (处罚机关 / 许可机关 of a 双公示 row, 认定机关 of a list entry, 承诺受理单位
of a commitment) by name and, usually, by USCC. Without this rule any department's token could publish a
decision in another department's name, and the real authority would then be refused its own decision (the record
belongs to whoever submitted it first). The authorities a department reports for are:

- the department itself: its USCC, under its name or its short name (always, nothing to register);
- the units the platform admin registered for it (``auth.models.DepartmentAuthority``: a subordinate unit's USCC
  and name), e.g. a 分局 whose decisions the department collects.

How a decision's authority is matched (:meth:`Authorities.check`):

- with a USCC: the code must be one of the department's authorities [``authority_not_registered``], and the name,
  when given, must agree with the name that code is registered under [``authority_name_mismatch``] — a known code
  under another authority's name would still publish the decision under that other name;
- with a name only (2016-format files have no USCC column for the authority): the name must be one of the
  department's authorities' names [``authority_not_registered``];
- with neither: nothing to check here (the row's own validation requires the authority).

Names are compared by their matching key (``identifiers.names.normalize_org_name``: full-width/half-width,
brackets, spaces), never by similarity: an authority name is an official name, not free text.

The set is loaded once per batch (``auth.service.authorities_of``) and handed to the row side, which checks each
row without touching the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from xinyong.identifiers.names import normalize_org_name

NOT_REGISTERED = "authority_not_registered"
NAME_MISMATCH = "authority_name_mismatch"
#: Results remembered per (name, code) pair: a file repeats its few authorities on every row.
_MEMO_SIZE = 1024
_UNKNOWN = object()


@dataclass(frozen=True)
class Authority:
    """One authority a department reports for: its USCC and the names a decision may write it under."""

    uscc: str
    name: str
    own: bool = False  # the department itself
    aliases: tuple[str, ...] = ()  # the department's short name


@dataclass(frozen=True)
class Problem:
    """Why a decision's authority is refused: a stable code, which of the two cells is wrong (``uscc`` or
    ``name``) and a Chinese message naming the authority and who can register it."""

    code: str
    field: str
    message: str


@dataclass
class Authorities:
    """The authorities of one department (see the module's docstring for the rule)."""

    department_name: str
    items: tuple[Authority, ...]
    #: An external source (``Department.external``, the 省平台): it forwards decisions of any authority, each kept
    #: under its own deciding authority; nothing is refused here.
    open: bool = False
    _by_uscc: dict[str, Authority] = field(init=False, repr=False)
    _by_name: dict[str, Authority] = field(init=False, repr=False)
    _memo: dict[tuple[str | None, str | None, str], object] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._by_uscc = {a.uscc: a for a in self.items}
        self._by_name = {}
        for a in self.items:
            for name in (a.name, *a.aliases):
                key = normalize_org_name(name)
                if key:
                    self._by_name.setdefault(key, a)

    @classmethod
    def of(
        cls,
        *,
        department_name: str,
        department_uscc: str,
        short_name: str | None = None,
        registered: Iterable[tuple[str, str]] = (),
    ) -> Authorities:
        """The department itself plus its registered ``(uscc, name)`` pairs."""
        own = Authority(department_uscc, department_name, own=True, aliases=(short_name,) if short_name else ())
        return cls(department_name, (own, *(Authority(u, n) for u, n in registered)))

    @property
    def usccs(self) -> frozenset[str]:
        return frozenset(self._by_uscc)

    def find(self, *, name: str | None = None, uscc: str | None = None) -> Authority | None:
        """The authority a decision names, when it is one of the department's and its name agrees."""
        if self.open or self.check(name=name, uscc=uscc) is not None:
            return None
        code = (uscc or "").strip().upper()
        if code:
            return self._by_uscc[code]
        return self._by_name.get(normalize_org_name(name)) if name and name.strip() else None

    def check(self, *, name: str | None, uscc: str | None, label: str = "决定机关") -> Problem | None:
        """None when the decision's authority (``name``, normalised ``uscc``) is one of the department's;
        else the :class:`Problem`. ``label`` is the field as the message should call it (处罚机关, 认定机关 …)."""
        if self.open:
            return None
        key = (name, uscc, label)
        problem = self._memo.get(key, _UNKNOWN)
        if problem is not _UNKNOWN:
            return problem  # type: ignore[return-value]
        problem = self._check((name or "").strip() or None, (uscc or "").strip().upper() or None, label)
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = problem
        return problem

    def _check(self, name: str | None, uscc: str | None, label: str) -> Problem | None:
        dept = self.department_name
        register = "如该机关的信息确由本部门报送，请平台管理员为本部门登记该机关（只有平台管理员可以登记）"
        if uscc is not None:
            found = self._by_uscc.get(uscc)
            shown = f"「{name}」（统一社会信用代码 {uscc}）" if name else f"统一社会信用代码 {uscc}"
            if found is None:
                return Problem(
                    NOT_REGISTERED,
                    "uscc",
                    f"{label}{shown}不是{dept}可报送的机关：部门只能报送本部门及平台管理员为其登记的"
                    f"下属单位的数据。请核对{label}；{register}",
                )
            if name is not None:
                given = normalize_org_name(name)
                if all(given != normalize_org_name(n) for n in (found.name, *found.aliases)):
                    return Problem(
                        NAME_MISMATCH,
                        "name",
                        f"{label}「{name}」与统一社会信用代码 {uscc} 登记的机关名称「{found.name}」不一致："
                        f"请按登记的名称填写；机关名称已变更的，请平台管理员更新登记",
                    )
            return None
        if name is not None and normalize_org_name(name) not in self._by_name:
            return Problem(
                NOT_REGISTERED,
                "name",
                f"{label}「{name}」不是{dept}可报送的机关（未填写统一社会信用代码，按名称核对）：部门只能"
                f"报送本部门及平台管理员为其登记的下属单位的数据。请核对{label}；{register}",
            )
        return None

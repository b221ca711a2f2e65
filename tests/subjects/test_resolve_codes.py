"""``subjects.service.resolve_codes``: every code form, in bulk, chunked, a person's ID never in a statement."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import event, insert

from xinyong.auth.roles import system_principal
from xinyong.core.db import IN_CHUNK
from xinyong.identifiers import orgcode, resident_id, uscc
from xinyong.subjects.models import AliasScheme, Subject, SubjectAlias
from xinyong.subjects.service import (
    find_subject,
    register_organisation,
    register_person,
    resolve_code_ids,
    resolve_codes,
)

ACTOR = system_principal("test")


def _uscc(n: int) -> str:
    return uscc.make(authority="9", category="1", region="410882", org_body=f"{n + 20_000_000:08d}")


class _Statements:
    """Every statement the session sends, with its parameters."""

    def __init__(self, session) -> None:  # type: ignore[no-untyped-def]
        self.seen: list[tuple[str, str]] = []
        self.engine = session.get_bind()
        event.listen(self.engine, "before_cursor_execute", self._on)

    def _on(self, conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        self.seen.append((statement, repr(parameters)))

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on)


def test_each_code_form(session) -> None:  # type: ignore[no-untyped-def]
    code = _uscc(1)
    company = register_organisation(session, actor=ACTOR, name="沁阳市甲有限公司", code=code)
    reg_no, oc = "410882000012345", "12345678-" + orgcode.calc_check_digit("12345678")
    session.add_all(
        [
            SubjectAlias(subject_id=company.id, scheme=AliasScheme.REGISTRATION_NO, value=reg_no),
            SubjectAlias(subject_id=company.id, scheme=AliasScheme.ORG_CODE, value=orgcode.validate(oc).normalized),
        ]
    )
    number = resident_id.make(region="410882", birth_date=dt.date(1980, 1, 2), sequence=5)
    person = register_person(session, actor=ACTOR, name="张三", id_number=number)
    session.commit()
    legacy15 = number[:6] + number[8:17]
    codes = [
        code,
        " " + code.lower() + " ",
        reg_no,
        oc,
        number,
        legacy15,
        _uscc(2),
        "410882000099999",
        "nonsense",
        "",
        "  ",
    ]
    found = resolve_codes(session, codes)
    assert list(found) == list(dict.fromkeys(codes))
    assert found[code] is company and found[" " + code.lower() + " "] is company
    assert found[reg_no] is company and found[oc] is company
    assert found[number] is person and found[legacy15] is person
    assert all(found[c] is None for c in (_uscc(2), "410882000099999", "nonsense", "", "  "))
    ids = resolve_code_ids(session, codes)
    assert ids == {c: (s.id if s is not None else None) for c, s in found.items()}
    for c in codes:  # the one-code look-up is the same resolver
        assert find_subject(session, c) is found[c]


def test_person_found_by_hash_only(session) -> None:  # type: ignore[no-untyped-def]
    number = resident_id.make(region="410882", birth_date=dt.date(1985, 3, 4), sequence=17)
    person = register_person(session, actor=ACTOR, name="李四", id_number=number)
    session.commit()
    watch = _Statements(session)
    try:
        assert resolve_code_ids(session, [number]) == {number: person.id}
    finally:
        watch.close()
    assert watch.seen
    assert not any(number in statement or number in params for statement, params in watch.seen)


def test_chunks_past_the_bound(session) -> None:  # type: ignore[no-untyped-def]
    n = IN_CHUNK + 150
    session.execute(
        insert(Subject),
        [
            {"kind": "legal_person", "name": f"企业{i}", "name_norm": f"企业{i}", "uscc": _uscc(100 + i)}
            for i in range(n)
        ],
    )
    session.commit()
    codes = [_uscc(100 + i) for i in range(n)] + [_uscc(5_000 + i) for i in range(n)]
    watch = _Statements(session)
    try:
        ids = resolve_code_ids(session, codes)
    finally:
        watch.close()
    assert sum(v is not None for v in ids.values()) == n
    assert all(ids[c] is None for c in codes[n:])
    # USCCs in ceil(2n / IN_CHUNK) statements, the unknown ones again as aliases: never one per code
    assert len(watch.seen) <= 3 * -(-2 * n // IN_CHUNK)
    found = resolve_codes(session, codes[:n])
    assert {s.uscc for s in found.values() if s is not None} == set(codes[:n])

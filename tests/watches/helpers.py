"""Builders for the watches tests: subjects and receivers made through the real services, and a recording
mock transport standing in for the receiving business systems."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable

import httpx
from sqlalchemy.orm import Session

from tests.factories import default_department
from xinyong.auth.models import Department
from xinyong.auth.roles import system_principal
from xinyong.identifiers import resident_id, uscc
from xinyong.subjects import service as subjects
from xinyong.subjects.models import Subject
from xinyong.watches import service
from xinyong.watches.models import Receiver

ADMIN = system_principal("tests")
PERSON_ID = resident_id.make(region="410882", birth_date=dt.date(1985, 3, 9), sequence=77)


def company_uscc(n: int) -> str:
    """A valid enterprise USCC (91…) in the city."""
    return uscc.make(authority="9", category="1", region="410882", org_body=f"MA{n:06d}")


def make_org(session: Session, n: int, name: str | None = None) -> Subject:
    return subjects.register_organisation(
        session, actor=ADMIN, name=name or f"沁阳市测试{n}有限公司", code=company_uscc(n)
    )


def make_person(session: Session, id_number: str = PERSON_ID, name: str = "王小明") -> Subject:
    return subjects.register_person(session, actor=ADMIN, name=name, id_number=id_number)


def make_receiver(
    session: Session,
    *,
    department: Department | None = None,
    url: str = "https://bs.example/hook",
    event_types: list[str] | None = None,
    name: str = "审批系统",
) -> tuple[Receiver, str]:
    department = department or default_department(session)
    return service.create_receiver(
        session, actor=ADMIN, name=name, url=url, department_id=department.id, event_types=event_types
    )


def watch(session: Session, receiver: Receiver, *codes: str) -> dict:
    return service.subscribe(session, actor=ADMIN, receiver_id=receiver.id, codes=list(codes))


class Recorder:
    """A receiving system: records every request and answers with ``status`` (or a callable's answer)."""

    def __init__(self, status: int | Callable[[httpx.Request], httpx.Response] = 200) -> None:
        self.status = status
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        if callable(self.status):
            return self.status(request)
        return httpx.Response(self.status, text="" if self.status < 300 else "系统维护中")

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def bodies(self) -> list[dict]:
        return [json.loads(r.content) for r in self.requests]

"""Every integer a request carries is bounded in its schema: out of range is a 422 naming the parameter, never a 500.

Generic over the whole application (API, console, portal), so routes added later are covered: each integer path,
query and form parameter of every route is sent 2^63, 2^64 and −1 (the ids' and offsets' lower bounds are 1 and
0) as the platform admin (an API token; the console's session cookie and CSRF token for console routes), and must
be refused with 422 and an error located at that parameter; 2^63−1, the largest value a 64-bit column holds, must
not be a server error either (it reaches the database). Integer fields of JSON bodies are checked alike.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.params import Form
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel

from tests.factories import DEFAULT_PASSWORD, auth_headers, make_token, make_user
from xinyong.auth.roles import Role
from xinyong.core.bounds import BIGINT_MAX
from xinyong.core.db import Database
from xinyong.web.app import create_app

OUT_OF_RANGE = (2**63, 2**64, -1)
HTML = {"accept": "text/html"}
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _is_int(annotation: Any) -> bool:
    """int, int | None, Annotated[int, …] | None (bool is not an integer here)."""
    if annotation is int:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_int(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_int(a) for a in typing.get_args(annotation) if a is not type(None))
    return False


def _plausible(annotation: Any) -> str:
    """A value for the other path parameters: id 1, an enum's or Literal's first value, else a code."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return str(next(iter(annotation)).value)
    if typing.get_origin(annotation) is Literal:
        return str(typing.get_args(annotation)[0])
    if _is_int(annotation):
        return "1"
    return "x"


@dataclass(frozen=True)
class IntParam:
    method: str
    path: str
    url: str  # other path parameters filled in, this one as {value}
    where: str  # path / query / body (a form field)
    name: str

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} {self.where}:{self.name}"


def _params(dependant: Dependant) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """Path, query, form and JSON-body parameters of the route's whole dependency tree."""
    path, query, form, body = list(dependant.path_params), list(dependant.query_params), [], []
    for p in dependant.body_params:
        (form if isinstance(p.field_info, Form) else body).append(p)
    for sub in dependant.dependencies:
        sp, sq, sf, sb = _params(sub)
        path, query, form, body = path + sp, query + sq, form + sf, body + sb
    return path, query, form, body


def _collect() -> tuple[list[IntParam], list[tuple[str, str, type[BaseModel]]], list[IntParam]]:
    db = Database("sqlite:///:memory:")  # never connected: only the routing table is read
    try:
        app = create_app(db)
        params: list[IntParam] = []
        bodies: list[tuple[str, str, type[BaseModel]]] = []
        texts: list[IntParam] = []  # text path parameters (codes, refs that may be ids: "id-<n>", a department id)
        for ctx in iter_route_contexts(app.routes):
            if not isinstance(ctx.original_route, APIRoute):
                continue
            path_params, query, form, body = _params(ctx.dependant)
            for method in sorted(ctx.methods):
                for p in path_params:
                    if _is_int(p.field_info.annotation) or typing.get_origin(p.field_info.annotation) is Literal:
                        continue
                    values = {q.name: _plausible(q.field_info.annotation) for q in path_params} | {p.name: "{value}"}
                    url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m, values=values: values.get(m.group(1), "1"), ctx.path)
                    texts.append(IntParam(method, ctx.path, url, "path", p.name))
                for where, group in (("path", path_params), ("query", query), ("body", form)):
                    for p in group:
                        if not _is_int(p.field_info.annotation):
                            continue
                        values = {q.name: _plausible(q.field_info.annotation) for q in path_params}
                        values[p.name] = "{value}" if where == "path" else values.get(p.name, "")
                        url = re.sub(
                            r"\{(\w+)(?::\w+)?\}", lambda m, values=values: values.get(m.group(1), "1"), ctx.path
                        )
                        params.append(IntParam(method, ctx.path, url, where, p.name))
                for b in body:
                    model = b.field_info.annotation
                    for arg in (model, *typing.get_args(model)):
                        if isinstance(arg, type) and issubclass(arg, BaseModel):
                            values = {q.name: _plausible(q.field_info.annotation) for q in path_params}
                            url = re.sub(
                                r"\{(\w+)(?::\w+)?\}", lambda m, values=values: values.get(m.group(1), "1"), ctx.path
                            )
                            bodies.append((method, url, arg))
        return params, bodies, texts
    finally:
        db.dispose()


PARAMS, BODIES, TEXTS = _collect()


def test_the_walk_found_the_integer_parameters() -> None:
    """The collection itself can fail: known parameters of the API, the console and a form must be among them."""
    found = {(p.path, p.where, p.name) for p in PARAMS}
    assert {
        ("/api/v1/ingest/batches/{batch_id}", "path", "batch_id"),
        ("/api/v1/ingest/batches", "query", "offset"),
        ("/console/cases/{case_id}", "path", "case_id"),
        ("/api/v1/ingest/files", "body", "department_id"),
        ("/console/trading", "query", "analysis_id"),
    } <= found
    assert len(PARAMS) > 100 and len({p.path for p in PARAMS}) > 70


@pytest.fixture
def admin(client: TestClient, session: Any) -> dict[str, str]:
    """API headers of an admin token; the client also holds an admin's console session and a CSRF token."""
    make_user(session, username="chief", role=Role.ADMIN)
    page = client.get("/console/login", headers=HTML)
    csrf = TOKEN_RE.search(page.text).group(1)
    resp = client.post(
        "/console/login",
        data={"username": "chief", "password": DEFAULT_PASSWORD, "next": "/console", "csrf_token": csrf},
        headers=HTML,
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text[:300]
    csrf = TOKEN_RE.search(client.get("/console", headers=HTML).text).group(1)
    return {**auth_headers(make_token(session, Role.ADMIN)), "X-CSRF-Token": csrf}


def _send(client: TestClient, p: IntParam, value: int | str, headers: dict[str, str]) -> Any:
    url = p.url.replace("{value}", str(value))
    kwargs: dict[str, Any] = {}
    if p.where == "query":
        kwargs["params"] = {p.name: str(value)}
    elif p.where == "body":
        kwargs["data"] = {p.name: str(value)}
    elif p.method in ("POST", "PUT", "PATCH", "DELETE"):
        kwargs["json"] = {}
    return client.request(p.method, url, headers=headers, follow_redirects=False, **kwargs)


def _located_at(resp: Any, where: str, name: str) -> bool:
    try:
        details = resp.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return False
    return any(d["location"][:2] == [where, name] for d in details)


def test_every_integer_parameter_is_bounded(client: TestClient, admin: dict[str, str]) -> None:
    problems = []
    for p in PARAMS:
        for value in OUT_OF_RANGE:
            resp = _send(client, p, value, admin)
            if resp.status_code != 422 or not _located_at(resp, p.where, p.name):
                problems.append(f"{p.id} = {value}: {resp.status_code} {resp.text[:160]}")
        resp = _send(client, p, BIGINT_MAX, admin)
        if resp.status_code >= 500:
            problems.append(f"{p.id} = 2^63-1: {resp.status_code} {resp.text[:160]}")
    assert not problems, f"{len(problems)} unbounded:\n" + "\n".join(problems)


def _int_fields(model: type[BaseModel]) -> list[str]:
    return [name for name, f in model.model_fields.items() if _is_int(f.annotation)]


def test_every_integer_body_field_is_bounded(client: TestClient, admin: dict[str, str]) -> None:
    """A JSON body's integer fields (ids, revisions, counts) carry their bounds too: 2^63 is refused at the field."""
    problems = []
    checked = 0
    for method, url, model in BODIES:
        for name in _int_fields(model):
            checked += 1
            resp = client.request(method, url, json={name: 2**63}, headers=admin)
            if resp.status_code != 422 or not _located_at(resp, "body", name):
                problems.append(f"{method} {url} body.{name} = 2^63: {resp.status_code} {resp.text[:160]}")
    assert checked > 10
    assert not problems, f"{len(problems)} unbounded:\n" + "\n".join(problems)


#: Digits a text parameter may be read as: past 2^63, negative, superscript and Arabic-Indic digits (``isdigit()``
#: is true, ``int()`` refuses or reads them), more digits than ``int()`` converts, the portal's ``id-<n>`` form.
ODD_DIGITS = ("99999999999999999999", "-1", "¹", "٣", "9" * 5000, "id-99999999999999999999", "id-¹", "id-" + "9" * 5000)


def test_text_path_parameters_that_look_like_numbers(client: TestClient, admin: dict[str, str]) -> None:
    """Codes and references (a department's id or code, a subject's USCC or ``id-<n>``) parsed from text: odd digits
    are a 4xx (not found, invalid), never an overflow or a conversion error answered with 500."""
    assert len(TEXTS) > 20
    problems = []
    for p in TEXTS:
        for value in ODD_DIGITS:
            resp = _send(client, p, value, admin)
            if resp.status_code >= 500:
                problems.append(f"{p.id} = {value[:30]}: {resp.status_code} {resp.text[:160]}")
    for url in (
        "/apply/objection?target_type=record&target_id=¹",
        "/apply/objection?target_type=record&target_id=" + "9" * 30,
        "/subject/id-¹",
        "/subject/id-99999999999999999999",
    ):
        resp = client.get(url, headers=HTML)
        if resp.status_code != 404:
            problems.append(f"GET {url[:60]}: {resp.status_code} {resp.text[:160]}")
    for month in ("9999-12", "0000-01", "2024-¹", "-1-1"):  # the console's monthly assessment
        for url in (f"/console/assessment?month={month}", f"/console/assessment.xlsx?month={month}"):
            resp = client.get(url, headers=HTML)
            if resp.status_code != 422:
                problems.append(f"GET {url}: {resp.status_code} {resp.text[:160]}")
    assert not problems, f"{len(problems)} server errors:\n" + "\n".join(problems)

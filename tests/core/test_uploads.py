"""The one upload path (core/uploads.py): bounded while it arrives, encrypted at rest, always removed, and taken
by every route that receives a file."""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
import time

import pytest
from fastapi import UploadFile
from fastapi.routing import APIRoute, iter_route_contexts

from tests.factories import auth_headers, make_department, make_token, register_authority
from tests.ingest import hostile
from tests.ingest.helpers import AUTHORITY, AUTHORITY_NAME
from tests.ingest.test_batches import rows, write_csv
from xinyong.auth.roles import Role, system_principal
from xinyong.core import uploads
from xinyong.core.settings import reset_settings

MARKER = b"PLAINTEXT-MARKER-" * 64


def test_spool_keeps_small_files_in_memory_and_large_ones_encrypted(tmp_path):
    small = uploads.Spool(limit=10_000, memory_bytes=4096, directory=tmp_path)
    small.write(b"abc")
    assert small.sha256() and not small.encrypted_on_disk and small.open().read() == b"abc"

    spool = uploads.Spool(limit=10_000_000, memory_bytes=4096, directory=tmp_path)
    data = MARKER * 200  # 217 KB: several chunks and a partial one
    for i in range(0, len(data), 7000):
        spool.write(data[i : i + 7000])
    spool.finish()
    assert spool.encrypted_on_disk
    assert list(tmp_path.iterdir()) == []  # the file has no name (O_TMPFILE, or unlinked at once)
    on_disk = os.pread(spool._fd, 1 << 20, 0)
    assert len(on_disk) >= len(data) and MARKER[:32] not in on_disk  # never in clear
    with spool.open() as a, spool.open() as b:
        assert a.read() == data
        b.seek(100_000)
        assert b.read(10) == data[100_000:100_010]
    import hashlib

    assert spool.sha256() == hashlib.sha256(data).hexdigest()
    fd = spool._fd
    spool.close()
    with pytest.raises(OSError):
        os.fstat(fd)  # closed: the kernel frees the anonymous file
    with pytest.raises(ValueError):
        spool.open()


def test_spool_refuses_past_its_limit():
    spool = uploads.Spool(limit=100, memory_bytes=10)
    spool.write(b"x" * 100)
    with pytest.raises(uploads.UploadTooLarge):
        spool.write(b"y")
    spool.close()


def test_sweep_removes_leftovers_of_dead_processes(tmp_path):
    dead = tmp_path / "upload-999999999-abc"
    mine = tmp_path / "upload-1-def"  # pid 1 is alive
    old_mine = tmp_path / "upload-1-old"
    for p in (dead, mine, old_mine):
        p.write_bytes(b"x")
    past = time.time() - uploads.STALE_SECONDS - 10
    os.utime(old_mine, (past, past))
    assert uploads.sweep(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name]


def test_the_app_sweeps_at_start_up(database):
    from xinyong.web.app import create_app

    directory = uploads.upload_dir()
    (directory / "upload-999999999-left").write_bytes(b"left by a killed server")
    create_app(database)
    assert list(directory.iterdir()) == []
    assert oct(directory.stat().st_mode & 0o777) == "0o700"


def test_every_route_that_receives_a_file_takes_the_one_path(database):
    from xinyong.web.app import create_app

    app = create_app(database)
    receiving = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        params = inspect.signature(route.endpoint).parameters.values()
        if any("UploadFile" in str(p.annotation) or p.annotation is UploadFile for p in params):
            receiving.append(ctx.path)
            assert isinstance(route, uploads.UploadRoute), ctx.path
    assert {
        "/api/v1/ingest/files",
        "/api/v1/subjects/imports",
        "/api/v1/lists/imports",
        "/api/v1/lists/syncs",
        "/api/v1/commitments/files",
        "/api/v1/analytics/trading/imports/{kind}",
        "/api/v1/analytics/food-drug/spot-checks",
        "/console/upload",
        "/api/v1/cases/{case_id}/documents",
    } <= set(receiving)


def _run_capturing(coro_fn, failure: list[BaseException]) -> None:  # type: ignore[no-untyped-def]
    try:
        asyncio.run(coro_fn())
    except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
        failure.append(exc)


def _asgi(app, path: str, headers: dict[str, str], body_chunks: list[bytes]):  # type: ignore[no-untyped-def]
    """Call the app directly, counting how much of the body it asked for."""
    asked = {"messages": 0}
    chunks = list(body_chunks)

    async def receive():  # type: ignore[no-untyped-def]
        asked["messages"] += 1
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    sent: list[dict] = []

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }

    async def run() -> None:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)

    # In a thread of its own: a session-wide Playwright browser (tests/browser) keeps an event loop running in this
    # worker's main thread, where asyncio.run() would refuse to start.
    failure: list[BaseException] = []
    thread = threading.Thread(target=lambda: _run_capturing(run, failure))
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, asked["messages"]


def test_413_on_a_declared_length_before_any_body_is_read(database, session):
    from xinyong.web.app import create_app

    token = make_token(session, Role.ADMIN)
    app = create_app(database)
    headers = {
        "content-type": "multipart/form-data; boundary=XYZ",
        "content-length": str(10 * 1024**3),
        **auth_headers(token),
    }
    for path in (
        "/api/v1/ingest/files",
        "/api/v1/subjects/imports",
        "/api/v1/lists/imports",
        "/api/v1/lists/syncs",
        "/api/v1/commitments/files",
        "/api/v1/analytics/trading/imports/bids",
        "/api/v1/analytics/food-drug/spot-checks",
    ):
        status, body, asked = _asgi(app, path, headers, [b"--XYZ\r\n"])
        assert status == 413 and b"file_too_large" in body, (path, body)
        assert asked == 0, path


def _multipart(boundary: str, name: str, chunks: int, chunk: bytes) -> list[bytes]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    return [head] + [chunk] * chunks + [f"\r\n--{boundary}--\r\n".encode()]


def test_413_while_a_body_without_length_arrives(database, session, monkeypatch):
    monkeypatch.setenv("XINYONG_UPLOAD_MAX_BYTES", str(256 * 1024))
    reset_settings()
    from xinyong.web.app import create_app

    token = make_token(session, Role.ADMIN)
    app = create_app(database)
    parts = _multipart("XYZ", "big.csv", 1000, b"x" * 65536)  # 64 MB offered, chunked
    status, body, asked = _asgi(
        app, "/api/v1/ingest/files", {"content-type": "multipart/form-data; boundary=XYZ", **auth_headers(token)}, parts
    )
    assert status == 413 and b"file_too_large" in body
    assert asked < 10  # stopped a few chunks past the limit, not at the end of the body


@pytest.fixture
def spools(monkeypatch):  # type: ignore[no-untyped-def]
    """Every spool the receiver makes in the test."""
    made: list[uploads.Spool] = []
    real = uploads.Spool.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        real(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(uploads.Spool, "__init__", init)
    return made


def test_upload_is_encrypted_then_removed_even_when_the_import_fails(client, session, tmp_path, spools, monkeypatch):
    from xinyong.catalog.service import seed_catalog
    from xinyong.ingest import service

    monkeypatch.setenv("XINYONG_UPLOAD_MEMORY_BYTES", "1024")
    reset_settings()
    seed_catalog(session, actor=system_principal("tests"))
    dept = make_department(session, code="scjgj")
    register_authority(session, dept, uscc=AUTHORITY, name=AUTHORITY_NAME)
    op = make_token(session, Role.DEPT_OPERATOR, dept)
    content = write_csv(tmp_path / "p.csv", rows(30)).read_bytes()
    seen = {}
    real = service.ingest_file

    def failing(session, **kwargs):  # type: ignore[no-untyped-def]
        spool = kwargs["path"].spool
        seen["encrypted"] = spool.encrypted_on_disk
        seen["plain_on_disk"] = content[:200] in os.pread(spool._fd, len(content) * 2, 0)
        seen["same"] = kwargs["path"].open().read() == content
        raise RuntimeError("the server dies in the middle of the import")

    monkeypatch.setattr(service, "ingest_file", failing)
    r = client.post("/api/v1/ingest/files", files={"file": ("p.csv", content, "text/csv")}, headers=auth_headers(op))
    assert r.status_code == 500
    assert seen == {"encrypted": True, "plain_on_disk": False, "same": True}
    assert spools and all(s.closed for s in spools)
    assert list(uploads.upload_dir().iterdir()) == []

    monkeypatch.setattr(service, "ingest_file", real)
    spools.clear()
    r = client.post("/api/v1/ingest/files", files={"file": ("p.csv", content, "text/csv")}, headers=auth_headers(op))
    assert r.status_code == 201 and r.json()["created"] == 30
    assert spools and all(s.closed for s in spools)


def test_an_empty_upload_is_refused(client, session):
    token = make_token(session, Role.ADMIN)
    r = client.post("/api/v1/subjects/imports", files={"file": ("e.csv", b"", "text/csv")}, headers=auth_headers(token))
    assert r.status_code == 422 and r.json()["error"]["code"] == "file_empty"


HTTP_ROUTES = [
    ("/api/v1/ingest/files", {"kind": "penalty", "department_id": "1"}),
    ("/api/v1/subjects/imports", {}),
    ("/api/v1/lists/imports", {"list_code": "market_serious_illegal"}),
    ("/api/v1/lists/syncs", {"list": "court_dishonest_debtor"}),
    ("/api/v1/commitments/files", {"department_id": "1"}),
    ("/api/v1/analytics/trading/imports/tenders", {}),
    ("/api/v1/analytics/food-drug/spot-checks", {}),
]


@pytest.mark.parametrize(
    "name,code",
    [
        ("zipcrypto", "xlsx_encrypted"),
        ("ole", "xlsx_encrypted"),
        ("corrupt", "xlsx_unreadable"),
        ("formula", None),
        ("huge", None),
    ],
)
def test_every_import_route_answers_hostile_files(client, session, tmp_path, name, code):
    from xinyong.catalog.service import seed_catalog
    from xinyong.lists.types import seed_list_types

    actor = system_principal("tests")
    seed_catalog(session, actor=actor)
    seed_list_types(session, actor=actor)
    dept = make_department(session, code="scjgj")
    register_authority(session, dept, uscc=AUTHORITY, name=AUTHORITY_NAME)
    admin = auth_headers(make_token(session, Role.ADMIN))
    path = tmp_path / f"{name}.xlsx"
    if name == "zipcrypto":
        hostile.zipcrypto_xlsx(path, [["主体名称"], ["x"]])
    elif name == "ole":
        hostile.ole_encrypted_xlsx(path)
    elif name == "corrupt":
        hostile.corrupt_zip(path)
    content = path.read_bytes() if path.exists() else b""
    for route, form in HTTP_ROUTES:
        if name in ("formula", "huge"):
            continue
        r = client.post(
            route, data=form, files={"file": (path.name, content, "application/octet-stream")}, headers=admin
        )
        assert r.status_code == 422, (route, r.text)
        assert r.json()["error"]["code"] == code, (route, r.text)
        assert "Excel" in r.json()["error"]["message"]
    if name == "formula":
        _formula_rows_over_http(client, admin, tmp_path)
    if name == "huge":
        _huge_cells_over_http(client, admin, tmp_path)


def _formula_rows_over_http(client, admin, tmp_path):  # type: ignore[no-untyped-def]
    """The importers that keep good rows report the formula row with its own code, each in its own summary."""
    data = rows(2)
    table = [list(data[0])] + [list(r.values()) for r in data]
    table[2][table[0].index("违法事实")] = "=A1"
    content = hostile.workbook_bytes(table)
    r = client.post(
        "/api/v1/ingest/files",
        data={"kind": "penalty", "department_id": "1"},
        files={"file": ("f.xlsx", content, "application/octet-stream")},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    assert r.json()["error_counts"].get("formula_no_value") == 1 and r.json()["accepted"] == 1
    registry = hostile.workbook_bytes(
        [["统一社会信用代码", "主体名称"], ["91410882MA00000001", "=B3"], ["91410882MA00000001", "沁阳市某某公司"]]
    )
    r = client.post(
        "/api/v1/subjects/imports", files={"file": ("r.xlsx", registry, "application/octet-stream")}, headers=admin
    )
    assert r.status_code == 201, r.text
    assert r.json()["problem_counts"].get("formula_no_value") == 1


def _huge_cells_over_http(client, admin, tmp_path):  # type: ignore[no-untyped-def]
    data = rows(3)
    header = list(data[0])
    path = hostile.huge_cell_csv(
        tmp_path / "h.csv",
        header,
        [list(r.values()) for r in data],
        row=1,
        column=header.index("违法事实"),
        size=2_000_000,
    )
    with path.open("rb") as fh:
        r = client.post(
            "/api/v1/ingest/files",
            data={"kind": "penalty", "department_id": "1"},
            files={"file": ("h.csv", fh, "text/csv")},
            headers=admin,
        )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (2, 1) and body["errors"][0]["code"] == "cell_too_long"
    assert len(r.content) < 64 * 1024

"""The /api/v1/auth routes over HTTP (both backends)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import (
    DEFAULT_PASSWORD,
    auth_headers,
    make_department,
    make_token,
    make_uscc,
    make_user,
)
from xinyong.auth import service
from xinyong.auth.models import User
from xinyong.auth.roles import Role

API = "/api/v1/auth"
SECRET_KEYS = {"password", "password_hash", "token_hash"}


def _keys(data: Any) -> set[str]:
    """Every key anywhere in a JSON document."""
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in _keys(v)}
    if isinstance(data, list):
        return {k for v in data for k in _keys(v)}
    return set()


def test_login_me_logout(session: Session, client: TestClient) -> None:
    dept = make_department(session, code="scjgj")
    user = make_user(session, username="zhangsan", role=Role.DEPT_OPERATOR, department=dept)
    resp = client.post(f"{API}/login", json={"username": "ZhangSan", "password": DEFAULT_PASSWORD})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token"].startswith("xy_") and body["token_type"] == "bearer"
    assert body["me"]["kind"] == "user" and body["me"]["user_id"] == user.id
    assert not _keys(body) & SECRET_KEYS
    headers = auth_headers(body["token"])
    me = client.get(f"{API}/me", headers=headers).json()
    assert me["role"] == "dept_operator" and me["role_label"] == "部门操作员"
    assert me["department"] == {"id": dept.id, "code": "scjgj", "name": dept.name}
    assert me["actor"] == f"user:{user.id}:zhangsan" and me["token_expires_at"] == body["expires_at"]
    assert client.post(f"{API}/logout", headers=headers).status_code == 204
    resp = client.get(f"{API}/me", headers=headers)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_token"


def test_login_failures_count_and_lock(session: Session, client: TestClient) -> None:
    user = make_user(session, username="zhangsan", role=Role.ADMIN)
    unknown = client.post(f"{API}/login", json={"username": "nobody", "password": "wrong-password-1"})
    assert unknown.status_code == 401
    for _ in range(service.MAX_FAILED_LOGINS):
        resp = client.post(f"{API}/login", json={"username": "zhangsan", "password": "wrong-password-1"})
        assert resp.status_code == 401
        assert resp.json() == unknown.json()  # same answer as for a user who does not exist
    # The failures were committed although every request failed: the account is now locked.
    session.expire_all()
    assert session.scalar(select(User.locked_until).where(User.id == user.id)) is not None
    resp = client.post(f"{API}/login", json={"username": "zhangsan", "password": DEFAULT_PASSWORD})
    assert resp.status_code == 401 and resp.json() == unknown.json()


def test_login_validates_body(client: TestClient) -> None:
    resp = client.post(f"{API}/login", json={"username": "x"})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "validation_failed"
    assert client.post(f"{API}/login", json={"username": "x", "password": "y", "role": "admin"}).status_code == 422


def test_bad_authorization_header(client: TestClient) -> None:
    for header in ("Basic abc", "Bearer ", "Bearer xy_unknown"):
        resp = client.get(f"{API}/me", headers={"Authorization": header})
        assert resp.status_code == 401
    assert client.get(f"{API}/me").status_code == 401


def test_departments(session: Session, client: TestClient) -> None:
    admin = auth_headers(make_token(session, Role.ADMIN))
    uscc = make_uscc(777)
    resp = client.post(
        f"{API}/departments",
        headers=admin,
        json={"code": "scjgj", "name": "沁阳市市场监督管理局", "uscc": uscc, "short_name": "市场监管局"},
    )
    assert resp.status_code == 201, resp.text
    dept = resp.json()
    assert (dept["code"], dept["uscc"], dept["active"]) == ("scjgj", uscc, True)
    again = client.post(
        f"{API}/departments", headers=admin, json={"code": "scjgj", "name": "另一局", "uscc": make_uscc()}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "department_code_taken"
    wrong_check = uscc[:17] + ("0" if uscc[17] != "0" else "1")
    bad = client.post(f"{API}/departments", headers=admin, json={"code": "ssj", "name": "税务局", "uscc": wrong_check})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_uscc"
    assert bad.json()["error"]["details"][0]["code"].startswith("uscc_")

    viewer = auth_headers(make_token(session, Role.BANK))
    listed = client.get(f"{API}/departments", headers=viewer)
    assert listed.status_code == 200 and [d["code"] for d in listed.json()] == ["scjgj"]
    assert client.get(f"{API}/departments/scjgj", headers=viewer).json()["id"] == dept["id"]
    assert client.get(f"{API}/departments/{dept['id']}", headers=viewer).json()["code"] == "scjgj"
    assert client.get(f"{API}/departments/nosuch", headers=viewer).status_code == 404

    patched = client.patch(f"{API}/departments/scjgj", headers=admin, json={"active": False, "reason": "机构改革"})
    assert patched.status_code == 200 and patched.json()["active"] is False
    assert client.get(f"{API}/departments", headers=viewer).json() == []
    assert len(client.get(f"{API}/departments?include_inactive=true", headers=viewer).json()) == 1


def test_users(session: Session, client: TestClient) -> None:
    admin = auth_headers(make_token(session, Role.ADMIN))
    make_department(session, code="scjgj")
    resp = client.post(
        f"{API}/users",
        headers=admin,
        json={
            "username": "lisi",
            "display_name": "李四",
            "password": DEFAULT_PASSWORD,
            "role": "dept_viewer",
            "department": "scjgj",
        },
    )
    assert resp.status_code == 201, resp.text
    user = resp.json()
    assert user["department_code"] == "scjgj" and not _keys(user) & SECRET_KEYS
    weak = client.post(
        f"{API}/users",
        headers=admin,
        json={
            "username": "wangwu",
            "display_name": "王五",
            "password": "short",
            "role": "bank",
            "organisation": "某银行",
        },
    )
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "weak_password"
    bad_role = client.post(
        f"{API}/users",
        headers=admin,
        json={"username": "wangwu", "display_name": "王五", "password": DEFAULT_PASSWORD, "role": "root"},
    )
    assert bad_role.status_code == 422

    listed = client.get(f"{API}/users?department=scjgj", headers=admin).json()
    assert [u["username"] for u in listed] == ["lisi"] and not _keys(listed) & SECRET_KEYS
    assert client.get(f"{API}/users/{user['id']}", headers=admin).json()["username"] == "lisi"

    login = client.post(f"{API}/login", json={"username": "lisi", "password": DEFAULT_PASSWORD}).json()
    new = client.put(
        f"{API}/users/{user['id']}/password", headers=admin, json={"password": "another-password-9", "reason": "遗忘"}
    )
    assert new.status_code == 200
    assert client.get(f"{API}/me", headers=auth_headers(login["token"])).status_code == 401  # session ended
    gone = client.post(f"{API}/users/{user['id']}/deactivate", headers=admin, json={"reason": "离职"})
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert client.post(f"{API}/login", json={"username": "lisi", "password": "another-password-9"}).status_code == 401


def test_operator_manages_own_department_tokens(session: Session, client: TestClient) -> None:
    a = make_department(session, code="depta")
    b = make_department(session, code="deptb")
    op_a = auth_headers(make_token(session, Role.DEPT_OPERATOR, a))
    b_token = make_token(session, Role.BUSINESS_SYSTEM, b)

    resp = client.post(
        f"{API}/tokens", headers=op_a, json={"name": "行政审批系统", "role": "business_system", "expires_in_days": 365}
    )
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["department_code"] == "depta" and created["token"].startswith("xy_")
    assert created["prefix"] == created["token"][:8] and "token_hash" not in created
    system_me = client.get(f"{API}/me", headers=auth_headers(created["token"])).json()
    assert (system_me["kind"], system_me["role"], system_me["department"]["code"]) == (
        "token",
        "business_system",
        "depta",
    )

    listed = client.get(f"{API}/tokens", headers=op_a).json()
    assert {t["department_code"] for t in listed} == {"depta"}
    assert created["id"] in [t["id"] for t in listed]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert created["token"] not in str(listed)

    for body in (
        {"name": "x", "role": "dept_operator"},
        {"name": "x", "role": "admin"},
        {"name": "x", "role": "business_system", "department": "deptb"},
    ):
        resp = client.post(f"{API}/tokens", headers=op_a, json=body)
        assert resp.status_code == 403, body

    assert client.delete(f"{API}/tokens/{created['id']}", headers=op_a).status_code == 422  # reason required
    revoked = client.delete(f"{API}/tokens/{created['id']}?reason=系统下线", headers=op_a)
    assert revoked.status_code == 200 and revoked.json()["revoked_reason"] == "系统下线"
    assert client.get(f"{API}/me", headers=auth_headers(created["token"])).status_code == 401
    assert client.get(f"{API}/me", headers=auth_headers(b_token)).status_code == 200


def test_admin_sees_all_tokens_and_sessions(session: Session, client: TestClient) -> None:
    admin = auth_headers(make_token(session, Role.ADMIN))
    make_token(session, Role.BANK, name="银行接口")
    make_user(session, username="zhangsan", role=Role.BANK)
    assert client.post(f"{API}/login", json={"username": "zhangsan", "password": DEFAULT_PASSWORD}).status_code == 200
    names = [t["name"] for t in client.get(f"{API}/tokens", headers=admin).json()]
    assert "银行接口" in names and not any(n.startswith("登录会话") for n in names)
    with_sessions = client.get(f"{API}/tokens?include_sessions=true", headers=admin).json()
    assert any(t["user_id"] for t in with_sessions)
    make_department(session, code="scjgj")
    resp = client.post(f"{API}/tokens", headers=admin, json={"name": "银行", "role": "bank", "department": "scjgj"})
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "department_not_allowed"

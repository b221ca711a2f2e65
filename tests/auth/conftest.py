"""Fixtures of the auth tests."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from xinyong.auth import service


@pytest.fixture(autouse=True)
def production_password_hasher(monkeypatch: pytest.MonkeyPatch) -> PasswordHasher:
    """Swap in argon2id with minimal cost for the test (the production parameters take ~150 ms a hash, too slow
    for many tests) and hand the production hasher to tests that check it."""
    original = service.PASSWORD_HASHER
    monkeypatch.setattr(service, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    return original

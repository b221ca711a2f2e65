"""Fixtures shared by the ingest tests."""

from __future__ import annotations

import pytest

from tests.factories import make_department
from xinyong.auth.roles import system_principal
from xinyong.catalog.service import seed_catalog


@pytest.fixture
def dept(session):
    """A seeded catalog and the market regulator's department (committed)."""
    seed_catalog(session, actor=system_principal("tests"))
    d = make_department(session, code="scjgj")
    session.commit()
    return d

"""Fixtures shared by the ingest tests."""

from __future__ import annotations

import pytest

from tests.factories import make_department, register_authority
from tests.ingest.helpers import AUTHORITY, AUTHORITY_NAME
from xinyong.auth.roles import system_principal
from xinyong.catalog.service import seed_catalog


@pytest.fixture
def dept(session):
    """A seeded catalog and the market regulator's department (committed), registered for the authority the
    rows of ``tests.ingest.helpers`` name (处罚机关 / 许可机关)."""
    seed_catalog(session, actor=system_principal("tests"))
    d = make_department(session, code="scjgj")
    register_authority(session, d, uscc=AUTHORITY, name=AUTHORITY_NAME)
    session.commit()
    return d

"""Pure parts of cases: the state machines and the upload type check (no database)."""

from __future__ import annotations

import pytest

from tests.cases.helpers import JPEG, PDF, png
from xinyong.cases import documents, flows
from xinyong.core.errors import Conflict, NotFound, ValidationFailed


def test_flows_are_consistent_and_refuse_out_of_order():
    for flow in flows.FLOWS.values():
        assert flow.is_open(flow.initial)
        for t in flow.transitions.values():
            assert t.target in flow.states
    assert flows.REPAIR.transition("accept", "submitted").target == "accepted"
    with pytest.raises(Conflict):
        flows.REPAIR.transition("approve", "submitted")
    with pytest.raises(NotFound):
        flows.OBJECTION.transition("approve", "accepted")
    with pytest.raises(ValidationFailed):
        flows.OBJECTION.transition("decide", "accepted", outcome="maybe")
    assert flows.OBJECTION.transition("decide", "accepted", outcome="partly_upheld").target == "decided"
    assert not flows.REPAIR.is_open("revoked") and flows.REPAIR.available("approved")[0].name == "revoke"


def test_upload_types_by_content():
    assert documents.check_upload("a.pdf", PDF) == ("pdf", "application/pdf")
    assert documents.check_upload("a.PNG", png())[0] == "png"
    assert documents.check_upload("photo.jpeg", JPEG)[0] == "jpeg"
    assert documents.check_upload("noext", JPEG)[0] == "jpeg"
    for name, content, code in [
        ("a.pdf", b"", "document_empty"),
        ("a.pdf", b"%PDF-1.4 truncated", "document_type_not_allowed"),
        ("a.jpg", PDF, "document_disguised"),
        ("a.html", b"<html></html>", "document_type_not_allowed"),
    ]:
        with pytest.raises(ValidationFailed) as err:
            documents.check_upload(name, content)
        assert err.value.code == code


def test_upload_size_limit(monkeypatch):
    from xinyong.cases.config import reset_cases_settings

    monkeypatch.setenv("XINYONG_CASES_MAX_UPLOAD_BYTES", "1024")
    reset_cases_settings()
    try:
        with pytest.raises(ValidationFailed) as err:
            documents.check_upload("a.pdf", b"%PDF-1.4\n" + b" " * 2000 + b"%%EOF")
        assert err.value.code == "document_too_large"
    finally:
        monkeypatch.delenv("XINYONG_CASES_MAX_UPLOAD_BYTES")
        reset_cases_settings()


def test_safe_filename():
    assert documents.safe_filename("../../etc/passwd") == "passwd"
    assert documents.safe_filename("C:\\x\\凭证.pdf") == "凭证.pdf"

"""Text for people on the command line: civil time (``clock.local_text``) and error details as short lines."""

from __future__ import annotations

import datetime as dt

from xinyong.core.clikit import details_text
from xinyong.core.clock import local_text


def test_local_text_is_china_standard_time() -> None:
    utc = dt.datetime(2026, 12, 31, 17, 30, 5, tzinfo=dt.UTC)
    assert local_text(utc) == "2027-01-01 01:30:05"
    assert local_text(utc.isoformat()) == "2027-01-01 01:30:05"
    assert local_text("2026-12-31T17:30:05") == "2027-01-01 01:30:05"  # naive: stored UTC
    assert local_text(utc, seconds=False) == "2027-01-01 01:30"
    assert local_text(None) == "" and local_text("不是时间") == "不是时间"


def test_details_text_says_only_what_the_message_does_not() -> None:
    message = "未知的核查场景 'nosuch'，应为 approval, procurement 之一"
    assert details_text(message, {"scenario": "nosuch", "allowed": ["approval", "procurement"]}) == []
    rows = [{"row": 4, "code": "date_invalid", "message": "无法识别的日期"}] * 25
    lines = details_text("文件有错误", {"problems": rows, "file": "a.csv"})
    assert lines[0] == "  problems：" and lines[1] == "    row=4，code=date_invalid，message=无法识别的日期"
    assert "共 25 项" in lines[21] and lines[22] == "  file：a.csv"
    assert details_text("x", ["a", "b"]) == ["  详情：a、b"]

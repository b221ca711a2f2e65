"""A department operator in the console: logs in, uploads a penalty file with errors, reads the batch report and
downloads the error report, corrects the rejected rows in the grid and resends them; the corrected penalty is then
public on the portal. The dashboards draw their charts (ECharts under the CSP)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

from tests.browser.conftest import Live, login, shot
from tests.browser.seed import YEAR
from tests.ingest.helpers import penalty_row, zh_headers
from tests.records.helpers import AUTHORITY, company_uscc
from xinyong.records.inputs import RecordKind

GOOD = ("沁阳市覃怀建材有限公司", f"沁市监罚〔{YEAR}〕101号")
NO_NAME = ("沁阳市山王庄商贸有限公司", f"沁市监罚〔{YEAR}〕102号")
BAD_DATE = ("沁阳市紫陵农机有限公司", f"沁市监罚〔{YEAR}〕103号")


def _row(name: str, doc: str, uscc: str, decided: dt.date, **changes: str) -> dict[str, str]:
    return penalty_row(
        **{
            "行政相对人名称": name,
            "行政相对人代码_1(统一社会信用代码)": uscc,
            "法定代表人": "刘建军",
            "行政处罚决定书文号": doc,
            "处罚决定日期": decided.isoformat(),
            "处罚有效期": (decided + dt.timedelta(days=365)).isoformat(),
            "公示截止期": (decided + dt.timedelta(days=365)).isoformat(),
            "处罚机关": "沁阳市市场监督管理局",
            "处罚机关统一社会信用代码": AUTHORITY,
            "数据来源单位": "沁阳市市场监督管理局",
            "数据来源单位统一社会信用代码": AUTHORITY,
            **changes,
        }
    )


def penalty_csv(today: dt.date) -> bytes:
    decided = today - dt.timedelta(days=5)
    rows = [
        _row(*GOOD, company_uscc(3), decided),
        _row("", NO_NAME[1], company_uscc(4), decided),
        _row(*BAD_DATE, company_uscc(5), decided, **{"处罚决定日期": f"{YEAR}/13/40"}),
    ]
    headers = zh_headers(RecordKind.PENALTY)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=headers)
    writer.writeheader()
    for r in rows:
        writer.writerow({h: r.get(h, "") for h in headers})
    return buf.getvalue().encode("utf-8-sig")


def test_upload_with_errors_correct_and_resend(new_page, live: Live, tmp_path) -> None:
    page = new_page()
    login(page, screenshot="console-01-login")
    assert "沁阳市市场监督管理局" in page.locator("main").inner_text()
    shot(page, "console-02-home")

    page.get_by_role("navigation", name="工作台导航").get_by_role("link", name="上传数据").click()
    upload = tmp_path / "行政处罚-本周.csv"
    upload.write_bytes(penalty_csv(live.city.today))
    page.get_by_label("数据文件").set_input_files(str(upload))
    page.get_by_label("数据类别").select_option("penalty")
    shot(page, "console-03-upload")
    page.get_by_role("button", name="上传并校验").click()
    page.wait_for_url(re.compile(r"/console/batches/\d+$"))
    batch_url = page.url
    figures = page.get_by_label("批次结果").inner_text()
    assert "部分退回" in figures and re.search(r"入库\s+1\b", figures) and re.search(r"退回\s+2\b", figures)
    grid = page.locator("table.grid")
    rows = grid.locator("tbody tr")
    assert rows.count() == 2
    problems = {}  # decision number → (row locator, row number, the reasons shown)
    for i in range(2):
        row = rows.nth(i)
        number = row.locator("th").inner_text().strip()
        doc = row.get_by_label(f"第 {number} 行 行政处罚决定书文号").input_value()
        problems[doc] = (row, number, row.locator("td.issues").inner_text())
    assert set(problems) == {NO_NAME[1], BAD_DATE[1]}
    assert "行政相对人名称" in problems[NO_NAME[1]][2] and "为必填项" in problems[NO_NAME[1]][2]
    assert "处罚决定日期" in problems[BAD_DATE[1]][2]
    shot(page, "console-04-batch-report")

    # The error report keeps the department's own columns and says what is wrong with each row.
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV", exact=True).click()
    report = info.value.path().read_bytes().decode("utf-8-sig")
    rejected = list(csv.DictReader(io.StringIO(report)))
    assert sorted(r["行政处罚决定书文号"] for r in rejected) == sorted([NO_NAME[1], BAD_DATE[1]])
    assert any("为必填项" in " ".join(r.values()) for r in rejected)

    # Correct both rows in the grid (the bad cells are marked invalid) and resend them.
    row, number, _ = problems[NO_NAME[1]]
    name_cell = row.get_by_label(f"第 {number} 行 行政相对人名称")
    assert name_cell.get_attribute("aria-invalid") == "true" and row.get_by_role("checkbox").is_checked()
    name_cell.fill(NO_NAME[0])
    row, number, _ = problems[BAD_DATE[1]]
    row.get_by_label(f"第 {number} 行 处罚决定日期").fill((live.city.today - dt.timedelta(days=5)).isoformat())
    page.get_by_role("button", name="重新报送勾选的行").click()
    page.wait_for_url(re.compile(r"/console/batches/\d+$"))
    assert page.url != batch_url
    figures = page.get_by_label("批次结果").inner_text()
    assert "全部入库" in figures and re.search(r"入库\s+2\b", figures), figures
    assert "接口推送" in page.locator("main").inner_text()
    shot(page, "console-05-resent-report")

    page.get_by_role("navigation", name="工作台导航").get_by_role("link", name="报送批次").click()
    assert page.locator("main table tbody tr").count() == 2
    shot(page, "console-06-batches")

    page.get_by_role("navigation", name="工作台导航").get_by_role("link", name="统计分析").click()
    page.locator('[data-chart="records"] svg').first.wait_for()  # drawn by console.js with the vendored ECharts
    shot(page, "console-07-dashboards")

    # The corrected penalty is now public: a citizen finds the company and sees it.
    citizen = new_page()
    citizen.goto("/search?q=山王庄商贸")
    citizen.get_by_role("link", name=NO_NAME[0]).click()
    assert NO_NAME[1] in citizen.locator("#penalties").inner_text()

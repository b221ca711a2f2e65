"""A citizen on the public portal: searches a company, opens its page, downloads its credit report and verifies
it (by the file, by the short code printed on it as the QR code would, and a modified copy is caught)."""

from __future__ import annotations

import re

import pypdfium2 as pdfium

from tests.browser.conftest import Live, shot
from tests.browser.seed import COMPANY, COMPANY_PENALTY, LICENCES, RED_LIST_REASON


def _pdf_text(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    try:
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def test_search_subject_page_report_and_verification(new_page, live: Live, tmp_path) -> None:
    page = new_page()
    page.goto("/")
    assert page.locator("h1").inner_text() == "沁阳市公共信用信息平台"
    shot(page, "portal-01-home")

    page.get_by_label("企业名称或统一社会信用代码").fill("宏达机械")
    page.get_by_role("button", name="查询").click()
    page.wait_for_url(re.compile(r"/search\?q="))
    results = page.locator("ol.results li")
    assert results.count() == 1 and COMPANY in results.first.inner_text()
    shot(page, "portal-02-search")

    results.first.get_by_role("link", name=COMPANY).click()
    page.wait_for_url(f"**/subject/{live.city.company}")
    assert page.locator("h1").inner_text() == COMPANY
    licences, penalties = page.locator("#licences tbody tr"), page.locator("#penalties tbody tr")
    assert sorted(licences.nth(i).locator("td").first.inner_text() for i in range(licences.count())) == sorted(LICENCES)
    assert penalties.count() == 1 and COMPANY_PENALTY in penalties.first.inner_text()
    assert RED_LIST_REASON in page.locator("#red").inner_text()
    assert page.get_by_role("link", name="提出异议").count() == 4  # one per public record and list entry
    shot(page, "portal-03-subject")

    with page.expect_download() as info:
        page.get_by_role("button", name="下载公共信用信息报告（PDF）").click()
    download = info.value
    number = re.fullmatch(r"credit-report-(XY\d{8}[0-9A-Z]{10})\.pdf", download.suggested_filename).group(1)
    pdf_path = tmp_path / download.suggested_filename
    download.save_as(pdf_path)
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF")
    text = _pdf_text(pdf)
    assert number in text and COMPANY in text and COMPANY_PENALTY in text and RED_LIST_REASON in text

    # The holder of the report checks the file on the verification page.
    page.goto("/verify")
    page.get_by_label("报告编号").fill(number)
    page.get_by_label("报告 PDF 文件（可选：核验文件是否被修改）").set_input_files(str(pdf_path))
    page.get_by_role("button", name="核验", exact=True).click()
    status = page.get_by_role("status")
    assert "未被修改" in status.inner_text() and number in status.inner_text() and COMPANY in status.inner_text()
    assert "验证通过" in status.inner_text() and status.get_attribute("data-verdict") == "pass"
    shot(page, "portal-04-verify-valid")

    # A copy with a changed byte is recognised as this report, modified.
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(pdf.replace(b"/Producer", b"/Producex", 1) + b"\n% edited")
    page.get_by_label("报告编号").fill(number)
    page.get_by_label("报告 PDF 文件（可选：核验文件是否被修改）").set_input_files(str(tampered))
    page.get_by_role("button", name="核验", exact=True).click()
    # A failure looks like one (issue #17): the red box with ✘ 验证未通过 and the reason, announced as an alert.
    failed = page.locator('[data-verdict="fail"]')
    assert failed.get_attribute("role") == "alert"
    assert "验证未通过" in failed.inner_text() and "已被修改" in failed.inner_text()
    colour = page.evaluate("(el) => getComputedStyle(el).borderLeftColor", failed.element_handle())
    assert colour == "rgb(183, 28, 28)", colour  # var(--red), not the pass's green
    assert page.get_by_role("status").count() == 0
    shot(page, "portal-05-verify-modified")

    # Someone given a paper copy types (or scans) the short code printed on it.
    short = re.search(r"([2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{2})", text).group(1)
    page.goto(f"/reports/verify?code={short}")
    registered = page.get_by_role("status").inner_text()
    assert number in registered and COMPANY in registered

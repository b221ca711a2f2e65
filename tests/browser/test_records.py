"""双公示 (/records) on the portal: a citizen searches within the list by organisation name, by code and by document
number, and the pager says how many there are (共 N 条，第 x/y 页) — at desktop width and on a 390 px phone, where
the table stacks its rows and nothing scrolls sideways."""

from __future__ import annotations

import re

from tests.browser.conftest import Live, shot
from tests.browser.seed import COMPANY, COMPANY_PENALTY, FOOD, LICENCES
from tests.browser.test_phone import OVERFLOW, PHONE


def _rows(page) -> list[str]:  # type: ignore[no-untyped-def]
    rows = page.locator("table.stack tbody tr")
    return [rows.nth(i).inner_text() for i in range(rows.count())]


def _search(page, q: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("查找").fill(q)
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url(re.compile(r"/records\?q="))


def test_records_search_and_totals_desktop(new_page, live: Live) -> None:
    page = new_page()
    page.goto("/records")
    pager = page.locator("nav.pager")
    total = re.search(r"共 (\d+) 条，第 1/1 页", pager.inner_text())
    # The seed's four records — less FOOD's penalty once the objection test (same server) has had it taken down —
    # and whatever the operator's upload test has published by now: the pager counts what the table lists.
    rows = _rows(page)
    assert total is not None and int(total.group(1)) == len(rows) >= 3
    assert sum(COMPANY in r for r in rows) == 3
    shot(page, "records-01-all")

    _search(page, "宏达机械")  # part of the name
    rows = _rows(page)
    assert len(rows) == 3 and all(COMPANY in r for r in rows) and not any(FOOD in r for r in rows)
    assert "共 3 条，第 1/1 页" in pager.inner_text()
    assert page.get_by_label("查找").input_value() == "宏达机械"  # the form keeps the search
    shot(page, "records-02-search-name")

    page.get_by_label("类别").select_option("penalty")  # with another filter
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url(re.compile(r"kind=penalty"))
    rows = _rows(page)
    assert len(rows) == 1 and COMPANY_PENALTY in rows[0] and "共 1 条，第 1/1 页" in pager.inner_text()

    page.goto("/records")
    _search(page, live.city.company)  # the code (the food company's penalty may be gone: the objection test)
    rows = _rows(page)
    assert len(rows) == 3 and all(COMPANY in r for r in rows)

    _search(page, LICENCES[1].replace("〔", "[").replace("〕", "]"))  # a document number, other brackets
    rows = _rows(page)
    assert len(rows) == 1 and LICENCES[1] in rows[0] and "共 1 条" in pager.inner_text()
    shot(page, "records-03-search-doc-no")

    _search(page, "没有这家单位")
    assert _rows(page) == [] and "共 0 条" in pager.inner_text()
    assert "没有符合条件的公示信息" in page.locator("main").inner_text()


def test_records_search_and_totals_phone(new_page, live: Live) -> None:
    page = new_page(viewport=PHONE)
    page.goto("/records")
    _search(page, "宏达机械")
    rows = _rows(page)
    assert len(rows) == 3 and "共 3 条，第 1/1 页" in page.locator("nav.pager").inner_text()
    assert page.evaluate(OVERFLOW) == []  # no table cut off, nothing sideways, the search form included
    cell = page.locator("table.stack td[data-label]").first
    label = page.evaluate("(el) => getComputedStyle(el, '::before').content", cell.element_handle())
    assert label.strip('"') == cell.get_attribute("data-label")
    box = page.get_by_label("查找").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    shot(page, "phone-05-records-search")

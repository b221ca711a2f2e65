"""The credit office judges a synced court entry in the review queue with the keyboard: N chooses "not the same",
the empty reason is focused first, Enter submits the chosen verdict (and never a verdict nobody chose)."""

from __future__ import annotations

import re

from tests.browser.conftest import Live, login, shot
from tests.browser.seed import ADMIN_USER, COMPANY, REVIEW_CASE


def test_review_queue_by_keyboard(new_page, live: Live) -> None:
    page = new_page()
    login(page, ADMIN_USER)
    page.goto("/console/lists/review")
    card = page.locator("section.review", has_text=REVIEW_CASE)
    assert "失信被执行人" in card.inner_text() and "沁阳市人民法院" in card.inner_text()
    candidate = card.locator("[data-candidate]", has_text=COMPANY)
    assert candidate.count() == 1
    text = candidate.inner_text()
    assert "相似度构成" in text and "张宏达" in text  # the candidate's legal representative
    shot(page, "console-review-01")

    reason = candidate.get_by_label("复核理由")
    # Enter in the reason before any verdict is chosen submits nothing.
    reason.fill("名称仅部分相同")
    reason.press("Enter")
    assert page.url.endswith("/console/lists/review") and candidate.count() == 1
    reason.fill("")
    page.locator("h1").click()  # out of the field: the letters are shortcuts again
    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.name") == "reason"  # empty reason: asked for first
    page.keyboard.type("执行案件的被执行人为个人独资企业，与该公司不是同一主体")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.goto("/console/lists/review")
    assert page.locator("section.review", has_text=REVIEW_CASE).count() == 0
    assert re.search(r"（0 条待复核）", page.locator("h1").inner_text())
    shot(page, "console-review-02")

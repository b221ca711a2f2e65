"""The public pages a citizen opens on a phone (390 px wide): no table is cut off or scrolls sideways, and the
page itself never does; each row's cells carry their column names."""

from __future__ import annotations

from tests.browser.conftest import Live, shot
from tests.browser.seed import COMPANY_PENALTY, RED_LIST_REASON

PHONE = {"width": 390, "height": 844}
#: Elements wider than their box (a cut-off or sideways-scrolling table) and the page's own overflow.
OVERFLOW = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) out.push(`page ${doc.scrollWidth} > ${doc.clientWidth}`);
  document.querySelectorAll(".table-wrap, table, td").forEach((el) => {
    if (el.scrollWidth > el.clientWidth + 1) out.push(`${el.tagName}.${el.className} ${el.scrollWidth} > ${el.clientWidth}`);
    const r = el.getBoundingClientRect();
    if (r.right > doc.clientWidth + 1) out.push(`${el.tagName} ends at ${r.right}`);
  });
  return out;
}"""


def test_tables_fit_a_phone(new_page, live: Live) -> None:
    page = new_page(viewport=PHONE)
    for url, name, expected in (
        (f"/subject/{live.city.company}", "phone-01-subject", COMPANY_PENALTY),
        ("/records", "phone-02-records", COMPANY_PENALTY),
        ("/lists/tax_a_grade", "phone-03-list", RED_LIST_REASON),
    ):
        page.goto(url)
        assert expected in page.locator("main").inner_text(), url
        assert page.evaluate(OVERFLOW) == [], url
        cell = page.locator("table.stack td[data-label]").first
        label = page.evaluate("(el) => getComputedStyle(el, '::before').content", cell.element_handle())
        assert label.strip('"') == cell.get_attribute("data-label"), url
        shot(page, name)

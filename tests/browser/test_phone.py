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


#: For each drawn chart: the legend's top and the plotting area's bottom (ECharts' own layout), in pixels.
LEGEND_AND_GRID = """() => Array.from(document.querySelectorAll("[data-chart]")).map((el) => {
  const chart = echarts.getInstanceByDom(el);
  const model = chart.getModel();
  const legend = model.getComponent("legend");
  const grid = model.getComponent("grid");
  if (!legend || !legend.get("show") || !grid) return null;
  const view = chart.getViewOfComponentModel(legend);
  const box = view.group.getBoundingRect();
  const rect = grid.coordinateSystem.getRect();
  return { chart: el.dataset.chart, legendTop: view.group.y + box.y, legendBottom: view.group.y + box.y + box.height,
           gridBottom: rect.y + rect.height, height: el.clientHeight, width: el.clientWidth,
           right: view.group.x + box.x + box.width };
}).filter((x) => x !== null)"""


def test_dashboard_legends_sit_below_the_charts_on_a_phone(new_page, live: Live) -> None:
    """Issue #17: on a phone the legend is below the chart, wrapped within its width, never over an axis or bars."""
    from tests.browser.conftest import login
    from tests.browser.seed import ADMIN_USER

    page = new_page(viewport=PHONE)
    login(page, ADMIN_USER)
    page.goto("/console/dashboards")
    page.locator('[data-chart="records"] svg').first.wait_for()
    charts = page.evaluate(LEGEND_AND_GRID)
    assert charts, "no chart with a legend"
    for c in charts:
        assert c["legendTop"] >= c["gridBottom"], c
        assert c["legendBottom"] <= c["height"] + 1 and c["right"] <= c["width"] + 1, c
    shot(page, "phone-04-dashboards")

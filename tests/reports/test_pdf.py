"""The PDF layout without a database: the CJK font is embedded, the Chinese text really renders, rare characters
show as a visible box, the QR code is there."""

from __future__ import annotations

import io
import re

import pypdfium2 as pdfium
import pytest

from xinyong.reports.pdf import MISSING, ReportContent, Section, render

TITLE = "公共信用信息报告"


def content(title: str = TITLE, name: str = "沁阳市宏达机械有限公司", rows: int = 3) -> ReportContent:
    return ReportContent(
        number="XY20250101ABCDEFGHJK",
        short_code="ABCD-EFGH-JK",
        verify_url="https://xy.example.test/reports/verify?code=ABCDEFGHJK",
        title=title,
        subtitle="（法人和非法人组织）",
        issuer="沁阳市公共信用信息平台",
        issued_at="2025-01-01 10:00",
        as_of="2025-01-01 10:00",
        basics=[("名称", name), ("统一社会信用代码", "91410882MA0000011X")],
        sections=[
            Section(
                "penalties",
                "行政处罚信息",
                ["决定文书号", "处罚机关"],
                [[f"沁市监罚〔2024〕{i}号", "沁阳市市场监督管理局"] for i in range(rows)],
                "暂无。",
            ),
            Section("black", "严重失信主体名单信息", ["名单"], [], "暂无严重失信主体名单信息。"),
        ],
        sources=["沁阳市市场监督管理局"],
        statements=["1. 说明。"],
    )


def render_page(data: bytes, page: int = 0, scale: float = 1.0):  # type: ignore[no-untyped-def]
    doc = pdfium.PdfDocument(io.BytesIO(data))
    image = doc[page].render(scale=scale, grayscale=True).to_pil().convert("L")
    doc.close()
    return image


def title_box(image):  # type: ignore[no-untyped-def]
    w, _h = image.size
    # A4 at 72 dpi: the title sits 20–55 pt below the top, centred.
    return image.crop((int(w * 0.25), 50, int(w * 0.75), 100))


def test_font_is_embedded_and_no_other_font_is_used() -> None:
    data = render(content()).pdf
    fonts = re.findall(rb"/BaseFont /([^\s/]+)", data)
    assert fonts, "no font in the PDF"
    assert all(b"XinyongSansSC" in f for f in fonts), fonts  # no Helvetica, no non-embedded CJK font
    descriptors = len(re.findall(rb"/Type /FontDescriptor", data))
    assert descriptors >= 1
    assert len(re.findall(rb"/FontFile2 \d+ 0 R", data)) == descriptors  # every descriptor carries its font file


def test_chinese_glyphs_render() -> None:
    rendered = render(content())
    assert rendered.pages == 1 and not rendered.missing_chars
    image = render_page(rendered.pdf)
    box = title_box(image)
    dark = sum(1 for p in box.tobytes() if p < 100)
    assert dark > 400, dark  # the title is drawn, in dark ink
    # Different characters must draw differently: if the font were missing, both titles would be the same
    # row of .notdef boxes.
    other = title_box(render_page(render(content(title="严重失信主体名单")).pdf))
    assert list(box.tobytes()) != list(other.tobytes())
    text = _text(rendered.pdf)
    assert TITLE in text and "沁阳市宏达机械有限公司" in text and "暂无严重失信主体名单信息" in text


def _text(data: bytes) -> str:
    doc = pdfium.PdfDocument(io.BytesIO(data))
    try:
        return "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()


def test_character_outside_the_font_is_a_visible_box() -> None:
    rendered = render(content(name="沁阳市𠀀科技有限公司"))
    assert rendered.missing_chars == {"𠀀"}
    assert f"沁阳市{MISSING}科技有限公司" in _text(rendered.pdf)


def test_markup_in_data_is_printed_not_interpreted() -> None:
    rendered = render(content(name="A&B <b>公司</b>"))
    assert "A&B <b>公司</b>" in _text(rendered.pdf)


def test_long_section_spans_pages_with_numbered_footers() -> None:
    rendered = render(content(rows=120))
    assert rendered.pages >= 3
    text = _text(rendered.pdf)
    assert f"第 1 页 共 {rendered.pages} 页" in text and f"第 {rendered.pages} 页 共 {rendered.pages} 页" in text


def test_qr_code_is_drawn() -> None:
    image = render_page(render(content()).pdf)
    w, _h = image.size
    qr = image.crop((int(w * 0.76), 90, w - 40, 240))  # right of the info table
    dark = sum(1 for p in qr.tobytes() if p < 100)
    assert dark > 1500, dark


@pytest.mark.parametrize("rows", [0, 1])
def test_output_is_a_pdf(rows: int) -> None:
    data = render(content(rows=rows)).pdf
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")


def _pages(data: bytes) -> list[str]:
    doc = pdfium.PdfDocument(io.BytesIO(data))
    try:
        return [doc[i].get_textpage().get_text_range().replace("\r", "").replace("\n", "") for i in range(len(doc))]
    finally:
        doc.close()


# Each heading and the first thing of its section.
FOLLOWERS = {
    "二、行政处罚信息": "决定文书号",
    "三、严重失信主体名单信息": "暂无严重失信主体名单信息",
    "四、信息来源与说明": "本报告所列信息的提供单位",
}


def test_no_heading_is_stranded_at_a_page_foot() -> None:
    """Issue #17: a section heading never ends a page. As the first section grows row by row, the headings after it
    pass every position down the page, the foot included; each must share its page with what follows it."""
    stranded = []
    for rows in range(10, 60):
        pages = _pages(render(content(rows=rows)).pdf)
        for heading, follower in FOLLOWERS.items():
            where = [i for i, text in enumerate(pages) if heading in text]
            assert len(where) == 1, (rows, heading)
            text = pages[where[0]]
            if follower not in text[text.index(heading) :]:
                stranded.append((rows, heading, where[0] + 1))
    assert stranded == []

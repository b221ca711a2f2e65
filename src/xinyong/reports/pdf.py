"""The PDF layout of a credit report: pure (content in, bytes out), no database.

Fonts: the vendored "Xinyong Sans SC" (a GB 2312 subset of Noto Sans CJK SC with TrueType outlines, SIL OFL 1.1,
made by ``scripts/subset-font``) is embedded in every PDF as a subset of the glyphs used, so the report renders
the same in any viewer on any machine. A character the font lacks (a rare hanzi outside GB 2312) is printed as
"□" — visibly missing, never silently invisible — and counted in :attr:`Rendered.missing_chars`.

The QR code (reportlab's own encoder, no extra dependency) encodes the verification URL with the short code.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCode
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import CondPageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT_DIR = Path(__file__).parent / "fonts"
REGULAR = "XinyongSans"
BOLD = "XinyongSans-Bold"
MISSING = "□"
NUMERALS = "一二三四五六七八九十"
#: The room a section heading asks for before it (CondPageBreak): the heading (~10 mm with its space) and the
#: start of its section: a table header and two rows, or a few lines of text.
HEADING_ROOM = 30 * mm


@dataclass
class Section:
    """One numbered part of the report: a table (``columns`` × ``rows``) or, when it has no rows, ``empty``."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    empty: str
    widths: list[float] | None = None  # relative column widths
    note: str | None = None  # printed under the table (e.g. rows left out, the rule applied)


@dataclass
class ReportContent:
    number: str
    short_code: str
    verify_url: str
    title: str
    subtitle: str
    issuer: str
    issued_at: str
    as_of: str
    basics: list[tuple[str, str]]
    sections: list[Section]
    sources: list[str]
    statements: list[str]
    confidential: str | None = None  # a line on every page (a person's report: for the person only)


@dataclass
class Rendered:
    pdf: bytes
    pages: int
    missing_chars: set[str] = field(default_factory=set)


@lru_cache(maxsize=1)
def register_fonts() -> frozenset[int]:
    """Register the embedded fonts once per process; the code points they cover."""
    for name, file in ((REGULAR, "XinyongSansSC-Regular.ttf"), (BOLD, "XinyongSansSC-Bold.ttf")):
        pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / file)))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR, boldItalic=BOLD)
    face = pdfmetrics.getFont(REGULAR).face
    return frozenset(face.charToGlyph)


class _Text:
    """Text made safe for the font and for reportlab's paragraph markup."""

    def __init__(self, covered: frozenset[int]) -> None:
        self.covered = covered
        self.missing: set[str] = set()

    def clean(self, value: object) -> str:
        text = "" if value is None else str(value)
        out = []
        for ch in text:
            if ch in "\r\t":
                out.append(" ")
            elif ch == "\n" or ord(ch) in self.covered:
                out.append(ch)
            elif ord(ch) < 32:
                continue
            else:
                self.missing.add(ch)
                out.append(MISSING)
        return "".join(out)

    def para(self, value: object, style: ParagraphStyle) -> Paragraph:
        return Paragraph(escape(self.clean(value)).replace("\n", "<br/>"), style)


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=REGULAR, fontSize=9, leading=13, wordWrap="CJK")
    return {
        "base": base,
        "title": ParagraphStyle("title", base, fontName=BOLD, fontSize=22, leading=30, alignment=TA_CENTER),
        "subtitle": ParagraphStyle("subtitle", base, fontSize=12, leading=18, alignment=TA_CENTER),
        # keepWithNext: a heading goes with what follows it (see _heading for the room it asks for first)
        "h": ParagraphStyle(
            "h", base, fontName=BOLD, fontSize=12, leading=18, spaceBefore=10, spaceAfter=4, keepWithNext=1
        ),
        "cell": ParagraphStyle("cell", base, fontSize=8, leading=11),
        "head": ParagraphStyle("head", base, fontName=BOLD, fontSize=8, leading=11),
        "label": ParagraphStyle("label", base, fontName=BOLD, fontSize=9, leading=13),
        "small": ParagraphStyle("small", base, fontSize=8, leading=12, textColor=colors.HexColor("#444444")),
    }


def _qr(url: str, size: float) -> QrCode:
    """The QR flowable draws its modules straight on the page (the graphics Drawing would pull in Helvetica)."""
    return QrCode(url, width=size, height=size, qrLevel="M", qrBorder=2)


_GRID = [
    ("FONTNAME", (0, 0), (-1, -1), REGULAR),
    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
    ("LEFTPADDING", (0, 0), (-1, -1), 3),
    ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ("TOPPADDING", (0, 0), (-1, -1), 2),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
]


def render(content: ReportContent) -> Rendered:
    """The report as PDF bytes (A4), with its page count and the characters the font could not show."""
    covered = register_fonts()
    t = _Text(covered)
    st = _styles()
    buf = io.BytesIO()
    width = A4[0] - 36 * mm
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        title=t.clean(f"{content.title} {content.number}"),
        author=t.clean(content.issuer),
        subject=content.number,
        keywords=f"report-number:{content.number} short-code:{content.short_code}",
        creator="xinyong",
    )
    story: list = [t.para(content.title, st["title"]), t.para(content.subtitle, st["subtitle"]), Spacer(1, 6 * mm)]

    info = [
        [t.para(label, st["label"]), t.para(value, st["base"])]
        for label, value in (
            ("报告编号", content.number),
            ("验证码", content.short_code),
            ("出具时间", content.issued_at),
            ("信息截至", content.as_of),
            ("出具单位", content.issuer),
        )
    ]
    info_table = Table(info, colWidths=[24 * mm, width - 24 * mm - 40 * mm])
    info_table.setStyle(TableStyle(_GRID))
    qr_size = 34 * mm
    head = Table([[info_table, _qr(content.verify_url, qr_size)]], colWidths=[width - 40 * mm, 40 * mm])
    head.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), REGULAR),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ALIGN", (1, 0), (1, 0), "CENTER"),
            ]
        )
    )
    story += [
        head,
        Spacer(1, 2 * mm),
        t.para(
            f"扫描二维码或访问 {content.verify_url} 核验本报告真伪；也可上传本 PDF 文件核验其是否被修改。", st["small"]
        ),
    ]

    def heading(text: str) -> list:
        # A heading never ends a page: unless there is room for it and the start of its section (a table's header
        # row and first rows, or a few lines), it starts the next page. keepWithNext alone is not enough: a table
        # that splits after its first row would still leave the heading nearly alone at the foot.
        return [CondPageBreak(HEADING_ROOM), t.para(text, st["h"])]

    story += heading(f"{NUMERALS[0]}、基本信息")
    basics = Table(
        [[t.para(k, st["label"]), t.para(v, st["base"])] for k, v in content.basics],
        colWidths=[38 * mm, width - 38 * mm],
    )
    basics.setStyle(TableStyle([*_GRID, ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f2f2"))]))
    story.append(basics)

    for i, section in enumerate(content.sections, start=2):
        story += heading(f"{_numeral(i)}、{section.title}")
        if not section.rows:
            story.append(t.para(section.empty, st["base"]))
        else:
            rel = section.widths or [1.0] * len(section.columns)
            total = sum(rel)
            table = Table(
                [[t.para(c, st["head"]) for c in section.columns]]
                + [[t.para(v, st["cell"]) for v in row] for row in section.rows],
                colWidths=[width * w / total for w in rel],
                repeatRows=1,
            )
            table.setStyle(TableStyle([*_GRID, ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7"))]))
            story.append(table)
        if section.note:
            story += [Spacer(1, 1 * mm), t.para(section.note, st["small"])]

    story += heading(f"{_numeral(len(content.sections) + 2)}、信息来源与说明")
    if content.sources:
        story.append(t.para("本报告所列信息的提供单位：" + "、".join(content.sources) + "。", st["base"]))
    for line in content.statements:
        story.append(t.para(line, st["small"]))

    footer_left = t.clean(f"报告编号 {content.number}    验证码 {content.short_code}")
    footer_mid = t.clean(content.confidential or "")

    def canvas_maker(*args, **kwargs) -> Canvas:
        kwargs["initialFontName"] = REGULAR  # no unused, non-embedded Helvetica in the font resources
        return _NumberedCanvas(*args, footer_left=footer_left, footer_mid=footer_mid, **kwargs)

    doc.build(story, canvasmaker=canvas_maker)
    pages = doc.page
    return Rendered(buf.getvalue(), pages, t.missing)


def _numeral(n: int) -> str:
    if n <= 10:
        return NUMERALS[n - 1]
    if n < 20:
        return "十" + NUMERALS[n - 11]
    return str(n)


class _NumberedCanvas(Canvas):
    """Pages are held until the end so each footer can say "第 n 页 共 N 页"."""

    def __init__(self, *args, footer_left: str, footer_mid: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []
        self._footer_left = footer_left
        self._footer_mid = footer_mid

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._footer(total)
            super().showPage()
        super().save()

    def _footer(self, total: int) -> None:
        w, _h = A4
        self.saveState()
        self.setFont(REGULAR, 7.5)
        self.setFillColor(colors.HexColor("#555555"))
        self.setStrokeColor(colors.HexColor("#bbbbbb"))
        self.line(18 * mm, 14 * mm, w - 18 * mm, 14 * mm)
        self.drawString(18 * mm, 10 * mm, self._footer_left)
        if self._footer_mid:
            self.drawCentredString(w / 2, 6 * mm, self._footer_mid)
        self.drawRightString(w - 18 * mm, 10 * mm, f"第 {self._pageNumber} 页 共 {total} 页")
        self.restoreState()

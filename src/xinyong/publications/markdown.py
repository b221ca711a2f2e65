"""Markdown of articles, rendered safely: CommonMark through markdown-it-py with raw HTML off (``<script>`` is
shown as text), images off (the portal's CSP serves images from itself only, and an editor's image is a link), and
links only to ``http``, ``https``, ``mailto`` or to a path of this site (``/…`` but not ``//host``, ``#…``): a
``javascript:`` / ``data:`` / ``vbscript:`` link or a protocol-relative one stays text. Links that leave the site
get ``rel="nofollow noopener noreferrer"``. Pure functions, no database."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})


def safe_link(url: str) -> bool:
    """Whether an article may link to ``url`` (after markdown-it's normalisation)."""
    url = url.strip()
    if any(ord(c) < 0x20 for c in url):
        return False
    m = _SCHEME.match(url)
    if m:
        return m.group(1).lower() in ALLOWED_SCHEMES
    if url.startswith("//") or url.startswith("\\") or url.startswith("/\\"):
        return False
    return url.startswith("/") or url.startswith("#")


def _link_open(self: RendererHTML, tokens: list[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    token = tokens[idx]
    href = str(token.attrGet("href") or "")
    if _SCHEME.match(href):
        token.attrSet("rel", "nofollow noopener noreferrer")
    return self.renderToken(tokens, idx, options, env)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).disable("image")
    md.validateLink = safe_link  # type: ignore[method-assign]  # markdown-it-py's documented hook for link policy
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _parser()


def render_markdown(text: str) -> str:
    """The HTML of ``text`` (safe to insert into a page unescaped)."""
    return _MD.render(text or "")


def plain_summary(text: str, limit: int = 120) -> str:
    """The first ``limit`` characters of the article's text without Markdown marks (for lists and feeds)."""
    words: list[str] = []
    for block in _MD.parse(text or ""):
        if block.type == "inline":
            words.extend(c.content for c in block.children or [] if c.type in ("text", "code_inline"))
            words.append(" ")
    flat = " ".join("".join(words).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"

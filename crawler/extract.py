"""Crawler stage: turning an article page into clean text and metadata.

Pure: HTML in, :class:`ExtractedPage` out. The page is parsed once; the
metadata is read from the tree first (:mod:`crawler.metadata`), then
trafilatura extracts the main text (it prunes the tree as it goes). Whatever
the page lacks is taken from the feed or sitemap entry that led to it
(:class:`Hints`). Options and their measured effect: ``bench/extraction.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import trafilatura
from lxml import etree
from lxml.html import HtmlElement, fromstring
from trafilatura.utils import HTML_PARSER, load_html

from crawler.metadata import PageMeta, page_metadata
from crawler.urls import absolute, canonicalize, is_http
from nlp.language import detect_language
from shopwatch.errors import ExtractError
from storage.articles import content_hash

# Trafilatura options of the extraction path (measured in bench/extraction.py).
EXTRACT_OPTIONS: dict[str, Any] = {
    "fast": True,
    "favor_recall": True,
    "include_comments": False,
    "include_tables": True,
    "with_metadata": False,
}


class NotAnArticle(ExtractError):
    """The page holds no article text (too short, or nothing extractable)."""


@dataclass(frozen=True, slots=True)
class Hints:
    """What the feed or sitemap entry said about the page."""

    title: str | None = None
    author: str | None = None
    published: datetime | None = None
    language: str | None = None
    summary: str | None = None


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    url: str
    canonical_url: str
    title: str
    text: str
    author: str | None
    published_at: datetime | None
    language: str | None
    description: str | None
    sitename: str | None
    content_hash: str  # storage.content_hash of title and text, worked out where extraction runs


# Characters libxml2 rejects. In UTF-8 the C0 controls are single bytes that never occur
# inside a multi-byte sequence, so deleting them from the bytes is safe and far cheaper
# than the regular expression trafilatura's loader runs over the decoded text.
_CONTROL_BYTES = bytes([*range(0, 9), 11, 12, *range(14, 32)])
_NONCHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")  # U+FFFE, U+FFFF


def parse_html(html: str | bytes) -> HtmlElement | None:
    """Parse a page once, with trafilatura's parser settings; its loader is the fallback."""
    raw = html.encode("utf-8", "replace") if isinstance(html, str) else html
    if isinstance(html, str):
        raw = raw.translate(None, _CONTROL_BYTES)
        for junk in _NONCHARACTERS:
            if junk in raw:
                raw = raw.replace(junk, b"")
        try:
            tree = fromstring(raw, parser=HTML_PARSER)
        except (ValueError, etree.ParserError):
            tree = None
        if tree is not None and len(tree) > 0:
            return tree
    return load_html(html)


def _same_site(a: str, b: str) -> bool:
    def host(url: str) -> str:
        return (urlsplit(url).hostname or "").removeprefix("www.")

    return host(a) == host(b)


def canonical_url(tree: HtmlElement, url: str) -> str:
    """The page's ``rel=canonical`` URL when it is on the same site, else the fetched URL."""
    head = tree.find("head")
    links = head.iter("link") if head is not None else tree.iter("link")
    for link in links:
        href = link.get("href")
        if not href or (link.get("rel") or "").strip().lower() != "canonical":
            continue
        candidate = absolute(url, href)
        if is_http(candidate) and _same_site(candidate, url):
            return canonicalize(candidate)
    return canonicalize(url)


def _published(page: datetime | None, hint: datetime | None) -> datetime | None:
    """The page's time first; a feed time refines a page that gives only the day."""
    if page is None:
        return hint
    day_only = page.hour == page.minute == page.second == 0
    if day_only and hint is not None and hint.astimezone(UTC).date() == page.date():
        return hint
    return page


def main_text(tree: HtmlElement, url: str) -> str:
    """The article body of a parsed page (trafilatura; the tree is pruned in place)."""
    doc: Any = trafilatura.bare_extraction(tree, url=url, **EXTRACT_OPTIONS)
    return str(getattr(doc, "text", None) or "").strip()


def _merge(meta: PageMeta, hints: Hints, text: str, url: str, canonical: str) -> ExtractedPage:
    title = meta.title or hints.title or text[:80]
    return ExtractedPage(
        url=url,
        canonical_url=canonical,
        title=title,
        text=text,
        author=meta.author or hints.author,
        published_at=_published(meta.published, hints.published),
        language=detect_language(text, meta.language or hints.language),
        description=meta.description or hints.summary,
        sitename=meta.sitename,
        content_hash=content_hash(title, text),
    )


def extract_article(
    html: str | bytes, url: str, hints: Hints | None = None, *, min_text_chars: int = 200
) -> ExtractedPage:
    """Extract the article at ``url``; raise :class:`NotAnArticle` when there is none."""
    tree = parse_html(html)
    if tree is None:
        raise NotAnArticle("not parseable as HTML")
    meta, canonical = page_metadata(tree), canonical_url(tree, url)
    text = main_text(tree, url)
    if len(text) < max(min_text_chars, 1):
        raise NotAnArticle(f"no article text ({len(text)} characters extracted)")
    return _merge(meta, hints or Hints(), text, url, canonical)

"""Crawler stage: turning an article page into clean text and metadata (trafilatura).

Pure: HTML in, :class:`ExtractedPage` out. The page is parsed once; the
metadata trafilatura reports only to the day (publication time) or not at all
(declared language) is read from the same tree first. Whatever the page lacks
is taken from the feed or sitemap entry that led to it (:class:`Hints`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import trafilatura
from lxml.html import HtmlElement
from trafilatura.utils import load_html

from crawler.urls import absolute, canonicalize, is_http
from nlp.language import detect_language
from shopwatch.errors import ExtractError

# Trafilatura options of the extraction path (measured in bench/extraction.py).
EXTRACT_OPTIONS: dict[str, Any] = {
    "fast": True,
    "include_comments": False,
    "include_tables": True,
    "with_metadata": True,
    "date_extraction_params": {"extensive_search": False, "original_date": True},
}

_PUBLISHED_XPATH = (
    "//meta[@property='article:published_time' or @name='article:published_time'"
    " or @itemprop='datePublished' or @name='pubdate' or @name='date']/@content"
)


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


def _parse_when(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _json_ld_objects(tree: HtmlElement) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for script in tree.xpath("//script[@type='application/ld+json']/text()"):
        try:
            data = json.loads(script)
        except ValueError:
            continue
        stack = data if isinstance(data, list) else [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                found.append(item)
                graph = item.get("@graph")
                if isinstance(graph, list):
                    stack.extend(graph)
    return found


def _page_published(tree: HtmlElement, ld: list[dict[str, Any]]) -> datetime | None:
    for item in ld:
        moment = _parse_when(item.get("datePublished") if isinstance(item, dict) else None)
        if moment:
            return moment
    for value in tree.xpath(_PUBLISHED_XPATH):
        moment = _parse_when(value)
        if moment:
            return moment
    return None


def _declared_language(tree: HtmlElement, ld: list[dict[str, Any]]) -> str | None:
    candidates = [*tree.xpath("/html/@lang"), *tree.xpath("//meta[@property='og:locale']/@content")]
    candidates += [item["inLanguage"] for item in ld if isinstance(item.get("inLanguage"), str)]
    for value in candidates:
        code = re.split(r"[-_]", value.strip().lower())[0]
        if re.fullmatch(r"[a-z]{2,3}", code):
            return code
    return None


def _same_site(a: str, b: str) -> bool:
    def host(url: str) -> str:
        return (urlsplit(url).hostname or "").removeprefix("www.")

    return host(a) == host(b)


def _canonical(tree: HtmlElement, url: str) -> str:
    """The page's ``rel=canonical`` URL when it is on the same site, else the fetched URL."""
    for href in tree.xpath("//link[@rel='canonical']/@href"):
        candidate = absolute(url, href)
        if is_http(candidate) and _same_site(candidate, url):
            return canonicalize(candidate)
    return canonicalize(url)


def _date_only(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


def _published(
    page: datetime | None, day: datetime | None, hint: datetime | None
) -> datetime | None:
    """Page metadata first; a feed time refines a page that gives only the day."""
    if page:
        return page
    if day and hint and hint.astimezone(UTC).date() == day.date():
        return hint
    return day or hint


def extract_article(
    html: str | bytes, url: str, hints: Hints | None = None, *, min_text_chars: int = 200
) -> ExtractedPage:
    """Extract the article at ``url``; raise :class:`NotAnArticle` when there is none."""
    hints = hints or Hints()
    tree = load_html(html)
    if tree is None:
        raise NotAnArticle("not parseable as HTML")
    ld = _json_ld_objects(tree)
    page_published, declared = _page_published(tree, ld), _declared_language(tree, ld)
    canonical = _canonical(tree, url)
    doc: Any = trafilatura.bare_extraction(tree, url=url, **EXTRACT_OPTIONS)
    text = (getattr(doc, "text", None) or "").strip()
    if len(text) < max(min_text_chars, 1):
        raise NotAnArticle(f"no article text ({len(text)} characters extracted)")
    title = (getattr(doc, "title", None) or hints.title or "").strip()
    return ExtractedPage(
        url=url,
        canonical_url=canonical,
        title=title or text[:80],
        text=text,
        author=getattr(doc, "author", None) or hints.author,
        published_at=_published(
            page_published, _date_only(getattr(doc, "date", None)), hints.published
        ),
        language=detect_language(text, declared or hints.language),
        description=getattr(doc, "description", None) or hints.summary,
        sitename=getattr(doc, "sitename", None),
    )

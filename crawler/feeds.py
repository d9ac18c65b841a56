"""Crawler stage: feed bytes into entries (RSS 0.9x/1.0/2.0, Atom via feedparser; JSON Feed).

Pure: bytes in, entries out. Feedparser is only ever given bytes (given a
string it may open files or URLs) and the feed's own URL as the base for
relative links. A malformed feed keeps its usable entries; the reason is
returned as ``warning``.
"""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from crawler.dates import parse_iso
from crawler.urls import absolute, is_http


@dataclass(frozen=True, slots=True)
class FeedEntry:
    url: str
    title: str | None = None
    author: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    summary: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    entries: list[FeedEntry]
    warning: str | None = None
    title: str | None = None


def _struct_to_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _entry(feed_url: str, link: str | None, **fields: Any) -> FeedEntry | None:
    """An entry for ``link`` made absolute against the feed; None when it is not an http(s) URL."""
    if not link or not link.strip():
        return None
    absolute_link = absolute(feed_url, link)
    return FeedEntry(url=absolute_link, **fields) if is_http(absolute_link) else None


def looks_like_json_feed(body: bytes, content_type: str = "") -> bool:
    if "json" in content_type.lower():
        return True
    return body.lstrip()[:1] == b"{"


def parse_feed(body: bytes, url: str, content_type: str = "") -> ParsedFeed:
    """Entries of the feed in ``body``, with links made absolute against ``url``."""
    if not body.strip():
        return ParsedFeed([], warning="empty body")
    if looks_like_json_feed(body, content_type):
        return parse_json_feed(body, url)
    return _parse_xml_feed(body, url, content_type)


def _parse_xml_feed(body: bytes, url: str, content_type: str) -> ParsedFeed:
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False)
    language = _text(parsed.feed.get("language"))
    entries = []
    for item in parsed.entries:
        entry = _xml_entry(item, url, language)
        if entry is not None:
            entries.append(entry)
    warning = None
    if parsed.get("bozo"):
        warning = f"malformed feed: {parsed.get('bozo_exception')}"
    if not entries and not parsed.get("version"):
        warning = warning or "not a feed (no RSS, Atom or JSON Feed found)"
    return ParsedFeed(entries, warning, _text(parsed.feed.get("title")))


def _xml_entry(item: Any, url: str, language: str | None) -> FeedEntry | None:
    link = _text(item.get("link"))
    if not link:
        for candidate in item.get("links", []):
            if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                link = candidate["href"]
                break
    if not link:
        guid = _text(item.get("id"))
        link = guid if guid and guid.startswith("http") else None
    return _entry(
        url,
        link,
        title=_text(item.get("title")),
        author=_text(item.get("author")),
        published=_struct_to_dt(item.get("published_parsed")),
        # read the key only when present: feedparser otherwise maps it to published, with a warning
        updated=_struct_to_dt(item["updated_parsed"]) if "updated_parsed" in item else None,
        summary=_text(item.get("summary")),
        language=language,
    )


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """A JSON Feed (1.0/1.1); items with wrong types are dropped and counted in the warning."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return ParsedFeed([], warning=f"invalid JSON feed: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        return ParsedFeed([], warning="JSON feed has no items list")
    language = _text(data.get("language"))
    entries, dropped = [], 0
    for item in data["items"]:
        entry = _json_entry(item, url, language) if isinstance(item, dict) else None
        if entry is None:
            dropped += 1
        else:
            entries.append(entry)
    warning = f"{dropped} JSON feed item(s) without a usable url" if dropped else None
    return ParsedFeed(entries, warning, _text(data.get("title")))


def _json_author(item: dict[str, Any]) -> str | None:
    authors = item.get("authors")
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        return _text(authors[0].get("name"))
    author = item.get("author")
    return _text(author.get("name")) if isinstance(author, dict) else None


def _json_entry(item: dict[str, Any], url: str, language: str | None) -> FeedEntry | None:
    link = item.get("url") if isinstance(item.get("url"), str) else item.get("external_url")
    return _entry(
        url,
        link if isinstance(link, str) else None,
        title=_text(item.get("title")),
        author=_json_author(item),
        published=parse_iso(item.get("date_published")),
        updated=parse_iso(item.get("date_modified")),
        summary=_text(item.get("summary")),
        language=_text(item.get("language")) or language,
    )

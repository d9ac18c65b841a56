"""The news world's site: every path the server answers, built for one base URL.

Three publishers under one loopback origin (``/retail-daily/``,
``/market-wire/``, ``/shop-signal/``), each found a different way:

- retail-daily: RSS 2.0 feed (links carry ``utm_*`` tracking parameters) and
  a news sitemap; pages declare ``rel=canonical`` and JSON-LD;
- market-wire: Atom feed with relative links and a sitemap index over monthly
  sitemaps; pages carry OpenGraph only; it also runs a syndicated copy of one
  retail-daily article;
- shop-signal: paginated listing pages (``rel="next"``) and a JSON Feed of the
  latest stories; pages have no metadata markup. Its listing also links a
  PDF and a page under ``/shop-signal/private/``, which robots.txt disallows.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime
from functools import lru_cache
from html import escape
from importlib import resources
from typing import Any

from newsworld.pages import PUBLISHER_NAMES, article_page, listing_page

ROBOTS_TXT = "User-agent: *\nDisallow: /shop-signal/private/\n"
DISALLOWED_PATH = "/shop-signal/private/embargoed-temu-results.html"
PDF_PATH = "/shop-signal/a/temu-annual-report.pdf"
LISTING_PAGE_SIZE = 6
JSON_FEED_SIZE = 5
SYNDICATION_DELAY = timedelta(hours=3)


@dataclass(frozen=True)
class Resource:
    body: bytes
    content_type: str
    last_modified: datetime

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:20] + '"'


@lru_cache(maxsize=1)
def _raw_articles() -> tuple[dict[str, Any], ...]:
    text = resources.files("newsworld").joinpath("data/articles.json").read_text("utf-8")
    return tuple(json.loads(text)["articles"])


def _when(article: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(article["published"].replace("Z", "+00:00"))


def _updated(article: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(
        article.get("updated", article["published"]).replace("Z", "+00:00")
    )


def _path(article: dict[str, Any]) -> str:
    publisher, slug = article["publisher"], article["slug"]
    if publisher == "retail-daily":
        moment = _when(article)
        return f"/retail-daily/{article['section']}/{moment:%Y/%m}/{slug}.html"
    if publisher == "market-wire":
        return f"/market-wire/story/{slug}"
    return f"/shop-signal/a/{slug}.html"


def articles(edits: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every article of the world (the syndicated copy included), newest first, with its path.

    ``edits`` maps a slug to fields that replace the article's own (a correction,
    say, with ``updated`` set), as a publisher would change a page.
    """
    edits = edits or {}
    items = [dict(a, path=_path(a), **edits.get(a["slug"], {})) for a in _raw_articles()]
    original = min((a for a in items if a["publisher"] == "retail-daily"), key=_when)
    copy = dict(
        original,
        slug=original["slug"] + "-syndicated",
        publisher="market-wire",
        published=(_when(original) + SYNDICATION_DELAY).isoformat().replace("+00:00", "Z"),
        credit="This article was first published by Retail Daily and is republished "
        "with permission.",
        syndicated_from=original["slug"],
    )
    copy["path"] = _path(copy)
    items.append(copy)
    return sorted(items, key=_when, reverse=True)


def _xml(text: str) -> str:
    return escape(text, quote=True)


def _rss(items: list[dict[str, Any]], base: str) -> str:
    entries = "".join(
        f"<item><title>{_xml(a['title'])}</title>"
        f"<link>{_xml(base + a['path'] + '?utm_source=rss&utm_medium=feed')}</link>"
        f'<guid isPermaLink="false">retail-daily-{a["slug"]}</guid>'
        f"<pubDate>{format_datetime(_when(a))}</pubDate>"
        f"<dc:creator>{_xml(a['author'])}</dc:creator>"
        f"<description>{_xml(a['summary'])}</description></item>"
        for a in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Retail Daily</title>'
        f"<link>{base}/retail-daily/</link><description>Retail news</description>"
        f"<language>en</language>{entries}</channel></rss>"
    )


def _atom(items: list[dict[str, Any]], base: str) -> str:
    updated = max(_when(a) for a in items).isoformat()
    entries = "".join(
        f'<entry><title>{_xml(a["title"])}</title><link rel="alternate" href="{a["path"]}"/>'
        f"<id>tag:market-wire,2026:{a['slug']}</id><published>{_when(a).isoformat()}</published>"
        f"<updated>{_updated(a).isoformat()}</updated><author><name>{_xml(a['author'])}</name>"
        f"</author><summary>{_xml(a['summary'])}</summary></entry>"
        for a in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>Market Wire</title><id>tag:market-wire,2026:feed</id><updated>{updated}"
        f'</updated><link rel="self" href="/market-wire/atom.xml"/>{entries}</feed>'
    )


def _json_feed(items: list[dict[str, Any]], base: str) -> str:
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Shop Signal",
            "home_page_url": f"{base}/shop-signal/",
            "items": [
                {
                    "id": a["slug"],
                    "url": base + a["path"],
                    "title": a["title"],
                    "summary": a["summary"],
                    "date_published": a["published"],
                    "authors": [{"name": a["author"]}],
                    "language": a["lang"],
                }
                for a in items
            ],
        }
    )


def _news_sitemap(items: list[dict[str, Any]], base: str) -> str:
    urls = "".join(
        f"<url><loc>{_xml(base + a['path'])}</loc><news:news><news:publication>"
        f"<news:name>Retail Daily</news:name><news:language>{a['lang']}</news:language>"
        f"</news:publication><news:publication_date>{a['published']}</news:publication_date>"
        f"<news:title>{_xml(a['title'])}</news:title></news:news></url>"
        for a in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><urlset '
        'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">' + urls + "</urlset>"
    )


def _sitemap(items: list[dict[str, Any]], base: str) -> str:
    urls = "".join(
        f"<url><loc>{_xml(base + a['path'])}</loc>"
        f"<lastmod>{_updated(a).isoformat()}</lastmod></url>"
        for a in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
    )


def _sitemap_index(months: dict[str, datetime], base: str) -> str:
    entries = "".join(
        f"<sitemap><loc>{base}/market-wire/sitemap-{month}.xml</loc>"
        f"<lastmod>{moment.isoformat()}</lastmod></sitemap>"
        for month, moment in sorted(months.items())
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><sitemapindex '
        f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'
    )


def _related_for(article: dict[str, Any], everything: list[dict[str, Any]]) -> list[dict[str, Any]]:
    same = [a for a in everything if a["publisher"] == article["publisher"] and a is not article]
    return same[:4]


def _listing_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    extra = [
        {"path": DISALLOWED_PATH, "title": "Embargoed: Temu results preview", "summary": ""},
        {"path": PDF_PATH, "title": "Temu annual report (PDF)", "summary": ""},
    ]
    listed = list(items)
    listed.insert(1, extra[0])
    listed.insert(LISTING_PAGE_SIZE + 2, extra[1])
    return listed


def _publisher_items(everything: list[dict[str, Any]], publisher: str) -> list[dict[str, Any]]:
    return [a for a in everything if a["publisher"] == publisher]


def build_site(base: str, edits: dict[str, dict[str, Any]] | None = None) -> dict[str, Resource]:
    """Every path of the world mapped to its resource, with links under ``base``."""
    everything = articles(edits)
    newest = max(_updated(a) for a in everything)
    site: dict[str, Resource] = {"/robots.txt": Resource(ROBOTS_TXT.encode(), "text/plain", newest)}

    def put(path: str, text: str, content_type: str, moment: datetime = newest) -> None:
        site[path] = Resource(text.encode("utf-8"), content_type, moment)

    for article in everything:
        page = article_page(article, base, _related_for(article, everything))
        put(article["path"], page, "text/html; charset=utf-8", _updated(article))

    retail = _publisher_items(everything, "retail-daily")
    put("/retail-daily/rss.xml", _rss(retail, base), "application/rss+xml")
    put("/retail-daily/news-sitemap.xml", _news_sitemap(retail, base), "application/xml")

    wire = _publisher_items(everything, "market-wire")
    put("/market-wire/atom.xml", _atom(wire, base), "application/atom+xml")
    months: dict[str, list[dict[str, Any]]] = {}
    for article in wire:
        months.setdefault(f"{_when(article):%Y-%m}", []).append(article)
    for month, items in months.items():
        put(f"/market-wire/sitemap-{month}.xml", _sitemap(items, base), "application/xml")
    latest = {month: max(_updated(a) for a in items) for month, items in months.items()}
    put("/market-wire/sitemap-index.xml", _sitemap_index(latest, base), "application/xml")

    signal = _publisher_items(everything, "shop-signal")
    put(
        "/shop-signal/feed.json", _json_feed(signal[:JSON_FEED_SIZE], base), "application/feed+json"
    )
    _put_listing(put, _listing_items(signal), base)
    site[PDF_PATH] = Resource(
        b"%PDF-1.4\n% shopwatch test document\n%%EOF\n", "application/pdf", newest
    )
    put(
        DISALLOWED_PATH,
        "<html><body><p>This page must never be fetched.</p></body></html>",
        "text/html; charset=utf-8",
    )
    return site


def _put_listing(put: Any, listed: list[dict[str, Any]], base: str) -> None:
    pages = [listed[i : i + LISTING_PAGE_SIZE] for i in range(0, len(listed), LISTING_PAGE_SIZE)]
    for number, items in enumerate(pages, start=1):
        path = "/shop-signal/latest/" if number == 1 else f"/shop-signal/latest/?page={number}"
        following = f"/shop-signal/latest/?page={number + 1}" if number < len(pages) else None
        put(
            path,
            listing_page("shop-signal", base, items, number, following),
            "text/html; charset=utf-8",
        )


def sources_toml(base: str) -> str:
    """``[[sources]]`` entries that cover the world at ``base``."""
    return f"""
[[sources]]
name = "retail-daily"
feeds = ["{base}/retail-daily/rss.xml"]
sitemaps = ["{base}/retail-daily/news-sitemap.xml"]
tags = ["retail"]

[[sources]]
name = "market-wire"
feeds = ["{base}/market-wire/atom.xml"]
sitemaps = ["{base}/market-wire/sitemap-index.xml"]
tags = ["markets"]

[[sources]]
name = "shop-signal"
feeds = ["{base}/shop-signal/feed.json"]
start_urls = ["{base}/shop-signal/latest/"]
follow = ["/shop-signal/(a|private)/"]
tags = ["ecommerce"]
"""


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=5, mtime=0)


__all__ = [
    "DISALLOWED_PATH",
    "PDF_PATH",
    "PUBLISHER_NAMES",
    "Resource",
    "articles",
    "build_site",
    "gzipped",
    "sources_toml",
]

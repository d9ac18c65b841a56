"""The pure discovery stages: feeds, sitemaps and listing pages."""

from datetime import UTC, datetime

import pytest

from crawler.feeds import parse_feed
from crawler.listings import article_links, compile_patterns, next_page
from crawler.sitemaps import parse_sitemap

BASE = "http://news.test"

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<item><title>One</title><link>http://news.test/a/1?utm_source=rss</link>
<pubDate>Tue, 12 Nov 2026 08:30:00 GMT</pubDate><author>x@news.test (Ann Lee)</author></item>
<item><title>No link</title></item>
</channel></rss>"""

ATOM_RELATIVE = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>W</title><id>x</id><updated>2026-11-01T00:00:00Z</updated>
<entry><title>Rel</title><link rel="alternate" href="/story/rel"/><id>r</id>
<updated>2026-11-02T10:00:00Z</updated><author><name>Bo Chen</name></author></entry></feed>"""


def test_rss_entries_keep_link_date_and_title() -> None:
    parsed = parse_feed(RSS, f"{BASE}/rss.xml", "application/rss+xml")
    assert [e.url for e in parsed.entries] == ["http://news.test/a/1?utm_source=rss"]
    assert parsed.entries[0].title == "One"
    assert parsed.entries[0].published == datetime(2026, 11, 12, 8, 30, tzinfo=UTC)


def test_atom_relative_links_are_resolved_against_the_feed_url() -> None:
    parsed = parse_feed(ATOM_RELATIVE, f"{BASE}/feeds/atom.xml", "application/atom+xml")
    assert [e.url for e in parsed.entries] == ["http://news.test/story/rel"]
    assert parsed.entries[0].author == "Bo Chen"


@pytest.mark.fault(10)
def test_json_feed_with_wrong_types_keeps_the_usable_items() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": ['
        b'{"url": "/a/ok", "title": "Ok", "date_published": "2026-11-03T09:00:00Z"},'
        b'{"url": 42}, "junk", {"title": "no url"}]}'
    )
    parsed = parse_feed(body, f"{BASE}/feed.json", "application/feed+json")
    assert [e.url for e in parsed.entries] == ["http://news.test/a/ok"]
    assert parsed.warning and "3" in parsed.warning


@pytest.mark.fault(10)
def test_malformed_feed_keeps_entries_and_says_why() -> None:
    broken = RSS.replace(b"</channel></rss>", b"<item><title>Cut")
    parsed = parse_feed(broken, f"{BASE}/rss.xml")
    assert [e.title for e in parsed.entries][:1] == ["One"]
    assert parsed.warning


@pytest.mark.fault(10)
def test_html_served_as_a_feed_yields_nothing_with_a_reason() -> None:
    parsed = parse_feed(b"<html><body><p>Hello</p></body></html>", f"{BASE}/rss.xml", "text/html")
    assert parsed.entries == []
    assert parsed.warning


@pytest.mark.fault(10)
def test_empty_feed_body() -> None:
    assert parse_feed(b"  ", f"{BASE}/rss.xml").warning == "empty body"


def test_news_sitemap_and_index() -> None:
    urlset = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        b'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"><url>'
        b"<loc>http://news.test/a/1</loc><news:news><news:publication_date>2026-11-01T10:00:00Z"
        b"</news:publication_date><news:title>T1</news:title></news:news></url></urlset>"
    )
    parsed = parse_sitemap(urlset, f"{BASE}/news-sitemap.xml")
    assert parsed.kind == "urlset"
    assert parsed.entries[0].title == "T1"
    assert parsed.entries[0].published == datetime(2026, 11, 1, 10, tzinfo=UTC)
    index = (
        b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap>'
        b"<loc>http://news.test/s1.xml</loc><lastmod>2026-11-02</lastmod></sitemap></sitemapindex>"
    )
    parsed = parse_sitemap(index, f"{BASE}/index.xml")
    assert parsed.kind == "sitemapindex"
    assert [e.url for e in parsed.entries] == ["http://news.test/s1.xml"]


@pytest.mark.fault(9)
def test_sitemap_entities_are_not_resolved() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url>'
        b"<loc>http://news.test/a/&x;</loc></url></urlset>"
    )
    parsed = parse_sitemap(xxe, f"{BASE}/s.xml")
    assert all("root:" not in e.url for e in parsed.entries)


def test_listing_links_are_searched_not_anchored_and_next_page_found() -> None:
    html = """<html><head><link rel="next" href="/latest?page=2"></head><body>
    <a href="/news/2026/temu-gmv?utm_source=home">Temu</a>
    <a href="http://other.test/x/news/2026/shein">Elsewhere</a>
    <a href="/about">About</a><a href="mailto:x@y">Mail</a></body></html>"""
    links = article_links(html, f"{BASE}/latest", compile_patterns([r"/news/\d{4}/"]))
    assert links == ["http://news.test/news/2026/temu-gmv", "http://other.test/x/news/2026/shein"]
    assert next_page(html, f"{BASE}/latest") == "http://news.test/latest?page=2"

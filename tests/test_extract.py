"""Extraction on the news world's three house styles and on tricky metadata."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from trafilatura.utils import load_html

from crawler.dates import parse_iso
from crawler.extract import Hints, NotAnArticle, extract_article
from crawler.metadata import page_metadata
from newsworld.world import articles, build_site
from storage.articles import content_hash

BASE = "http://127.0.0.1:8000"
SITE = build_site(BASE)


@pytest.mark.parametrize("publisher", ["retail-daily", "market-wire", "shop-signal"])
def test_each_house_style_yields_title_author_date_and_clean_text(publisher: str) -> None:
    article = next(a for a in articles() if a["publisher"] == publisher)
    page = extract_article(SITE[article["path"]].body, BASE + article["path"])
    assert page.title == article["title"]
    assert page.author == article["author"]
    published = datetime.fromisoformat(article["published"].replace("Z", "+00:00"))
    assert page.published_at is not None
    assert page.published_at.date() == published.date()
    assert page.text.startswith(article["paragraphs"][0][:60])
    assert "cookie" not in page.text.lower()
    assert page.language == "en"
    # worked out where extraction runs, the same hash the store would compute
    assert page.content_hash == content_hash(page.title, page.text)


def test_feed_time_refines_a_page_that_gives_only_the_day() -> None:
    article = next(a for a in articles() if a["publisher"] == "shop-signal")
    published = datetime.fromisoformat(article["published"].replace("Z", "+00:00"))
    page = extract_article(
        SITE[article["path"]].body, BASE + article["path"], Hints(published=published)
    )
    assert page.published_at == published


def test_feed_values_fill_what_the_page_lacks() -> None:
    html = "<html><body><article>" + "<p>Temu expanded into Kenya this week.</p>" * 20
    html += "</article></body></html>"
    hints = Hints(
        title="Temu in Kenya", author="Ann Lee", published=datetime(2026, 11, 2, 9, tzinfo=UTC)
    )
    page = extract_article(html, "https://news.test/a/1", hints)
    assert (page.title, page.author, page.published_at) == (
        "Temu in Kenya",
        "Ann Lee",
        datetime(2026, 11, 2, 9, tzinfo=UTC),
    )


def test_german_article_is_tagged_german() -> None:
    article = next(a for a in articles() if a["lang"] == "de")
    page = extract_article(SITE[article["path"]].body, BASE + article["path"])
    assert page.language == "de"


def test_canonical_link_on_the_same_site_wins_and_tracking_is_dropped() -> None:
    article = next(a for a in articles() if a["publisher"] == "retail-daily")
    url = BASE + article["path"] + "?utm_source=rss"
    assert extract_article(SITE[article["path"]].body, url).canonical_url == BASE + article["path"]


def test_canonical_link_to_another_site_is_ignored() -> None:
    body = "<p>" + "Shein opened a store in Madrid. " * 20 + "</p>"
    html = f'<html><head><link rel="canonical" href="https://elsewhere.test/x"></head>{body}</html>'
    assert extract_article(html, "https://news.test/a/2").canonical_url == "https://news.test/a/2"


def test_page_without_article_text_is_not_an_article() -> None:
    with pytest.raises(NotAnArticle):
        extract_article("<html><body><nav>Home</nav></body></html>", "https://news.test/")


def test_metadata_reads_json_ld_graph_and_skips_profile_urls() -> None:
    html = """<html lang="en-GB"><head>
    <script type="application/ld+json">{"@graph": [{"@type": "WebSite", "name": "X"},
      {"@type": "NewsArticle", "headline": "H", "datePublished": "2026-11-03T10:00:00+0100",
       "author": [{"@type": "Person", "name": "A One"}, {"name": "B Two"}],
       "publisher": {"name": "Paper"}}]}</script>
    <meta property="article:author" content="https://facebook.com/someone">
    </head><body><h1>Other</h1></body></html>"""
    meta = page_metadata(load_html(html))
    assert meta.title == "H"
    assert meta.author == "A One, B Two"
    assert meta.published == datetime(2026, 11, 3, 9, tzinfo=UTC)
    assert meta.sitename == "Paper"
    assert meta.language == "en"


def test_parse_iso_accepts_dates_and_rejects_junk() -> None:
    assert parse_iso("2026-11-03") == datetime(2026, 11, 3, tzinfo=UTC)
    assert parse_iso("yesterday") is None
    assert parse_iso(None) is None


def test_control_characters_and_noncharacters_do_not_break_parsing() -> None:
    body = "<p>" + "Temu\x00 opened\x0b a \ufffewarehouse in Leipzig.\x1f " * 15 + "</p>"
    page = extract_article(
        f"<html><body><article>{body}</article></body></html>", "https://news.test/a/3"
    )
    assert "Temu opened a warehouse in Leipzig." in page.text
    assert not any(ch in page.text for ch in "\x00\x0b\x1f\ufffe")

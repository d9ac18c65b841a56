"""The crawler against the local news world, end to end, through the real CLI."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from newsworld.world import DISALLOWED_PATH, PDF_PATH, articles
from tests.conftest import CrawledWorld, run_cli

BOILERPLATE = (
    "cookie",
    "Accept all",
    "Subscribe now",
    "morning briefing",
    "Related stories",
    "shopper_88",
    "Comments (3)",
    "All rights reserved",
    "Older stories",
)


def _rows(crawled: CrawledWorld) -> list[sqlite3.Row]:
    db = sqlite3.connect(crawled.config.parent / "shopwatch.db")
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM articles").fetchall()
    finally:
        db.close()


def test_first_crawl_reports_counts_as_json(crawled: CrawledWorld) -> None:
    assert crawled.first.code == 0, crawled.first.err
    totals = crawled.first.json()
    assert set(totals) == {"fetched", "new", "updated", "skipped", "failed"}
    assert totals["new"] == len(articles())
    assert totals["failed"] == 0
    assert totals["skipped"] >= 2  # the robots-disallowed page and the PDF


def test_every_article_is_stored_once_with_title_date_and_author(crawled: CrawledWorld) -> None:
    base = crawled.world.base_url
    rows = {row["canonical_url"]: row for row in _rows(crawled)}
    assert len(rows) == len(_rows(crawled))
    expected = {base + a["path"]: a for a in articles()}
    assert set(rows) == set(expected)
    for url, article in expected.items():
        row = rows[url]
        assert row["title"] == article["title"], url
        assert row["author"] == article["author"], url
        published = datetime.fromisoformat(article["published"].replace("Z", "+00:00"))
        assert row["published_at"][:10] == f"{published:%Y-%m-%d}", url
        assert row["language"] == article["lang"], url
        assert row["source"] == article["publisher"], url


def test_stored_text_is_the_article_without_boilerplate(crawled: CrawledWorld) -> None:
    by_url = {crawled.world.base_url + a["path"]: a for a in articles()}
    for row in _rows(crawled):
        for phrase in BOILERPLATE:
            assert phrase not in row["text"], (row["url"], phrase)
        for paragraph in by_url[row["canonical_url"]]["paragraphs"]:
            assert paragraph in row["text"]


def test_tracking_parameters_are_dropped_from_stored_urls(crawled: CrawledWorld) -> None:
    assert all(
        "utm_" not in row["url"] and "utm_" not in row["canonical_url"] for row in _rows(crawled)
    )


def test_robots_disallowed_pages_are_never_requested(crawled: CrawledWorld) -> None:
    paths = [r.path for r in crawled.first_requests + crawled.second_requests]
    assert "/robots.txt" in paths
    assert DISALLOWED_PATH not in paths
    assert all(not p.startswith("/shop-signal/private/") for p in paths)


def test_requests_carry_the_configured_user_agent(crawled: CrawledWorld) -> None:
    assert {r.headers.get("User-Agent") for r in crawled.first_requests} == {"shopwatch-test/0.1"}


def test_non_html_pages_are_skipped_and_counted(crawled: CrawledWorld) -> None:
    assert PDF_PATH in [r.path for r in crawled.first_requests]
    assert not any(row["url"].endswith(".pdf") for row in _rows(crawled))
    runs = run_cli("runs", "--format", "json", config=crawled.config).json()
    first = runs[-1]
    reasons = first["per_source"]["shop-signal"]["skip_reasons"]
    assert reasons["not HTML"] == 1
    assert reasons["disallowed by robots.txt"] == 1


def test_second_crawl_adds_nothing_and_feeds_answer_304(crawled: CrawledWorld) -> None:
    assert crawled.second.code == 0, crawled.second.err
    totals = crawled.second.json()
    assert totals["new"] == 0 and totals["updated"] == 0 and totals["failed"] == 0
    assert len(_rows(crawled)) == len(articles())
    endpoints = (
        "/retail-daily/rss.xml",
        "/market-wire/atom.xml",
        "/shop-signal/feed.json",
        "/retail-daily/news-sitemap.xml",
        "/market-wire/sitemap-index.xml",
    )
    second = {r.path: r for r in crawled.second_requests}
    for path in endpoints:
        assert second[path].status == 304, path
        assert "If-None-Match" in second[path].headers, path
    article_paths = {a["path"] for a in articles()}
    assert not article_paths & set(second), "known articles were fetched again"


def test_sources_shows_feed_health_and_counts(crawled: CrawledWorld) -> None:
    result = run_cli("sources", "--format", "json", config=crawled.config)
    assert result.code == 0, result.err
    report = {entry["source"]: entry for entry in result.json()}
    assert set(report) == {"retail-daily", "market-wire", "shop-signal"}
    assert report["retail-daily"]["articles"] == 14
    assert report["market-wire"]["articles"] == 15
    feed = next(e for e in report["retail-daily"]["endpoints"] if e["kind"] == "feed")
    assert feed["last_status"] == 304
    assert feed["consecutive_errors"] == 0
    kinds = {e["kind"] for e in report["market-wire"]["endpoints"]}
    assert kinds == {"feed", "sitemap"}
    table = run_cli("sources", config=crawled.config)
    assert "retail-daily" in table.out and "rss.xml" in table.out


def test_crawl_runs_are_recorded(crawled: CrawledWorld) -> None:
    runs = run_cli("runs", "--format", "json", config=crawled.config).json()
    assert [r["status"] for r in runs] == ["completed", "completed"]
    assert runs[-1]["new"] == len(articles())
    assert runs[0]["new"] == 0
    assert runs[-1]["finished_at"] >= runs[-1]["started_at"]


def test_crawl_shows_progress_on_a_terminal(world, tmp_path) -> None:
    """On a terminal the running counts are drawn live; without one, nothing but the result."""
    import os
    import pty
    import subprocess
    import sys

    from tests.conftest import world_config

    config = world_config(world, tmp_path)
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    env.pop("SHOPWATCH_CONFIG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shopwatch", "--config", str(config), "crawl"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(leader)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "crawling" in screen and "fetched" in screen
    assert "crawl run 1 (completed)" in screen


def test_extraction_in_this_process_stores_the_same_articles(world, tmp_path) -> None:
    """`extract_processes = 0` (a one-core machine's default) gives what the default gives."""
    from tests.conftest import world_config

    def stored(config) -> set[tuple[str, str, str]]:
        db = sqlite3.connect(config.parent / "shopwatch.db")
        try:
            return set(db.execute("SELECT canonical_url, content_hash, author FROM articles"))
        finally:
            db.close()

    inline = world_config(world, tmp_path / "inline", "extract_processes = 0")
    pooled = world_config(world, tmp_path / "pooled", "extract_processes = 2")
    for config in (inline, pooled):
        result = run_cli("crawl", "--json", config=config)
        assert result.code == 0, result.err
        assert result.json()["new"] == len(articles())
    assert stored(inline) == stored(pooled)
    assert len(stored(inline)) == len(articles())

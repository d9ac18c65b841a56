"""Crawling a world that changes and misbehaves: updates, timeouts, size caps, Retry-After."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from newsworld import NewsWorld
from newsworld.world import articles
from tests.conftest import run_cli, world_config


@pytest.fixture
def own_world() -> Iterator[NewsWorld]:
    with NewsWorld() as running:
        yield running


def _count(db: Path, sql: str, *args: object) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def test_a_changed_article_is_updated_not_duplicated(own_world: NewsWorld, tmp_path: Path) -> None:
    config = world_config(own_world, tmp_path)
    db = tmp_path / "shopwatch.db"
    assert run_cli("crawl", "--json", config=config).json()["new"] == len(articles())
    target = next(a for a in articles() if a["publisher"] == "market-wire")
    corrected = [*target["paragraphs"], "Correction: an earlier version misstated the date."]
    # the publisher's edit is dated now: after the first crawl fetched the page
    edited = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    own_world.edit_article(target["slug"], paragraphs=corrected, updated=edited)
    totals = run_cli("crawl", "--json", config=config).json()
    assert (totals["new"], totals["updated"], totals["failed"]) == (0, 1, 0)
    assert _count(db, "SELECT count(*) FROM articles") == len(articles())
    url = own_world.base_url + target["path"]
    assert (
        _count(
            db,
            "SELECT count(*) FROM articles WHERE canonical_url = ? AND text LIKE ? "
            "AND updated_at IS NOT NULL",
            url,
            "%Correction: an earlier%",
        )
        == 1
    )
    assert _count(db, "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH 'misstated'") == 1


FAULT_SOURCE = """
[[sources]]
name = "faults"
feeds = ["{base}/faults/feed.json", "{base}/faults/broken-rss.xml"]
"""


def test_faults_are_bounded_recorded_and_do_not_stop_the_crawl(
    own_world: NewsWorld, tmp_path: Path
) -> None:
    extra = "download_timeout = 2\nmax_page_bytes = 100_000\nretries = 1\n"
    config = world_config(own_world, tmp_path, extra=extra)
    with config.open("a", encoding="utf-8") as handle:
        handle.write(FAULT_SOURCE.format(base=own_world.base_url))
    mark = len(own_world.requests)
    result = run_cli("crawl", "--json", config=config)
    assert result.code == 0, result.err
    totals = result.json()
    # the world, plus the Retry-After pages (1 and 2 from the broken feed, 2 from the JSON one)
    assert totals["new"] == len(articles()) + 3
    errors = run_cli("runs", "--errors", "1", "--format", "json", config=config).json()
    kinds = {e["url"].rsplit("/", 1)[-1]: e["kind"] for e in errors}
    assert kinds["slow"] == "timeout"
    assert kinds["huge"] == "too-large"
    assert kinds["x"] == "refused" and kinds["y"] == "refused"
    seen = own_world.requests_since(mark)
    assert not any(r.path in ("/x", "/y") for r in seen)
    assert any(e["kind"] == "parse" and e["url"].endswith("broken-rss.xml") for e in errors)
    report = run_cli("sources", "--format", "json", config=config).json()
    faults = next(entry for entry in report if entry["source"] == "faults")
    broken = next(e for e in faults["endpoints"] if e["url"].endswith("broken-rss.xml"))
    assert broken["entries"] == 2 and broken["last_warning"]
    assert broken["consecutive_errors"] == 0
    for path, wait in (("/faults/retry-after/1", 1.0), ("/faults/retry-date/2", 2.0)):
        times = [r.at for r in seen if r.path == path]
        assert len(times) == 2, path
        assert times[1] - times[0] >= wait - 0.05, path

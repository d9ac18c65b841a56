"""Enrichment through the CLI on the crawled news world: crawl enriches; commands read the facts."""

from __future__ import annotations

import sqlite3

from tests.conftest import CrawledWorld, run_cli


def _counts(crawled: CrawledWorld) -> tuple[int, ...]:
    with sqlite3.connect(crawled.config.parent / "shopwatch.db") as db:
        return tuple(
            db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in (
                "figures",
                "events",
                "people",
                "article_entities",
                "enrichments",
                "stories",
                "article_stories",
            )
        )


def test_crawl_enriched_every_article_and_tagged_the_german_one(crawled: CrawledWorld) -> None:
    with sqlite3.connect(crawled.config.parent / "shopwatch.db") as db:
        rows = dict(db.execute("SELECT language, count(*) FROM enrichments GROUP BY language"))
        skipped = db.execute("SELECT count(*) FROM enrichments WHERE skipped").fetchone()[0]
    assert rows == {"en": 42, "de": 1}
    assert skipped == 1


def _memberships(crawled: CrawledWorld) -> list[tuple[int, int, str]]:
    with sqlite3.connect(crawled.config.parent / "shopwatch.db") as db:
        return list(
            db.execute(
                "SELECT m.article_id, m.story_id, s.title FROM article_stories m "
                "JOIN stories s ON s.id = m.story_id ORDER BY m.article_id"
            )
        )


def test_enrich_all_is_idempotent(crawled: CrawledWorld) -> None:
    before = _counts(crawled)
    stories = _memberships(crawled)
    assert min(before) > 0
    result = run_cli("enrich", "--all", "--json", config=crawled.config)
    assert result.code == 0, result.err
    assert result.json()["articles"] == 43
    assert _counts(crawled) == before
    # every article keeps its story under the same id (alerts are keyed by it)
    assert _memberships(crawled) == stories
    again = run_cli("enrich", "--json", config=crawled.config).json()
    assert again["articles"] == 0  # nothing new or changed


def test_figures_command(crawled: CrawledWorld) -> None:
    rows = run_cli(
        "figures", "--entity", "temu", "--metric", "GMV", "--format", "json", config=crawled.config
    ).json()
    assert rows
    for field in (
        "article_id",
        "url",
        "entity",
        "metric",
        "value",
        "unit",
        "currency",
        "change",
        "period",
        "text",
        "sentence",
    ):
        assert field in rows[0]
    assert {r["entity"] for r in rows} == {"Temu"} and {r["metric"] for r in rows} == {"GMV"}
    assert any(r["value"] == 17.5e9 and r["currency"] == "USD" for r in rows)


def test_events_command(crawled: CrawledWorld) -> None:
    rows = run_cli(
        "events",
        "--type",
        "leadership",
        "--entity",
        "TikTok Shop",
        "--format",
        "json",
        config=crawled.config,
    ).json()
    assert rows and {r["type"] for r in rows} == {"leadership"}
    for field in ("article_id", "url", "type", "entity", "persons", "sentence", "published_at"):
        assert field in rows[0]
    assert any("Maria Okafor" in r["persons"] for r in rows)
    bad = run_cli("events", "--type", "party", config=crawled.config)
    assert bad.code == 2 and "Traceback" not in bad.err


def test_search_by_watched_entity_and_mentions(crawled: CrawledWorld) -> None:
    hits = run_cli(
        "search",
        "--entity",
        "tiktok shop",
        "--limit",
        "100",
        "--format",
        "json",
        config=crawled.config,
    ).json()
    assert hits and all("TikTok Shop" in h["entities"] for h in hits)
    brazil = run_cli("search", "Manaus", "--format", "json", config=crawled.config).json()
    assert brazil and all("Amazon" not in h["entities"] for h in brazil)
    weekly = run_cli(
        "mentions",
        "--entity",
        "Temu",
        "--interval",
        "week",
        "--format",
        "json",
        config=crawled.config,
    ).json()
    assert weekly and all(r["entity"] == "Temu" and r["count"] >= 1 for r in weekly)
    assert sum(r["count"] for r in weekly) == len(
        run_cli(
            "search",
            "--entity",
            "Temu",
            "--limit",
            "100",
            "--format",
            "json",
            config=crawled.config,
        ).json()
    )


def test_stories_group_the_same_news_across_outlets(crawled: CrawledWorld) -> None:
    rows = run_cli(
        "stories", "--min-sources", "2", "--format", "json", config=crawled.config
    ).json()
    by_slug = {}
    for story in rows:
        slugs = {a["url"].rsplit("/", 1)[-1].removesuffix(".html") for a in story["articles"]}
        for slug in slugs:
            by_slug[slug] = slugs
    okafor = by_slug["okafor-exits-tiktok-shop-us"]
    assert {
        "tiktok-shop-us-head-okafor-steps-down",
        "okafor-exits-tiktok-shop-us-syndicated",
    } <= okafor  # rewrite and syndicated copy
    assert "shein-hit-with-dsa-fine-brussels" in by_slug["eu-fines-shein-420-million-dsa"]
    assert "temu-november-sale-record-gmv" in by_slug["temu-singles-day-gmv"]
    assert "amazon-job-cuts-worldwide-stores-division" in by_slug["amazon-cuts-2000-stores-jobs"]
    for story in rows:  # no story mixes a Temu sale with Shein news
        titles = " ".join(a["title"] for a in story["articles"])
        assert not ("Temu" in titles and "Shein freezes" in titles)
    per_story = run_cli(
        "mentions",
        "--entity",
        "TikTok Shop",
        "--stories",
        "--format",
        "json",
        config=crawled.config,
    ).json()
    per_article = run_cli(
        "mentions", "--entity", "TikTok Shop", "--format", "json", config=crawled.config
    ).json()
    assert 0 < sum(r["count"] for r in per_story) < sum(r["count"] for r in per_article)

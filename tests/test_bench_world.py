"""The benchmarks' synthetic news world: crawled whole by the real crawler, bodies intact.

The throughput benchmarks (``python -m bench crawl`` and ``ingest``) stand on it,
so the suite checks that it serves what it promises: every article reachable
through its sitemaps once, the stored text the planted one, the planted
figure found by the enrichment.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.ingest import check_store
from bench.world import World, serve
from config import example_watchlist_toml
from tests.conftest import run_cli


def test_the_synthetic_world_is_crawled_whole_and_enriched(tmp_path: Path) -> None:
    world = World(60, sites=3)
    servers, port = serve(world, 0)
    try:
        config = tmp_path / "shopwatch.toml"
        config.write_text(
            f'[store]\nurl = "sqlite:///{tmp_path / "shopwatch.db"}"\n\n'
            '[crawl]\nuser_agent = "shopwatch-test/0.1"\nallowed_networks = ["127.0.0.0/8"]\n\n'
            f"{world.sources_toml(port)}\n{example_watchlist_toml()}",
            encoding="utf-8",
        )
        result = run_cli("crawl", "--json", config=config)
        assert result.code == 0, result.err
        assert result.json()["new"] == 60
        again = run_cli("crawl", "--json", config=config)  # the feeds and pages say 304 or same
        assert again.code == 0 and again.json()["new"] == 0, again.err
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    check = check_store(tmp_path, world, port)
    assert check["stored"] == check["distinct"] == check["expected"] == 60
    assert check["unknown"] == 0
    assert check["f1"] > 0.99
    assert check["with_figure"] == 60  # each article's planted percentage
    with sqlite3.connect(tmp_path / "shopwatch.db") as db:
        found = set(
            db.execute(
                "SELECT a.canonical_url, e.name FROM article_entities e "
                "JOIN articles a ON a.id = e.article_id WHERE e.label = 'PERSON'"
            )
        )
    planted = {
        (
            world.base(world.article(n).site, port) + world.article(n).path,
            world.article(n).facts.person,
        )
        for n in range(60)
    }
    assert len(planted & found) >= 55, "the planted people are not found as people"

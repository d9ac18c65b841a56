"""Every command on a PostgreSQL store, against the same commands on a SQLite store.

The news world is crawled through the CLI straight into a new PostgreSQL
database on this machine (dropped afterwards), and each command's answer is
compared with its answer on the SQLite store of the same world (the ``crawled``
fixture): search (newest first, ranked, phrases, filters, hostile input),
figures, events, mentions, stories, the digest, exports, runs, sources and the
JSON API; also alert rules' full-text queries, and one key written twice. Ids
differ between the stores (articles are stored in the order they arrive), so
articles are compared by URL.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from config import load_settings
from storage.alerts import fts_hits
from storage.engine import Store, open_store
from storage.outbox import enqueue
from storage.service import Holder, try_lock
from storage.tables import Delivery
from tests.conftest import CliResult, CrawledWorld, postgres_database, run_cli, world_config
from tests.servers import LiveApp
from web.app import create_app

# what differs between two crawls of one world whatever the store: ids, times, processes
VOLATILE = {
    "id",
    "article_id",
    "fetched_at",
    "first_seen_at",
    "started_at",
    "finished_at",
    "last_fetched_at",
    "last_ok_at",
    "next_attempt_at",
    "pid",
    "host",
}


@dataclass
class Stores:
    """The same world crawled into PostgreSQL and into SQLite: one configuration each."""

    pg: Path
    lite: Path
    url: str


@pytest.fixture(scope="module")
def stores(crawled: CrawledWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    with postgres_database() as url:
        yield from _crawled_into(url, crawled, tmp_path_factory)


def _crawled_into(
    url: str, crawled: CrawledWorld, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stores]:
    folder = tmp_path_factory.mktemp("postgres")
    config = world_config(crawled.world, folder)
    written = config.read_text(encoding="utf-8")
    config.write_text(
        written.replace(f'url = "sqlite:///{folder / "shopwatch.db"}"', f'url = "{url}"', 1),
        encoding="utf-8",
    )
    assert url in config.read_text(encoding="utf-8")
    for _ in range(2):  # crawled twice, as the SQLite store was
        done = run_cli("crawl", "--json", config=config)
        assert done.code == 0, done.err
    yield Stores(config, crawled.config, url)


def both(stores: Stores, *args: str) -> tuple[CliResult, CliResult]:
    pg, lite = (run_cli(*args, config=c) for c in (stores.pg, stores.lite))
    assert pg.code == 0, pg.err
    assert lite.code == 0, lite.err
    return pg, lite


def stable(value: Any) -> Any:
    """``value`` without what differs between two crawls (ids, times, processes)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def urls(result: CliResult) -> list[str]:
    return [hit["url"] for hit in result.json()]


# --- search -----------------------------------------------------------------------------

SEARCHES = {
    "newest": ("Temu",),
    "two words": ("Temu Shein",),
    "phrase": ('"TikTok Shop"',),
    "entity": ("GMV", "--entity", "temu"),
    "dates": ("Temu", "--since", "2026-11-01", "--until", "2026-11-13"),
    "source": ("Amazon", "--source", "retail-daily"),
    "event": ("TikTok", "--type", "leadership"),
    "listing": (),
}


@pytest.mark.parametrize("kind", list(SEARCHES))
def test_search_newest_first_finds_the_same_articles_in_the_same_order(
    stores: Stores, kind: str
) -> None:
    pg, lite = both(stores, "search", *SEARCHES[kind], "--limit", "100", "-f", "json")
    assert urls(pg) and urls(pg) == urls(lite)
    assert [h["entities"] for h in pg.json()] == [h["entities"] for h in lite.json()]
    if SEARCHES[kind]:  # the snippets mark what matched, with the same marks
        assert all("[" in h["snippet"] and "]" in h["snippet"] for h in pg.json())


def test_optimize_vacuums_the_articles_and_search_answers_the_same(stores: Stores) -> None:
    done = run_cli("db", "optimize", "--json", config=stores.pg)
    assert done.code == 0, done.err
    report = done.json()
    assert report["backend"] == "postgresql" and report["segments_before"] is None
    store = open_store(stores.url, create=False)
    try:
        with store.engine.connect() as conn:
            vacuumed = conn.execute(
                text(
                    "SELECT last_vacuum, last_analyze FROM pg_stat_user_tables "
                    "WHERE relname = 'articles'"
                )
            ).one()
    finally:
        store.close()
    assert vacuumed.last_vacuum is not None and vacuumed.last_analyze is not None
    pg, lite = both(stores, "search", '"TikTok Shop"', "--limit", "100", "-f", "json")
    assert urls(pg) and urls(pg) == urls(lite)


def test_search_pages_walk_the_same_order(stores: Stores) -> None:
    pages = [
        both(stores, "search", "Temu", "--limit", "7", "--offset", str(offset), "-f", "json")
        for offset in (0, 7, 14)
    ]
    for pg, lite in pages:
        assert urls(pg) == urls(lite)
    assert len({u for pg, _ in pages for u in urls(pg)}) == 21


@pytest.mark.parametrize("q", ["GMV", "Temu", '"holiday sales"'])
def test_ranked_search_ranks_the_same_articles(stores: Stores, q: str) -> None:
    pg, lite = both(stores, "search", q, "--rank", "--limit", "100", "-f", "json")
    assert urls(pg) and set(urls(pg)) == set(urls(lite))  # each backend ranks in its own way
    top = run_cli("search", q, "--rank", "--limit", "3", "-f", "json", config=stores.pg)
    assert urls(top) == urls(pg)[:3]


def test_ranked_search_puts_title_matches_first(stores: Stores) -> None:
    pg = run_cli("search", "GMV", "--rank", "--limit", "100", "-f", "json", config=stores.pg)
    titled = ["gmv" in hit["title"].lower() for hit in pg.json()]
    assert titled[0] and titled == sorted(titled, reverse=True)


def test_hostile_input_is_searched_as_words(stores: Stores) -> None:
    for q in ("' OR 1=1--", "NEAR(", '"unbalanced', "a-b", "*", "title:temu", "x) OR (y"):
        pg, lite = both(stores, "search", q, "--limit", "100", "-f", "json")
        assert len(pg.json()) < 43 and len(lite.json()) < 43, q  # nothing matches everything
    near_pg, near_lite = both(stores, "search", "NEAR(", "--limit", "100", "-f", "json")
    plain_pg = run_cli("search", "near", "--limit", "100", "-f", "json", config=stores.pg)
    assert urls(near_pg) == urls(plain_pg)
    # English stemming: "nearly" is found by "near" on PostgreSQL, not in SQLite's FTS5
    assert set(urls(near_lite)) <= set(urls(near_pg))
    extra = [h for h in near_pg.json() if h["url"] not in urls(near_lite)]
    assert all("[nearly]" in h["snippet"].lower() for h in extra)
    unbalanced = both(stores, "search", '"unbalanced', "-f", "json")
    assert urls(unbalanced[0]) == urls(unbalanced[1])
    injected = run_cli("search", "' OR 1=1--", "--limit", "100", "-f", "json", config=stores.pg)
    assert injected.json() == []  # "or" is an English stop word; no article has "1=1"


# --- the other commands -----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("figures", "--limit", "500"),
        ("figures", "--entity", "temu", "--metric", "gmv"),
        ("events", "--limit", "500"),
        ("events", "--type", "leadership", "--since", "2026-11-01"),
        ("mentions",),
        ("mentions", "--interval", "week"),
        ("mentions", "--entity", "Temu", "--interval", "week", "--stories"),
        ("mentions", "--since", "2026-11-01", "--stories"),
        ("stories", "--limit", "100"),
        ("stories", "--min-sources", "2"),
        ("runs",),
        ("sources",),
    ],
    ids=lambda a: "-".join(a) if isinstance(a, tuple) else str(a),
)
def test_commands_answer_the_same(stores: Stores, args: tuple[str, ...]) -> None:
    pg, lite = both(stores, *args, "-f", "json")
    assert pg.json(), args
    if args[0] in ("figures", "events", "stories"):  # ties on the date: any order among them
        key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
        assert sorted(map(key, stable(pg.json()))) == sorted(map(key, stable(lite.json())))
    else:
        assert stable(pg.json()) == stable(lite.json())


def test_the_digest_is_the_same(stores: Stores, tmp_path: Path) -> None:
    pg, lite = both(stores, "digest", "--date", "2026-11-13")
    assert "Temu" in pg.out and pg.out == lite.out
    pages = [tmp_path / "pg.html", tmp_path / "lite.html"]
    for config, page in zip((stores.pg, stores.lite), pages, strict=True):
        done = run_cli("digest", "--date", "2026-11-13", "--out", str(page), config=config)
        assert done.code == 0, done.err
    assert pages[0].read_text(encoding="utf-8") == pages[1].read_text(encoding="utf-8")


def _exported(stores: Stores, folder: Path, dataset: str, fmt: str) -> list[list[Any]]:
    found = []
    for name, config in (("pg", stores.pg), ("lite", stores.lite)):
        out = folder / f"{name}-{dataset}.{fmt}"
        done = run_cli("export", dataset, "--format", fmt, "--out", str(out), config=config)
        assert done.code == 0, done.err
        body = out.read_text(encoding="utf-8")
        if fmt == "csv":
            rows: list[Any] = list(csv.DictReader(io.StringIO(body)))
        else:
            rows = [json.loads(line) for line in body.splitlines()]
        found.append(sorted(json.dumps(stable(r), sort_keys=True) for r in rows))
    return found


@pytest.mark.parametrize("dataset", ["articles", "figures", "events", "mentions"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_exports_hold_the_same_rows(stores: Stores, tmp_path: Path, dataset: str, fmt: str) -> None:
    pg, lite = _exported(stores, tmp_path, dataset, fmt)
    assert pg and pg == lite


# --- the JSON API -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_api(stores: Stores) -> Iterator[httpx.Client]:
    settings = load_settings(stores.pg, required=True)
    store = open_store(settings.store.url)
    with (
        LiveApp(create_app(settings, store)) as live,
        httpx.Client(base_url=live.url, timeout=30) as client,
    ):
        yield client
    store.close()


@pytest.fixture(scope="module")
def lite_api(crawled_site: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=crawled_site, timeout=30) as client:
        yield client


def _api_urls(client: httpx.Client, **params: Any) -> list[str]:
    response = client.get("/api/articles", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return [item["url"] for item in response.json()["items"]]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "Temu"},
        {"q": '"TikTok Shop"', "since": "2026-11-01", "until": "2026-11-13"},
        {"q": "GMV", "entity": "temu"},
        {"q": "Amazon", "source": ["retail-daily", "shop-signal"]},
        {"q": "Temu", "limit": 5, "offset": 5},
        {"q": '"unbalanced'},
    ],
)
def test_the_api_searches_the_same(
    pg_api: httpx.Client, lite_api: httpx.Client, params: dict[str, Any]
) -> None:
    assert _api_urls(pg_api, **params) == _api_urls(lite_api, **params)


def test_the_api_ranks_the_same_articles_and_takes_hostile_input(
    pg_api: httpx.Client, lite_api: httpx.Client
) -> None:
    ranked = {"q": "GMV", "order": "relevance"}
    assert set(_api_urls(pg_api, **ranked)) == set(_api_urls(lite_api, **ranked))
    for q in ("' OR 1=1--", '"unbalanced', "NEAR(", "*", "\x00"):
        assert len(_api_urls(pg_api, q=q)) < 43
    snippet = pg_api.get("/api/articles", params={"q": "Temu", "limit": 1}).json()["items"][0]
    assert "[Temu]" in snippet["snippet"]


# --- alert rules' full-text queries, and writes that race on a key ------------------------


@pytest.fixture(scope="module")
def opened(stores: Stores, crawled: CrawledWorld) -> Iterator[tuple[Store, Store]]:
    pg = open_store(stores.url, create=False)
    lite = open_store(f"sqlite:///{crawled.config.parent / 'shopwatch.db'}", create=False)
    yield pg, lite
    pg.close()
    lite.close()


def _matching_urls(store: Store, rule_query: str) -> set[str]:
    with store.read() as session:
        ids = [int(i) for i in session.execute(text("SELECT id FROM articles")).scalars()]
        hits = fts_hits(session, rule_query, ids)
        found = session.execute(text("SELECT id, url FROM articles")).all()
    return {url for article_id, url in found if article_id in hits}


@pytest.mark.parametrize(
    "rule_query",
    [
        "Temu",
        '"TikTok Shop" AND GMV',
        "Temu OR Shein",
        "Temu NOT Shein",
        "(Temu OR Shein) AND Amazon",
        "NEAR(Leipzig warehouse)",
        "Temu Amazon",
    ],
)
def test_alert_queries_match_the_same_articles(
    opened: tuple[Store, Store], rule_query: str
) -> None:
    pg, lite = opened
    found = _matching_urls(pg, rule_query)
    assert found and found == _matching_urls(lite, rule_query)


def test_a_key_added_twice_is_stored_once(opened: tuple[Store, Store]) -> None:
    pg, _ = opened
    now = datetime.now(UTC)
    me = Holder("owner-a", "h", 1, now, now)
    other = Holder("owner-b", "h", 2, now, now)
    with pg.write() as session:
        assert try_lock(session, "test-lock", me, stale_before=now - timedelta(minutes=5)) is None
    with pg.write() as session:  # held and fresh: the other owner is told who holds it
        held = try_lock(session, "test-lock", other, stale_before=now - timedelta(minutes=5))
        assert held is not None and held.owner == "owner-a"
    for expected in (True, False):
        with pg.write() as session:
            delivery = Delivery(
                key="test|once",
                kind="alert",
                channel="json://127.0.0.1/",
                recipients=[],
                subject="s",
                body="b",
                next_attempt_at=now,
                created_at=now,
            )
            assert (enqueue(session, delivery) is not None) is expected
    with pg.read() as session:
        count = "SELECT count(*) FROM deliveries WHERE key = 'test|once'"
        assert session.execute(text(count)).scalar_one() == 1

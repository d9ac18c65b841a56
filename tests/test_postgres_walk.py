"""PostgreSQL search over enough articles that common words walk the newest articles.

The planner's statistics decide (:func:`storage.search._pg_walk_budget`): these
tests check that the walk finds exactly what the index finds, newest first, and
that words common apart but rare together still find every article holding both.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from storage.articles import ArticleData, upsert_articles
from storage.engine import Store, open_store
from storage.search import ArticleQuery, _pg_walk_budget, find_articles
from tests.conftest import postgres_database

ARTICLES = 9_000  # "alpha" and "beta" each in half: 2,250 expected together, 3 in fact
BOTH = (17, 4_001, 8_999)
START = datetime(2026, 1, 1, tzinfo=UTC)


def _article(n: int) -> ArticleData:
    word = "alpha" if n % 2 else "beta"
    extra = " alpha beta" if n in BOTH else ""
    url = f"https://walk.example/{n}"
    return ArticleData(
        source=f"outlet-{n % 5}",
        url=url,
        canonical_url=url,
        title=f"Report {n}",
        text=f"The {word} report number {n} was published today{extra}.",
        fetched_at=START,
        published_at=START + timedelta(minutes=(n * 7919) % ARTICLES),  # dates not in id order
        language="en",
    )


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    with postgres_database("shopwatch_walk") as url:
        opened = open_store(url)
        for first in range(0, ARTICLES, 1_000):
            with opened.write() as session:
                upsert_articles(session, [_article(n) for n in range(first, first + 1_000)])
        with opened.write() as session:
            session.execute(text("ANALYZE articles"))
        yield opened
        opened.close()


def _truth(store: Store, where: str, limit: int, offset: int = 0) -> list[int]:
    with store.read() as session:
        return list(
            session.execute(
                text(
                    f"SELECT id FROM articles WHERE {where} ORDER BY sort_at DESC, id DESC "
                    "LIMIT :limit OFFSET :offset"
                ),
                {"limit": limit, "offset": offset},
            ).scalars()
        )


def _ids(store: Store, query: ArticleQuery) -> list[int]:
    with store.read() as session:
        return [hit.id for hit in find_articles(session, query)]


def test_a_common_word_walks_and_finds_the_newest_exactly(store: Store) -> None:
    with store.read() as session:
        assert _pg_walk_budget(session, "alpha", ArticleQuery(q="alpha")) is not None
    for offset in (0, 20, 4_480):
        query = ArticleQuery(q="alpha", offset=offset)
        expected = _truth(store, "text LIKE '%alpha%'", 20, offset)
        assert _ids(store, query) == expected, offset
    filtered = ArticleQuery(q="alpha", sources=("outlet-3",), limit=15)
    assert _ids(store, filtered) == _truth(store, "text LIKE '%alpha%' AND source = 'outlet-3'", 15)


def test_words_common_apart_and_rare_together_are_all_found(store: Store) -> None:
    with store.read() as session:  # the planner expects 2,250: a walk is tried first
        assert _pg_walk_budget(session, "alpha beta", ArticleQuery(q="alpha beta")) is not None
    found = _ids(store, ArticleQuery(q="alpha beta"))
    assert found == _truth(store, "text LIKE '%alpha beta%'", 20)
    assert len(found) == len(BOTH)
    ranked = _ids(store, ArticleQuery(q="alpha beta", order="relevance"))
    assert sorted(ranked) == sorted(found)


def test_a_ranked_common_word_ranks_recent_hits_and_only_hits(store: Store) -> None:
    ranked = _ids(store, ArticleQuery(q="beta", order="relevance", limit=50))
    assert len(ranked) == 50 == len(set(ranked))
    holding = set(_truth(store, "text LIKE '%beta%'", ARTICLES))
    assert set(ranked) <= holding


def test_a_rare_word_is_asked_of_the_index(store: Store) -> None:
    with store.read() as session:
        assert _pg_walk_budget(session, "4001", ArticleQuery(q="4001")) is None
    assert _ids(store, ArticleQuery(q="4001")) == _truth(store, "text LIKE '% 4001 %'", 20)

"""The store on a real SQLite file: upserts, full-text search quoting, filters."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from shopwatch.errors import UsageError
from storage import ArticleData, ArticleQuery, Outcome, find_articles, open_store, upsert_articles
from storage.fts import quote_fts_query

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def article(n: int, text_: str = "", **extra: object) -> ArticleData:
    fields = dict(
        source="wire",
        url=f"http://news.test/a/{n}",
        canonical_url=f"http://news.test/a/{n}",
        title=f"Story {n}",
        text=text_ or f"Body of story {n} about Temu and Shein.",
        fetched_at=NOW,
        published_at=NOW - timedelta(days=n),
    )
    fields.update(extra)
    return ArticleData(**fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path):
    opened = open_store(f"sqlite:///{tmp_path / 'sw.db'}")
    yield opened
    opened.close()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(store) -> None:
    with store.read() as session:
        conn = session.connection()
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_upsert_inserts_then_skips_unchanged_then_updates_changed(store) -> None:
    with store.write() as session:
        assert [r.outcome for r in upsert_articles(session, [article(1)])] == [Outcome.NEW]
    with store.write() as session:
        assert upsert_articles(session, [article(1)])[0].outcome is Outcome.UNCHANGED
    changed = article(1, "Body of story 1, corrected: Temu cut prices.")
    with store.write() as session:
        assert upsert_articles(session, [changed])[0].outcome is Outcome.UPDATED
    with store.read() as session:
        hits = find_articles(session, ArticleQuery())
    assert len(hits) == 1
    assert "corrected" in hits[0].text


def test_same_article_under_another_url_with_same_canonical_is_one_row(store) -> None:
    with store.write() as session:
        upsert_articles(session, [article(1)])
        again = article(1, url="http://news.test/a/1?page=amp")
        assert upsert_articles(session, [again])[0].outcome is Outcome.UNCHANGED
    with store.read() as session:
        assert len(find_articles(session, ArticleQuery())) == 1


def test_a_mixed_batch_is_written_at_once_with_the_right_outcome_and_id_for_each(store) -> None:
    with store.write() as session:
        first = upsert_articles(session, [article(1), article(2)])
    changed = article(2, "Body of story 2, corrected: Shein cut prices.")
    moved = article(5, url="http://news.test/amp/5", canonical_url="http://news.test/a/5")
    with store.write() as session:
        results = upsert_articles(session, [article(3), article(1), changed, article(4), moved])
    assert [r.outcome for r in results] == [
        Outcome.NEW,
        Outcome.UNCHANGED,
        Outcome.UPDATED,
        Outcome.NEW,
        Outcome.NEW,
    ]
    assert [r.article_id for r in results[1:3]] == [r.article_id for r in first]
    with store.read() as session:
        rows = dict(
            session.connection().execute(text("SELECT id, canonical_url FROM articles")).all()
        )
        fts = session.connection().execute(
            text("SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'corrected'")
        )
        assert [r[0] for r in fts] == [results[2].article_id]
    assert {rows[r.article_id] for r in results} == {
        f"http://news.test/a/{n}" for n in (1, 2, 3, 4, 5)
    }
    assert len(rows) == 5


def test_a_batch_of_new_articles_goes_in_as_one_multi_row_statement(store) -> None:
    # one statement per row would fire the FTS5 trigger in a statement of its own, and
    # FTS5 writes its pending index out at every statement savepoint: a segment per article
    sent: list[tuple[str, int]] = []

    def seen(_conn, _cursor, statement, params, _context, _executemany) -> None:
        if statement.startswith("INSERT INTO articles "):
            sent.append((statement, len(params)))

    event.listen(store.engine, "before_cursor_execute", seen)
    with store.write() as session:
        results = upsert_articles(session, [article(n) for n in range(1, 61)])
    event.remove(store.engine, "before_cursor_execute", seen)
    assert len(sent) == 1, [(statement[:80], size) for statement, size in sent]
    statement, size = sent[0]
    assert statement.count("), (") == 59 and size == 60 * 15  # 60 rows of 15 columns
    with store.read() as session:
        found = session.connection().execute(
            text("SELECT rowid FROM articles_fts WHERE articles_fts MATCH '\"story 17\"'")
        )
        assert [r[0] for r in found] == [results[16].article_id]


def test_one_bad_article_does_not_undo_its_batch(store) -> None:
    bad = article(2, title=None)
    with store.write() as session:
        results = upsert_articles(session, [article(1), bad, article(3)])
    assert [r.outcome for r in results] == [Outcome.NEW, Outcome.FAILED, Outcome.NEW]
    with store.read() as session:
        assert {h.title for h in find_articles(session, ArticleQuery())} == {"Story 1", "Story 3"}


@pytest.mark.fault(18)
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a-b", '"a-b"'),
        ('say "hello world"', '"say" "hello world"'),
        ("NEAR( x", '"NEAR(" "x"'),
        ('he said "', '"he" "said"'),
        ("OR AND NOT", '"OR" "AND" "NOT"'),
        ("***", ""),
    ],
)
def test_quote_fts_query(query: str, expected: str) -> None:
    assert quote_fts_query(query) == expected


@pytest.mark.fault(18)
def test_search_terms_are_searched_not_parsed(store) -> None:
    with store.write() as session:
        upsert_articles(
            session,
            [
                article(1, "Temu's e-commerce push: a NEAR( miss and an x-ray of costs."),
                article(2, "Shein said prices would rise; OR was the reply."),
            ],
        )
    with store.read() as session:
        for query, title in [
            ("x-ray", "Story 1"),
            ("NEAR(", "Story 1"),
            ("OR", "Story 2"),
            ('"e-commerce push"', "Story 1"),
            ('rise"', "Story 2"),
        ]:
            hits = find_articles(session, ArticleQuery(q=query))
            assert [h.title for h in hits] == [title], query
        assert find_articles(session, ArticleQuery(q="NOT")) == []
        assert find_articles(session, ArticleQuery(q='" * ')) == []


def test_search_is_newest_first_and_filters_by_date_source_and_entity(store) -> None:
    with store.write() as session:
        upsert_articles(session, [article(n) for n in range(1, 6)])
        upsert_articles(session, [article(9, source="other")])
        session.connection().execute(
            text(
                "INSERT INTO article_entities (article_id, name, label, count) "
                "VALUES (2, 'Temu', 'WATCH', 3)"
            )
        )
    with store.read() as session:
        titles = [h.title for h in find_articles(session, ArticleQuery(q="temu"))]
        assert titles == ["Story 1", "Story 2", "Story 3", "Story 4", "Story 5", "Story 9"]
        recent = find_articles(session, ArticleQuery(since=NOW - timedelta(days=2, hours=1)))
        assert [h.title for h in recent] == ["Story 1", "Story 2"]
        older = find_articles(session, ArticleQuery(until=NOW - timedelta(days=4, hours=1)))
        assert [h.title for h in older] == ["Story 5", "Story 9"]
        assert [h.title for h in find_articles(session, ArticleQuery(sources=("other",)))] == [
            "Story 9"
        ]
        by_entity = find_articles(session, ArticleQuery(entity="temu"))
        assert [(h.title, h.entities) for h in by_entity] == [("Story 2", ["Temu"])]
        ranked = find_articles(session, ArticleQuery(q="story 3", order="relevance"))
        assert ranked[0].title == "Story 3"


def test_relevance_without_query_is_a_usage_error(store) -> None:
    with store.read() as session, pytest.raises(UsageError):
        find_articles(session, ArticleQuery(order="relevance"))


@pytest.mark.parametrize("candidates", [2, 4])
def test_a_common_query_gives_the_same_newest_page_and_ranks_a_bounded_set(
    store, monkeypatch: pytest.MonkeyPatch, candidates: int
) -> None:
    """Past COMMON hits, newest first is still exact; ranked looks at the newest stored."""
    import storage.search as search

    with store.write() as session:
        upsert_articles(session, [article(n) for n in range(1, 9)])  # id 1 is story 1 ...
        upsert_articles(session, [article(9, source="other")])
    queries = [
        ArticleQuery(q="temu"),
        ArticleQuery(q="temu", limit=3, offset=2),
        ArticleQuery(q="temu", sources=("wire",)),
        ArticleQuery(q="temu", since=NOW - timedelta(days=5, hours=1)),
        ArticleQuery(q='"story 3"'),
    ]
    with store.read() as session:
        whole = [[h.id for h in find_articles(session, q)] for q in queries]
        ranked_whole = find_articles(session, ArticleQuery(q="temu story", order="relevance"))
        monkeypatch.setattr(search, "COMMON", candidates)
        monkeypatch.setattr(search, "CANDIDATES", candidates)
        assert search._is_common(session, '"temu"')
        assert [[h.id for h in find_articles(session, q)] for q in queries] == whole
        bounded = ArticleQuery(q="temu story", order="relevance", limit=candidates)
        ranked = find_articles(session, bounded)
    newest_stored = sorted((h.id for h in ranked_whole), reverse=True)[:candidates]
    assert sorted(h.id for h in ranked) == sorted(newest_stored)
    assert all(h.snippet for h in ranked)
    assert whole[0] == [1, 2, 3, 4, 5, 6, 7, 8, 9]


def test_a_ranked_query_with_a_very_common_phrase_puts_title_matches_first(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past RANK_STATISTICS_LIMIT articles for a phrase, no bm25: titles first, then newest."""
    import storage.search as search

    with store.write() as session:
        upsert_articles(
            session,
            [
                article(n, title=f"Temu story {n}" if n in (2, 5) else f"Story {n}")
                for n in range(1, 7)
            ],
        )
    with store.read() as session:
        assert not search._is_heavy(session, '"temu"')
        monkeypatch.setattr(search, "RANK_STATISTICS_LIMIT", 3)
        assert search._is_heavy(session, '"temu"')
        assert search._is_heavy(session, '"nothing" "temu"')  # one common phrase is enough
        # a phrase is as heavy as its words together: bm25's count reads all their articles
        assert search._is_heavy(session, '"shein about temu"')  # in no article, words in all
        assert not search._is_heavy(session, '"temu nothing"')
        ranked = find_articles(session, ArticleQuery(q="temu", order="relevance"))
        filtered = find_articles(
            session, ArticleQuery(q="temu", order="relevance", until=NOW - timedelta(days=3))
        )
    assert [h.id for h in ranked] == [5, 2, 6, 4, 3, 1]
    assert [h.id for h in filtered] == [5, 6, 4]  # published before the 17th: stories 4 to 6
    assert all(h.snippet for h in ranked)

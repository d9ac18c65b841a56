"""Compacting the search index of a real SQLite file: `shopwatch db optimize`, the nightly job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from config.model import Settings
from schedules.jobs import Jobs
from storage import ArticleData, ArticleQuery, find_articles, open_store, upsert_articles
from storage.engine import Store
from storage.fts import fts_segments
from storage.maintenance import optimize_search
from storage.tables import JobRun
from tests.conftest import run_cli

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
WORDS = [
    "Temu",
    "Shein",
    "Amazon",
    "sales",
    "rose",
    "fell",
    "growth",
    "quarter",
    "Brazil",
    "Japan",
    "warehouse",
    "layoffs",
]


def _article(n: int) -> ArticleData:
    words = " ".join(WORDS[(n * 7 + i) % len(WORDS)] for i in range(40))
    return ArticleData(
        source="wire",
        url=f"http://news.test/a/{n}",
        canonical_url=f"http://news.test/a/{n}",
        title=f"Story {n}: {WORDS[n % len(WORDS)]} head of Brazil operations",
        text=f"Article {n}. {words}. The head of Brazil operations said so. {n * 13} units.",
        fetched_at=NOW,
        published_at=NOW - timedelta(hours=n),
    )


def _grown(path: Path, batches: int = 12) -> Store:
    """A store written as a crawl writes it: a transaction per batch, a segment or more each."""
    store = open_store(f"sqlite:///{path}")
    for batch in range(batches):
        with store.write() as session:
            upsert_articles(session, [_article(batch * 20 + n) for n in range(20)])
    return store


QUERIES = [
    ArticleQuery(q=q, order=order, limit=50)
    for q in ("Temu", '"head of Brazil operations"', "Brazil warehouse", "Story")
    for order in ("newest", "relevance")
]


def _answers(store: Store) -> list[list[tuple[int, str | None]]]:
    with store.read() as session:
        return [[(h.id, h.snippet) for h in find_articles(session, q)] for q in QUERIES]


def _segments(store: Store) -> int:
    with store.read() as session:
        return fts_segments(session.connection())


def _index_is_sound(store: Store) -> None:
    with store.write() as session:  # FTS5 raises "database disk image is malformed" if not
        session.execute(
            text("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)")
        )


@pytest.mark.fault(23)
def test_optimize_merges_the_index_into_one_segment_and_every_search_answers_the_same(
    tmp_path: Path,
) -> None:
    store = _grown(tmp_path / "sw.db")
    before, answers = _segments(store), _answers(store)
    store.close()
    assert before > 1
    config = tmp_path / "shopwatch.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "sw.db"}"\n', encoding="utf-8")
    done = run_cli("db", "optimize", "--json", config=config)
    assert done.code == 0, done.err
    report = done.json()
    assert report["backend"] == "sqlite" and report["finished"] is True
    assert (report["segments_before"], report["segments_after"]) == (before, 1)
    store = open_store(f"sqlite:///{tmp_path / 'sw.db'}")
    assert _segments(store) == 1
    assert _answers(store) == answers
    assert all(answers[:4]), "every query found articles"
    _index_is_sound(store)
    again = run_cli("db", "optimize", config=config)
    assert again.code == 0 and "1 segment(s) -> 1" in again.out, again.out + again.err
    store.close()


@pytest.mark.fault(23)
def test_optimize_runs_in_steps_that_writes_go_between_and_a_stop_leaves_a_sound_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("storage.maintenance.STEP_PAGES", 2)  # many steps on a small index
    store = _grown(tmp_path / "sw.db")
    before = _segments(store)
    written: list[int] = []

    def write_between(steps: int, _seconds: float) -> None:
        if steps <= 3:  # another writer's transaction between two steps
            with store.write() as session:
                written.append(upsert_articles(session, [_article(1000 + steps)])[0].article_id)

    stopped = optimize_search(store, on_step=write_between, should_stop=lambda: len(written) >= 3)
    assert stopped.finished is False and stopped.steps == 3
    _index_is_sound(store)
    finished = optimize_search(store)
    assert finished.finished is True and finished.segments_after == 1 < before
    _index_is_sound(store)
    with store.read() as session:
        hits = find_articles(session, ArticleQuery(q='"Story 1002"'))
    assert [h.id for h in hits] == [written[1]]
    store.close()


def test_the_nightly_job_records_its_run(tmp_path: Path) -> None:
    store = _grown(tmp_path / "sw.db", batches=6)
    settings = Settings.model_validate({"store": {"url": store.url}})
    Jobs(settings, store, None).optimize()
    with store.read() as session:
        runs = session.exec(select(JobRun)).all()
    assert [(r.job, r.status) for r in runs] == [("optimize", "completed")]
    assert runs[0].detail is not None and "-> 1 in" in runs[0].detail
    assert _segments(store) == 1
    store.close()

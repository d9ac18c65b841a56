"""The analysts' SQL views, on SQLite and on the real PostgreSQL server of this machine.

The crawled news world's store is copied into a fresh PostgreSQL database; the
views must exist on both, agree with each other and with the tables, and the
README's example questions must run on both and give the same answers.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from storage.engine import Store, open_store
from storage.tables import (
    Article,
    ArticleEntity,
    ArticleStory,
    EventRow,
    FigureRow,
    PersonRoleRow,
    Story,
)
from storage.views import VIEW_NAMES
from tests.conftest import REPO, CrawledWorld, postgres_database

COPIED = (Article, Story, ArticleStory, ArticleEntity, FigureRow, EventRow, PersonRoleRow)


def _readme_queries() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## SQL for analysts", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, re.S)


def _db(crawled: CrawledWorld) -> Path:
    return crawled.config.parent / "shopwatch.db"


@pytest.fixture(scope="module")
def postgres(crawled: CrawledWorld) -> Iterator[Store]:
    """A new PostgreSQL database holding a copy of the crawled store; dropped afterwards."""
    with postgres_database() as url:
        yield from _copied_into(url, crawled)


def _copied_into(url: str, crawled: CrawledWorld) -> Iterator[Store]:
    store = open_store(url)
    source = open_store(f"sqlite:///{_db(crawled)}", create=False)
    with Session(source.engine) as reading, Session(store.engine) as writing:
        for table in COPIED:
            for row in reading.exec(select(table)).all():
                writing.merge(table.model_validate(row.model_dump()))
            writing.flush()
        writing.commit()
        for table in (Article, Story, FigureRow, EventRow, PersonRoleRow):  # serials follow
            writing.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.__tablename__}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table.__tablename__}))"
                )
            )
        writing.commit()
    source.close()
    yield store
    store.close()


def _sqlite(crawled: CrawledWorld, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(_db(crawled)) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def _pg(store: Store, sql: str) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql)).fetchall()]


def test_views_agree_with_the_tables_on_sqlite(crawled: CrawledWorld) -> None:
    one = lambda sql: _sqlite(crawled, sql)[0][0]  # noqa: E731
    assert one("SELECT count(*) FROM articles_v") == one("SELECT count(*) FROM articles")
    assert one("SELECT count(*) FROM figures_v") == one("SELECT count(*) FROM figures")
    assert one("SELECT count(*) FROM events_v") == one("SELECT count(*) FROM events")
    assert one("SELECT sum(articles) FROM stories_v") == one("SELECT count(*) FROM article_stories")
    assert one("SELECT sum(articles) FROM mentions_daily_v") == one(
        "SELECT count(*) FROM article_entities WHERE label = 'WATCH'"
    )
    day, at = _sqlite(crawled, "SELECT day, at FROM articles_v ORDER BY id LIMIT 1")[0]
    assert str(at).startswith(day) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day)
    entities = one("SELECT entities FROM articles_v WHERE entities LIKE '%Temu%' LIMIT 1")
    assert "Temu" in entities


def test_views_exist_on_postgresql_and_give_the_same_counts(
    crawled: CrawledWorld, postgres: Store
) -> None:
    for view in VIEW_NAMES:
        assert _pg(postgres, f"SELECT count(*) FROM {view}") == _sqlite(
            crawled, f"SELECT count(*) FROM {view}"
        ), view
    pg_days = _pg(postgres, "SELECT entity, CAST(day AS TEXT), articles FROM mentions_daily_v")
    lite_days = _sqlite(crawled, "SELECT entity, day, articles FROM mentions_daily_v")
    assert sorted(pg_days) == sorted(lite_days)


def _cell(value: Any) -> str:
    if isinstance(value, list):  # PostgreSQL answers JSON as lists, SQLite as text
        return json.dumps(value)
    text_ = str(value)
    if re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text_):  # times: to the minute
        return text_[:16]
    return text_


def _normal(rows: list[tuple[Any, ...]]) -> list[tuple[str, ...]]:
    return [tuple(_cell(v) for v in row) for row in rows]


def test_the_readme_questions_run_on_both_and_agree(crawled: CrawledWorld, postgres: Store) -> None:
    queries = _readme_queries()
    assert len(queries) == 3
    for sql in queries:
        lite = _sqlite(crawled, sql)
        assert lite, f"no answer on SQLite for:\n{sql}"
        pg = _pg(postgres, sql)
        assert _normal(pg) == _normal(lite), sql


def test_views_are_recreated_only_when_changed(crawled: CrawledWorld) -> None:
    before = _sqlite(crawled, "SELECT name, sql FROM sqlite_master WHERE type = 'view'")
    store = open_store(f"sqlite:///{_db(crawled)}")  # opening runs the schema step again
    store.close()
    after = _sqlite(crawled, "SELECT name, sql FROM sqlite_master WHERE type = 'view'")
    assert before == after and {name for name, _ in after} == set(VIEW_NAMES)

"""Storage stage: whole tables for export, streamed in batches of rows by id.

Each function yields row dicts, reading ``batch`` rows at a time with keyset
pagination (``id > last``), so an export of millions of rows holds one batch
in memory, and works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select as select_columns
from sqlmodel import col, select

from storage.articles import as_utc
from storage.engine import Store
from storage.enrichment import mention_counts
from storage.tables import Article, ArticleEntity, EventRow, FigureRow

BATCH = 1_000

ARTICLE_COLUMNS = (
    "id",
    "url",
    "canonical_url",
    "title",
    "source",
    "author",
    "published_at",
    "first_seen_at",
    "fetched_at",
    "updated_at",
    "language",
    "entities",
    "text",
)


def _watched(store: Store, ids: list[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = defaultdict(list)
    with store.read() as session:
        statement = (
            select(ArticleEntity.article_id, ArticleEntity.name)
            .where(ArticleEntity.label == "WATCH", col(ArticleEntity.article_id).in_(ids))
            .order_by(  # the name breaks ties, so every backend lists them alike
                col(ArticleEntity.article_id),
                col(ArticleEntity.count).desc(),
                col(ArticleEntity.name),
            )
        )
        for article_id, name in session.exec(statement).all():
            names[article_id].append(name)
    return names


def export_articles(
    store: Store, *, since: datetime | None = None, batch: int = BATCH
) -> Iterator[dict[str, Any]]:
    """Every article (oldest id first) with its watched entities and its text."""
    columns: tuple[Any, ...] = tuple(
        getattr(Article, name) for name in ARTICLE_COLUMNS if name != "entities"
    )
    last = 0
    while True:
        statement = select_columns(*columns).where(col(Article.id) > last)
        if since is not None:
            statement = statement.where(col(Article.sort_at) >= as_utc(since))
        statement = statement.order_by(col(Article.id)).limit(batch)
        with store.read() as session:
            rows = [dict(row._mapping) for row in session.execute(statement).all()]
        if not rows:
            return
        names = _watched(store, [row["id"] for row in rows])
        for row in rows:
            for key in ("published_at", "first_seen_at", "fetched_at", "updated_at"):
                row[key] = as_utc(row[key])
            row["entities"] = names.get(row["id"], [])
            yield row
        last = rows[-1]["id"]


def _facts(
    store: Store, table: Any, since: datetime | None, batch: int
) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        statement = (
            select(table, Article.url, Article.source, Article.sort_at)
            .join(Article, col(Article.id) == col(table.article_id))
            .where(col(table.id) > last)
        )
        if since is not None:
            statement = statement.where(col(Article.sort_at) >= as_utc(since))
        statement = statement.order_by(col(table.id)).limit(batch)
        with store.read() as session:
            rows = [
                {**row.model_dump(), "url": url, "source": source, "published_at": as_utc(at)}
                for row, url, source, at in session.exec(statement).all()
            ]
        if not rows:
            return
        yield from rows
        last = rows[-1]["id"]


def export_figures(
    store: Store, *, since: datetime | None = None, batch: int = BATCH
) -> Iterator[dict[str, Any]]:
    """Every figure, with its article's URL, source and date."""
    return _facts(store, FigureRow, since, batch)


def export_events(
    store: Store, *, since: datetime | None = None, batch: int = BATCH
) -> Iterator[dict[str, Any]]:
    """Every event, with its article's URL, source and date."""
    return _facts(store, EventRow, since, batch)


def export_mentions(
    store: Store, *, since: datetime | None = None, batch: int = BATCH
) -> Iterator[dict[str, Any]]:
    """Articles mentioning each watched entity per day (one row per entity and day)."""
    with store.read() as session:
        rows = mention_counts(session, entity=None, since=since, interval="day")
    yield from rows

"""Storage stage: what alert evaluation asks of the store.

An article is due for the alert rules when its current content has been
enriched and not yet checked (``alert_checks`` holds the content hash each
article was checked at), so a changed article is checked again and an
unchanged one never is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, text
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from storage.articles import as_utc
from storage.fts import fts_query_as_tsquery
from storage.tables import AlertCheck, Article, ArticleEntity, ArticleStory, EnrichmentRecord


@dataclass(frozen=True)
class Unchecked:
    id: int
    content_hash: str
    source: str
    url: str
    title: str
    text: str
    at: datetime
    story_id: int | None


def unchecked_articles(session: Session, *, after_id: int = 0, limit: int = 200) -> list[Unchecked]:
    """Enriched articles whose current content the rules have not seen, by id."""
    columns: tuple[Any, ...] = (
        Article.id,
        Article.content_hash,
        Article.source,
        Article.url,
        Article.title,
        Article.text,
        Article.sort_at,
        ArticleStory.story_id,
    )
    statement = (
        select_columns(*columns)
        .join(EnrichmentRecord, col(EnrichmentRecord.article_id) == col(Article.id))
        .outerjoin(AlertCheck, col(AlertCheck.article_id) == col(Article.id))
        .outerjoin(ArticleStory, col(ArticleStory.article_id) == col(Article.id))
        .where(
            col(EnrichmentRecord.content_hash) == col(Article.content_hash),
            or_(
                col(AlertCheck.article_id).is_(None),
                col(AlertCheck.content_hash) != col(Article.content_hash),
            ),
            col(Article.id) > after_id,
        )
        .order_by(col(Article.id))
        .limit(limit)
    )
    rows = []
    for article_id, digest, source, url, title, body, at, story in session.execute(statement).all():
        when = as_utc(at)
        rows.append(Unchecked(article_id, digest, source, url, title, body, when, story))
    return rows


def watched_names(session: Session, article_ids: Sequence[int]) -> dict[int, list[str]]:
    if not article_ids:
        return {}
    statement = select(ArticleEntity.article_id, ArticleEntity.name).where(
        ArticleEntity.label == "WATCH", col(ArticleEntity.article_id).in_(list(article_ids))
    )
    found: dict[int, list[str]] = defaultdict(list)
    for article_id, name in session.exec(statement).all():
        found[article_id].append(name)
    return dict(found)


def fts_hits(session: Session, fts_query: str, article_ids: Sequence[int]) -> set[int]:
    """Which of ``article_ids`` match an FTS5 query (written by the administrator).

    On PostgreSQL the query is read into a ``tsquery`` of the articles' stored
    ``tsvector`` (:func:`storage.fts.fts_query_as_tsquery`).
    """
    if not article_ids:
        return set()
    ids = ",".join(str(int(i)) for i in article_ids)
    if session.connection().dialect.name == "postgresql":
        params: dict[str, object] = {}
        tsquery = fts_query_as_tsquery(fts_query, params)
        statement = text(
            f"SELECT id FROM articles WHERE search_vector @@ {tsquery} AND id IN ({ids})"
        )
        return {int(row[0]) for row in session.execute(statement, params).all()}
    rows = session.execute(
        text(f"SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q AND rowid IN ({ids})"),
        {"q": fts_query},
    ).all()
    return {int(row[0]) for row in rows}


def mark_checked(session: Session, checked: Sequence[tuple[int, str]], now: datetime) -> None:
    if not checked:
        return
    session.execute(
        delete(AlertCheck).where(col(AlertCheck.article_id).in_([i for i, _ in checked]))
    )
    session.add_all(
        AlertCheck(article_id=i, content_hash=h, checked_at=as_utc(now)) for i, h in checked
    )
    session.flush()

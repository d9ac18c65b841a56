"""Storage stage: what a digest asks of the store, for one time window.

Each function answers one question about the articles whose ``sort_at`` (the
publication time, else the time first stored) falls in ``[start, end)``; the
digest builder (:mod:`delivery.digest`) puts the answers together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from storage.articles import as_utc
from storage.tables import Article, ArticleEntity, ArticleStory, EventRow, FigureRow, Story


@dataclass(frozen=True)
class WindowArticle:
    id: int
    source: str
    url: str
    title: str
    at: datetime
    story_id: int | None
    watched: tuple[tuple[str, int], ...]  # (entity, mentions in the article), by name


def window_articles(session: Session, start: datetime, end: datetime) -> list[WindowArticle]:
    """Articles in the window that mention a watched entity, with their story and counts."""
    columns: tuple[Any, ...] = (
        Article.id,
        Article.source,
        Article.url,
        Article.title,
        Article.sort_at,
        ArticleStory.story_id,
        ArticleEntity.name,
        ArticleEntity.count,
    )
    statement = (
        select_columns(*columns)
        .join(ArticleEntity, col(ArticleEntity.article_id) == col(Article.id))
        .outerjoin(ArticleStory, col(ArticleStory.article_id) == col(Article.id))
        .where(
            col(ArticleEntity.label) == "WATCH",
            col(Article.sort_at) >= as_utc(start),
            col(Article.sort_at) < as_utc(end),
        )
        .order_by(col(Article.sort_at), col(Article.id))
    )
    found: dict[int, dict[str, Any]] = {}
    rows = session.execute(statement).all()
    for article_id, source, url, title, at, story_id, name, count in rows:
        entry = found.setdefault(
            article_id,
            {
                "id": article_id,
                "source": source,
                "url": url,
                "title": title,
                "at": as_utc(at),
                "story_id": story_id,
                "watched": [],
            },
        )
        entry["watched"].append((name, int(count)))
    return [
        WindowArticle(**{**entry, "watched": tuple(sorted(entry["watched"]))})
        for entry in found.values()
    ]


def figures_of(session: Session, article_ids: Sequence[int]) -> list[FigureRow]:
    if not article_ids:
        return []
    statement = (
        select(FigureRow)
        .where(col(FigureRow.article_id).in_(list(article_ids)))
        .order_by(col(FigureRow.article_id), col(FigureRow.start))
    )
    return list(session.exec(statement).all())


def events_of(session: Session, article_ids: Sequence[int]) -> list[EventRow]:
    if not article_ids:
        return []
    statement = (
        select(EventRow)
        .where(col(EventRow.article_id).in_(list(article_ids)))
        .order_by(col(EventRow.article_id), col(EventRow.start))
    )
    return list(session.exec(statement).all())


@dataclass(frozen=True)
class StoryMember:
    story_id: int
    story_title: str
    first_at: datetime
    source: str
    url: str
    title: str
    at: datetime


def story_members(session: Session, story_ids: Sequence[int]) -> list[StoryMember]:
    """Every article of the given stories (all time, not just the window), earliest first."""
    if not story_ids:
        return []
    columns: tuple[Any, ...] = (
        Story.id,
        Story.title,
        Story.first_at,
        Article.source,
        Article.url,
        Article.title,
        Article.sort_at,
    )
    statement = (
        select_columns(*columns)
        .join(ArticleStory, col(ArticleStory.story_id) == col(Story.id))
        .join(Article, col(Article.id) == col(ArticleStory.article_id))
        .where(col(Story.id).in_(list(story_ids)))
        .order_by(col(Article.sort_at), col(Article.id))
    )
    members = []
    for story_id, story_title, first_at, source, url, title, at in session.execute(statement).all():
        first, when = as_utc(first_at), as_utc(at)
        assert first is not None and when is not None
        members.append(StoryMember(story_id, story_title, first, source, url, title, when))
    return members


def mention_times(session: Session, start: datetime, end: datetime) -> list[tuple[str, datetime]]:
    """``(entity, sort_at)`` of every watched-entity mention in the window, for daily counts."""
    statement = (
        select(ArticleEntity.name, Article.sort_at)
        .join(Article, col(Article.id) == col(ArticleEntity.article_id))
        .where(
            ArticleEntity.label == "WATCH",
            col(Article.sort_at) >= as_utc(start),
            col(Article.sort_at) < as_utc(end),
        )
    )
    rows = []
    for name, at in session.exec(statement).all():
        when = as_utc(at)
        assert when is not None
        rows.append((name, when))
    return rows

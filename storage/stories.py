"""Storage stage: grouping articles into stories, and reading stories back.

An article joins the story of the first earlier-or-nearby article (published
within ``WINDOW`` of it and mentioning one of the same watched companies)
that reports the same news (:func:`nlp.stories.same_story`); otherwise it
starts a story of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from nlp.stories import same_story
from storage.articles import as_utc
from storage.tables import Article, ArticleEntity, ArticleStory, Story

WINDOW = timedelta(days=3)
MAX_CANDIDATES = 500


@dataclass(frozen=True)
class StoryInput:
    article_id: int
    keys: list[str]
    signature: bytes
    watched: list[str]


def _candidates(session: Session, item: StoryInput, at: datetime) -> list[ArticleStory]:
    statement = (
        select(ArticleStory)
        .where(
            col(ArticleStory.at) >= at - WINDOW,
            col(ArticleStory.at) <= at + WINDOW,
            ArticleStory.article_id != item.article_id,
        )
        .order_by(col(ArticleStory.at))
        .limit(MAX_CANDIDATES)
    )
    if item.watched:
        sharing = select(ArticleEntity.article_id).where(
            ArticleEntity.label == "WATCH", col(ArticleEntity.name).in_(item.watched)
        )
        statement = statement.where(col(ArticleStory.article_id).in_(sharing))
    return list(session.exec(statement).all())


def _leave_story(session: Session, article_id: int) -> None:
    row = session.get(ArticleStory, article_id)
    if row is None:
        return
    story_id = row.story_id
    session.delete(row)
    session.flush()
    earliest = session.exec(
        select(Article)
        .join(ArticleStory, col(ArticleStory.article_id) == col(Article.id))
        .where(ArticleStory.story_id == story_id)
        .order_by(col(Article.sort_at))
    ).first()
    if earliest is None:
        session.execute(delete(Story).where(col(Story.id) == story_id))
        return
    story = session.get(Story, story_id)
    if story is not None:  # re-head the story by its earliest remaining article
        story.first_at, story.title = earliest.sort_at, earliest.title


def assign_stories(session: Session, items: Sequence[StoryInput]) -> None:
    """Put each article into its story (call inside a write session, after its entities)."""
    for item in items:
        article = session.get(Article, item.article_id)
        if article is None:
            continue
        at = as_utc(article.sort_at)
        assert at is not None
        _leave_story(session, item.article_id)
        match = next(
            (
                c
                for c in _candidates(session, item, at)
                if same_story(item.keys, c.keys, item.signature, c.signature)
            ),
            None,
        )
        if match is not None:
            story = session.get(Story, match.story_id)
            assert story is not None
            if at < as_utc(story.first_at):
                story.first_at, story.title = at, article.title
        else:
            story = Story(title=article.title, first_at=at)
            session.add(story)
            session.flush()
        assert story.id is not None
        session.add(
            ArticleStory(
                article_id=item.article_id,
                story_id=story.id,
                at=at,
                keys=item.keys,
                signature=item.signature,
            )
        )
        session.flush()


def find_stories(
    session: Session, *, since: datetime | None, min_sources: int, limit: int
) -> list[dict[str, Any]]:
    """Stories newest first, each with its articles (earliest first) and outlets."""
    statement = (
        select(
            Story,
            func.count(func.distinct(Article.source)).label("sources"),
            func.max(Article.sort_at).label("latest"),
        )
        .join(ArticleStory, col(ArticleStory.story_id) == col(Story.id))
        .join(Article, col(Article.id) == col(ArticleStory.article_id))
        .group_by(col(Story.id))
        .having(func.count(func.distinct(Article.source)) >= min_sources)
        .order_by(func.max(Article.sort_at).desc())
        .limit(limit)
    )
    if since:
        statement = statement.where(col(Article.sort_at) >= as_utc(since))
    stories = []
    for story, sources, _latest in session.exec(statement).all():
        members = session.exec(
            select(Article)
            .join(ArticleStory, col(ArticleStory.article_id) == col(Article.id))
            .where(ArticleStory.story_id == story.id)
            .order_by(col(Article.sort_at))
        ).all()
        stories.append(
            {
                "id": story.id,
                "title": story.title,
                "first_at": story.first_at,
                "sources": sources,
                "articles": [
                    {
                        "id": a.id,
                        "url": a.url,
                        "source": a.source,
                        "title": a.title,
                        "published_at": a.published_at,
                    }
                    for a in members
                ],
            }
        )
    return stories

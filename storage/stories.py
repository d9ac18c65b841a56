"""Storage stage: grouping articles into stories, and reading stories back.

An article joins the story of the first earlier-or-nearby article (published
within ``WINDOW`` of it and mentioning one of the same watched companies)
that reports the same news (:func:`nlp.stories.same_story`); otherwise it
starts a story of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from nlp.stories import same_story
from storage.articles import as_utc
from storage.enrichment import mentioning, watched_name
from storage.tables import Article, ArticleEntity, ArticleStory, Story

WINDOW = timedelta(days=3)
MAX_CANDIDATES = 500
CANDIDATE_BATCH = 50


@dataclass(frozen=True)
class StoryInput:
    article_id: int
    keys: list[str]
    signature: bytes
    watched: list[str]


@dataclass(frozen=True)
class _Candidate:
    story_id: int
    keys: list[str]
    signature: bytes


def _candidates(session: Session, item: StoryInput, at: datetime) -> Iterator[_Candidate]:
    """Earlier-or-nearby articles that could be the same story, earliest first, streamed.

    Only the columns compared are read, a few rows at a time: the first match
    usually comes early, and the rest is never loaded.
    """
    statement = (
        select(ArticleStory.story_id, ArticleStory.keys, ArticleStory.signature)
        .where(
            col(ArticleStory.at) >= at - WINDOW,
            col(ArticleStory.at) <= at + WINDOW,
            ArticleStory.article_id != item.article_id,
        )
        .order_by(col(ArticleStory.at))
        .limit(MAX_CANDIDATES)
        .execution_options(yield_per=CANDIDATE_BATCH)
    )
    if item.watched:
        sharing = select(ArticleEntity.article_id).where(
            ArticleEntity.label == "WATCH", col(ArticleEntity.name).in_(item.watched)
        )
        statement = statement.where(col(ArticleStory.article_id).in_(sharing))
    for story_id, keys, sig in session.exec(statement):
        yield _Candidate(story_id, list(keys), sig)


def _rehead(session: Session, story_id: int) -> bool:
    """Head the story by its earliest article (title, time); False when it has none left."""
    session.flush()
    earliest = session.exec(
        select(Article.title, Article.sort_at)
        .join(ArticleStory, col(ArticleStory.article_id) == col(Article.id))
        .where(ArticleStory.story_id == story_id)
        .order_by(col(Article.sort_at))
        .limit(1)
    ).first()
    story = session.get(Story, story_id)
    if earliest is None:
        if story is not None:
            session.delete(story)
        return False
    if story is not None and (story.title, as_utc(story.first_at)) != (
        earliest[0],
        as_utc(earliest[1]),
    ):
        story.title, story.first_at = earliest[0], as_utc(earliest[1])
        session.add(story)
    return True


def _leave_story(session: Session, article_id: int) -> None:
    row = session.get(ArticleStory, article_id)
    if row is None:
        return
    story_id = row.story_id
    session.delete(row)
    _rehead(session, story_id)


def assign_stories(session: Session, items: Sequence[StoryInput]) -> None:
    """Put each article into its story (call inside a write session, after its entities).

    An article enriched again stays in its story, under the same id, unless it
    now matches another one; alerts and digests count on story ids being stable.
    """
    for item in items:
        article = session.get(Article, item.article_id)
        if article is None:
            continue
        at = as_utc(article.sort_at)
        assert at is not None
        current = session.get(ArticleStory, item.article_id)
        match = next(
            (
                c
                for c in _candidates(session, item, at)
                if same_story(item.keys, c.keys, item.signature, c.signature)
            ),
            None,
        )
        if current is not None and (match is None or match.story_id == current.story_id):
            moved = as_utc(current.at) != at
            current.at, current.keys, current.signature = at, item.keys, item.signature
            session.add(current)
            story = session.get(Story, current.story_id)
            if moved or story is None or as_utc(story.first_at) >= at:  # it may head the story
                _rehead(session, current.story_id)
            continue
        _leave_story(session, item.article_id)
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


def _members(session: Session, story_id: int) -> list[dict[str, Any]]:
    columns: tuple[Any, ...] = (
        Article.id,
        Article.url,
        Article.source,
        Article.title,
        Article.published_at,
        Article.sort_at,
    )
    statement = (
        select_columns(*columns)
        .join(ArticleStory, col(ArticleStory.article_id) == col(Article.id))
        .where(col(ArticleStory.story_id) == story_id)
        .order_by(col(Article.sort_at), col(Article.id))
    )
    return [
        {
            "id": article_id,
            "url": url,
            "source": source,
            "title": title,
            "published_at": as_utc(published),
            "at": as_utc(at),
        }
        for article_id, url, source, title, published, at in session.execute(statement).all()
    ]


def _story(story: Story, members: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": story.id,
        "title": story.title,
        "first_at": as_utc(story.first_at),
        "sources": len({m["source"] for m in members}),
        "articles": members,
    }


WALK = 500  # articles read per step of the walk from the newest


def find_stories(
    session: Session,
    *,
    since: datetime | None = None,
    min_sources: int = 1,
    limit: int = 50,
    offset: int = 0,
    entity: str | None = None,
) -> list[dict[str, Any]]:
    """Stories by their newest article, newest first, each with its articles (earliest first,
    so the first reported it first) and its number of outlets.

    ``entity`` keeps stories with an article mentioning that watched entity, ``since`` those
    with an article since then. The stories are found by walking the articles from the
    newest (their date index), so the first pages cost the same in any size of store.
    """
    if entity is not None:
        entity = watched_name(session, entity)
        if entity is None:
            return []
    wanted = offset + limit
    found: list[int] = []
    seen: set[int] = set()
    after: tuple[datetime, int] | None = None
    while len(found) < wanted:
        rows = _walk(session, entity=entity, since=since, after=after)
        if not rows:
            break
        fresh = []
        for candidate, _, _ in rows:
            if candidate not in seen:
                seen.add(candidate)
                fresh.append(candidate)
        if min_sources > 1:
            counts = story_outlets(session, fresh)
            fresh = [c for c in fresh if counts.get(c, 0) >= min_sources]
        found.extend(fresh)
        after = (rows[-1][1], rows[-1][2])
    stories = []
    for story_id in found[offset:wanted]:
        story = session.get(Story, story_id)
        if story is not None:
            stories.append(_story(story, _members(session, story_id)))
    return stories


def _walk(
    session: Session,
    *,
    entity: str | None,
    since: datetime | None,
    after: tuple[datetime, int] | None,
) -> list[tuple[int, datetime, int]]:
    """The next ``WALK`` articles (story, date, id), newest first, after ``after``."""
    columns: tuple[Any, ...] = (ArticleStory.story_id, Article.sort_at, Article.id)
    statement = select_columns(*columns).join(
        ArticleStory, col(ArticleStory.article_id) == col(Article.id)
    )
    if entity:
        statement = statement.where(mentioning(entity).exists())
    if since:
        statement = statement.where(col(Article.sort_at) >= as_utc(since))
    if after is not None:
        at, article_id = after
        statement = statement.where(
            or_(
                col(Article.sort_at) < at,
                and_(col(Article.sort_at) == at, col(Article.id) < article_id),
            )
        )
    statement = statement.order_by(col(Article.sort_at).desc(), col(Article.id).desc())
    return [(int(s), at, int(i)) for s, at, i in session.execute(statement.limit(WALK)).all()]


def story_outlets(session: Session, story_ids: Sequence[int]) -> dict[int, int]:
    """How many distinct sources each story has been reported by so far."""
    if not story_ids:
        return {}
    statement = (
        select(ArticleStory.story_id, func.count(func.distinct(Article.source)))
        .join(Article, col(Article.id) == col(ArticleStory.article_id))
        .where(col(ArticleStory.story_id).in_(list(story_ids)))
        .group_by(col(ArticleStory.story_id))
    )
    return {int(story): int(n) for story, n in session.exec(statement).all()}


def get_story(session: Session, story_id: int) -> dict[str, Any] | None:
    """One story with all its articles, earliest first; None when there is no such story."""
    story = session.get(Story, story_id)
    if story is None:
        return None
    return _story(story, _members(session, story_id))


def story_of(session: Session, article_id: int) -> int | None:
    """The id of the story ``article_id`` belongs to (None before it is enriched)."""
    return session.exec(
        select(ArticleStory.story_id).where(ArticleStory.article_id == article_id)
    ).first()

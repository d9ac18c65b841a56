"""Storage stage: writing articles (upsert by canonical URL and content hash) and looking them up.

An article is written all-or-nothing inside a savepoint, so one bad article
does not undo the rest of its batch.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import overload

from sqlalchemy import func, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from storage.tables import Article

_SPACE = re.compile(r"\s+")


class Outcome(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ArticleData:
    """An extracted article, ready to be stored (the crawler's output)."""

    source: str
    url: str
    canonical_url: str
    title: str
    text: str
    fetched_at: datetime
    author: str | None = None
    published_at: datetime | None = None
    language: str | None = None
    description: str | None = None
    sitename: str | None = None
    discovered_via: str = "page"

    @property
    def content_hash(self) -> str:
        return content_hash(self.title, self.text)


@dataclass(frozen=True, slots=True)
class WriteResult:
    url: str
    outcome: Outcome
    article_id: int | None = None
    error: str | None = None


def content_hash(title: str, text: str) -> str:
    """A hash of what a reader sees: title and text with whitespace normalised."""
    normal = _SPACE.sub(" ", f"{title}\n{text}").strip().casefold()
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """Datetimes are handled as aware UTC; a naive one is taken to be UTC already."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _find_existing(session: Session, data: ArticleData) -> Article | None:
    found = session.exec(select(Article).where(Article.canonical_url == data.canonical_url)).first()
    if found is None and data.url != data.canonical_url:
        found = session.exec(select(Article).where(Article.url == data.url)).first()
    return found


def _insert(session: Session, data: ArticleData) -> Article:
    fetched = as_utc(data.fetched_at)
    assert fetched is not None
    published = as_utc(data.published_at)
    row = Article(
        source=data.source,
        url=data.url,
        canonical_url=data.canonical_url,
        title=data.title,
        author=data.author,
        published_at=published,
        sort_at=published or fetched,
        first_seen_at=fetched,
        fetched_at=fetched,
        language=data.language,
        description=data.description,
        sitename=data.sitename,
        text=data.text,
        content_hash=data.content_hash,
        discovered_via=data.discovered_via,
    )
    session.add(row)
    return row


def _update(row: Article, data: ArticleData) -> Outcome:
    fetched = as_utc(data.fetched_at)
    assert fetched is not None
    row.fetched_at = fetched
    if row.content_hash == data.content_hash:
        return Outcome.UNCHANGED
    published = as_utc(data.published_at) or row.published_at
    row.url, row.canonical_url = data.url, data.canonical_url
    row.title, row.text, row.content_hash = data.title, data.text, data.content_hash
    row.author = data.author or row.author
    row.published_at = published
    row.sort_at = published or row.first_seen_at
    row.language = data.language or row.language
    row.description = data.description or row.description
    row.sitename = data.sitename or row.sitename
    row.updated_at = fetched
    return Outcome.UPDATED


def upsert_article(session: Session, data: ArticleData) -> WriteResult:
    """Insert a new article, update a changed one, or only touch ``fetched_at``."""
    try:
        with session.begin_nested():
            row = _find_existing(session, data)
            if row is None:
                row, outcome = _insert(session, data), Outcome.NEW
            else:
                outcome = _update(row, data)
            session.flush()
    except SQLAlchemyError as exc:
        return WriteResult(data.url, Outcome.FAILED, error=f"{type(exc).__name__}: {exc}")
    return WriteResult(data.url, outcome, row.id)


def upsert_articles(session: Session, items: Iterable[ArticleData]) -> list[WriteResult]:
    return [upsert_article(session, data) for data in items]


def fetched_times(session: Session, urls: Sequence[str]) -> dict[str, datetime]:
    """For those of ``urls`` already stored (as fetched or canonical URL): when last fetched."""
    found: dict[str, datetime] = {}
    wanted = list(dict.fromkeys(urls))
    for start in range(0, len(wanted), 400):
        chunk = wanted[start : start + 400]
        rows = session.exec(
            select(Article.url, Article.canonical_url, Article.fetched_at).where(
                or_(col(Article.url).in_(chunk), col(Article.canonical_url).in_(chunk))
            )
        ).all()
        for url, canonical, fetched in rows:
            found[url] = fetched
            found[canonical] = fetched
    return {url: found[url] for url in wanted if url in found}


def newest_article_time(session: Session) -> datetime | None:
    """The ``sort_at`` of the newest stored article (None for an empty store)."""
    return as_utc(session.exec(select(func.max(Article.sort_at))).first())


def article_counts(session: Session) -> dict[str, int]:
    rows = session.exec(select(Article.source, func.count()).group_by(Article.source)).all()
    return dict(rows)


def get_article(session: Session, article_id: int) -> Article | None:
    return session.get(Article, article_id)

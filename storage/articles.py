"""Storage stage: writing articles (upsert by canonical URL and content hash) and looking them up.

A batch is written in one savepoint: one lookup of the stored rows it
matches, one multi-row insert of the new ones, the changed ones updated. If
anything in it fails, the batch is written again one article per savepoint,
so one bad article does not undo the rest of its batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, overload

from sqlalchemy import func, insert, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from storage.tables import Article


class Outcome(StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ArticleData:
    """An extracted article, ready to be stored (the crawler's output).

    Its ``content_hash`` is worked out once, when it is made: the crawler's
    extraction process passes the one it computed beside the text, so hashing
    (about 0.1 ms for a 700-word article) stays off the process that writes.
    """

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
    content_hash: str = ""  # computed from title and text when not given (see content_hash())

    def __post_init__(self) -> None:
        if not self.content_hash:
            object.__setattr__(self, "content_hash", content_hash(self.title, self.text))


@dataclass(frozen=True, slots=True)
class WriteResult:
    url: str
    outcome: Outcome
    article_id: int | None = None
    error: str | None = None


def content_hash(title: str, text: str) -> str:
    """A hash of what a reader sees: title and text with whitespace normalised."""
    normal = " ".join(f"{title}\n{text}".split()).casefold()  # = re.sub(r"\s+", " ").strip()
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


def _new_row(data: ArticleData) -> dict[str, Any]:
    """The columns of a new article."""
    fetched = as_utc(data.fetched_at)
    assert fetched is not None
    published = as_utc(data.published_at)
    return dict(
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


def _insert(session: Session, data: ArticleData) -> Article:
    row = Article(**_new_row(data))
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
    """Upsert a batch: at once when it can be, else one article at a time (see the module)."""
    batch = list(items)
    keys = [d.canonical_url for d in batch] + [d.url for d in batch if d.url != d.canonical_url]
    if len(set(keys)) == len(keys):  # no two articles of the batch are the same one
        try:
            with session.begin_nested():
                return _upsert_at_once(session, batch)
        except SQLAlchemyError:
            pass  # written again one by one: the failing article is named, the rest kept
    return [upsert_article(session, data) for data in batch]


def _stored_rows(session: Session, batch: Sequence[ArticleData]) -> dict[str, Article]:
    """The stored articles matching the batch, by canonical and by fetched URL."""
    wanted = list({key for d in batch for key in (d.canonical_url, d.url)})
    found: dict[str, Article] = {}
    for start in range(0, len(wanted), 400):
        chunk = wanted[start : start + 400]
        statement = select(Article).where(
            or_(col(Article.canonical_url).in_(chunk), col(Article.url).in_(chunk))
        )
        for row in session.exec(statement):
            found.setdefault(row.url, row)
            found[row.canonical_url] = row  # the canonical URL wins, as in _find_existing
    return found


def _upsert_at_once(session: Session, batch: Sequence[ArticleData]) -> list[WriteResult]:
    stored = _stored_rows(session, batch)
    results: list[WriteResult | None] = []
    new: list[tuple[int, ArticleData]] = []
    for data in batch:
        row = stored.get(data.canonical_url) or stored.get(data.url)
        if row is None:
            new.append((len(results), data))
            results.append(None)
        else:
            results.append(WriteResult(data.url, _update(row, data), row.id))
    session.flush()
    if new:
        ids = _insert_rows(session, [data for _, data in new])
        for (position, data), article_id in zip(new, ids, strict=True):
            results[position] = WriteResult(data.url, Outcome.NEW, article_id)
    return [result for result in results if result is not None]


def _insert_rows(session: Session, batch: Sequence[ArticleData]) -> list[int]:
    """Insert new articles in as few statements as the driver allows; their ids, in order.

    With ``RETURNING``, SQLAlchemy sends the rows as multi-row
    ``INSERT … VALUES (…), (…)`` statements ("insertmanyvalues"), not one
    statement per row. That matters on SQLite: every statement that fires the
    FTS5 trigger opens a statement savepoint, and FTS5 writes its pending index
    data out at each savepoint, so one statement per article wrote one tiny
    index segment per article and merged them again (about 430 µs an article
    instead of 160). The ids come back by URL, since the order of a multi-row
    statement's ``RETURNING`` rows is not promised.
    """
    table = Article.__table__  # type: ignore[attr-defined]
    statement = insert(table).returning(table.c.canonical_url, table.c.id)
    returned = session.connection().execute(statement, [_new_row(data) for data in batch])
    ids = {url: int(article_id) for url, article_id in returned}
    return [ids[data.canonical_url] for data in batch]


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

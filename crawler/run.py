"""Crawler stage: one crawl run, from the configured sources to rows in the store.

Stages, in order: choose the sources → record the run → read the stored feed
validators → run the Scrapy spider (:mod:`crawler.spider`: fetch feeds,
sitemaps and listings; fetch and extract articles) whose pipeline
(:mod:`crawler.pipeline`) writes the store → record the run's counts and errors.

Twisted's reactor cannot be restarted, so one process runs at most one crawl;
callers that crawl repeatedly (the scheduler, the tests) start a child process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from config.model import Settings, Source
from crawler.offload import default_processes
from crawler.spider import CrawlPlan, NewsSpider
from crawler.tally import Tally
from shopwatch.errors import UsageError
from storage.articles import fetched_times
from storage.endpoints import Backoff, held_endpoints, validators_for_sources
from storage.engine import Store
from storage.runs import finish_run, record_errors, start_run

_ran_in_this_process = False


@dataclass
class CrawlReport:
    run_id: int
    status: str
    totals: dict[str, int]
    per_source: dict[str, dict[str, Any]]
    errors: list[dict[str, Any]] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def select_sources(settings: Settings, names: Sequence[str]) -> list[Source]:
    if not names:
        chosen = [s for s in settings.sources if s.enabled]
    else:
        try:
            chosen = [settings.source(name) for name in dict.fromkeys(names)]
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from exc
    if not chosen:
        raise UsageError("no sources to crawl: add [[sources]] to the configuration")
    return chosen


def scrapy_settings(settings: Settings, *, log_level: str = "ERROR") -> dict[str, Any]:
    """The Scrapy settings that carry out ``[crawl]``."""
    crawl = settings.crawl
    return {
        "BOT_NAME": "shopwatch",
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "CONCURRENT_REQUESTS": crawl.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.per_host_concurrency,
        "DOWNLOAD_TIMEOUT": crawl.download_timeout,
        "DOWNLOAD_MAXSIZE": crawl.max_page_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "RETRY_TIMES": crawl.retries,
        "RETRY_HTTP_CODES": [408, 429, 500, 502, 503, 504, 522, 524],
        "AUTOTHROTTLE_ENABLED": crawl.autothrottle,
        "AUTOTHROTTLE_START_DELAY": 0.25,
        "AUTOTHROTTLE_MAX_DELAY": 30.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(crawl.per_host_concurrency),
        # Not 0: Scrapy 2.19 starts a slot's downloads as scheduled tasks, so with no delay
        # one pass over a slot's queue sends every queued request at once, whatever
        # CONCURRENT_REQUESTS_PER_DOMAIN says; any delay makes it send one, then re-check.
        "DOWNLOAD_DELAY": 0.001,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": log_level,
        "LOGSTATS_INTERVAL": 0,
        "SCHEDULER_PRIORITY_QUEUE": "scrapy.pqueues.DownloaderAwarePriorityQueue",
        "DOWNLOAD_HANDLERS": {"file": None, "ftp": None, "data": None, "s3": None},
        "DNS_RESOLVER": "crawler.netguard.GuardedResolver",
        "TWISTED_DNS_RESOLVER": "crawler.netguard.GuardedResolver",
        "SHOPWATCH_ALLOWED_NETWORKS": [str(net) for net in crawl.allowed_networks],
        "SHOPWATCH_MAX_RETRY_AFTER": crawl.max_retry_after,
        "DOWNLOADER_MIDDLEWARES": {
            "crawler.netguard.NetworkGuardMiddleware": 10,
            "crawler.politeness.RetryAfterMiddleware": 560,
        },
        "ITEM_PIPELINES": {"crawler.pipeline.StorePipeline": 300},
    }


def extract_processes(settings: Settings) -> int:
    """``[crawl] extract_processes``, or its default for this machine's cores."""
    chosen = settings.crawl.extract_processes
    return default_processes() if chosen is None else chosen


def crawl_plan(
    settings: Settings, store: Store, sources: list[Source], run_id: int, *, hold: bool = True
) -> CrawlPlan:
    """What run ``run_id`` over ``sources`` needs to know from the settings and the store.

    ``hold``: leave out the feeds and sitemaps still waiting after failures (a worker
    does not: the run that enqueued them decided that).
    """
    names = [s.name for s in sources]
    with store.read() as session:
        validators = validators_for_sources(session, names, before_run=run_id)
        held = (
            held_endpoints(session, names, datetime.now(UTC), Backoff.of(settings.crawl))
            if hold
            else {}
        )

    def known(urls: Sequence[str]) -> dict[str, datetime]:
        with store.read() as session:
            return fetched_times(session, urls)

    return CrawlPlan(
        sources=sources,
        validators=validators,
        held=held,
        known=known,
        min_text_chars=settings.crawl.min_text_chars,
        listing_pages=settings.crawl.listing_pages,
        max_bytes=settings.crawl.max_page_bytes,
        extract_processes=extract_processes(settings),
    )


def _run_spider(
    settings: Settings, store: Store, plan: CrawlPlan, tally: Tally, log_level: str
) -> None:
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    process = CrawlerProcess(scrapy_settings(settings, log_level=log_level))
    crawler = process.create_crawler(NewsSpider)

    def closed(spider: Any, reason: str) -> None:
        tally.close_reason = reason

    crawler.signals.connect(closed, signal=signals.spider_closed)
    process.crawl(crawler, plan=plan, tally=tally, store=store)
    process.start()
    logging.getLogger("scrapy").handlers.clear()


def run_crawl(
    settings: Settings,
    store: Store,
    source_names: Sequence[str] = (),
    *,
    on_progress: Callable[[Tally], None] | None = None,
    log_level: str = "ERROR",
) -> CrawlReport:
    """Crawl the chosen sources once and record the run; see the module docstring."""
    global _ran_in_this_process
    if _ran_in_this_process:
        raise UsageError("one process runs one crawl (Twisted's reactor cannot restart)")
    sources = select_sources(settings, source_names)
    started = datetime.now(UTC)
    with store.write() as session:
        run_id = start_run(session, [s.name for s in sources])
    tally = Tally(on_progress)
    try:
        plan = crawl_plan(settings, store, sources, run_id)
        _ran_in_this_process = True
        _run_spider(settings, store, plan, tally, log_level)
    except BaseException:  # stopped before or around Scrapy: the run is not left "running"
        with store.write() as session:
            finish_run(session, run_id, tally.per_source(), "interrupted")
            record_errors(session, run_id, tally.errors)
        raise
    status = "completed" if tally.close_reason == "finished" else "interrupted"
    per_source = tally.per_source()
    with store.write() as session:
        finish_run(session, run_id, per_source, status)
        record_errors(session, run_id, tally.errors)
    return CrawlReport(
        run_id, status, tally.totals(), per_source, tally.errors, started, datetime.now(UTC)
    )

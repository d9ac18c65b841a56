"""Crawler stage: crawling shared through Redis (``[crawl] queue``), enqueuing and working.

``enqueue_seeds`` (``shopwatch crawl`` with a queue) pushes each source's
feeds, sitemaps and listing pages into the queue and returns. ``run_worker``
(``shopwatch worker``) runs the same spider, politeness and store pipeline as
a local crawl, with scrapy-redis' scheduler: the requests it finds go to the
shared queue and the seen-URL filter, and it takes its work from there. The
keys and the leases that keep a killed worker from losing requests are
described in :mod:`crawler.queue`. In order, a worker: records its run →
beats its heartbeat (and puts back the requests of dead workers) → takes a
request into its in-flight set → fetches it (a feed only under its lease) →
writes what it produced to the store → drops it from the in-flight set →
waits for more; on stop it puts its unfinished requests back.

Scrapy hands a callback's output on concurrently: a callback can have returned
while its article is still on its way to the store pipeline and its new
requests on their way to the queue. So a taken request is finished only once
its callback has returned *and* each thing it produced has been handed on
(:class:`Owed`); only then can the next write to the store acknowledge it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import redis
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Request, Response
from scrapy.utils.misc import load_object
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler
from twisted.internet import task
from twisted.python.failure import Failure

from config.model import Settings, Source
from crawler.pipeline import StorePipeline
from crawler.queue import Queue, connect, new_round, new_worker_id
from crawler.run import crawl_plan, scrapy_settings, select_sources
from crawler.spider import CrawlPlan, NewsSpider, request_url
from crawler.tally import Tally
from storage.endpoints import Backoff, held_endpoints, validators_for_sources
from storage.engine import Store
from storage.runs import finish_run, record_errors, start_run

QUEUED_AS = "queued_as"  # request.meta: the request as it was taken from the queue


class Owed:
    """What each taken request still has to hand on before it may leave the in-flight set.

    A taken request is *open* while a callback (or errback) works on it, and
    *owes* each request and item that callback produced until that output is
    handed on: a request pushed to the queue, an item buffered by the store
    pipeline. :meth:`close` and :meth:`settle` return the request once nothing
    is open or owed for it any more.
    """

    def __init__(self) -> None:
        self._open: dict[bytes, int] = {}
        self._owed: dict[int, tuple[Any, bytes]] = {}  # id(output) -> (output, taken)

    def open(self, taken: bytes) -> None:
        self._open[taken] = self._open.get(taken, 0) + 1

    def close(self, taken: bytes) -> bytes | None:
        left = self._open.get(taken, 0) - 1
        if left > 0:
            self._open[taken] = left
            return None
        self._open.pop(taken, None)
        return taken

    def owe(self, taken: bytes, output: Any) -> None:
        """``output`` (a request or an item) is to be handed on before ``taken`` is finished."""
        if output is None or id(output) in self._owed:
            return
        self._owed[id(output)] = (output, taken)
        self.open(taken)

    def settle(self, output: Any) -> bytes | None:
        """``output`` was handed on; the request it came from, if that is now finished."""
        entry = self._owed.get(id(output))
        if entry is None or entry[0] is not output:
            return None
        del self._owed[id(output)]
        return self.close(entry[1])


class FeedLeased(IgnoreRequest):
    """Another worker holds the feed's lease: it is fetching it now."""


# --- scrapy-redis components ---------------------------------------------------------


class LeasedQueue(PriorityQueue):
    """scrapy-redis' priority queue, whose pop moves the request to the worker's in-flight set."""

    def __init__(self, server: Any, spider: Any, key: str, serializer: Any = None) -> None:
        super().__init__(server, spider, key, serializer)
        self.shared: Queue = spider.queue

    def pop(self, timeout: int = 0) -> Request | None:
        data = self.shared.take()
        if data is None:
            return None
        request: Request = self._decode_request(data)
        request.meta[QUEUED_AS] = data
        if request.meta.get("kind") in ("feed", "sitemap"):
            self.shared.feed_taken(request.url)  # no longer waiting: a new round may queue it
        return request


class LeasedScheduler(Scheduler):
    """scrapy-redis' scheduler over :class:`LeasedQueue`, without its deprecated Scrapy calls.

    A retried or redirected copy of a taken request replaces it in the queue.
    """

    def open(self, spider: Any) -> None:
        self.spider = spider
        self.queue = load_object(self.queue_cls)(
            server=self.server,
            spider=spider,
            key=self.queue_key % {"spider": spider.name},
            serializer=self.serializer,
        )
        if not self.df:
            self.df: Any = load_object(self.dupefilter_cls).from_spider(spider)

    def enqueue_request(self, request: Request) -> bool:
        taken = request.meta.pop(QUEUED_AS, None)
        request.meta.setdefault("round", getattr(self.spider, "round_id", "-"))
        queued = request.dont_filter or not self.df.request_seen(request)
        if queued:
            self.queue.push(request)
            if self.stats:
                self.stats.inc_value("scheduler/enqueued/redis")
        else:
            self.df.log(request, self.spider)
        if taken is not None:  # a retried or redirected copy replaces the request it came from
            self.spider.finished(taken)
        self.spider.handed_on(request)
        return queued

    def next_request(self) -> Request | None:
        request: Request | None = self.queue.pop()
        if request is not None and self.stats:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self) -> bool:
        return self.queue.shared.queued() > 0


class RoundDupeFilter(RFPDupeFilter):
    """The seen-URL filter in Redis, one set per round (see :mod:`crawler.queue`)."""

    def __init__(self, queue: Queue) -> None:
        super().__init__(queue.client, key=queue.keys.seen("*"))
        self.queue = queue

    @classmethod
    def from_spider(cls, spider: Any) -> RoundDupeFilter:
        return cls(spider.queue)

    def request_seen(self, request: Request) -> bool:
        round_id = str(request.meta.get("round", "-"))
        return self.queue.seen(round_id, self.request_fingerprint(request))

    def clear(self) -> None:
        """Kept: the other workers share it (each round's set expires on its own)."""

    def close(self, reason: str = "") -> None:
        """Kept, as for :meth:`clear`."""


class FeedLeaseMiddleware:
    """Downloader middleware: a feed or sitemap is fetched only under its lease in Redis."""

    def __init__(self, queue: Queue, lease_ms: int) -> None:
        self.queue, self.lease_ms = queue, lease_ms

    @classmethod
    def from_crawler(cls, crawler: Any) -> FeedLeaseMiddleware:
        settings = crawler.settings
        lease = settings.getfloat("DOWNLOAD_TIMEOUT") * (settings.getint("RETRY_TIMES") + 1)
        lease += settings.getfloat("SHOPWATCH_QUEUE_LEASE")
        return cls(crawler.spider.queue, int(lease * 1000))

    @staticmethod
    def _is_feed(request: Request) -> bool:
        return request.meta.get("kind") in ("feed", "sitemap")

    def process_request(self, request: Request) -> None:
        if not self._is_feed(request) or request.meta.get("feed_leased"):
            return
        if not self.queue.claim_feed(request.url, self.lease_ms):
            raise FeedLeased(f"{request.url} is being fetched by another worker")
        request.meta["feed_leased"] = True

    def process_response(self, request: Request, response: Response) -> Response:
        if request.meta.get("feed_leased"):
            self.queue.release_feed(request.url)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        if request.meta.get("feed_leased"):
            self.queue.release_feed(request.url)


class HandOnMiddleware:
    """Spider middleware, nearest the engine: what a callback produced is owed by its request.

    It sees each output after every other spider middleware, so what one of
    them drops (an over-long URL, say) is never owed.
    """

    def __init__(self, spider: WorkerSpider) -> None:
        self.spider = spider

    @classmethod
    def from_crawler(cls, crawler: Any) -> HandOnMiddleware:
        return cls(crawler.spider)

    def process_spider_output(self, response: Response, result: Iterable[Any]) -> Iterator[Any]:
        return self.spider.owing(response.request, result)

    async def process_spider_output_async(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        async for value in self.spider.aowing(response.request, result):
            yield value


class QueuedStorePipeline(StorePipeline):
    """The store pipeline; a request leaves the in-flight set once its output is written."""

    @classmethod
    def from_crawler(cls, crawler: Any) -> QueuedStorePipeline:
        spider = crawler.spider
        pipeline = cls(spider.store, spider.tally)
        pipeline.spider = spider
        spider.pipeline = pipeline
        return pipeline

    spider: WorkerSpider | None = None

    def process_item(self, item: Any) -> Any:
        try:
            return super().process_item(item)
        finally:
            if self.spider is not None:
                self.spider.handed_on(item)

    def flush(self) -> None:
        finished = self.spider.take_finished() if self.spider is not None else []
        super().flush()
        if self.spider is not None:
            self.spider.queue.done(finished)


# --- the spider ------------------------------------------------------------------------


class WorkerSpider(NewsSpider):
    """The news spider, fed from the shared queue; it waits for work instead of closing."""

    def __init__(
        self,
        plan: CrawlPlan,
        tally: Tally,
        store: Store,
        queue: Queue,
        lease_seconds: float = 30.0,
        exit_when_idle: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(plan, tally, store, **kwargs)
        self.queue, self.lease_seconds, self.exit_when_idle = queue, lease_seconds, exit_when_idle
        self.round_id = "-"
        self.pipeline: QueuedStorePipeline | None = None
        self._finished: list[bytes] = []
        self.owed = Owed()
        self._idle_since: float | None = None
        self._beat: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> WorkerSpider:
        spider = cast(WorkerSpider, super().from_crawler(crawler, *args, **kwargs))
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        crawler.signals.connect(spider.on_opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.on_closed, signal=signals.spider_closed)
        return spider

    async def start(self) -> AsyncIterator[Request]:
        """Nothing of its own: every request comes from the queue."""
        return
        yield

    # --- lifecycle ---------------------------------------------------------------------

    def beat(self) -> None:
        """Heartbeat, put back dead workers' requests, write what is pending, acknowledge it."""
        try:
            self.queue.heartbeat(int(self.lease_seconds * 1000))
            self.queue.recover()
            if self.pipeline is not None:
                self.pipeline.flush()
        except redis.RedisError as exc:  # the next beat tries again; the leases cover the gap
            self.logger.warning("the queue did not answer: %s", exc)

    def on_opened(self, spider: Any) -> None:
        self.queue.heartbeat(int(self.lease_seconds * 1000))
        self._beat = task.LoopingCall(self.beat)
        self._beat.start(max(self.lease_seconds / 5, 0.2), now=True)

    def on_closed(self, spider: Any, reason: str) -> None:
        if self._beat is not None and self._beat.running:
            self._beat.stop()
        if self.pipeline is not None:
            self.pipeline.flush()
        self.returned = self.queue.leave()

    def on_idle(self, spider: Any) -> None:
        if self.exit_when_idle is None:
            raise DontCloseSpider
        if not self.queue.idle():
            self._idle_since = None
            raise DontCloseSpider
        now = time.monotonic()
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since < self.exit_when_idle:
            raise DontCloseSpider

    # --- requests taken from the queue ------------------------------------------------

    def finished(self, taken: bytes | None) -> None:
        if taken is not None:
            self._finished.append(taken)

    def take_finished(self) -> list[bytes]:
        finished, self._finished = self._finished, []
        return finished

    def handed_on(self, output: Any) -> None:
        """``output`` reached the queue or the store pipeline."""
        self.finished(self.owed.settle(output))

    @contextmanager
    def _working(self, request: Request | None) -> Iterator[bytes | None]:
        """While a callback works on ``request``: it is open (the taken request, or None)."""
        taken = request.meta.get(QUEUED_AS) if request is not None else None
        if taken is None:
            yield None
            return
        self.owed.open(taken)
        try:
            yield taken
        finally:
            self.finished(self.owed.close(taken))

    def owing(self, request: Request | None, output: Iterable[Any]) -> Iterator[Any]:
        """``output``, each value owed by ``request`` until handed on; then ``request`` closed."""
        with self._working(request) as taken:
            for value in output:
                if taken is not None:
                    self.owed.owe(taken, value)
                yield value

    async def aowing(
        self, request: Request | None, output: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        """:meth:`owing` of an asynchronous callback's output."""
        with self._working(request) as taken:
            async for value in output:
                if taken is not None:
                    self.owed.owe(taken, value)
                yield value

    def _carry(self, meta: dict[str, Any], value: Any) -> Any:
        """``value``; a new request gets the round and the hints found for it."""
        if isinstance(value, Request):
            value.meta.setdefault("round", meta.get("round", self.round_id))
            if value.meta.get("kind") == "article":
                value.meta["hints"] = self.hints.pop(value.url, {})
        return value

    def _through(self, request: Request | None, output: Iterable[Any]) -> Iterator[Any]:
        """``output`` with the round and hints carried to new requests."""
        self._idle_since = None
        meta = request.meta if request is not None else {}
        for value in output:
            yield self._carry(meta, value)

    async def _athrough(
        self, request: Request | None, output: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        """:meth:`_through` of an asynchronous callback's output."""
        self._idle_since = None
        meta = request.meta if request is not None else {}
        async for value in output:
            yield self._carry(meta, value)

    def parse_feed(self, response: Response) -> Iterable[Any]:
        return self._through(response.request, super().parse_feed(response))

    def parse_sitemap(self, response: Response) -> Iterable[Any]:
        return self._through(response.request, super().parse_sitemap(response))

    def parse_listing(self, response: Response) -> Iterable[Any]:
        return self._through(response.request, super().parse_listing(response))

    async def parse_article(self, response: Response) -> AsyncIterator[Any]:
        hints = response.meta.get("hints")
        if hints:
            self.hints[request_url(response)] = hints
        async for value in self._athrough(response.request, super().parse_article(response)):
            yield value

    def on_error(self, failure: Failure) -> Iterable[Any]:
        request = failure.request  # type: ignore[attr-defined]
        # A download failure's output reaches the engine without the spider middlewares.
        if failure.check(FeedLeased):
            self.tally.skip(request.meta.get("source", "?"), "fetched by another worker")
            return self.owing(request, self._through(request, ()))
        return self.owing(request, self._through(request, super().on_error(failure)))


# --- enqueue --------------------------------------------------------------------------


@dataclass
class EnqueueReport:
    round_id: str
    per_source: dict[str, dict[str, int]]
    recovered: int = 0
    queued: int = 0

    @property
    def totals(self) -> dict[str, int]:
        keys = ("feeds", "sitemaps", "listings", "held", "already queued")
        return {k: sum(c.get(k, 0) for c in self.per_source.values()) for k in keys}


def _shared(settings: Settings, worker: str = "") -> Queue:
    assert settings.crawl.queue is not None
    return Queue(connect(settings.crawl.queue), settings.crawl.queue_prefix, worker)


def enqueue_seeds(
    settings: Settings, store: Store, source_names: Sequence[str] = ()
) -> EnqueueReport:
    """Push the chosen sources' feeds, sitemaps and listing pages into the queue, once."""
    sources = select_sources(settings, source_names)
    queue = _shared(settings)
    report = EnqueueReport(new_round(), {}, recovered=queue.recover())
    names = [s.name for s in sources]
    with store.read() as session:
        validators = validators_for_sources(session, names)
        held = held_endpoints(session, names, datetime.now(UTC), Backoff.of(settings.crawl))
    plan = CrawlPlan(sources=sources, validators=validators)
    spider = WorkerSpider(plan, Tally(), store, queue)
    pusher = LeasedQueue(queue.client, spider, queue.keys.requests)
    for source in sources:
        counts = report.per_source.setdefault(source.name, {})
        for request in _seeds(spider, source, held, counts):
            request.meta["round"] = report.round_id
            pusher.push(request)
    report.queued = queue.queued()
    return report


def _seeds(
    spider: WorkerSpider, source: Source, held: dict[str, str], counts: dict[str, int]
) -> Iterator[Request]:
    endpoints = [(str(u), "feed") for u in source.feeds]
    endpoints += [(str(u), "sitemap") for u in source.sitemaps]
    for url, kind in endpoints:
        if url in held:
            counts["held"] = counts.get("held", 0) + 1
        elif not spider.queue.mark_feed_pending(url):
            counts["already queued"] = counts.get("already queued", 0) + 1
        else:
            counts[f"{kind}s"] = counts.get(f"{kind}s", 0) + 1
            yield spider._endpoint_request(url, source.name, kind)
    for url in source.start_urls:
        counts["listings"] = counts.get("listings", 0) + 1
        yield spider._listing_request(str(url), source.name, 1)


# --- the worker ------------------------------------------------------------------------


@dataclass
class WorkerReport:
    worker: str
    run_id: int
    status: str
    totals: dict[str, int]
    returned: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def worker_settings(settings: Settings, worker: str, *, log_level: str) -> dict[str, Any]:
    """The Scrapy settings of a local crawl, with the scheduler and filter in Redis."""
    crawl = settings.crawl
    base = scrapy_settings(settings, log_level=log_level)
    base.pop("SCHEDULER_PRIORITY_QUEUE")
    base["DOWNLOADER_MIDDLEWARES"] = {
        **base["DOWNLOADER_MIDDLEWARES"],
        "crawler.worker.FeedLeaseMiddleware": 540,
    }
    return base | {
        "SCHEDULER": "crawler.worker.LeasedScheduler",
        "SCHEDULER_QUEUE_CLASS": "crawler.worker.LeasedQueue",
        "SCHEDULER_QUEUE_KEY": f"{crawl.queue_prefix}:requests",
        "DUPEFILTER_CLASS": "crawler.worker.RoundDupeFilter",
        "SCHEDULER_PERSIST": True,
        "REDIS_URL": crawl.queue,
        "SHOPWATCH_QUEUE_LEASE": crawl.queue_lease.total_seconds(),
        "SPIDER_MIDDLEWARES": {"crawler.worker.HandOnMiddleware": 1},
        "ITEM_PIPELINES": {"crawler.worker.QueuedStorePipeline": 300},
    }


def run_worker(
    settings: Settings,
    store: Store,
    *,
    exit_when_idle: float | None = None,
    log_level: str = "ERROR",
) -> WorkerReport:
    """Take requests from the queue until stopped (or idle ``exit_when_idle`` seconds)."""
    from scrapy.core.engine import ExecutionEngine
    from scrapy.crawler import CrawlerProcess

    worker = new_worker_id()
    queue = _shared(settings, worker)
    names = [s.name for s in settings.sources]
    with store.write() as session:
        run_id = start_run(session, names)
    plan = crawl_plan(settings, store, list(settings.sources), run_id, hold=False)
    tally = Tally()
    # The engine asks the scheduler for work on this beat when it has none: the default 5 s
    # would leave an idle worker that long behind the queue.
    ExecutionEngine._SLOT_HEARTBEAT_INTERVAL = 1.0
    process = CrawlerProcess(worker_settings(settings, worker, log_level=log_level))
    crawler = process.create_crawler(WorkerSpider)
    spider_box: dict[str, Any] = {}

    def closed(spider: Any, reason: str) -> None:
        tally.close_reason = reason
        spider_box["spider"] = spider

    crawler.signals.connect(closed, signal=signals.spider_closed)
    status = "interrupted"
    try:
        process.crawl(
            crawler,
            plan=plan,
            tally=tally,
            store=store,
            queue=queue,
            lease_seconds=settings.crawl.queue_lease.total_seconds(),
            exit_when_idle=exit_when_idle,
        )
        process.start()
        status = "completed" if tally.close_reason == "finished" else "interrupted"
    finally:
        with store.write() as session:
            finish_run(session, run_id, tally.per_source(), status)
            record_errors(session, run_id, tally.errors)
    returned = getattr(spider_box.get("spider"), "returned", 0)
    return WorkerReport(worker, run_id, status, tally.totals(), returned, tally.errors)

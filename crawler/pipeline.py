"""Crawler stage: the item pipeline that hands extracted articles and feed state to the store.

Articles are written in batches (see :func:`storage.articles.upsert_articles`),
and so is endpoint state (validators, errors): one transaction for up to
``BATCH_SIZE`` items or ``BATCH_SECONDS``, whichever comes first, and at the end.
"""

from __future__ import annotations

import time
from typing import Any

from crawler.items import ArticleItem, EndpointItem
from crawler.tally import Tally
from shopwatch.errors import StoreError
from storage.articles import ArticleData, Outcome, upsert_articles
from storage.endpoints import FetchOutcome, record_fetch
from storage.engine import Store

BATCH_SIZE = 50
BATCH_SECONDS = 1.0

_COUNTED = {Outcome.NEW: "new", Outcome.UPDATED: "updated"}


class StorePipeline:
    def __init__(self, store: Store, tally: Tally) -> None:
        self.store, self.tally = store, tally
        self.pending: list[ArticleData] = []
        self.endpoints: list[FetchOutcome] = []
        self.last_flush = time.monotonic()

    @classmethod
    def from_crawler(cls, crawler: Any) -> StorePipeline:
        spider = crawler.spider  # created before the pipelines; it carries the run's objects
        return cls(spider.store, spider.tally)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ArticleItem):
            self.pending.append(item.article)
        elif isinstance(item, EndpointItem):
            outcome = item.outcome
            if outcome.warning:
                self.tally.fail(outcome.source, outcome.url, "parse", outcome.warning, count=False)
            self.endpoints.append(outcome)
        if (
            len(self.pending) + len(self.endpoints) >= BATCH_SIZE
            or time.monotonic() - self.last_flush > BATCH_SECONDS
        ):
            self.flush()
        return item

    def close_spider(self) -> None:
        self.flush()

    def _record_endpoints(self) -> None:
        outcomes, self.endpoints = self.endpoints, []
        if not outcomes:
            return
        try:
            with self.store.write() as session:
                for outcome in outcomes:
                    record_fetch(session, outcome)
        except StoreError as exc:
            for outcome in outcomes:
                self.tally.fail(outcome.source, outcome.url, "store", str(exc), count=False)

    def flush(self) -> None:
        self._record_endpoints()
        batch, self.pending = self.pending, []
        self.last_flush = time.monotonic()
        if not batch:
            return
        try:
            with self.store.write() as session:
                results = upsert_articles(session, batch)
        except StoreError as exc:
            for article in batch:
                self.tally.fail(article.source, article.url, "store", str(exc))
            return
        for article, result in zip(batch, results, strict=True):
            if result.outcome is Outcome.FAILED:
                self.tally.fail(article.source, article.url, "store", result.error or "failed")
            elif result.outcome is Outcome.UNCHANGED:
                self.tally.skip(article.source, "unchanged")
            else:
                self.tally.add(article.source, _COUNTED[result.outcome])

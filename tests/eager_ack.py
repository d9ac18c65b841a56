"""``shopwatch`` with a worker that acknowledges each finished request at once.

A worker normally acknowledges finished requests at its next store write (a
batch, or its heartbeat), so a request finished too early is only lost when the
worker dies in that gap. Here every request is acknowledged the moment the
worker counts it finished, which turns any such gap into a visible one: at
each acknowledgement, one JSON line goes to ``$SHOPWATCH_ACK_LOG`` with the
article URLs acknowledged and those of them already in the store.

Run as ``python -m tests.eager_ack --config FILE worker ...``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from scrapy_redis import picklecompat
from sqlalchemy import bindparam, text

from crawler import worker
from crawler.urls import canonicalize

LOG = os.environ["SHOPWATCH_ACK_LOG"]
_finished = worker.WorkerSpider.finished
_flush = worker.QueuedStorePipeline.flush


def _article_urls(taken: list[bytes]) -> list[str]:
    requests = [picklecompat.loads(data) for data in taken]
    return [canonicalize(r["url"]) for r in requests if r["meta"].get("kind") == "article"]


def finished(self: worker.WorkerSpider, taken: bytes | None) -> None:
    _finished(self, taken)
    if taken is not None and self.pipeline is not None:
        self.pipeline.flush()


def flush(self: worker.QueuedStorePipeline) -> None:
    pending = list(self.spider._finished) if self.spider is not None else []
    _flush(self)
    urls = _article_urls(pending)
    if not urls:
        return
    query = text("SELECT url FROM articles WHERE url IN :urls").bindparams(
        bindparam("urls", expanding=True)
    )
    with self.store.read() as session:
        present: list[Any] = list(session.execute(query, {"urls": urls}).scalars())
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps({"acknowledged": urls, "stored": present}) + "\n")


worker.WorkerSpider.finished = finished  # type: ignore[method-assign]
worker.QueuedStorePipeline.flush = flush  # type: ignore[method-assign]

if __name__ == "__main__":
    from cli.main import run

    run()

"""Crawler stage: the shared request queue in Redis, and the leases that keep it whole.

Keys, all under ``[crawl] queue_prefix`` (``P``):

- ``P:requests``: the queue, a sorted set of serialized requests (scrapy-redis'
  priority queue: feeds and sitemaps first, then listings, then articles);
- ``P:seen:ROUND``: the fingerprints of the requests queued in one round (one
  ``shopwatch crawl``), so an article found by two workers is fetched once,
  and a changed article can be fetched again in a later round; kept a day;
- ``P:pending-feeds``: the feeds and sitemaps waiting in the queue, so a
  feed enqueued twice before a worker took it is queued once;
- ``P:inflight:WORKER``: the requests a worker took and has not finished.
  Taking a request moves it there in one atomic step, and it leaves only once
  the articles it produced are written to the store;
- ``P:alive:WORKER``: the worker's heartbeat, renewed every fifth of
  ``queue_lease`` and expiring after it; ``P:workers`` lists the workers.
  When a worker's heartbeat has expired (it was killed, or its machine died)
  any other worker, or the next ``shopwatch crawl``, moves its in-flight
  requests back to the queue; a worker that stops cleanly puts them back itself;
- ``P:feed:URL``: a feed's lease while one worker fetches it (``SET NX PX``
  with the worker's id, deleted after the fetch), so two workers never fetch
  the same feed at once.

A request put back may have been fetched already; fetching it again is
harmless, since the store upserts articles by canonical URL.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any

import redis

from shopwatch.errors import UsageError

SEEN_SECONDS = 86_400

# Take the best-scored request and move it to the worker's in-flight set, atomically.
_TAKE = """
local top = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #top == 0 then return false end
redis.call('ZREM', KEYS[1], top[1])
redis.call('ZADD', KEYS[2], top[2], top[1])
return top[1]
"""

# Move every in-flight request of a worker back to the queue, keeping its score.
_RETURN = """
local items = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #items, 2 do
  redis.call('ZADD', KEYS[2], items[i + 1], items[i])
end
redis.call('DEL', KEYS[1])
return #items / 2
"""

# Delete a lease only if this worker still holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def connect(url: str) -> redis.Redis:
    """A client for the queue; an unreachable server is a :class:`UsageError`."""
    client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise UsageError(f"crawl.queue: cannot reach {url}: {exc}") from exc
    return client


def new_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def new_round() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Keys:
    prefix: str

    @property
    def requests(self) -> str:
        return f"{self.prefix}:requests"

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    @property
    def pending_feeds(self) -> str:
        return f"{self.prefix}:pending-feeds"

    def seen(self, round_id: str) -> str:
        return f"{self.prefix}:seen:{round_id}"

    def inflight(self, worker: str) -> str:
        return f"{self.prefix}:inflight:{worker}"

    def alive(self, worker: str) -> str:
        return f"{self.prefix}:alive:{worker}"

    def feed(self, url: str) -> str:
        return f"{self.prefix}:feed:{hashlib.sha1(url.encode()).hexdigest()}"


class Queue:
    """The queue's operations, for one prefix (and, in a worker, one worker id)."""

    def __init__(self, client: redis.Redis, prefix: str, worker: str = "") -> None:
        self.client, self.keys, self.worker = client, Keys(prefix), worker
        self._take = client.register_script(_TAKE)
        self._return = client.register_script(_RETURN)
        self._release = client.register_script(_RELEASE)

    # --- the queue ------------------------------------------------------------------

    def push(self, data: bytes, score: float) -> None:
        self.client.zadd(self.keys.requests, {data: score})

    def take(self) -> bytes | None:
        """The next request, now in this worker's in-flight set (None when the queue is empty)."""
        data: Any = self._take(keys=[self.keys.requests, self.keys.inflight(self.worker)])
        return bytes(data) if data else None

    def done(self, items: list[bytes]) -> None:
        if items:
            self.client.zrem(self.keys.inflight(self.worker), *items)

    def queued(self) -> int:
        return int(self.client.zcard(self.keys.requests))

    def idle(self) -> bool:
        """Nothing queued and nothing in flight anywhere: no worker can produce more work."""
        if self.queued():
            return False
        workers = self.client.smembers(self.keys.workers)
        return not any(self.client.zcard(self.keys.inflight(_text(w))) for w in workers)

    # --- feeds waiting in the queue ----------------------------------------------------

    def mark_feed_pending(self, url: str) -> bool:
        """False when the feed is already waiting in the queue."""
        return bool(self.client.sadd(self.keys.pending_feeds, url))

    def feed_taken(self, url: str) -> None:
        self.client.srem(self.keys.pending_feeds, url)

    # --- the seen-URL filter --------------------------------------------------------

    def seen(self, round_id: str, fingerprint: str) -> bool:
        key = self.keys.seen(round_id)
        added = self.client.sadd(key, fingerprint)
        if added:
            self.client.expire(key, SEEN_SECONDS)
        return added == 0

    # --- workers: heartbeat and in-flight requests ------------------------------------

    def heartbeat(self, lease_ms: int) -> None:
        pipe = self.client.pipeline()
        pipe.sadd(self.keys.workers, self.worker)
        pipe.set(self.keys.alive(self.worker), b"1", px=lease_ms)
        pipe.execute()

    def give_back(self, worker: str) -> int:
        """Return ``worker``'s in-flight requests to the queue; how many there were."""
        count: Any = self._return(keys=[self.keys.inflight(worker), self.keys.requests])
        return int(count)

    def leave(self) -> int:
        """A clean stop: this worker's unfinished requests go back, and it is forgotten."""
        returned = self.give_back(self.worker)
        self.client.delete(self.keys.alive(self.worker))
        self.client.srem(self.keys.workers, self.worker)
        return returned

    def recover(self) -> int:
        """Put back the in-flight requests of every worker whose heartbeat expired."""
        returned = 0
        for raw in self.client.smembers(self.keys.workers):
            worker = _text(raw)
            if worker == self.worker or self.client.exists(self.keys.alive(worker)):
                continue
            returned += self.give_back(worker)
            self.client.srem(self.keys.workers, worker)
        return returned

    # --- feed leases ----------------------------------------------------------------

    def claim_feed(self, url: str, lease_ms: int) -> bool:
        return bool(self.client.set(self.keys.feed(url), self.worker, nx=True, px=lease_ms))

    def release_feed(self, url: str) -> None:
        self._release(keys=[self.keys.feed(url)], args=[self.worker])

    # --- housekeeping ---------------------------------------------------------------

    def delete_all(self) -> int:
        """Delete every key under the prefix (tests, and starting over)."""
        keys = list(self.client.scan_iter(match=f"{self.keys.prefix}:*", count=500))
        return int(self.client.delete(*keys)) if keys else 0

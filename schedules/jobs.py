"""Scheduling: the jobs ``shopwatch run`` runs, each a thin call into another stage.

- crawl: a child process (spawned, so each crawl gets a fresh Twisted
  reactor) crawls the group's sources and enriches what is new; then, in the
  service, the alert rules are evaluated and the outbox flushed. With
  ``[crawl] queue`` the child only enqueues the sources' seeds for the
  workers (``shopwatch worker``) and enriches what they have stored since.
- digest: the digest of the 24 hours before its scheduled time, queued once
  per day and recipient list, then the outbox flushed.
- outbox: retry what is due.
- optimize: compact the search index (``[scheduler] optimize_schedule``,
  nightly by default), in short steps; a stop ends it between two steps.

Every run is recorded in ``job_runs``. On stop, a running crawl child gets
SIGTERM (Scrapy finishes its in-flight requests and closes cleanly) and is
killed if it is still there after ``[scheduler] stop_timeout``; every write
is a transaction, so nothing is half-written either way.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from config.model import Settings
from delivery.alerts import evaluate_alerts
from delivery.digest import make_digest, queue_digest, scheduled_window
from delivery.outbox import default_sender, flush_outbox
from schedules.plan import JobSpec, last_fire_time
from shopwatch.errors import ShopwatchError
from storage.engine import Store, open_store
from storage.maintenance import optimize_search
from storage.service import finish_job, start_job

log = logging.getLogger("shopwatch.service")


class Stopping(Exception):
    """SIGTERM reached a crawl child outside Scrapy: stop at the next safe point."""


def _stop_now(signum: int, _frame: FrameType | None) -> None:
    raise Stopping(signal.Signals(signum).name)


def crawl_child(settings: Settings, sources: tuple[str, ...], conn: Connection) -> None:
    """Child process: crawl ``sources`` once, enrich what is new, send a summary back.

    SIGTERM while the crawl runs is Scrapy's: it finishes its in-flight
    requests and the run is recorded ``interrupted``. Before and after, the
    signal stops the child where it is; every write is a transaction, so the
    one in progress is rolled back and the chunks already enriched stay.
    """
    from crawler.run import run_crawl
    from nlp.run import enrich_store

    for name in (signal.SIGTERM, signal.SIGINT):  # Ctrl-C reaches the whole process group
        signal.signal(name, _stop_now)
    store: Store | None = None
    result: dict[str, Any]
    try:
        store = open_store(settings.store.url, settings.store.busy_timeout)
        if settings.crawl.queue is not None:
            result = _enqueue(settings, store, sources)
        else:
            report = run_crawl(settings, store, sources)  # Scrapy installs its own handlers
            for name in (signal.SIGTERM, signal.SIGINT):
                signal.signal(name, _stop_now)
            result = {
                "ok": True,
                "run_id": report.run_id,
                "status": report.status,
                "totals": report.totals,
                "enriched": None,
            }
            if report.status == "completed":
                enriched = enrich_store(settings, store)
                result["enriched"] = {
                    "articles": enriched.articles,
                    "figures": enriched.figures,
                    "events": enriched.events,
                }
    except Stopping:
        result = {"ok": False, "stopped": True, "error": "stopped before it finished"}
    except ShopwatchError as exc:
        result = {"ok": False, "error": str(exc)}
    except Exception:
        result = {"ok": False, "error": traceback.format_exc(limit=5)}
    finally:
        for name in (signal.SIGTERM, signal.SIGINT):  # the summary still goes back
            signal.signal(name, signal.SIG_IGN)
        if store is not None:
            store.close()
    conn.send(result)
    conn.close()


def _enqueue(settings: Settings, store: Store, sources: tuple[str, ...]) -> dict[str, Any]:
    """The crawl job with a queue: push the seeds, enrich what the workers stored so far."""
    from crawler.worker import enqueue_seeds
    from nlp.run import enrich_store

    report = enqueue_seeds(settings, store, sources)
    enriched = enrich_store(settings, store)
    seeds = sum(v for k, v in report.totals.items() if k in ("feeds", "sitemaps", "listings"))
    return {
        "ok": True,
        "enqueued": f"round {report.round_id}: {seeds} seeds enqueued, "
        f"{report.queued} requests queued; {enriched.articles} articles enriched",
    }


@dataclass
class Jobs:
    """What the jobs share: the settings, the store and the running crawl children."""

    settings: Settings
    store: Store
    smtp_password: str | None
    stopping: threading.Event = field(default_factory=threading.Event)
    _children: set[BaseProcess] = field(default_factory=set)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, job: str, scheduled: datetime | None) -> int:
        with self.store.write() as session:
            return start_job(session, job, datetime.now(UTC), scheduled)

    def _finish(self, run_id: int, status: str, detail: str | None) -> None:
        with self.store.write() as session:
            finish_job(session, run_id, datetime.now(UTC), status, detail)

    def _recorded(
        self, job: str, scheduled: datetime | None, work: Callable[[], tuple[str, str]]
    ) -> None:
        """Run ``work`` (it returns the run's status and detail) as one recorded job run.

        An exception is recorded as the run's failure and logged: a job never
        takes the service down.
        """
        run_id = self._record(job, scheduled)
        status, detail = "failed", None
        try:
            status, detail = work()
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            log.exception("%s failed", job)
        finally:
            self._finish(run_id, status, detail)

    def crawl(self, spec: JobSpec) -> None:
        if self.stopping.is_set():
            return
        self._recorded(spec.id, None, lambda: self._crawled(spec))

    def _crawled(self, spec: JobSpec) -> tuple[str, str]:
        result = self._crawl_in_child(spec)
        if result.get("stopped") or (not result.get("ok") and self.stopping.is_set()):
            detail = f"stopped: {result.get('error')}"
            log.info("%s %s", spec.id, detail)
            return "interrupted", detail
        if not result.get("ok"):
            detail = str(result.get("error"))
            log.error("%s failed: %s", spec.id, detail)
            return "failed", detail
        if "enqueued" in result:
            status, detail = "completed", result["enqueued"]
        else:
            status = "completed" if result["status"] == "completed" else "interrupted"
            detail = f"crawl run {result['run_id']} {result['status']}: " + ", ".join(
                f"{k} {v}" for k, v in result["totals"].items()
            )
        if not self.stopping.is_set():
            detail += "; " + self._alerts()
        log.info("%s: %s", spec.id, detail)
        return status, detail

    def _crawl_in_child(self, spec: JobSpec) -> dict[str, Any]:
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(
            target=crawl_child,
            args=(self.settings, spec.sources, send),
            name=f"shopwatch-{spec.id}",
        )
        with self._guard:
            if self.stopping.is_set():
                return {"ok": False, "error": "service stopping"}
            child.start()
            self._children.add(child)
        send.close()
        try:
            result: dict[str, Any] | None = None
            while result is None:
                if receive.poll(0.5):
                    try:
                        result = receive.recv()
                    except EOFError:
                        break
                elif not child.is_alive() and not receive.poll(0):
                    break
            child.join()
            if result is None:
                return {"ok": False, "error": f"crawl process ended with code {child.exitcode}"}
            return result
        finally:
            receive.close()
            with self._guard:
                self._children.discard(child)

    def _alerts(self) -> str:
        report = evaluate_alerts(self.store, self.settings)
        flushed = self._flush()
        return (
            f"alerts: {report.checked} articles checked, {len(report.fired)} fired; "
            f"outbox: {flushed}"
        )

    def _flush(self) -> str:
        send = default_sender(self.settings, self.smtp_password)
        report = flush_outbox(self.store, self.settings, send)
        return f"{report.sent} sent, {report.retrying} to retry, {report.failed} failed"

    def digest(self, spec: JobSpec, fire_time: datetime | None = None) -> None:
        if self.stopping.is_set():
            return
        now = datetime.now(UTC)
        if fire_time is None:
            assert spec.grace is not None
            fire_time = last_fire_time(spec.trigger, now, spec.grace)
            if fire_time is None:
                return
        self._recorded(spec.id, fire_time, lambda: self._digested(fire_time, now))

    def _digested(self, fire_time: datetime, now: datetime) -> tuple[str, str]:
        digest_settings = self.settings.digest
        window = scheduled_window(fire_time, digest_settings.timezone)
        digest = make_digest(self.store, digest_settings, window)
        queued = queue_digest(self.store, digest_settings, digest, now=now)
        detail = f"{queued.subject}: {queued.status}; outbox: {self._flush()}"
        log.info("digest for %s: %s", window.day, detail)
        return "completed", detail

    def optimize(self) -> None:
        """Compact the search index (:mod:`storage.maintenance`); a stop ends it between steps."""
        if self.stopping.is_set():
            return
        self._recorded("optimize", None, self._optimized)

    def _optimized(self) -> tuple[str, str]:
        done = optimize_search(self.store, should_stop=self.stopping.is_set)
        detail = done.describe()
        log.info("optimize: %s", detail)
        return ("completed" if done.finished else "interrupted"), detail

    def outbox(self) -> None:
        if self.stopping.is_set():
            return
        try:
            flushed = self._flush()
            if not flushed.startswith("0 sent, 0 to retry, 0 failed"):
                log.info("outbox: %s", flushed)
        except Exception:
            log.exception("outbox flush failed")

    def stop_children(self, timeout: float) -> None:
        """SIGTERM every crawl child, then kill those still running after ``timeout``."""
        with self._guard:
            self.stopping.set()
            children = list(self._children)
        for child in children:
            if child.is_alive():
                log.info("stopping %s (pid %s)", child.name, child.pid)
                child.terminate()
        deadline = time.monotonic() + timeout
        for child in children:
            child.join(max(deadline - time.monotonic(), 0))
            if child.is_alive():
                log.warning("%s did not stop in %.0fs; killing it", child.name, timeout)
                child.kill()
                child.join()

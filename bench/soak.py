"""Soak run: ``shopwatch run`` crawling the local world with faults mixed in, for a long while.

``python -m bench soak [--minutes 30] [--every 30s] [--record]``

The service crawls the news world and a misbehaving server every ``--every``
(hanging bodies, cut-off bodies, Retry-After, compression bombs, a huge page,
redirects to forbidden places, a flaky feed, a feed whose items share one
GUID, decorated duplicate URLs in a sitemap); meanwhile the world's
publishers edit an article every minute and one crawl in five is killed with
SIGKILL mid-run. At the end it reports the articles stored, duplicates
(target 0), the store's integrity, crawl runs by status, failures by kind,
and the service's memory at start and end (target: no unbounded growth).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.record import record
from config import example_watchlist_toml
from newsworld import NewsWorld, sources_toml
from newsworld.faultserver import (
    FaultServer,
    Request,
    article_html,
    compressed,
    cut_off,
    drip,
    endless,
    page,
    redirect,
    rss,
    sitemap,
    switchable,
)
from newsworld.world import articles

REPO = Path(__file__).resolve().parent.parent
KILLED_NOTE = (
    "\nA crawl killed with SIGKILL cannot record its end, so its run stays `running` in "
    "`crawl_runs`; the next crawl of its sources fetches their feeds without validators, "
    "so nothing the killed crawl had not yet stored is lost.\n"
)
GOOD_FAULT_ARTICLES = 5
RSS = "application/rss+xml"


def _busy_every_other() -> object:
    count = {"n": 0}
    good = page(article_html("Sometimes busy"))

    def answer(request: Request) -> None:
        count["n"] += 1
        if count["n"] % 2:
            request.send(503, b"busy", "text/plain", {"Retry-After": "1"})
        else:
            good(request)

    return answer


def fault_routes(server: FaultServer) -> list[str]:
    """Serve every fault and return the feed and sitemap URLs of the faults source."""
    good = []
    for n in range(GOOD_FAULT_ARTICLES):
        good.append(
            (
                f"Fault-world story {n}",
                server.route(f"/a/{n}", page(article_html(f"Fault-world story {n}"))),
            )
        )
    bad = {
        "/slow": drip(20),
        "/cut-reset": cut_off("reset"),
        "/cut-short": cut_off("short"),
        "/cut-chunked": cut_off("chunked"),
        "/busy": _busy_every_other(),
        "/gzip": compressed("gzip", 1 << 30),
        "/br": compressed("br", 1 << 30),
        "/huge": endless(100 << 20),
        "/to-private": redirect("http://10.0.0.1/x"),
        "/to-file": redirect("file:///etc/passwd"),
    }
    links = [(path, server.route(path, answer)) for path, answer in bad.items()]  # type: ignore[arg-type]
    flaky, choose = switchable(
        [page(rss(good[:2]), content_type=RSS), page(b"down", 500, "text/plain")]
    )
    state = {"n": 0}

    def flapping(request: Request) -> None:
        state["n"] += 1
        choose(state["n"] % 2)
        flaky(request)

    urls = [
        server.route("/faults.xml", page(rss([*links, *good[:1]]), content_type=RSS)),
        server.route("/one-guid.xml", page(rss(good, guid="same"), content_type=RSS)),
        server.route("/flaky.xml", flapping),
    ]
    decorated = [f"{url}?utm_source=soak&utm_medium=x#c" for _, url in good]
    smap = page(sitemap(decorated), content_type="application/xml")
    urls.append(server.route("/sitemap.xml", smap))
    return urls


def write_config(folder: Path, world: NewsWorld, fault_urls: list[str], every: str) -> Path:
    feeds = [u for u in fault_urls if not u.endswith("sitemap.xml")]
    sitemaps = [u for u in fault_urls if u.endswith("sitemap.xml")]
    path = folder / "shopwatch.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{folder / "shopwatch.db"}"\n\n'
        '[crawl]\nuser_agent = "shopwatch-soak/0.1"\nallowed_networks = ["127.0.0.1/32"]\n'
        "download_timeout = 3\nretries = 1\nmax_page_bytes = 1_000_000\nmax_retry_after = 5\n"
        'feed_backoff = "20s"\nfeed_backoff_max = "1m"\n\n'
        '[scheduler]\nstop_timeout = "60s"\nlock_timeout = "30s"\n\n'
        f'[[schedules]]\nname = "all"\nevery = "{every}"\n\n'
        f'[[sources]]\nname = "faults"\nfeeds = {json.dumps(feeds)}\n'
        f"sitemaps = {json.dumps(sitemaps)}\n\n"
        f"{sources_toml(world.base_url)}\n{example_watchlist_toml()}",
        encoding="utf-8",
    )
    return path


def rss_of(pid: int) -> int:
    """Resident memory of one process in bytes (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def crawl_children(pid: int) -> list[int]:
    """The service's job processes (spawned children, not multiprocessing's helpers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return [child for child in found if b"spawn_main" in _cmdline(child)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@dataclass
class Watch:
    samples: list[tuple[float, int]] = field(default_factory=list)  # (elapsed, service RSS)
    crawl_peaks: list[int] = field(default_factory=list)
    killed: int = 0


@contextmanager
def service(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "shopwatch", "--config", str(config), "run"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def query(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return list(conn.execute(sql).fetchall())


def soak(minutes: float, every: str, folder: Path) -> tuple[str, bool]:
    watch = Watch()
    with NewsWorld() as world, FaultServer(lifetime=minutes * 60 + 600) as faults:
        config = write_config(folder, world, fault_routes(faults), every)
        db = folder / "shopwatch.db"
        started = time.monotonic()
        deadline = started + minutes * 60
        targets = [a for a in articles()][:10]
        seen_children: set[int] = set()
        next_edit, edits = started + 60, 0
        with service(config, folder / "service.log") as proc:
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(5)
                now = time.monotonic()
                watch.samples.append((now - started, rss_of(proc.pid)))
                for child in crawl_children(proc.pid):
                    peak = rss_of(child)
                    if child not in seen_children:
                        seen_children.add(child)
                        if len(seen_children) % 5 == 0:  # one crawl in five dies mid-run
                            time.sleep(4)
                            os.kill(child, signal.SIGKILL)
                            watch.killed += 1
                            continue
                    watch.crawl_peaks.append(peak)
                if now >= next_edit:
                    target = targets[edits % len(targets)]
                    paragraphs = [
                        *target["paragraphs"],
                        f"Update {edits}: the company added detail.",
                    ]
                    stamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
                    world.edit_article(target["slug"], paragraphs=paragraphs, updated=stamp)
                    edits, next_edit = edits + 1, now + 60
                elapsed = int(now - started)
                if elapsed % 60 < 5:
                    count = query(db, "SELECT count(*) FROM articles")[0][0] if db.exists() else 0
                    print(
                        f"  {elapsed // 60:3d} min: {count} articles, service RSS "
                        f"{watch.samples[-1][1] >> 20} MiB",
                        flush=True,
                    )
            alive = proc.poll() is None
        return report(db, watch, len(articles()) + GOOD_FAULT_ARTICLES + 1, edits, alive)


def report(db: Path, watch: Watch, expected: int, edits: int, alive: bool) -> tuple[str, bool]:
    stored, distinct = query(db, "SELECT count(*), count(DISTINCT canonical_url) FROM articles")[0]
    duplicates = int(stored) - int(distinct)  # type: ignore[call-overload]
    integrity = query(db, "PRAGMA integrity_check")[0][0]
    runs = dict(query(db, "SELECT status, count(*) FROM crawl_runs GROUP BY status"))
    kinds = dict(query(db, "SELECT kind, count(*) FROM crawl_errors GROUP BY kind ORDER BY 2 DESC"))
    samples = [rss for _, rss in watch.samples if rss]
    quarter = max(1, len(samples) // 4)
    first, last = max(samples[:quarter]), max(samples[-quarter:])
    memory_ok = last <= first * 1.25 + (20 << 20)
    holds = duplicates == 0 and integrity == "ok" and stored >= expected and memory_ok and alive
    lines = [
        "| figure | value | target |",
        "|---|---|---|",
        f"| articles stored | {stored} | ≥ {expected} (the world and the good fault pages) |",
        f"| duplicates | {duplicates} | 0 |",
        f"| integrity_check | {integrity} | ok |",
        f"| service alive at the end | {alive} | True |",
        f"| crawl runs by status | {', '.join(f'{k} {v}' for k, v in sorted(runs.items()))} | |",
        f"| crawls killed with SIGKILL | {watch.killed} | |",
        f"| article edits by publishers | {edits} | |",
        f"| failures by kind | {', '.join(f'{k} {v}' for k, v in kinds.items())} | |",
        f"| service RSS, first quarter peak → last quarter peak | {first >> 20} → {last >> 20} MiB"
        " | last ≤ 1.25 × first + 20 MiB |",
        f"| crawl child RSS, first → last sample | "
        f"{(watch.crawl_peaks[0] >> 20) if watch.crawl_peaks else 0} → "
        f"{(watch.crawl_peaks[-1] >> 20) if watch.crawl_peaks else 0} MiB | |",
    ]
    return "\n".join(lines), holds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--every", default="30s", help="the crawl interval of the service")
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="shopwatch-soak-") as tmp:
        print(f"soak: {args.minutes:g} minutes, a crawl every {args.every}", flush=True)
        table, holds = soak(args.minutes, args.every, Path(tmp))
    verdict = "holds" if holds else "DOES NOT HOLD"
    print(table)
    print(f"soak targets: {verdict}")
    if args.record:
        record(
            "soak",
            f"{args.minutes:g} minutes of `shopwatch run` crawling the news world and the fault "
            f"server every {args.every} (`python -m bench soak --minutes {args.minutes:g}`). "
            f"Targets: {verdict}.\n\n{table}\n{KILLED_NOTE}",
        )
    return 0 if holds else 1

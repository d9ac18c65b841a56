"""Fault injection, the network side: a misbehaving server on loopback against real crawls.

Each test is marked with the guarantee it proves (``docs/reliability.md``):
hanging and cut-off bodies, Retry-After, 304s, failing and gone feeds,
forbidden addresses and schemes, compression bombs, duplicates.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from newsworld.faultserver import (
    FaultServer,
    Request,
    article_html,
    compressed,
    conditional,
    cut_off,
    drip,
    endless,
    http_date,
    page,
    redirect,
    retry_after,
    rss,
    sitemap,
    switchable,
)
from tests.conftest import REPO, CliResult, run_cli

RSS = "application/rss+xml"


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    with FaultServer(lifetime=240) as server:
        yield server


def articles(server: FaultServer, *names: str, host: str = "127.0.0.1") -> list[tuple[str, str]]:
    """Serve a good article per name; ``(title, url)`` of each."""
    items = []
    for name in names:
        server.route(f"/a/{name}", page(article_html(f"Story {name}")))
        items.append((f"Story {name}", server.url(f"/a/{name}", host)))
    return items


def config(
    folder: Path,
    feeds: Sequence[str] = (),
    sitemaps: Sequence[str] = (),
    crawl: str = "",
    allowed: str = '["127.0.0.1/32"]',
) -> Path:
    path = folder / "shopwatch.toml"
    defaults = {"obey_robots": "false", "retries": "0", "download_timeout": "5"}
    for line in crawl.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            defaults[key.strip()] = value.strip()
    settings = "".join(f"{key} = {value}\n" for key, value in defaults.items())
    path.write_text(
        f'[store]\nurl = "sqlite:///{folder / "shopwatch.db"}"\n\n'
        f'[crawl]\nuser_agent = "shopwatch-test/0.1"\nallowed_networks = {allowed}\n'
        f"{settings}\n"
        f'[[sources]]\nname = "faults"\nfeeds = {json.dumps(list(feeds))}\n'
        f"sitemaps = {json.dumps(list(sitemaps))}\n",
        encoding="utf-8",
    )
    return path


def crawl(cfg: Path) -> dict[str, Any]:
    result = run_cli("crawl", "--json", "--no-enrich", config=cfg)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    totals: dict[str, Any] = result.json()
    return totals


def errors(cfg: Path, run: int | None = None) -> list[dict[str, Any]]:
    runs = run_cli("runs", "--format", "json", config=cfg).json()
    run_id = run if run is not None else max(r["id"] for r in runs)
    found: list[dict[str, Any]] = run_cli(
        "runs", "--errors", str(run_id), "--format", "json", config=cfg
    ).json()
    return found


def endpoint(cfg: Path, url: str) -> dict[str, Any]:
    report = run_cli("sources", "--format", "json", config=cfg).json()
    found: dict[str, Any] = next(e for s in report for e in s["endpoints"] if e["url"] == url)
    return found


def rows(cfg: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(cfg.parent / "shopwatch.db") as conn:
        return list(conn.execute(sql).fetchall())


def rewind(cfg: Path, minutes: int) -> None:
    """Let ``minutes`` pass for the feeds' backoff: move their last fetch back."""
    with sqlite3.connect(cfg.parent / "shopwatch.db") as conn:
        conn.execute(
            "UPDATE endpoints SET last_fetched_at = datetime(last_fetched_at, ?)",
            (f"-{minutes} minutes",),
        )


def kinds_by_path(found: list[dict[str, Any]]) -> dict[str, str]:
    return {e["url"].split("//", 1)[1].split("/", 1)[1]: e["kind"] for e in found}


# --- 1, 2: hanging and cut-off bodies -------------------------------------------------------


@pytest.mark.fault(1)
def test_a_dripping_body_is_cut_at_the_timeout_and_the_next_run_is_unaffected(
    faults: FaultServer, tmp_path: Path
) -> None:
    faults.route("/slow", drip(60))
    good = articles(faults, "one", "two")
    feed = faults.route(
        "/feed.xml", page(rss([("Slow", faults.url("/slow")), *good]), content_type=RSS)
    )
    cfg = config(tmp_path, [feed], crawl="download_timeout = 2\nretries = 1")
    for run in (1, 2):
        started = time.monotonic()
        totals = crawl(cfg)
        assert time.monotonic() - started < 30  # two attempts of 2 s each, not 60 s of drip
        assert totals["new"] == (2 if run == 1 else 0) and totals["failed"] == 1
        assert kinds_by_path(errors(cfg)) == {"slow": "timeout"}
        assert len(faults.hits_of("/slow")) == 2 * run  # the first try and one retry, each run
    assert rows(cfg, "SELECT count(*) FROM articles") == [(2,)]


@pytest.mark.fault(2)
def test_a_cut_off_body_is_retried_then_failed_and_nothing_partial_is_stored(
    faults: FaultServer, tmp_path: Path
) -> None:
    ways = ("reset", "short", "chunked")  # reset mid-body, FIN before Content-Length, bad chunk
    cut = [(f"Cut {how}", faults.route(f"/cut-{how}", cut_off(how))) for how in ways]
    good = articles(faults, "whole")
    feed = faults.route("/feed.xml", page(rss([*cut, *good]), content_type=RSS))
    cfg = config(tmp_path, [feed], crawl="retries = 2")
    totals = crawl(cfg)
    assert (totals["new"], totals["failed"]) == (1, 3)
    for how in ways:
        assert len(faults.hits_of(f"/cut-{how}")) == 3, how  # bounded: one try, two retries
    assert kinds_by_path(errors(cfg)) == {f"cut-{how}": "network" for how in ways}
    assert rows(cfg, "SELECT title FROM articles") == [("Story whole",)]


# --- 3: Retry-After -----------------------------------------------------------------------


def _slowly(delay: float, answer: Any) -> Any:
    def slow(request: Request) -> None:
        time.sleep(delay)
        answer(request)

    return slow


@pytest.mark.fault(3)
@pytest.mark.parametrize("form", ["seconds", "http-date", "capped"])
def test_retry_after_holds_that_host_only(faults: FaultServer, tmp_path: Path, form: str) -> None:
    wait = 3.0
    value = {
        "seconds": lambda: "3",
        "http-date": lambda: http_date(4),  # whole seconds: between 3 and 4 s from now
        "capped": lambda: "86400",
    }[form]
    faults.route("/held", retry_after(1, value, page(article_html("Held"))))
    more = articles(faults, "same-host-1", "same-host-2")  # queued behind it on the held host
    # another host (by name) on the same server, whose pages take a while: it keeps going
    others = []
    for n in range(6):
        path = f"/other/{n}"
        faults.route(path, _slowly(0.4, page(article_html(f"Other {n}"))))
        others.append((f"Other {n}", faults.url(path, host="localhost")))
    held_feed = faults.route(
        "/held.xml", page(rss([("Held", faults.url("/held")), *more]), content_type=RSS)
    )
    other_feed = faults.url("/others.xml", host="localhost")
    faults.route("/others.xml", page(rss(others), content_type=RSS))
    extra = "retries = 1\nper_host_concurrency = 1\nautothrottle = false\n"
    if form == "capped":
        extra += "max_retry_after = 3\n"
    cfg = config(tmp_path, [held_feed, other_feed], crawl=extra)
    totals = crawl(cfg)
    assert totals["new"] == 9, totals
    held = [hit.at for hit in faults.hits_of("/held")]
    assert len(held) == 2
    assert held[1] - held[0] >= wait - 0.1  # the deadline (3 s, or the cap) was kept
    if form == "capped":
        assert held[1] - held[0] < 10  # ... and a day-long Retry-After was capped
    timeline = sorted((round(h.at - held[0], 2), h.headers["host"], h.path) for h in faults.hits)
    same_host = [h.at for h in faults.hits if h.headers["host"].startswith("127.0.0.1")]
    # nothing was asked of the held host before the deadline...
    assert not [at for at in same_host if held[0] < at < held[0] + wait - 0.1], str(timeline)
    # ... while the other host kept going
    other_times = [hit.at for hit in faults.hits if hit.path.startswith("/other/")]
    assert any(held[0] < at < held[1] for at in other_times), timeline


# --- 4, 5: feed state -----------------------------------------------------------------------


@pytest.mark.fault(4)
def test_a_304_adds_nothing_and_resets_the_error_counter(
    faults: FaultServer, tmp_path: Path
) -> None:
    good = articles(faults, "a", "b")
    body = rss(good)
    ok = conditional(body, RSS, '"v1"', "Mon, 30 Nov 2026 08:00:00 GMT")
    failing = page(b"oops", status=500, content_type="text/plain")
    answer, choose = switchable([ok, failing])
    feed = faults.route("/feed.xml", answer)
    cfg = config(tmp_path, [feed])
    assert crawl(cfg)["new"] == 2
    choose(1)
    crawl(cfg)
    assert endpoint(cfg, feed)["consecutive_errors"] == 1
    choose(0)
    rewind(cfg, 11)  # past the backoff
    totals = crawl(cfg)
    assert (totals["new"], totals["updated"], totals["fetched"]) == (0, 0, 0)
    last = faults.hits_of("/feed.xml")[-1]
    assert last.headers.get("if-none-match") == '"v1"'
    state = endpoint(cfg, feed)
    assert (state["last_status"], state["consecutive_errors"], state["health"]) == (304, 0, "ok")
    assert rows(cfg, "SELECT count(*) FROM articles") == [(2,)]


@pytest.mark.fault(5)
def test_a_failing_feed_backs_off_then_is_broken_and_one_success_resets_it(
    faults: FaultServer, tmp_path: Path
) -> None:
    good = articles(faults, "a")
    answer, choose = switchable(
        [page(b"down", status=503, content_type="text/plain"), page(rss(good), content_type=RSS)]
    )
    feed = faults.route("/feed.xml", answer)
    cfg = config(tmp_path, [feed], crawl='feed_backoff = "10m"\nbroken_after = 3')

    def attempts_after(minutes: int) -> int:
        if minutes:
            rewind(cfg, minutes)
        crawl(cfg)
        return len(faults.hits_of("/feed.xml"))

    assert attempts_after(0) == 1
    assert attempts_after(0) == 1  # at once: within the backoff, so not fetched
    state = endpoint(cfg, feed)
    assert (state["health"], state["consecutive_errors"]) == ("failing", 1)
    assert state["next_attempt_at"] is not None
    # 10 minutes after the first failure, then 20 after the second: the wait doubles
    assert (attempts_after(9), attempts_after(2)) == (1, 2)
    assert (attempts_after(18), attempts_after(3)) == (2, 3)
    state = endpoint(cfg, feed)
    assert (state["health"], state["consecutive_errors"]) == ("broken", 3)
    assert "BROKEN" in run_cli("sources", config=cfg).out
    choose(1)
    rewind(cfg, 41)
    assert crawl(cfg)["new"] == 1
    state = endpoint(cfg, feed)
    assert (state["health"], state["consecutive_errors"]) == ("ok", 0)


@pytest.mark.fault(5)
def test_a_410_disables_the_feed_at_once_until_reset(faults: FaultServer, tmp_path: Path) -> None:
    good = articles(faults, "a")
    answer, choose = switchable(
        [page(b"gone", status=410, content_type="text/plain"), page(rss(good), content_type=RSS)]
    )
    feed = faults.route("/feed.xml", answer)
    cfg = config(tmp_path, [feed])
    crawl(cfg)
    rewind(cfg, 7 * 24 * 60)  # a week later
    crawl(cfg)
    assert len(faults.hits_of("/feed.xml")) == 1
    state = endpoint(cfg, feed)
    assert (state["health"], state["next_attempt_at"]) == ("gone", None)
    assert "GONE" in run_cli("sources", config=cfg).out
    choose(1)
    missing = run_cli("sources", "--reset", "http://nowhere.example/feed", config=cfg)
    assert missing.code == 2 and "no stored feed" in missing.err
    assert run_cli("sources", "--reset", feed, config=cfg).code == 0
    assert crawl(cfg)["new"] == 1
    assert endpoint(cfg, feed)["health"] == "ok"


# --- 6, 7: where the crawler may go -------------------------------------------------------


class Tripwire:
    """A listening socket on a forbidden loopback address that records every connection."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        deadline = time.monotonic() + 240
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.mark.fault(6)
def test_private_loopback_and_link_local_addresses_are_refused(
    faults: FaultServer, tmp_path: Path
) -> None:
    wire = Tripwire("127.0.0.2", faults.port)
    try:
        forbidden = [
            f"http://127.0.0.2:{faults.port}/direct",
            f"http://[::ffff:127.0.0.2]:{faults.port}/mapped",
            "http://10.0.0.1/private",
            "http://169.254.169.254/latest/meta-data/",
        ]
        faults.route("/to-loopback", redirect(f"http://127.0.0.2:{faults.port}/redirected"))
        faults.route("/to-metadata", redirect("http://169.254.169.254/redirected"))
        links = [(u, u) for u in forbidden]
        links += [("r1", faults.url("/to-loopback")), ("r2", faults.url("/to-metadata"))]
        feed = faults.route(
            "/feed.xml", page(rss([*links, *articles(faults, "ok")]), content_type=RSS)
        )
        cfg = config(tmp_path, [feed, f"http://127.0.0.2:{faults.port}/feed.xml"])
        started = time.monotonic()
        totals = crawl(cfg)
        assert time.monotonic() - started < 30  # refused at once, not timed out
        assert totals["new"] == 1
        found = errors(cfg)
        refused = {e["url"] for e in found if e["kind"] == "refused"}
        assert {f"http://127.0.0.2:{faults.port}/feed.xml", *forbidden} <= refused | {
            u.replace("[::ffff:127.0.0.2]", "[::ffff:7f00:2]") for u in refused
        }
        assert sum(e["url"].endswith("/redirected") for e in found) == 2
        assert all(e["kind"] == "refused" for e in found), found
        assert all("allowed_networks" in e["message"] for e in found)
        assert wire.connections == 0
        assert len(faults.hits_of("/to-loopback")) == 1
    finally:
        wire.close()


@pytest.mark.fault(6)
def test_a_host_name_that_resolves_to_a_forbidden_address_is_refused_before_connecting(
    faults: FaultServer, tmp_path: Path
) -> None:
    faults.route("/feed.xml", page(rss(articles(faults, "a")), content_type=RSS))
    named = faults.url("/feed.xml", host="localhost")
    cfg = config(tmp_path, [named], allowed="[]")
    crawl(cfg)
    assert faults.hits == []  # no request reached the server: refused at resolution
    found = errors(cfg)
    assert [(e["url"], e["kind"]) for e in found] == [(named, "refused")]
    assert "127.0.0.1" in found[0]["message"]
    # the same name is fetched once its address is allowed
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    assert crawl(config(allowed, [named]))["new"] == 1
    assert faults.hits[0].path == "/feed.xml"


@pytest.mark.fault(7)
def test_other_schemes_are_refused_configured_or_redirected_to(
    faults: FaultServer, tmp_path: Path
) -> None:
    for bad in ("file:///etc/passwd", "ftp://127.0.0.1/feed.xml", "data:text/xml,<rss/>"):
        result: CliResult = run_cli("crawl", "--no-enrich", config=config(tmp_path, [bad]))
        assert result.code == 2 and "sources" in result.err and "Traceback" not in result.err
    targets = {
        "/to-file": "file:///etc/passwd",
        "/to-ftp": f"ftp://127.0.0.1:{faults.port}/x",
        "/to-data": "data:text/html,<html><body><p>" + "planted " * 100 + "</p></body></html>",
    }
    for path, target in targets.items():
        faults.route(path, redirect(target))
    links = [(p, faults.url(p)) for p in targets]
    feed = faults.route("/feed.xml", page(rss(links), content_type=RSS))
    cfg = config(tmp_path, [feed])
    totals = crawl(cfg)
    assert totals["new"] == 0
    found = errors(cfg)
    assert len(found) == 3 and all(e["kind"] == "refused" for e in found), found
    assert all("refused redirect to" in e["message"] and "scheme" in e["message"] for e in found)
    assert rows(cfg, "SELECT count(*) FROM articles") == [(0,)]
    assert len([h for h in faults.hits if h.path == "/x"]) == 0


# --- 8: bombs -----------------------------------------------------------------------------

GIB = 1 << 30


def _crawl_measured(cfg: Path) -> tuple[dict[str, Any], int]:
    """A crawl in a child process: its totals and its peak resident memory in bytes."""
    env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shopwatch", "--config", str(cfg), "crawl", "--json", "--no-enrich"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    with proc.stdout, proc.stderr:
        out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err.decode()
    return json.loads(out), usage.ru_maxrss * 1024


@pytest.mark.fault(8)
def test_compression_bombs_and_a_huge_page_stop_at_the_size_cap_in_bounded_memory(
    faults: FaultServer, tmp_path: Path
) -> None:
    routes = {
        "/gzip": compressed("gzip", GIB),
        "/deflate": compressed("deflate", GIB),
        "/br": compressed("br", GIB),
        "/huge": endless(200 * (1 << 20)),
    }
    bombs = [(p, faults.url(p)) for p in routes]
    for path, answer in routes.items():
        faults.route(path, answer)
    good = articles(faults, "a", "b")
    plain = faults.route("/plain.xml", page(rss(good), content_type=RSS))
    (tmp_path / "plain").mkdir()
    baseline, base_rss = _crawl_measured(config(tmp_path / "plain", [plain]))
    assert baseline["new"] == 2
    feed = faults.route("/feed.xml", page(rss(bombs), content_type=RSS))
    cfg = config(tmp_path, [feed], crawl="max_page_bytes = 1_000_000")
    totals, bomb_rss = _crawl_measured(cfg)
    assert totals["new"] == 0 and totals["failed"] == 4
    assert kinds_by_path(errors(cfg)) == {p.lstrip("/"): "too-large" for p in routes}
    # four gigabyte-sized bodies cost the crawl little more memory than two small pages
    assert bomb_rss - base_rss < 150 * (1 << 20), (base_rss, bomb_rss)
    print(f"peak RSS: plain crawl {base_rss >> 20} MiB, bombs {bomb_rss >> 20} MiB")


# --- 11: duplicates -----------------------------------------------------------------------


@pytest.mark.fault(11)
def test_one_row_per_article_through_feed_sitemap_tracking_fragments_and_one_guid(
    faults: FaultServer, tmp_path: Path
) -> None:
    good = articles(faults, "a", "b", "c")
    # every item of the feed shares one GUID; the sitemap has the same stories decorated
    feed = faults.route("/feed.xml", page(rss(good, guid="same-guid-for-all"), content_type=RSS))
    decorated = [f"{url}?utm_source=x&utm_medium=rss#comments" for _, url in good]
    decorated += [f"{good[0][1]}#top", f"{good[1][1]}?utm_campaign=z"]
    smap = faults.route("/sitemap.xml", page(sitemap(decorated), content_type="application/xml"))
    cfg = config(tmp_path, [feed], [smap])
    first = crawl(cfg)
    assert first["new"] == 3
    query = "SELECT count(*), count(DISTINCT url), count(DISTINCT canonical_url) FROM articles"
    assert rows(cfg, query) == [(3, 3, 3)]
    assert len([h for h in faults.hits if h.path.startswith("/a/")]) == 3
    again = crawl(cfg)
    assert (again["new"], again["updated"]) == (0, 0)
    assert rows(cfg, query) == [(3, 3, 3)]

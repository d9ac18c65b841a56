"""A synthetic news world of any size (100 to 1,000,000 articles), served on loopback.

Article ``n`` is a pure function of ``(seed, n)``: about 700 words, a lead
sentence naming a watched company with a planted figure (a percentage and a
GMV in dollars), a sentence naming a person and their role, then real
paragraphs of the news world's English articles recombined, so the text has
real sentence structure and vocabulary. Companies follow a Zipf-like weighting
(Temu and TikTok Shop most often); about one article in 10,000 carries the
rare word ``quokkaplex``.

The world is split into ``sites`` publishers. Each site has its own loopback
address (``127.0.0.10``, ``127.0.0.11``, …, one port), so the crawler sees one
host per site and keeps its per-host politeness; each serves its articles in
the news world's three house styles (JSON-LD, OpenGraph, visible byline only),
a sitemap index over sitemaps of 1,000 URLs, an RSS feed of its 50 newest
articles and a permissive ``robots.txt``. Pages are made on request: a
million-article world needs no disk.

``python -m bench.world serve --articles N [--sites 8] [--port P]`` runs the
server in its own process (the benchmarks measure its CPU time apart from
the crawler's); it prints ``ready PORT`` when listening.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import lru_cache
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from newsworld.pages import article_page
from newsworld.world import articles as news_world_articles

EPOCH = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # the world's "now": pages never change
COMPANIES = (
    ("Temu", 30),
    ("TikTok Shop", 25),
    ("Shein", 18),
    ("Amazon", 15),
    ("PDD Holdings", 5),
    ("ByteDance", 4),
    ("TikTok", 3),
)
METRICS = ("GMV", "revenue", "sales", "orders", "market share", "growth", "jobs", "valuation")
EVENTS = ("leadership", "sales", "layoffs", "hiring", "expansion", "regulation")
PLACES = ("Brazil", "Japan", "Germany", "Kenya", "Mexico", "Spain", "Poland", "Indonesia")
FIRST = ("Maria", "Daniel", "Priya", "Stefan", "Lin", "Amara", "Jonas", "Sofia", "Kenji", "Omar")
LAST = ("Okafor", "Reyes", "Natarajan", "Kowalczyk", "Haoran", "Mensah", "Berg", "Costa")
STYLES = ("retail-daily", "market-wire", "shop-signal")  # the news world's house styles
RARE_TERM = "quokkaplex"
WORDS = 700
SITEMAP_SIZE = 1_000
FEED_SIZE = 50
REPO = Path(__file__).resolve().parent.parent
FIRST_ADDRESS = 10  # site k listens on 127.0.0.(10 + k)


@dataclass(frozen=True, slots=True)
class Facts:
    """What was planted in an article, and where (the lead and the second paragraph)."""

    company: str
    other: str
    metric: str
    value: float
    up: bool
    event: str
    person: str
    lead: str
    move: str


@dataclass(frozen=True, slots=True)
class SyntheticArticle:
    n: int
    site: int
    title: str
    paragraphs: tuple[str, ...]
    published: datetime
    author: str
    facts: Facts

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def path(self) -> str:
        return f"/site-{self.site}/{self.published:%Y/%m}/story-{self.n}.html"


@lru_cache(maxsize=1)
def _real_paragraphs() -> tuple[tuple[str, int], ...]:
    """The news world's English paragraphs, with their word counts."""
    return tuple(
        (p, len(p.split()))
        for a in news_world_articles()
        if a["lang"] == "en"
        for p in a["paragraphs"]
        if len(p.split()) >= 20
    )


def _pick(rng: random.Random) -> str:
    names, weights = zip(*COMPANIES, strict=True)
    return rng.choices(names, weights)[0]


def article(n: int, *, sites: int = 8, seed: int = 7, days: int = 400) -> SyntheticArticle:
    """Article ``n`` of the world (deterministic for a given seed)."""
    rng = random.Random(seed * 1_000_003 + n)
    company, other = _pick(rng), _pick(rng)
    metric, event, place = rng.choice(METRICS), rng.choice(EVENTS), rng.choice(PLACES)
    person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    value = rng.randint(2, 900)
    change = rng.choice(("rose", "fell", "jumped", "slipped"))
    lead = (
        f"{company} said its {metric} {change} {value}% in {place} as {other} pressed on "
        f"prices, with GMV of $1.2 billion, according to figures released on {n % 28 + 1} "
        "November."
    )
    move = f"{person}, {company}'s head of {place} operations, said the unit would keep growing."
    paragraphs = [lead, move]
    words = sum(len(p.split()) for p in paragraphs)
    real = _real_paragraphs()
    while words < WORDS:
        paragraph, count = real[rng.randrange(len(real))]
        paragraphs.append(paragraph)
        words += count
    if n % 10_000 == 7:
        paragraphs.append(f"The {RARE_TERM} warehouse opened this week.")
    facts = Facts(company, other, metric, float(value), change in ("rose", "jumped"), event,
                  person, lead, move)  # fmt: skip
    return SyntheticArticle(
        n=n,
        site=n % sites,
        title=f"{company}: {metric} {change} {value}% in {place} ({n})",
        paragraphs=tuple(paragraphs),
        published=EPOCH - timedelta(minutes=rng.randint(0, days * 24 * 60)),
        author=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        facts=facts,
    )


class World:
    """The pages of a world of ``articles`` articles over ``sites`` sites (made on request)."""

    def __init__(self, articles: int, sites: int = 8, seed: int = 7) -> None:
        if not 1 <= sites <= 200:
            raise ValueError("sites must be 1 to 200")
        self.articles, self.sites, self.seed = articles, sites, seed

    def article(self, n: int) -> SyntheticArticle:
        return article(n, sites=self.sites, seed=self.seed)

    def numbers(self, site: int) -> range:
        return range(site, self.articles, self.sites)

    def host(self, site: int) -> str:
        return f"127.0.0.{FIRST_ADDRESS + site}"

    def base(self, site: int, port: int) -> str:
        return f"http://{self.host(site)}:{port}"

    def sources_toml(self, port: int) -> str:
        """``[[sources]]`` covering every site: its sitemap index and its feed."""
        return "".join(
            f'[[sources]]\nname = "site-{k}"\n'
            f'sitemaps = ["{self.base(k, port)}/site-{k}/sitemap-index.xml"]\n'
            f'feeds = ["{self.base(k, port)}/site-{k}/rss.xml"]\n\n'
            for k in range(self.sites)
        )

    def page(self, site: int, path: str, base: str) -> tuple[bytes, str] | None:
        """The body and content type at ``path`` of ``site``, or None (404)."""
        prefix = f"/site-{site}/"
        if path == "/robots.txt":
            return b"User-agent: *\nAllow: /\n", "text/plain"
        if not path.startswith(prefix):
            return None
        rest = path[len(prefix) :]
        numbers = self.numbers(site)
        if rest == "sitemap-index.xml":
            return self._sitemap_index(site, base, len(numbers)), "application/xml"
        if rest.startswith("sitemap-") and rest.endswith(".xml"):
            part = rest[len("sitemap-") : -len(".xml")]
            if not part.isdigit():
                return None
            chunk = numbers[int(part) * SITEMAP_SIZE : (int(part) + 1) * SITEMAP_SIZE]
            return (self._sitemap(chunk, base) if chunk else None), "application/xml"
        if rest == "rss.xml":
            return self._rss(numbers, base), "application/rss+xml"
        name = rest.rsplit("/", 1)[-1]
        if name.startswith("story-") and name.endswith(".html"):
            number = name[len("story-") : -len(".html")]
            if number.isdigit() and int(number) in numbers:
                found = self.article(int(number))
                if found.path == path:
                    return self._html(found, base).encode("utf-8"), "text/html; charset=utf-8"
        return None

    def _html(self, item: SyntheticArticle, base: str) -> str:
        style = STYLES[item.site % len(STYLES)]
        page: dict[str, Any] = {
            "publisher": style,
            "path": item.path,
            "title": item.title,
            "summary": item.facts.lead,
            "author": item.author,
            "published": item.published.isoformat().replace("+00:00", "Z"),
            "lang": "en",
            "paragraphs": item.paragraphs,
        }
        return article_page(page, base, related=[])

    def _sitemap_index(self, site: int, base: str, count: int) -> bytes:
        parts = (count + SITEMAP_SIZE - 1) // SITEMAP_SIZE
        items = "".join(
            f"<sitemap><loc>{base}/site-{site}/sitemap-{i}.xml</loc></sitemap>"
            for i in range(parts)
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}'
            "</sitemapindex>"
        ).encode()

    def _sitemap(self, numbers: range, base: str) -> bytes:
        entries = []
        for n in numbers:
            item = self.article(n)
            entries.append(
                f"<url><loc>{base}{item.path}</loc>"
                f"<lastmod>{item.published:%Y-%m-%dT%H:%M:%SZ}</lastmod></url>"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{''.join(entries)}</urlset>"
        ).encode()

    def _rss(self, numbers: range, base: str) -> bytes:
        newest = sorted(
            (self.article(n) for n in numbers[-FEED_SIZE * 4 :]),
            key=lambda a: a.published,
            reverse=True,
        )[:FEED_SIZE]
        items = "".join(
            f"<item><title>{escape(a.title)}</title><link>{base}{a.path}</link>"
            f"<guid>{base}{a.path}</guid><pubDate>{format_datetime(a.published)}</pubDate></item>"
            for a in newest
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>site</title><link>{base}/</link>{items}</channel></rss>"
        ).encode()


def _handler(world: World, site: int, port: int) -> type[BaseHTTPRequestHandler]:
    base = world.base(site, port)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            found = world.page(site, self.path.split("?", 1)[0], base)
            body, content_type = found if found and found[0] else (b"not found", "text/plain")
            self.send_response(200 if found and found[0] else 404)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def serve(world: World, port: int) -> tuple[list[ThreadingHTTPServer], int]:
    """Start one listener per site (threads); returns the servers and the port they share."""
    servers: list[ThreadingHTTPServer] = []
    for site in range(world.sites):
        server = ThreadingHTTPServer((world.host(site), port), _handler(world, site, port))
        server.daemon_threads = True
        port = server.server_address[1]  # the first listener picks a free port; the rest share it
        servers.append(server)
        if site == 0:
            servers[0].RequestHandlerClass = _handler(world, 0, port)
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return servers, port


class WorldServer:
    """``python -m bench.world serve`` in a child process, for the time of a ``with`` block."""

    def __init__(self, articles: int, sites: int = 8) -> None:
        self.world = World(articles, sites)
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> WorldServer:
        command = [sys.executable, "-m", "bench.world", "serve", "--articles",
                   str(self.world.articles), "--sites", str(self.world.sites)]  # fmt: skip
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("ready "):
            self.__exit__()
            raise RuntimeError(f"the world server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far."""
        assert self._process is not None
        return cpu_seconds(self._process.pid)

    def sources_toml(self) -> str:
        return self.world.sources_toml(self.port)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.world", description=__doc__)
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--articles", type=int, default=2_000)
    parser.add_argument("--sites", type=int, default=8)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    servers, port = serve(World(args.articles, args.sites), args.port)
    print(f"ready {port}", flush=True)
    try:
        sys.stdin.read()  # runs until its parent closes stdin (or dies)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

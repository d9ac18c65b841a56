"""Fault injection, input: hostile search terms (guarantee 18) and bad configurations (19).

18. Search input is searched literally or refused with a clear error: never SQL,
    never a traceback; the CLI exits 0 (or 2 for what it refuses), the JSON API
    answers 200 (or a 4xx with a message).
19. A configuration with a syntax error, an unknown key, a bad regex, a bad
    cron expression or an unknown time zone stops every command with exit code
    2, naming the key and the reason; ``shopwatch run`` stops before it creates
    the store or takes its lock.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from storage.engine import open_store
from tests.conftest import CrawledWorld, run_cli

# --- 18: hostile search input ----------------------------------------------------------------

INJECTIONS = (
    "' OR 1=1--",
    "'; DROP TABLE articles;--",
    '" OR ""="',
    "Temu' UNION SELECT name, sql FROM sqlite_master--",
)
HOSTILE = (
    *INJECTIONS,
    '"unbalanced',
    "a-b",
    "NEAR(",
    'NEAR("Temu" "Shein", 5)',
    "title:Temu",
    "{title text}: Temu",
    "Temu*",
    "*",
    ")",
    "AND",
    "OR NOT",
    "^Temu",
    "%",
    "\\",
    "-Temu",
)
# each a process of its own: the brief's four, the injections, and the FTS5 syntax kinds
CLI_HOSTILE = (*INJECTIONS, '"unbalanced', "a-b", "NEAR(", "title:Temu", "Temu*", "-Temu")


def _articles(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])


def _intact(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"articles", "articles_fts", "deliveries"} <= tables


@pytest.mark.fault(18)
@pytest.mark.parametrize("query", CLI_HOSTILE)
def test_cli_search_of_hostile_input_is_literal_or_a_usage_error(
    crawled: CrawledWorld, query: str
) -> None:
    db = crawled.config.parent / "shopwatch.db"
    total = _articles(db)
    typed = run_cli("search", query, "--format", "json", "--limit", "100", config=crawled.config)
    assert typed.code in (0, 2), typed.err
    assert "Traceback" not in typed.err and "internal error" not in typed.err
    if typed.code == 2:  # an option-like word (-Temu): a usage message, not a search
        assert query.startswith("-") and "No such option" in typed.err
        typed = run_cli("search", "--format", "json", "--", query, config=crawled.config)
        assert typed.code == 0, typed.err
    hits = typed.json()
    assert isinstance(hits, list)
    if query in INJECTIONS:
        assert len(hits) < total, "an injected condition matched every article"
    assert _articles(db) == total
    _intact(db)


@pytest.fixture(scope="module")
def api(crawled_site: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=crawled_site, timeout=30) as client:
        yield client


API_HOSTILE = (*HOSTILE, "Temu\x00", "\x00' OR 1=1--", "Temu\r\nOR 1=1", "Ｔｅｍｕ", "\u202etemu")


def _literal_or_refused(response: httpx.Response, what: str) -> list[dict[str, object]]:
    """The items found, or [] for a clear refusal: 400 (a value that cannot be used) or
    422 (the API's validation: a value too long), each with a message; never 5xx."""
    assert response.status_code in (200, 400, 422), (what, response.status_code, response.text)
    assert "Traceback" not in response.text
    body = response.json()
    if response.status_code != 200:
        assert body["detail"], (what, body)
        return []
    assert isinstance(body["items"], list), (what, body)
    return list(body["items"])


@pytest.mark.fault(18)
def test_api_searches_hostile_input_literally_or_refuses_it_clearly(
    api: httpx.Client, crawled: CrawledWorld
) -> None:
    db = crawled.config.parent / "shopwatch.db"
    total = _articles(db)
    for q in API_HOSTILE:
        for order in ("newest", "relevance"):
            got = _literal_or_refused(
                api.get("/api/articles", params={"q": q, "order": order, "limit": 100}), q
            )
            if q in INJECTIONS:
                assert len(got) < total, f"{q!r} matched every article"
        csv = api.get("/api/articles", params={"q": q, "format": "csv"})
        assert csv.status_code == 200 and csv.text.startswith("id,"), (q, csv.text[:200])
        # the other free-text filters are bound values too: nothing matches, nothing breaks
        for name in ("entity", "source", "language"):
            assert (
                _literal_or_refused(api.get("/api/articles", params={name: q}), f"{name}={q}") == []
            )
    # a NUL inside a term used to end the FTS5 query mid-string ("unterminated string", 503)
    temu = _literal_or_refused(api.get("/api/articles", params={"q": "Temu", "limit": 100}), "Temu")
    nul = _literal_or_refused(
        api.get("/api/articles", params={"q": "Temu\x00", "limit": 100}), "NUL"
    )
    assert [a["id"] for a in nul] == [a["id"] for a in temu] and temu
    assert _articles(db) == total
    _intact(db)


@pytest.mark.fault(18)
def test_the_search_page_shows_hostile_input_as_text(api: httpx.Client) -> None:
    for q in (*INJECTIONS, '"unbalanced', "NEAR(", "Temu\x00", "<script>alert(1)</script>"):
        page = api.get("/search", params={"q": q})
        assert page.status_code in (200, 400), (q, page.status_code)
        assert "Traceback" not in page.text and "<script>alert(1)" not in page.text


@pytest.mark.fault(18)
def test_an_api_query_too_long_is_a_clear_error(api: httpx.Client) -> None:
    response = api.get("/api/articles", params={"q": "temu " * 101})
    assert response.status_code == 422  # FastAPI's validation status, with a message
    assert any("q:" in line and "500" in line for line in response.json()["detail"])


# --- 19: bad configurations ------------------------------------------------------------------

SOURCE = "[[sources]]\nname = 'news'\nfeeds = ['http://127.0.0.1:9/feed.xml']\n"
BAD_CONFIGS: list[tuple[str, str, str]] = [
    ("syntax", "[crawl\n", "is not valid TOML"),
    ("duplicate key", "[crawl]\nretries = 1\nretries = 2\n", "is not valid TOML"),
    ("unknown key", "[smtp]\nhots = 'mail.example.com'\n", "smtp.hots: unknown key"),
    ("unknown section", "[bogus]\nx = 1\n", "bogus: unknown key"),
    (
        "bad regex",
        "[[sources]]\nname = 'list'\nstart_urls = ['https://a.test/']\nfollow = ['[a-']\n",
        "sources[1].follow[0]: not a valid regular expression",
    ),
    (
        "bad cron",
        "[[schedules]]\nname = 'morning'\nschedule = '61 7 * * *'\n",
        "schedules[0].schedule: not a cron expression",
    ),
    (
        "cron with 6 fields",
        "[digest]\nschedule = '0 0 7 * * *'\n",
        "digest.schedule: not a cron expression",
    ),
    (
        "cron that never fires",
        "[digest]\nschedule = '0 7 30 2 *'\n",
        "digest.schedule: a cron expression that never fires",
    ),
    (
        "unknown time zone",
        "[digest]\ntimezone = 'Mars/Olympus'\n",
        "digest.timezone: unknown time zone 'Mars/Olympus'",
    ),
    (
        "unknown schedule time zone",
        "[[schedules]]\nname = 'eu'\nevery = '1h'\ntimezone = 'Europe/Atlantis'\n",
        "schedules[0].timezone: unknown time zone 'Europe/Atlantis'",
    ),
    ("zero timeout", "[delivery]\ntimeout = 0\n", "delivery.timeout"),
    (
        "bad alert query",
        "[[alerts]]\nname = 'a'\nquery = 'NEAR('\nchannels = ['json://127.0.0.1:9/x']\n",
        "alerts[0].query: not a full-text query",
    ),
    (
        "schedule without a source",
        "[[schedules]]\nname = 'tagged'\ntags = ['nothing-has-this']\nevery = '1h'\n",
        "schedule 'tagged' selects no source",
    ),
]


def _bad_config(folder: Path, part: str) -> tuple[Path, Path]:
    db = folder / "store" / "shopwatch.db"
    config = folder / "shopwatch.toml"
    config.write_text(f"[store]\nurl = 'sqlite:///{db}'\n\n{SOURCE}\n{part}", encoding="utf-8")
    return config, db


@pytest.mark.fault(19)
@pytest.mark.parametrize(
    ("part", "expected"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_the_service_with_a_bad_configuration_exits_2_and_starts_nothing(
    tmp_path: Path, part: str, expected: str
) -> None:
    config, db = _bad_config(tmp_path, part)
    db.parent.mkdir()
    started = time.monotonic()
    result = run_cli("run", config=config, timeout=60)
    took = time.monotonic() - started
    assert result.code == 2, (result.code, result.err)
    assert expected in result.err
    assert result.err.startswith("error: ") and "Traceback" not in result.err
    assert "scheduler started" not in result.err
    assert took < 20, f"took {took:.1f}s to refuse"
    assert list(db.parent.iterdir()) == [], "the store was created"


@pytest.mark.fault(19)
@pytest.mark.parametrize(
    "case", ["bad cron", "unknown time zone", "schedule without a source", "syntax"]
)
def test_a_bad_configuration_leaves_an_existing_store_untouched(tmp_path: Path, case: str) -> None:
    part, expected = next(c[1:] for c in BAD_CONFIGS if c[0] == case)
    config, db = _bad_config(tmp_path, part)
    db.parent.mkdir()
    open_store(f"sqlite:///{db}").close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    # only the service plans schedules: with the others, a group without sources is harmless
    commands = ("run",) if case == "schedule without a source" else ("run", "crawl")
    for command in commands:
        result = run_cli(command, config=config, timeout=60)
        assert result.code == 2 and expected in result.err, (command, result.err)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM locks").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM job_runs").fetchone() == (0,)

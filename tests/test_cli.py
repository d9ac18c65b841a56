"""The command-line contract: configuration errors, init, search and demo, run as a user would."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import example_toml, parse_settings
from tests.conftest import CrawledWorld, run_cli


@pytest.mark.fault(19)
@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[crawl]\nconcurency = 3\n", "crawl.concurency: unknown key"),
        ("[crawl]\nconcurrency = 0\n", "crawl.concurrency"),
        ("[crawl]\nallowed_networks = ['not-a-net']\n", "crawl.allowed_networks"),
        ("[store]\nurl = 'mysql://x'\n", "store.url"),
        ("[[sources]]\nname = 'x'\nfeeds = ['file:///etc/passwd']\n", "sources[0].feeds[0]"),
        (
            "[[sources]]\nname = 'x'\nstart_urls = ['https://a.test/']\nfollow = ['((']\n",
            "sources[0].follow[0]: not a valid regular expression",
        ),
        ("[[sources]]\nname = 'x'\n", "sources[0]: a source needs at least one of"),
        ("[[watch]]\nname = 'Temu'\nalias = ['x']\n", "watch[0].alias: unknown key"),
        ("[crawl\n", "is not valid TOML"),
    ],
)
def test_bad_configuration_is_a_clear_error_with_exit_code_2(
    tmp_path: Path, toml: str, expected: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml, encoding="utf-8")
    result = run_cli("crawl", config=config)
    assert result.code == 2
    assert expected in result.err
    assert "Traceback" not in result.err


def test_missing_configuration_file_named_explicitly(tmp_path: Path) -> None:
    result = run_cli("sources", config=tmp_path / "absent.toml")
    assert result.code == 2
    assert "absent.toml not found" in result.err


@pytest.mark.fault(19)
def test_configuration_comes_from_the_environment_then_the_working_folder(tmp_path: Path) -> None:
    bad = tmp_path / "env.toml"
    bad.write_text("[crawl]\nbogus = 1\n", encoding="utf-8")
    result = run_cli("sources", env={"SHOPWATCH_CONFIG": str(bad)})
    assert result.code == 2 and "crawl.bogus" in result.err
    (tmp_path / "shopwatch.toml").write_text("[crawl]\nother = 1\n", encoding="utf-8")
    result = run_cli("sources", cwd=tmp_path)
    assert result.code == 2 and "crawl.other" in result.err


def test_example_configuration_is_valid_and_has_the_watchlist() -> None:
    settings = parse_settings(example_toml())
    names = {w.name for w in settings.watch}
    assert {
        "TikTok Shop",
        "TikTok",
        "ByteDance",
        "Shein",
        "Temu",
        "PDD Holdings",
        "Amazon",
    } <= names
    assert next(w for w in settings.watch if w.name == "Temu").parent == "PDD Holdings"
    assert all(s.feeds for s in settings.sources)


def test_init_writes_the_example_and_creates_the_store(tmp_path: Path) -> None:
    result = run_cli("init", cwd=tmp_path)
    assert result.code == 0, result.err
    assert (tmp_path / "shopwatch.toml").read_text(encoding="utf-8") == example_toml()
    assert (tmp_path / "shopwatch.db").exists()
    again = run_cli("init", cwd=tmp_path)
    assert again.code == 0 and "keeping it" in again.out


def test_search_lists_newest_first_with_the_documented_fields(crawled: CrawledWorld) -> None:
    result = run_cli("search", "--format", "json", "--limit", "50", config=crawled.config)
    assert result.code == 0, result.err
    hits = result.json()
    assert len(hits) == 43
    for field in ("id", "url", "title", "source", "author", "published_at", "language", "entities"):
        assert field in hits[0]
    assert "text" not in hits[0]
    dates = [h["published_at"] for h in hits]
    assert dates == sorted(dates, reverse=True)


def test_search_finds_words_and_filters(crawled: CrawledWorld) -> None:
    hits = run_cli("search", "Okafor", "--format", "json", "--full", config=crawled.config).json()
    assert hits and all("Okafor" in h["text"] for h in hits)
    wire = run_cli(
        "search", "Temu", "--source", "market-wire", "--format", "json", config=crawled.config
    ).json()
    assert wire and {h["source"] for h in wire} == {"market-wire"}
    german = run_cli("search", "--language", "de", "--format", "json", config=crawled.config).json()
    assert [h["language"] for h in german] == ["de"]
    november = run_cli(
        "search",
        "--since",
        "2026-11-20",
        "--until",
        "2026-11-20",
        "--format",
        "json",
        config=crawled.config,
    ).json()
    assert november and all(h["published_at"].startswith("2026-11-20") for h in november)


@pytest.mark.fault(18)
@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("e-commerce", True),
        ("TikTok Shop's", True),
        ("NEAR(", None),
        ('"', False),
        ('Shop"s', None),
        ("AND OR", None),
        ("-Temu", True),
    ],
)
def test_search_quotes_user_terms(crawled: CrawledWorld, query: str, found: bool | None) -> None:
    result = run_cli("search", "--format", "json", "--", query, config=crawled.config)
    assert result.code == 0, result.err
    hits = result.json()
    assert isinstance(hits, list)
    if found is not None:
        assert bool(hits) is found


def test_search_phrase_and_csv(crawled: CrawledWorld) -> None:
    result = run_cli("search", '"head of US e-commerce"', "--format", "csv", config=crawled.config)
    assert result.code == 0
    lines = result.out.strip().splitlines()
    assert lines[0].startswith("id,url,title,source")
    assert len(lines) > 1


def test_search_bad_date_is_a_usage_error(crawled: CrawledWorld) -> None:
    result = run_cli("search", "--since", "last tuesday", config=crawled.config)
    assert result.code == 2
    assert "--since" in result.err and "Traceback" not in result.err


def test_demo_crawls_the_world_into_the_given_folder(tmp_path: Path) -> None:
    result = run_cli("demo", "--dir", str(tmp_path))
    assert result.code == 0, result.err
    assert "newest of 43 stored articles" in result.out
    assert (tmp_path / "shopwatch.db").exists()
    listed = run_cli("search", "Temu", "--format", "json", config=tmp_path / "shopwatch.toml")
    assert listed.code == 0 and listed.json()
    page = (tmp_path / "digest.html").read_text(encoding="utf-8")
    assert f"digest: {(tmp_path / 'digest.html').resolve()}" in result.out
    assert "shopwatch digest — 2026-11-24" in page  # the world's newest day
    assert "Temu" in page and "data:image/png;base64," in page

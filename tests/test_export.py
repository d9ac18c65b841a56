"""``shopwatch export``: every dataset in every format, defused CSV, and bounded memory."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from exports.formats import csv_cell
from storage.articles import ArticleData, upsert_articles
from storage.engine import open_store
from tests.conftest import REPO, CrawledWorld, run_cli

COUNTS = {
    "articles": "SELECT count(*) FROM articles",
    "figures": "SELECT count(*) FROM figures",
    "events": "SELECT count(*) FROM events",
    "mentions": "SELECT count(*) FROM mentions_daily_v",
}


def _count(crawled: CrawledWorld, sql: str) -> int:
    with sqlite3.connect(crawled.config.parent / "shopwatch.db") as db:
        return int(db.execute(sql).fetchone()[0])


@pytest.mark.parametrize("dataset", list(COUNTS))
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_every_dataset_in_every_format(
    crawled: CrawledWorld, tmp_path: Path, dataset: str, fmt: str
) -> None:
    out = tmp_path / f"{dataset}.{fmt}"
    result = run_cli("export", dataset, "--format", fmt, "--out", str(out), config=crawled.config)
    assert result.code == 0, result.err
    expected = _count(crawled, COUNTS[dataset])
    assert f"wrote {expected:,} {dataset} rows" in result.err
    if fmt == "csv":
        with out.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    else:
        table = pq.read_table(out)
        rows = table.to_pylist()
        if dataset in ("articles", "figures", "events"):
            assert str(table.schema.field("id").type) == "int64"
            assert str(table.schema.field("published_at").type) == "timestamp[us, tz=UTC]"
        if dataset == "articles":
            assert str(table.schema.field("entities").type).startswith("list<")
    assert len(rows) == expected
    assert not list(tmp_path.glob(".*.partial"))


def test_since_filters_by_publication(crawled: CrawledWorld, tmp_path: Path) -> None:
    out = tmp_path / "recent.jsonl"
    args = ("export", "articles", "--format", "jsonl", "--since", "2026-11-01", "--out", str(out))
    assert run_cli(*args, config=crawled.config).code == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    expected = _count(crawled, "SELECT count(*) FROM articles WHERE sort_at >= '2026-11-01'")
    assert len(rows) == expected > 0
    assert all(r["published_at"] >= "2026-11-01" for r in rows)
    assert all(isinstance(r["entities"], list) and r["text"] for r in rows)


def test_bad_arguments_are_usage_errors(crawled: CrawledWorld, tmp_path: Path) -> None:
    bad = run_cli("export", "tweets", "--out", str(tmp_path / "x"), config=crawled.config)
    assert bad.code == 2
    nowhere = run_cli(
        "export", "figures", "--out", str(tmp_path / "no" / "such" / "x.csv"), config=crawled.config
    )
    assert nowhere.code == 2 and "cannot write" in nowhere.err


def test_csv_cells_never_run_as_formulas() -> None:
    assert csv_cell('=HYPERLINK("http://evil.example")') == '\'=HYPERLINK("http://evil.example")'
    for dangerous in ("+1", "-1+2", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(dangerous).startswith("'")
    assert csv_cell("Temu") == "Temu" and csv_cell(12.5) == 12.5 and csv_cell(None) == ""
    assert csv_cell(["a", "b"]) == "a; b"
    assert csv_cell(datetime(2026, 11, 13, tzinfo=UTC)) == "2026-11-13T00:00:00+00:00"


def _peak_rss_kib(config: Path, out: Path) -> int:
    code = (
        "import resource, sys\n"
        "from cli.main import run\n"
        "sys.argv = ['shopwatch', '--config', sys.argv[1], 'export', 'articles', '--out', "
        "sys.argv[2]]\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(config), str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=True,
    )
    return int(done.stdout.strip().splitlines()[-1])


def _store_of(folder: Path, count: int, text_bytes: int) -> Path:
    folder.mkdir()
    db = folder / "s.db"
    store = open_store(f"sqlite:///{db}")
    now = datetime.now(UTC)
    body = ("Temu said GMV rose sharply in Europe. " * (text_bytes // 38 + 1))[:text_bytes]
    for start in range(0, count, 2_000):
        with store.write() as session:
            upsert_articles(
                session,
                [
                    ArticleData(
                        source="bulk",
                        url=f"https://bulk.example/{i}",
                        canonical_url=f"https://bulk.example/{i}",
                        title=f"Article {i}",
                        text=f"{i} {body}",
                        fetched_at=now,
                        language="en",
                    )
                    for i in range(start, min(start + 2_000, count))
                ],
            )
    store.close()
    config = folder / "shopwatch.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{db}"\n', encoding="utf-8")
    return config


def test_export_memory_does_not_grow_with_the_data(tmp_path: Path) -> None:
    small = _store_of(tmp_path / "small", 500, 4_000)
    large = _store_of(tmp_path / "large", 20_000, 4_000)  # about 80 MB of text
    small_rss = _peak_rss_kib(small, tmp_path / "small.csv")
    large_rss = _peak_rss_kib(large, tmp_path / "large.csv")
    assert (tmp_path / "large.csv").stat().st_size > 80_000_000
    growth_mib = (large_rss - small_rss) / 1024
    assert growth_mib < 30, f"peak memory grew by {growth_mib:.0f} MiB for 40× the rows"

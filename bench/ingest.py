"""Crawl and ingest benchmarks over the synthetic news world (:mod:`bench.world`).

``python -m bench crawl [--articles 2000] [--runs 3] [--record]``
    ``shopwatch crawl --no-enrich`` of the whole world (fetch, extract, store;
    process start included) into a new store. Target: ≥ 80 articles/s, every
    article stored once, and the stored bodies the planted ones (extraction
    F1 against the known text, beside the real-page F1 of ``bench extraction``).

``python -m bench ingest [--articles 2000] [--processes 1] [--passes 3] [--record]``
    ``shopwatch crawl`` of the whole world with enrichment (fetched,
    extracted, enriched, stored; process start and model loading included),
    interleaved pass by pass with bare spaCy NER (``ner`` alone, the same
    texts, ``nlp.pipe`` with the same number of processes). Target: ≥ 0.8 ×
    bare NER throughput; peak resident memory of the crawl command with all
    its children ≤ 1.5 GB; every planted figure found.

The world server runs in its own process; its CPU time is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.enrichment import BARE_EXCLUDED
from bench.record import record
from bench.scoring import average, score_document
from bench.soak import rss_of
from bench.world import REPO, World, WorldServer
from config import example_watchlist_toml
from crawler.offload import PROCESS_NAME

CRAWL_TARGET = 80.0  # articles per second
INGEST_RATIO = 0.8
MEMORY_TARGET = 1.5e9  # bytes


@dataclass
class Run:
    seconds: float
    peak_rss: int
    server_cpu: float
    totals: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process role


def _config(
    folder: Path, server: WorldServer, processes: int, extract_processes: int | None = None
) -> Path:
    path = folder / "shopwatch.toml"
    extract = "" if extract_processes is None else f"extract_processes = {extract_processes}\n"
    path.write_text(
        f'[store]\nurl = "sqlite:///{folder / "shopwatch.db"}"\n\n'
        '[crawl]\nuser_agent = "shopwatch-bench/0.1"\nallowed_networks = ["127.0.0.0/8"]\n'
        f"{extract}\n"
        f"[nlp]\nprocesses = {processes}\n\n"
        f"{server.sources_toml()}\n{example_watchlist_toml()}",
        encoding="utf-8",
    )
    return path


def _depths(pid: int) -> dict[int, int]:
    """``pid`` and its descendants, each with its depth below ``pid``."""
    found, queue = {}, [(pid, 0)]
    while queue:
        current, depth = queue.pop()
        found[current] = depth
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [(int(x), depth + 1) for x in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of process ``pid`` so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


ROLES = {0: "crawl command", 1: "enrichment process", 2: "model worker"}


def _watch(pid: int, stop: threading.Event, peak: list[int], cpu: dict[int, tuple]) -> None:
    """Peak RSS of the tree, and each process's last CPU time and depth, every 0.1 s."""
    while not stop.wait(0.1):
        depths = _depths(pid)
        peak[0] = max(peak[0], sum(rss_of(p) for p in depths))
        for process, depth in depths.items():
            seconds = _cpu_seconds(process)
            if seconds is not None:
                cpu[process] = (depth, seconds, _name(process))


def cpu_by_role(cpu: dict[int, tuple]) -> dict[str, float]:
    """CPU seconds per role: by name, else by depth (command, enrichment child, model worker)."""
    roles: dict[str, float] = {}
    for depth, seconds, name in cpu.values():
        role = "extraction" if name == PROCESS_NAME else ROLES.get(depth, f"depth {depth}")
        roles[role] = roles.get(role, 0.0) + seconds
    return roles


def crawl_once(
    folder: Path,
    server: WorldServer,
    *,
    enrich: bool,
    processes: int = 1,
    extract_processes: int | None = None,
) -> Run:
    """One ``shopwatch crawl`` of the world into a new store in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    config = _config(folder, server, processes, extract_processes)
    command = [sys.executable, "-m", "shopwatch", "--config", str(config), "crawl", "--json"]
    if not enrich:
        command.append("--no-enrich")
    env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"}
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env
    )
    stop, peak, cpu = threading.Event(), [0], {}
    watcher = threading.Thread(target=_watch, args=(child.pid, stop, peak, cpu), daemon=True)
    watcher.start()
    out, err = child.communicate(timeout=3600)
    seconds = time.perf_counter() - started
    stop.set()
    watcher.join()
    if child.returncode != 0:
        raise SystemExit(f"crawl failed ({child.returncode}): {err[-3000:]}")
    run = Run(seconds, peak[0], server.cpu_seconds() - cpu_before, json.loads(out))
    run.cpu = cpu_by_role(cpu)
    return run


def stored(folder: Path) -> list[tuple[str, str, int]]:
    """(canonical URL, text, figures found) of every stored article."""
    with sqlite3.connect(folder / "shopwatch.db") as db:
        return db.execute(
            "SELECT a.canonical_url, a.text, (SELECT count(*) FROM figures f "
            "WHERE f.article_id = a.id AND f.unit = 'percent') FROM articles a"
        ).fetchall()


def check_store(folder: Path, world: World, port: int) -> dict[str, float]:
    """Articles stored once each, extraction F1 against the planted bodies, figures found."""
    rows = stored(folder)
    wanted = {
        world.base(world.article(n).site, port) + world.article(n).path: n
        for n in range(world.articles)
    }
    urls = [url for url, _, _ in rows]
    scores = [score_document(text, world.article(wanted[url]).text) for url, text, _ in rows]
    return {
        "stored": len(rows),
        "distinct": len(set(urls)),
        "expected": len(wanted),
        "unknown": sum(url not in wanted for url in urls),
        "f1": average(scores).f1 if scores else 0.0,
        "with_figure": sum(found > 0 for *_, found in rows),
    }


def bare_ner(texts: list[str], processes: int, model: object) -> float:
    """Seconds for ``nlp.pipe`` over ``texts`` with NER alone."""
    started = time.perf_counter()
    for _doc in model.pipe(texts, batch_size=32, n_process=processes):  # type: ignore[attr-defined]
        pass
    return time.perf_counter() - started


def _cpu(run: Run) -> str:
    return ", ".join(f"{role} {seconds:.0f} s" for role, seconds in sorted(run.cpu.items()))


def main_crawl(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench crawl", description=__doc__)
    parser.add_argument("--articles", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    runs: list[Run] = []
    inline: list[Run] = []  # the same crawl extracting in its own process, interleaved
    checks: list[dict[str, float]] = []
    with WorldServer(args.articles) as server, tempfile.TemporaryDirectory() as tmp:
        for number in range(args.runs):
            folder = Path(tmp) / f"run{number}"
            runs.append(crawl_once(folder, server, enrich=False))
            checks.append(check_store(folder, server.world, server.port))
            last = runs[-1]
            print(f"run {number + 1}: {args.articles / last.seconds:.1f} articles/s "
                  f"({last.seconds:.1f} s; {_cpu(last)}), {checks[-1]}", flush=True)  # fmt: skip
            folder = Path(tmp) / f"inline{number}"
            inline.append(crawl_once(folder, server, enrich=False, extract_processes=0))
            checks.append(check_store(folder, server.world, server.port))
            print(f"  extracting in the crawl process: {args.articles / inline[-1].seconds:.1f} "
                  f"articles/s ({inline[-1].seconds:.1f} s)", flush=True)  # fmt: skip
    seconds = statistics.median(r.seconds for r in runs)
    inline_seconds = statistics.median(r.seconds for r in inline)
    rate = args.articles / seconds
    check = checks[0]
    complete = all(
        c["stored"] == c["distinct"] == c["expected"] and not c["unknown"] for c in checks
    )
    holds = rate >= CRAWL_TARGET and complete
    server_share = statistics.median(r.server_cpu / r.seconds for r in runs)
    roles = sorted({role for r in runs for role in r.cpu})
    cpu = ", ".join(
        f"{role} {statistics.median(r.cpu.get(role, 0.0) for r in runs):.1f} s" for role in roles
    )
    table = "\n".join(
        [
            "| figure | value | target |",
            "|---|---|---|",
            f"| crawl without enrichment (median of {args.runs}) | {rate:.1f} articles/s "
            f"({seconds:.1f} s) | ≥ {CRAWL_TARGET:.0f}: {'holds' if holds else 'DOES NOT HOLD'} |",
            f"| the same, extracting in the crawl process (`extract_processes = 0`) | "
            f"{args.articles / inline_seconds:.1f} articles/s ({inline_seconds:.1f} s) | |",
            f"| ratio: extraction beside the crawl / in it | {inline_seconds / seconds:.2f}× | |",
            f"| CPU per process (median) | {cpu} | |",
            f"| articles stored / distinct / in the world | {check['stored']:,} / "
            f"{check['distinct']:,} / {check['expected']:,} | all, once each |",
            f"| extraction F1 against the planted bodies | {check['f1']:.3f} | |",
            f"| world server CPU | {server_share:.0%} of one core | |",
            f"| peak memory of the crawl command | {max(r.peak_rss for r in runs) / 2**20:,.0f} "
            "MiB | |",
        ]
    )
    print(table)
    if args.record:
        record(
            "crawl",
            f"`shopwatch crawl --no-enrich` (process start included) of a synthetic world of "
            f"{args.articles:,} articles over {server.world.sites} sites, each on its own loopback "
            "address, with the default politeness settings (`python -m bench crawl`).\n\n"
            f"{table}\n",
        )
    return 0 if holds else 1


def main_ingest(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ingest", description=__doc__)
    parser.add_argument("--articles", type=int, default=2_000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    import spacy

    from config import example_toml, parse_settings

    model = spacy.load(parse_settings(example_toml()).nlp.model, exclude=BARE_EXCLUDED)
    runs: list[Run] = []
    bare: list[float] = []
    with WorldServer(args.articles) as server, tempfile.TemporaryDirectory() as tmp:
        world = server.world
        texts = [f"{a.title}.\n\n{a.text}" for a in map(world.article, range(args.articles))]
        for number in range(args.passes):
            folder = Path(tmp) / f"pass{number}"
            runs.append(crawl_once(folder, server, enrich=True, processes=args.processes))
            check = check_store(folder, world, server.port)
            bare.append(bare_ner(texts, args.processes, model))
            print(f"pass {number + 1}: ingest {args.articles / runs[-1].seconds:.1f}/s, "
                  f"bare NER {args.articles / bare[-1]:.1f}/s, {check}, CPU s {_cpu(runs[-1])}",
                  flush=True)  # fmt: skip
    ingest_s, bare_s = statistics.median(r.seconds for r in runs), statistics.median(bare)
    median_run = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
    ratio = bare_s / ingest_s
    peak = max(r.peak_rss for r in runs)
    found = check["with_figure"] / max(check["stored"], 1)
    complete = check["stored"] == check["distinct"] == check["expected"]
    holds = ratio >= INGEST_RATIO and peak <= MEMORY_TARGET and complete and found == 1.0
    table = "\n".join(
        [
            "| figure | value | target |",
            "|---|---|---|",
            f"| end-to-end ingest (fetch, extract, enrich, store) | "
            f"{args.articles / ingest_s:.1f} articles/s ({ingest_s:.1f} s) | |",
            f"| bare spaCy NER (`ner` alone), same texts | {args.articles / bare_s:.1f} "
            f"articles/s ({bare_s:.1f} s) | |",
            f"| ratio ingest / bare NER | {ratio:.2f} | ≥ {INGEST_RATIO}: "
            f"{'holds' if ratio >= INGEST_RATIO else 'DOES NOT HOLD'} |",
            f"| peak resident memory (crawl command and its children) | {peak / 2**20:,.0f} MiB | "
            f"≤ 1,536 MiB: {'holds' if peak <= MEMORY_TARGET else 'DOES NOT HOLD'} |",
            f"| articles stored once / in the world | {check['distinct']:,} / "
            f"{check['expected']:,} | all |",
            f"| articles whose planted percentage was found | {found:.1%} | all |",
            f"| world server CPU | {statistics.median(r.server_cpu for r in runs):.1f} s | |",
            f"| CPU time of each process (median pass) | {_cpu(median_run)} | |",
        ]
    )
    print(table)
    if args.record:
        record(
            f"ingest-{args.processes}p",
            f"`shopwatch crawl` (process start and model loading included) of a synthetic world "
            f"of {args.articles:,} articles over {world.sites} sites, with `[nlp] processes = "
            f"{args.processes}`, interleaved with bare NER over the same texts, median of "
            f"{args.passes} passes (`python -m bench ingest`).\n\n{table}\n",
        )
    return 0 if holds else 1

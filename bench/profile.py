"""Where the ingest's time goes: ``shopwatch crawl`` of the synthetic world under py-spy.

``python -m bench profile [--articles 600] [--rate 100]``

Runs one end-to-end ingest (:mod:`bench.ingest`'s setup: the world server in
its own process, ``[nlp] processes = 1``) under ``py-spy record
--subprocesses``, which samples the crawl command, its extraction process, its
enrichment process and the model worker while they are on a CPU, and prints,
process by process, the CPU seconds sampled and how they split between the stages. py-spy is a dev
dependency; it needs permission to read other processes' memory (ptrace).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from bench.ingest import _config
from bench.world import REPO, WorldServer

# (process, stage, what marks its frames), first match wins. py-spy sees Python frames:
# time in spaCy's compiled parts shows under the Python frame that called them.
STAGES = {
    "crawl command": (
        ("start-up (imports)", ("<frozen importlib",)),
        ("extraction (trafilatura, lxml, metadata)", ("crawler/extract.py", "trafilatura/")),
        ("feeds, sitemaps, listings", ("crawler/feeds.py", "crawler/sitemaps.py",
                                       "crawler/listings.py", "feedparser/")),
        ("store writes", ("storage/",)),
        ("Scrapy and Twisted (scheduling, HTTP, politeness)", ("scrapy/", "twisted/")),
    ),
    "extraction process": (
        ("start-up (imports, language model)", ("<frozen importlib", "LanguageIdentifier.from_")),
        ("extraction (trafilatura, lxml, metadata)", ("crawler/extract.py", "trafilatura/")),
        ("receiving pages, sending results", ("multiprocessing/", "concurrent/")),
    ),
    "enrichment process": (
        ("start-up (imports)", ("<frozen importlib",)),
        ("rules: figures, events, people, signature", ("nlp/figures", "nlp/events", "nlp/people",
                                                        "nlp/stories", "enrich_parsed")),
        ("store: pending articles, derived rows, stories", ("storage/",)),
        ("handing batches to the model worker", ("multiprocessing/",)),
    ),
    "model worker": (
        ("start-up (imports, model loading)", ("<frozen importlib", "_start_worker")),
        ("rules: figures, events, people, signature", ("nlp/figures", "nlp/events", "nlp/people",
                                                        "nlp/stories", "enrich_parsed")),
        ("spaCy neural nets (thinc: NER and senter models)", ("thinc/",)),
        ("spaCy compiled parts (tokenizer, NER transitions, ruler)", ("spacy/",)),
        ("sending results back", ("multiprocessing/",)),
    ),
}  # fmt: skip
DEPTHS = {1: "crawl command", 2: "enrichment process", 3: "model worker"}
PROCESSES = ("crawl command", "extraction process", "enrichment process", "model worker")
EXTRACTION_WORKER = "concurrent/futures/process.py"  # the extraction process's pool loop


def _process(stack: str) -> str:
    """Which process a sample is from: py-spy names each process down from the command.

    The crawl command's two children (extraction, enrichment) are both spawned
    from it; the extraction process is the one running a process pool's loop.
    """
    depth = sum(frame.startswith("process ") for frame in stack.split(";"))
    if depth == 2 and (EXTRACTION_WORKER in stack or "crawler/offload.py" in stack):
        return "extraction process"
    return DEPTHS.get(depth, "other")


def _stage(process: str, stack: str) -> str:
    for stage, marks in STAGES.get(process, ()):
        if any(mark in stack for mark in marks):
            return stage
    return "other"


def summarize(raw: Path, rate: int) -> str:
    samples: dict[str, Counter[str]] = defaultdict(Counter)
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        process = _process(stack)
        samples[process][_stage(process, stack)] += int(count)
    lines = ["| process | stage | CPU s | share of the process |", "|---|---|---|---|"]
    for process in (*PROCESSES, "other"):
        stages = samples.get(process)
        if not stages:
            continue
        total = sum(stages.values())
        for stage, count in stages.most_common():
            lines.append(f"| {process} | {stage} | {count / rate:.1f} | {count / total:.0%} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench profile", description=__doc__)
    parser.add_argument("--articles", type=int, default=600)
    parser.add_argument("--rate", type=int, default=100, help="samples per second")
    args = parser.parse_args(argv)
    spy = Path(sys.executable).with_name("py-spy")
    with WorldServer(args.articles) as server, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = _config(folder, server, 1)
        raw = folder / "profile.txt"
        env = {k: v for k, v in os.environ.items() if k != "SHOPWATCH_CONFIG"}
        command = [str(spy), "record", "--subprocesses", "--rate", str(args.rate), "--format",
                   "raw", "--output", str(raw), "--nonblocking", "--",
                   sys.executable, "-m", "shopwatch", "--config", str(config), "crawl"]  # fmt: skip
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        if done.returncode != 0 or not raw.exists():
            raise SystemExit(f"py-spy failed: {done.stderr[-2000:]}")
        print(summarize(raw, args.rate))
    return 0

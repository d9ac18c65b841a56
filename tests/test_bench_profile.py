"""The ingest profile's bookkeeping: which process and stage each py-spy sample belongs to."""

from __future__ import annotations

from pathlib import Path

from bench.profile import summarize

COMMAND = 'process 10:"python -m shopwatch crawl"'
CHILD = 'process 11:"python -c from multiprocessing.spawn import spawn_main"'
WORKER = 'process 12:"python -c from multiprocessing.spawn import spawn_main"'
SAMPLES = [
    f"{COMMAND};crawl (scrapy/crawler.py:10) 300",
    f"{COMMAND};{CHILD};_process_worker (concurrent/futures/process.py:261);"
    "extract_article (crawler/extract.py:148);bare_extraction (trafilatura/core.py:425) 150",
    f"{COMMAND};{CHILD};_main (multiprocessing/spawn.py:132);"
    "_find_and_load (<frozen importlib._bootstrap>:1176);<module> (crawler/offload.py:1) 50",
    f"{COMMAND};{CHILD};follow_store (nlp/run.py:150);find_figures (nlp/figures.py:90) 200",
    f"{COMMAND};{CHILD};{WORKER};_parse_batch (nlp/pipeline.py:223);"
    "Language.pipe (spacy/language.py:1576) 700",
]


def test_samples_are_told_apart_by_process_and_stage(tmp_path: Path) -> None:
    raw = tmp_path / "profile.txt"
    raw.write_text("\n".join(SAMPLES) + "\n", encoding="utf-8")
    rows = {
        tuple(cell.strip() for cell in line.strip("|").split("|"))
        for line in summarize(raw, rate=100).splitlines()[2:]
    }
    assert rows == {
        ("crawl command", "Scrapy and Twisted (scheduling, HTTP, politeness)", "3.0", "100%"),
        ("extraction process", "extraction (trafilatura, lxml, metadata)", "1.5", "75%"),
        ("extraction process", "start-up (imports, language model)", "0.5", "25%"),
        ("enrichment process", "rules: figures, events, people, signature", "2.0", "100%"),
        ("model worker", "spaCy compiled parts (tokenizer, NER transitions, ruler)", "7.0", "100%"),
    }

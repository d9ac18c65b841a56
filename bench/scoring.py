"""Body-text scoring as the article-extraction benchmark does it.

Texts become multisets of 4-token shingles (``\\w+`` tokens, case kept); each
document's true/false positives and false negatives are normalised by its
total so long documents do not dominate; precision is averaged over documents
with a prediction and recall over documents with a truth; F1 comes from the
two averages.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+")


def shingles(text: str, size: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    count = max(1, len(tokens) - size + 1)
    return Counter(tuple(tokens[i : i + size]) for i in range(count) if tokens[i : i + size])


@dataclass(frozen=True)
class Counts:
    """One document's normalised true positives, false positives and false negatives."""

    tp: float
    fp: float
    fn: float

    @property
    def has_prediction(self) -> bool:
        return self.tp + self.fp > 0

    @property
    def has_truth(self) -> bool:
        return self.tp + self.fn > 0


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def score_document(predicted: str, truth: str) -> Counts:
    pred, gold = shingles(predicted), shingles(truth)
    tp = sum((pred & gold).values())
    fp = sum((pred - gold).values())
    fn = sum((gold - pred).values())
    total = tp + fp + fn
    return Counts(tp / total, fp / total, fn / total) if total else Counts(0.0, 0.0, 0.0)


def _precision(c: Counts) -> float:
    return 1.0 if c.fp == c.fn == 0 else c.tp / (c.tp + c.fp)


def _recall(c: Counts) -> float:
    return 1.0 if c.fp == c.fn == 0 else c.tp / (c.tp + c.fn)


def average(documents: Iterable[Counts]) -> Score:
    items = list(documents)
    predicted = [_precision(c) for c in items if c.has_prediction]
    truths = [_recall(c) for c in items if c.has_truth]
    return Score(
        sum(predicted) / len(predicted) if predicted else 0.0,
        sum(truths) / len(truths) if truths else 0.0,
    )

"""NLP stage: what makes two articles the same story.

Pure. Two signals, each cheap to compare:

- near-duplicates (syndicated copies, light rewrites): MinHash signatures of
  word 5-shingles whose estimated Jaccard similarity is at least
  ``NEAR_DUPLICATE``;
- the same news in other words: a shared *key fact* in the title or lead, a
  figure that is not a percentage (company, unit, value to three significant
  digits) or a leadership event naming a person. Percentages, bare events and
  background facts deeper in the text are too common to tie stories together.

The store decides which earlier articles to compare with (same watched
company, published within a few days): see :mod:`storage.stories`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the pipeline imports signature() from here
    from nlp.pipeline import Enrichment

NUM_PERM = 64
SHINGLE = 5
NEAR_DUPLICATE = 0.5
_WORD = re.compile(r"\w+")


def signature(text: str) -> bytes:
    """The MinHash signature of ``text``'s word 5-shingles, as bytes to store."""
    from datasketch import MinHash  # (imports SciPy: only commands that enrich pay for it)

    words = _WORD.findall(text.lower())
    shingles = {" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    sketch = MinHash(num_perm=NUM_PERM, seed=7)
    sketch.update_batch([s.encode("utf-8") for s in shingles])
    return np.asarray(sketch.hashvalues, dtype=np.uint64).tobytes()


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two signatures."""
    left, right = np.frombuffer(a, dtype=np.uint64), np.frombuffer(b, dtype=np.uint64)
    return float(np.mean(left == right)) if len(left) == len(right) and len(left) else 0.0


def _round(value: float) -> str:
    return f"{value:.3g}"


LEAD_CHARS = 600


def key_facts(result: Enrichment, lead_chars: int = LEAD_CHARS) -> set[str]:
    """The facts specific enough to say two articles report the same news.

    Only facts in the title and lead (the first ``lead_chars`` characters of the
    enriched text) count: deeper in, articles repeat background figures that
    would tie unrelated stories together.
    """
    keys = set()
    for figure in result.figures:
        if figure.start >= lead_chars:
            continue
        if figure.unit != "percent" and figure.entity and figure.value >= 100:
            keys.add(
                f"figure|{figure.entity}|{figure.unit}|{figure.currency or ''}|"
                f"{_round(figure.value)}"
            )
    for event in result.events:
        if event.type == "leadership" and event.entity and event.start < lead_chars:
            for person in event.persons:
                keys.add(f"leadership|{event.entity}|{person}")
    return keys


def watched_names(result: Enrichment) -> list[str]:
    return sorted({m.name for m in result.mentions if m.label == "WATCH"})


def same_story(keys_a: Iterable[str], keys_b: Iterable[str], sig_a: bytes, sig_b: bytes) -> bool:
    return bool(set(keys_a) & set(keys_b)) or similarity(sig_a, sig_b) >= NEAR_DUPLICATE

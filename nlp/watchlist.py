"""NLP stage: the watchlist as entity-ruler patterns, parent chains, and non-company senses.

Every ``[[watch]]`` name and alias becomes a case-insensitive pattern whose
entity id is the canonical name. Parents are followed upward (TikTok Shop →
TikTok → ByteDance). A few aliases are also common words with other senses;
a match is dropped when its context says so (the Amazon river).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from config.model import Watch

WATCH_LABEL = "WATCH"

# alias (lower case) -> words that, next to it or in its sentence, mean another sense
OTHER_SENSES: dict[str, re.Pattern[str]] = {
    "amazon": re.compile(
        r"\b(river|rainforest|rain forest|basin|jungle|tributar\w+|deforestation|manaus|"
        r"indigenous|biome|amazonia|amazonian|canopy|rivers|floodplain|delta)\b",
        re.I,
    ),
}
# words that confirm the company sense even in such a sentence
COMPANY_CONTEXT = re.compile(
    r"\b(amazon\.com|amazon's|prime (members|day|video)|aws|sellers?|marketplace|e-?commerce|"
    r"retailer|warehouses?|shares|stock|revenue|jassy|bezos|inc\b)",
    re.I,
)


def ruler_patterns(watchlist: Sequence[Watch]) -> list[dict[str, Any]]:
    patterns = []
    for watch in watchlist:
        for alias in dict.fromkeys([watch.name, *watch.aliases]):
            patterns.append({"label": WATCH_LABEL, "pattern": alias, "id": watch.name})
    return patterns


def parent_chain(watchlist: Sequence[Watch], name: str) -> list[str]:
    """``name``'s parents, nearest first, stopping at a cycle."""
    parents = {w.name: w.parent for w in watchlist}
    chain: list[str] = []
    current = parents.get(name)
    while current and current not in chain and current != name:
        chain.append(current)
        current = parents.get(current)
    return chain


CONTEXT_CHARS = 60


def is_other_sense(text: str, start: int, end: int) -> bool:
    """Whether the alias at ``text[start:end]`` means something other than the company.

    Judged by the words around it (a sentence may well be about deliveries
    *and* the river), and only for aliases listed in :data:`OTHER_SENSES`.
    """
    other = OTHER_SENSES.get(text[start:end].lower().removesuffix("'s").strip())
    if other is None:
        return False
    window = text[max(0, start - CONTEXT_CHARS) : end + CONTEXT_CHARS]
    own = text[start : end + 3]  # "Amazon's" is the company
    return bool(other.search(window)) and not COMPANY_CONTEXT.search(own + " " + window)

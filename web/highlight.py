"""Web stage: untrusted article text as escaped HTML, with matches and facts marked.

Everything here escapes first and adds its own tags after, so no title, text or
URL from the web can inject markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from storage.search import MARK_END, MARK_START


def snippet_html(snippet: str | None) -> Markup:
    """A search snippet with its matched terms in ``<mark>``, everything else escaped."""
    if not snippet:
        return Markup("")
    text = str(escape(snippet))
    # a marker the page itself contained would only add a harmless, unbalanced <mark>
    return Markup(text.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str  # "entity" or "figure"
    label: str  # the canonical entity, or the figure's metric and value


def entity_spans(text: str, aliases: Mapping[str, Sequence[str]]) -> list[Span]:
    """Every mention of a watched entity (its name or an alias, any case), longest first."""
    names = sorted(
        {(alias, name) for name, others in aliases.items() for alias in (name, *others) if alias},
        key=lambda pair: -len(pair[0]),
    )
    if not names:
        return []
    canonical = {alias.lower(): name for alias, name in names}
    pattern = re.compile(
        r"(?<!\w)(" + "|".join(re.escape(alias) for alias, _ in names) + r")(?!\w)", re.IGNORECASE
    )
    return [
        Span(m.start(), m.end(), "entity", canonical.get(m.group(1).lower(), m.group(1)))
        for m in pattern.finditer(text)
    ]


def marked_html(text: str, spans: Iterable[Span]) -> Markup:
    """``text`` escaped, with each span in ``<mark class=KIND title=LABEL>``, and paragraphs.

    Overlapping spans keep the one that starts first (figures are given first,
    so a figure wins over the entity inside it).
    """
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -(s.end - s.start))):
        if 0 <= span.start < span.end <= len(text) and (not chosen or span.start >= chosen[-1].end):
            chosen.append(span)
    parts: list[str] = []
    at = 0
    for span in chosen:
        parts.append(str(escape(text[at : span.start])))
        parts.append(
            f'<mark class="{span.kind}" title="{escape(span.label)}">'
            f"{escape(text[span.start : span.end])}</mark>"
        )
        at = span.end
    parts.append(str(escape(text[at:])))
    paragraphs = [p.strip() for p in "".join(parts).split("\n\n")]
    return Markup("".join(f"<p>{p}</p>" for p in paragraphs if p))

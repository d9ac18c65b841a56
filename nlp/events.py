"""NLP stage: events (leadership, sales, layoffs, hiring, expansion, regulation) stated in a text.

Pure: text, sentence boundaries, companies and people in; :class:`Event` values
out. A sentence holds an event when one of its type's trigger patterns matches;
the event belongs to the company nearest the trigger in that sentence, and
lists the people the sentence names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from config.model import EVENT_TYPES
from nlp.figures import EntitySpan, Figure, owner

__all__ = ["EVENT_TYPES", "TRIGGERS", "Event", "find_events"]

TRIGGERS: dict[str, re.Pattern[str]] = {
    kind: re.compile(pattern, re.I)
    for kind, pattern in {
        "leadership": (
            r"\b(appoint(s|ed|ing|ment)|nam(es|ed|ing) .{0,60}?\b(as|to be|its)\b .{0,30}?"
            r"(chief|head|president|director|officer|CEO|CFO|COO|chair|lead|manager|boss)|"
            r"hire[sd]? .{0,40}?(as|to lead|to run)|step(s|ped|ping)? down|resign(s|ed|ing|ation)?|"
            r"replac(e|es|ed|ing) .{0,40}?(as|at the helm)|leadership (shake-?up|overhaul|"
            r"reshuffle|change)|succeed(s|ed)? .{0,40}?as|promot(ed|es) .{0,40}?to|"
            r"depart(s|ed|ure)|(to|will) retire|retire(s|d|ment)|exit(s|ed)? (the company|as)|"
            r"ousted|t(ake|akes|aking|ook) over\b|new (chief|head|CEO|president)|"
            r"becom(e|es|ing) (its |the )?(new )?(chief|head|president|CEO|COO|CFO|director|"
            r"managing)|(is|are) leaving|leav(es|ing) (the company|its)|succeeded by|"
            r"join(s|ed|ing)? .{0,60}?\bas\b .{0,40}?(head|chief|president|director|officer|"
            r"vice president|VP|manager)|left to join|"
            r"nam(ed|es) [A-Z]\w+ [A-Z]\w+,? (as )?(its )?(new )?(chief|head|president|CEO))"
        ),
        "sales": (
            r"\b(GMV|gross merchandi[sz]e|revenue|sales|orders|turnover|earnings|results)\b.{0,80}?"
            r"\b(rose|rise|fell|grew|jump|surge|climb|declin|drop|reach|hit|total|topp?ed|"
            r"came in|reported|posted|generat|record|doubl|miss|beat|exceed|fell short)|"
            r"\b(miss(ed|es)?|beat|beats|exceed(ed|s)?|fell short of|surpass(ed|es)?) "
            r".{0,40}?\b(target|forecast|goal|expectations|estimates|guidance)|"
            r"\b(report(s|ed)?|post(s|ed)?|generat(es|ed)) .{0,60}?\b(GMV|revenue|sales|orders)\b"
        ),
        "layoffs": (
            r"\b(lay(s|ing)? off|laid off|layoffs?|job cuts?|cut(s|ting)? .{0,40}?\b(jobs|roles|"
            r"positions|staff|employees|workers|headcount)|eliminat\w* .{0,40}?\b(jobs|roles|"
            r"positions)|redundanc(y|ies)|hiring freeze|freez\w* (hiring|recruitment)|"
            r"headcount reduction|workforce reduction|reduc\w* (its )?(workforce|headcount)|"
            r"shed(s|ding)? .{0,30}?\b(jobs|roles|staff))"
        ),
        "hiring": (
            r"\b(hiring spree|hiring drive|recruitment drive|plans? to (hire|recruit)|"
            r"will (hire|recruit)|(hire|hires|hiring|recruit\w*) (more than |about |some |up to )?"
            r"[\d,]+|add(s|ing)? [\d,]+ (new )?(jobs|roles|positions|workers|staff|employees)|"
            r"seasonal (workers|hires|staff)|create [\d,]+ (new )?jobs|(is|are) hiring|"
            r"(will|to|would) employ|expects? to employ)"
        ),
        "expansion": (
            r"\b(launch(es|ed|ing)? .{0,60}?\b(in|into)\b|enter(s|ed|ing)? .{0,40}?\bmarket|"
            r"entry into|expan(d|ds|ded|ding|sion) .{0,40}?\b(in|into|to)\b|"
            r"roll(s|ed|ing)? out .{0,60}?\b(in|across)\b|debut(s|ed)? in|go(es)? live in|"
            r"went live in|arriv(es|ed) in|open(s|ed|ing)? .{0,40}?\b(in|to sellers in|"
            r"marketplace)|start(s|ed)? (selling|operations|shipping) in|new market|"
            r"(open|build|invest)\w*\b.{0,80}?\b(hub|cent(er|re)s?|warehouses?|stores?|offices?|"
            r"headquarters|campus|facilit(y|ies))\b|began (selling|operating|shipping)|"
            r"start(s|ed)? (selling|operating|shipping) to)"
        ),
        "regulation": (
            r"\b(ban(s|ned|ning)?|fine[sd]?|fining|penalt(y|ies)|investigat\w*|probe[sd]?|"
            r"inquiry|tariffs?|lawsuits?|sue[sd]?|suing|antitrust|regulators?|regulatory|"
            r"Digital Services Act|DSA|de minimis|customs (duty|duties|rules|reform)|"
            r"complaint|court|competition (authority|watchdog|commission)|watchdog|"
            r"consumer protection|legislat\w*|crackdown|allegations?|settle(s|d|ment)?|levy|"
            r"customs fee|FTC|Federal Trade Commission|European Commission)\b"
        ),
    }.items()
}


@dataclass(frozen=True, slots=True)
class PersonSpan:
    start: int
    end: int
    name: str


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    entity: str | None
    sentence: str
    start: int
    end: int
    trigger: str
    persons: list[str] = field(default_factory=list)


# event types that concern every watched company the sentence names (a move between two
# rivals, a ruling naming several), not only the nearest one
EVERY_WATCHED = frozenset({"leadership", "regulation"})
SALES_METRICS = frozenset(
    {"GMV", "revenue", "sales", "sales target", "orders", "profit", "ad revenue"}
)


def _event_entities(
    kind: str, entities: list[EntitySpan], sentence: tuple[int, int], at: int, text: str
) -> list[str | None]:
    if kind in EVERY_WATCHED:
        named = [
            e.name
            for e in entities
            if e.watched and sentence[0] <= e.start and e.end <= sentence[1]
        ]
        if named:
            return list(dict.fromkeys(named))
    return [owner(entities, sentence, at, text, prefer_watched=True)]


def sales_from_figures(figures: list[Figure], events: list[Event]) -> list[Event]:
    """Sales events for sentences reporting a sales figure that no trigger caught."""
    have = {(e.type, e.entity, e.sentence) for e in events}
    added = []
    for figure in figures:
        key = ("sales", figure.entity, figure.sentence)
        if figure.metric in SALES_METRICS and figure.entity and key not in have:
            have.add(key)
            added.append(
                Event(
                    type="sales",
                    entity=figure.entity,
                    sentence=figure.sentence,
                    start=figure.start,
                    end=figure.end,
                    trigger=figure.text,
                )
            )
    return added


def find_events(
    text: str,
    sentences: list[tuple[int, int]],
    entities: list[EntitySpan],
    people: list[PersonSpan],
) -> list[Event]:
    """Events stated in ``text``, at most one per (type, sentence)."""
    events = []
    for start, end in sentences:
        sentence = text[start:end]
        for kind, pattern in TRIGGERS.items():
            match = pattern.search(sentence)
            if match is None:
                continue
            persons = [p.name for p in people if start <= p.start and p.end <= end]
            events.append(
                Event(
                    type=kind,
                    entity=owner(
                        entities, (start, end), start + match.start(), text, prefer_watched=True
                    ),
                    sentence=sentence.strip(),
                    start=start,
                    end=end,
                    trigger=match.group(0)[:80],
                    persons=list(dict.fromkeys(persons)),
                )
            )
    return events

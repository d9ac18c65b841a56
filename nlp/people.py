"""NLP stage: people linked to their organisation and role when a sentence says so.

Pure. Recognised shapes: "Maria Okafor, TikTok Shop's head of US e-commerce,",
"Maria Okafor, head of e-commerce at TikTok Shop", and "Shein named Priya
Natarajan (as) chief operating officer".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nlp.events import PersonSpan
from nlp.figures import EntitySpan

_ROLE_WORD = (
    r"(?:chief [a-z]+ officer|chief executive|CEO|CFO|COO|CTO|CMO|president|vice[- ]president|"
    r"head|director|managing director|general manager|manager|chair(?:man|woman|person)?|"
    r"founder|co-founder|executive|officer|lead|boss|spokes(?:man|woman|person)|analyst|"
    r"partner|secretary|minister|commissioner|economist)"
)
_ROLE = rf"(?:the\s)?(?:[\w-]+\s){{0,4}}?{_ROLE_WORD}(?:\s(?:of|for)\s[^,.;()]{{2,50}})?"
_AFTER_POSSESSIVE = re.compile(
    rf"^,\s(?P<org>[A-Z][\w.&' -]{{1,40}}?)'s\s(?P<role>{_ROLE})\b", re.I
)
_AFTER_AT = re.compile(
    rf"^,\s(?:a\s|the\s)?(?P<role>{_ROLE})\s(?:at|of|for|with)\s(?P<org>[A-Z][\w.&' -]{{1,40}}?)"
    r"(?=[,.;)]|\s(?:said|says|told|who|and)\b)",
)
_NAMED_AS = re.compile(
    rf"^\s(?:as|to be|to the role of|as its|as the|its new|as new)\s(?P<role>{_ROLE})", re.I
)
_NAMING_VERB = re.compile(r"\b(named|appointed|hired|promoted|tapped|picked|chose)\s$", re.I)


@dataclass(frozen=True, slots=True)
class PersonRole:
    name: str
    org: str | None
    role: str


def _canonical_org(org: str, entities: list[EntitySpan], start: int, end: int) -> str:
    for entity in entities:
        if entity.watched and start <= entity.start and entity.end <= end:
            return entity.name
    return org.strip()


def _nearest_org(entities: list[EntitySpan], at: int, sentence: tuple[int, int]) -> str | None:
    inside = [
        e for e in entities if sentence[0] <= e.start and e.end <= sentence[1] and e.end <= at
    ]
    return max(inside, key=lambda e: e.end).name if inside else None


def find_people(
    text: str,
    sentences: list[tuple[int, int]],
    entities: list[EntitySpan],
    people: list[PersonSpan],
) -> list[PersonRole]:
    """The people whose organisation and role a sentence states."""
    found: dict[tuple[str, str | None], PersonRole] = {}
    for person in people:
        sentence = next(((s, e) for s, e in sentences if s <= person.start < e), (0, len(text)))
        after = text[person.end : sentence[1]]
        before = text[sentence[0] : person.start]
        role = org = None
        if (m := _AFTER_POSSESSIVE.match(after)) or (m := _AFTER_AT.match(after)):
            role = m.group("role")
            org = _canonical_org(
                m.group("org"), entities, person.end + m.start("org"), person.end + m.end("org")
            )
        elif _NAMING_VERB.search(before) and (m := _NAMED_AS.match(after)):
            role, org = m.group("role"), _nearest_org(entities, person.start, sentence)
        if role:
            role = re.sub(r"^(the|its|a)\s", "", role.strip(), flags=re.I)
            found.setdefault((person.name, org), PersonRole(person.name, org, role))
    return list(found.values())

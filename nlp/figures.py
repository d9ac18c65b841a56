"""NLP stage: figures (money, percentages, counts) found in a text, with what they measure.

Pure: text and sentence boundaries in, :class:`Figure` values out. The amounts
are found by patterns (currency signs and codes, scales such as ``bn``/``million``,
``%``/``per cent``, counted nouns, ranges); the metric, the direction of change
and the period are read from the words around each figure in its sentence.

The metric vocabulary (``METRICS``): GMV, revenue, sales, sales target, orders,
ad revenue, valuation, price, market share, employees, jobs, growth, sellers,
users, fine, tariff, investment, profit, spending, other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CURRENCY_SIGNS = {
    "us$": "USD",
    "$": "USD",
    "a$": "AUD",
    "au$": "AUD",
    "c$": "CAD",
    "ca$": "CAD",
    "hk$": "HKD",
    "s$": "SGD",
    "nz$": "NZD",
    "r$": "BRL",
    "£": "GBP",
    "€": "EUR",
    "¥": "JPY",
    "₹": "INR",
    "rs": "INR",
    "rs.": "INR",
    "rp": "IDR",
    "rp.": "IDR",
    "₩": "KRW",
    "usd": "USD",
    "gbp": "GBP",
    "eur": "EUR",
    "jpy": "JPY",
    "cny": "CNY",
    "rmb": "CNY",
    "inr": "INR",
    "idr": "IDR",
    "brl": "BRL",
    "aud": "AUD",
    "cad": "CAD",
    "mxn": "MXN",
}
CURRENCY_WORDS = {
    "dollars": "USD",
    "euros": "EUR",
    "pounds": "GBP",
    "yuan": "CNY",
    "renminbi": "CNY",
    "yen": "JPY",
    "rupiah": "IDR",
    "rupees": "INR",
    "reais": "BRL",
    "pesos": "MXN",
    "won": "KRW",
}
SCALES = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "mln": 1e6,
    "billion": 1e9,
    "bn": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
    "trn": 1e12,
}
# counted nouns by metric: those in the first list are reported under the metric's name
# as their unit ("staff" → 2,000 employees), those in the second keep their own noun
# ("parcels" → 4 million parcels, metric orders); "other" counts are kept but unnamed
COUNTED_NOUNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "jobs": (("jobs", "roles", "positions"), ()),
    "employees": (
        ("employees", "workers", "staff", "people", "staffers", "colleagues"),
        ("associates", "contractors", "drivers", "hires"),
    ),
    "orders": (("orders",), ("parcels", "packages", "shipments")),
    "sellers": (("sellers", "merchants", "vendors"), ("brands",)),
    "users": (
        ("users", "customers", "shoppers", "buyers", "subscribers"),
        ("members", "creators", "accounts"),
    ),
    "other": ((), ("stores", "warehouses", "items", "products", "listings")),
}
COUNT_NOUNS = {  # counted noun → (metric, unit)
    noun: (metric, metric if noun in same else noun)
    for metric, (same, own) in COUNTED_NOUNS.items()
    for noun in (*same, *own)
}
METRICS = (
    "GMV",
    "revenue",
    "sales",
    "sales target",
    "orders",
    "ad revenue",
    "valuation",
    "price",
    "market share",
    "employees",
    "jobs",
    "growth",
    "sellers",
    "users",
    "fine",
    "tariff",
    "investment",
    "profit",
    "spending",
    "other",
)

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SIGN = r"US\$|AU?\$|CA?\$|HK\$|S\$|NZ\$|R\$|\$|£|€|¥|₹|₩|Rp\.?|Rs\.?"
_CODE = r"USD|GBP|EUR|JPY|CNY|RMB|INR|IDR|BRL|AUD|CAD|MXN"
_SCALE = r"trillion|billion|million|thousand|bn|mn|mln|tn|trn|m|k|b"
_WORDS = "|".join(CURRENCY_WORDS)


def _money_one(i: int) -> str:
    return (
        rf"(?:(?P<sign{i}>{_SIGN})\s?|(?P<code{i}>{_CODE})\s)(?P<num{i}>{_NUM})"
        rf"(?:\s?(?P<scale{i}>{_SCALE})\b)?"
    )


MONEY = re.compile(
    _money_one(1) + r"(?:\s?(?:-|–|to)\s?(?:" + _money_one(2) + rf"|(?P<bare2>{_NUM})"
    rf"(?:\s?(?P<bscale2>{_SCALE})\b)?))?",
    re.I,
)
MONEY_WORDS = re.compile(
    rf"(?<![\w$£€¥])(?P<num1>{_NUM})(?:\s?(?P<scale1>trillion|billion|million|thousand|bn|m)\b)?"
    rf"\s(?P<word>{_WORDS})\b",
    re.I,
)
PERCENT = re.compile(
    rf"(?<![\w.])(?:between\s)?(?P<num1>{_NUM})\s?(?:%|per ?cent|percent)?"
    rf"(?:\s?(?:-|–|to|and)\s?(?P<num2>{_NUM}))?\s?(?:%|per ?cent\b|percent\b)"
    r"(?:\s?points?\b|\s?percentage points?\b)?",
    re.I,
)
# nouns a number may precede without being a notable count
NOT_COUNTED = frozenset(
    {
        "years",
        "months",
        "weeks",
        "days",
        "hours",
        "minutes",
        "seconds",
        "times",
        "points",
        "decades",
        "centuries",
        "percent",
        "cents",
        "pence",
        "kilometres",
        "kilometers",
        "miles",
        "metres",
        "meters",
        "kilograms",
        "kg",
        "tonnes",
        "tons",
        "degrees",
        "pages",
        "steps",
        "spots",
        "places",
        "rounds",
        "levels",
        "basis",
        "quarters",
        "nights",
        "words",
    }
)
_STOP = (
    r"(?:of|in|on|at|to|for|from|by|with|and|or|the|a|an|its|their|this|that|per|than|as|"
    r"up|down|over|under|between|during|after|before|each|every|more|less|is|are|was|were|"
    r"will|would|has|have|had|be|been|it|they|we|who|which|while|when|but|so|not|no)"
)
_COUNT_SCALE = r"million|billion|thousand|m|bn|k"
COUNT = re.compile(
    rf"(?<![\w$£€¥.,])(?P<num1>{_NUM})(?:\s?(?P<scale1>{_COUNT_SCALE})\b)?"
    rf"(?:\s?(?:-|–|to)\s?(?P<num2>{_NUM})(?:\s?(?P<scale2>{_COUNT_SCALE})\b)?)?"
    rf"(?P<mods>(?:\s(?!{_STOP}\b)[A-Za-z][\w-]*){{0,3}}?)"
    rf"\s(?P<noun>{'|'.join(COUNT_NOUNS)}|(?!{_STOP}\b)[a-z][a-z-]*s)\b",
)


@dataclass(frozen=True, slots=True)
class Figure:
    text: str
    start: int
    end: int
    value: float
    unit: str
    value_max: float | None = None
    currency: str | None = None
    metric: str = "other"
    change: str = "none"
    period: str | None = None
    entity: str | None = None
    sentence: str = ""


def number(text: str, scale: str | None = None) -> float:
    value = float(text.replace(",", ""))
    return value * SCALES.get((scale or "").lower(), 1.0)


def _currency(sign: str | None, code: str | None) -> str | None:
    key = (sign or code or "").lower()
    return CURRENCY_SIGNS.get(key)


def _money(text: str) -> list[tuple[int, int, float, float | None, str | None]]:
    found = []
    for m in MONEY.finditer(text):
        scale1 = m.group("scale1")
        scale2 = m.group("scale2") or m.group("bscale2")
        second = m.group("num2") or m.group("bare2")
        # "$10-20 billion": the scale written once applies to both ends
        low = number(m.group("num1"), scale1 or (scale2 if second else None))
        high = number(second, scale2 or scale1) if second else None
        found.append((m.start(), m.end(), low, high, _currency(m.group("sign1"), m.group("code1"))))
    for m in MONEY_WORDS.finditer(text):
        value = number(m.group("num1"), m.group("scale1"))
        found.append((m.start(), m.end(), value, None, CURRENCY_WORDS[m.group("word").lower()]))
    return found


def _percents(text: str) -> list[tuple[int, int, float, float | None]]:
    found = []
    for m in PERCENT.finditer(text):
        low = number(m.group("num1"))
        high = number(m.group("num2")) if m.group("num2") else None
        found.append((m.start(), m.end(), low, high))
    return found


def _counts(text: str) -> list[tuple[int, int, float, float | None, str]]:
    """``(start, end of the numbers, low, high, noun)`` of each counted quantity."""
    found = []
    for m in COUNT.finditer(text):
        noun = m.group("noun").lower()
        if noun in NOT_COUNTED:
            continue
        scale = m.group("scale1") or (m.group("scale2") if m.group("num2") else None)
        value = number(m.group("num1"), scale)
        if 1900 <= value <= 2100 and "," not in m.group("num1") and not scale:
            continue  # a year ("in 2026 stores opened")
        high = number(m.group("num2"), m.group("scale2") or scale) if m.group("num2") else None
        last = "num2" if m.group("num2") else "num1"
        scale_group = "scale2" if m.group("num2") else "scale1"
        number_end = m.end(scale_group) if m.group(scale_group) else m.end(last)
        found.append((m.start(), number_end, value, high, noun))
    return found


def _overlaps(span: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in taken)


def find_amounts(text: str) -> list[Figure]:
    """Every money amount, percentage and counted quantity in ``text``, in order, bare."""
    figures: list[Figure] = []
    taken: list[tuple[int, int]] = []
    for start, end, low, high, currency in _money(text):
        if not _overlaps((start, end), taken):
            taken.append((start, end))
            figures.append(Figure(text[start:end], start, end, low, "currency", high, currency))
    for start, end, low, high in _percents(text):
        if not _overlaps((start, end), taken):
            taken.append((start, end))
            figures.append(Figure(text[start:end], start, end, low, "percent", high))
    for start, end, value, high, noun in _counts(text):
        if not _overlaps((start, end), taken):
            taken.append((start, end))
            canonical, unit = COUNT_NOUNS.get(noun, ("other", noun))
            figures.append(Figure(text[start:end], start, end, value, unit, high, metric=canonical))
    return sorted(figures, key=lambda f: f.start)


# --- context: what a figure measures, which way it moved, over when, and whose it is ---------

_METRIC_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (metric, re.compile(pattern, re.I))
    for metric, pattern in (
        ("ad revenue", r"\b(ad|advertising) (revenue|sales|income)\b"),
        ("GMV", r"\bGMV\b|gross merchandi[sz]e (value|volume)"),
        ("sales target", r"\b(target|goal|forecast|guidance|objective)s?\b"),
        ("market share", r"\bmarket share\b|\bshare of\b"),
        ("valuation", r"\bvaluation\b|\bvalued\b|\bvaluing\b"),
        ("fine", r"\bfine[sd]?\b|\bpenalt(y|ies)\b"),
        ("tariff", r"\btariffs?\b|\bdut(y|ies)\b|\blev(y|ies)\b"),
        ("profit", r"\bprofits?\b|\bnet income\b|\bearnings\b|\boperating income\b"),
        ("revenue", r"\brevenues?\b|\bturnover\b"),
        ("sales", r"\bsales\b|\bsold\b"),
        ("investment", r"\binvest(s|ed|ing|ment|ments)?\b"),
        ("spending", r"\bspen(d|ds|ding|t)\b"),
        ("price", r"\bprices?\b|\bpriced\b|\bcosts?\b"),
        ("orders", r"\borders\b"),
    )
)
_UP = re.compile(
    r"\b(rose|rise[sn]?|rising|up|surged?|surging|jump(ed|s)?|gr[eo]w(n|s|th)?|increas(e|ed|es|ing)|"
    r"climb(ed|s)?|gain(ed|s)?|beat|beats|beating|exceed(ed|s)?|top(ped|s)|doubl(ed|es)|"
    r"tripl(ed|es)|soar(ed|s)?|higher|boost(ed|s)?|rais(e|ed|es)|expand(ed|s)?|record|hire[sd]?|hiring|add(ed|s|ing)?)\b",
    re.I,
)
_DOWN = re.compile(
    r"\b(fell|fall(s|en)?|falling|down|drop(ped|s)?|declin(e|ed|es|ing)|decreas(e|ed|es)|"
    r"sl(id|ump(ed|s)?)|plung(e|ed|es)|miss(ed|es)?|short of|cut(s|ting)?|slash(ed|es)?|"
    r"lower|shr[ai]nk(s)?|shrunk|lost|los(e|es|ing)|lay(s|ing)? off|laid off|layoffs?|"
    r"eliminat(e|ed|es|ing)|reduc(e|ed|es|ing)|weak(er)?)\b",
    re.I,
)
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)"
)
PERIOD = re.compile(
    r"\b(?:year[- ](?:over|on)[- ]year|quarter[- ](?:over|on)[- ]quarter|month[- ]on[- ]month|"
    r"Q[1-4](?:\s?(?:FY)?\d{2,4})?|H[12](?:\s\d{4})?|"
    r"(?:the\s)?(?:first|second|third|fourth|final|last) (?:quarter|half)"
    r"(?: of (?:\d{4}|the year))?|"
    r"(?:fiscal|financial) (?:year )?\d{4}|FY\s?\d{2,4}|"
    r"(?:by|in|since|through) \d{4}|"
    rf"{_MONTH} \d{{1,2}}\s?(?:-|–|to)\s?(?:{_MONTH} )?\d{{1,2}}|"
    r"(?:last|this|next|a) (?:year|quarter|month|week)|(?:annual|annually|per year|a year)|"
    r"Singles Day|Black Friday|Cyber Monday|Prime Day|the holiday (?:season|quarter))\b",
    re.I,
)
_ANAPHORA = re.compile(
    r"\b(the (company|firm|group|platform|retailer|marketplace|app)|its|it)\b", re.I
)


@dataclass(frozen=True, slots=True)
class EntitySpan:
    """A named company in the text: watched (canonical name) or another organisation."""

    start: int
    end: int
    name: str
    watched: bool = False


def _nearest(pattern: re.Pattern[str], sentence: str, at: int, end: int) -> re.Match[str] | None:
    """The match closest to the figure (at..end within the sentence), before or after it."""
    best, distance = None, 10**9
    for m in pattern.finditer(sentence):
        if m.start() < end and m.end() > at:
            continue  # inside the figure itself
        gap = at - m.end() if m.end() <= at else m.start() - end
        if gap < distance:
            best, distance = m, gap
    return best


def _metric(figure: Figure, sentence: str, at: int, end: int) -> str:
    if figure.unit not in ("currency", "percent"):
        return figure.metric
    window = sentence[max(0, at - 90) : end + 60]
    offset = max(0, at - 90)
    scored = []
    for metric, pattern in _METRIC_WORDS:
        m = _nearest(pattern, window, at - offset, end - offset)
        if m is not None:
            gap = (at - offset) - m.end() if m.end() <= at - offset else m.start() - (end - offset)
            scored.append((gap, metric))
    if figure.unit == "percent":
        near = {metric for gap, metric in scored if gap < 40}
        for metric in ("market share", "tariff", "fine", "price", "sales target"):
            if metric in near:
                return metric
        return "growth"
    if not scored:
        return "other"
    metric = min(scored)[1]
    if metric == "sales target" and not any(m in ("sales", "GMV", "revenue") for _, m in scored):
        return min(scored, key=lambda item: (item[1] == "sales target", item[0]))[1]
    return metric


def _change(sentence: str, at: int, end: int) -> str:
    up, down = _nearest(_UP, sentence, at, end), _nearest(_DOWN, sentence, at, end)

    def gap(m: re.Match[str] | None) -> int:
        if m is None:
            return 10**9
        return at - m.end() if m.end() <= at else m.start() - end

    if min(gap(up), gap(down)) > 60:
        return "none"
    return "up" if gap(up) < gap(down) else "down"


def _period(sentence: str, at: int, end: int) -> str | None:
    m = _nearest(PERIOD, sentence, at, end)
    return m.group(0) if m is not None else None


def owner(
    entities: list[EntitySpan],
    sentence: tuple[int, int],
    at: int,
    text: str,
    *,
    prefer_watched: bool = False,
) -> str | None:
    """The company something at ``at`` belongs to, read from its sentence.

    The nearest company before it in the sentence, else the nearest after it;
    when the sentence names none but refers back ("the company", "its"), the
    last company named before the sentence. With ``prefer_watched``, a watched
    company in the sentence wins over others (the regulator fines the retailer).
    """
    start, end = sentence
    inside = [e for e in entities if start <= e.start and e.end <= end]
    if prefer_watched and any(e.watched for e in inside):
        inside = [e for e in inside if e.watched]
    before = [e for e in inside if e.end <= at]
    if before:
        return max(before, key=lambda e: e.end).name
    after = [e for e in inside if e.start >= at]
    if after:
        return min(after, key=lambda e: e.start).name
    if _ANAPHORA.search(text[start:end]):
        earlier = [e for e in entities if e.end <= start]
        if earlier:
            return max(earlier, key=lambda e: e.end).name
    return None


def find_figures(
    text: str, sentences: list[tuple[int, int]], entities: list[EntitySpan]
) -> list[Figure]:
    """Every figure of ``text`` with its metric, change, period, owner and sentence."""
    result = []
    for bare in find_amounts(text):
        start, end = next(((s, e) for s, e in sentences if s <= bare.start < e), (0, len(text)))
        sentence = text[start:end]
        at, stop = bare.start - start, bare.end - start
        figure = Figure(
            bare.text,
            bare.start,
            bare.end,
            bare.value,
            bare.unit,
            bare.value_max,
            bare.currency,
            metric=_metric(bare, sentence, at, stop),
            change=_change(sentence, at, stop),
            period=_period(sentence, at, stop),
            entity=owner(entities, (start, end), bare.start, text),
            sentence=sentence.strip(),
        )
        result.append(figure)
    return result

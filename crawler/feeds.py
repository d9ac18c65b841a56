"""Crawler stage: feed bytes into entries (RSS 0.9x/1.0/2.0, Atom via feedparser; JSON Feed).

Pure: bytes in, entries out. Feedparser is only ever given bytes (given a
string it may open files or URLs) and the feed's own URL as the base for
relative links. A malformed feed keeps its usable entries; the reason is
returned as ``warning``.

Before feedparser sees an XML feed, the bytes are decoded here (byte-order
mark, then the declared charset, checked against the bytes), characters XML
forbids (NUL and other controls) are removed, and the DOCTYPE's internal
subset is dropped, so no entity declared by the document is ever expanded
(billion laughs, quadratic blow-up) or resolved (XXE). Feedparser then gets
UTF-8 that says it is UTF-8.
"""

from __future__ import annotations

import calendar
import codecs
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from crawler.dates import parse_iso
from crawler.urls import absolute, is_http


@dataclass(frozen=True, slots=True)
class FeedEntry:
    url: str
    title: str | None = None
    author: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    summary: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    entries: list[FeedEntry]
    warning: str | None = None
    title: str | None = None


def _struct_to_dt(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _entry(feed_url: str, link: str | None, **fields: Any) -> FeedEntry | None:
    """An entry for ``link`` made absolute against the feed; None when it is not an http(s) URL."""
    if not link or not link.strip():
        return None
    absolute_link = absolute(feed_url, link)
    return FeedEntry(url=absolute_link, **fields) if is_http(absolute_link) else None


def looks_like_json_feed(body: bytes, content_type: str = "") -> bool:
    if "json" in content_type.lower():
        return True
    return body.lstrip()[:1] == b"{"


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# How "<" starts a document in the wider encodings when there is no byte-order mark.
_WIDE_STARTS = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
# Legacy charsets with one byte a character: any byte string decodes, right or wrong.
_SINGLE_BYTE = ("ascii", "latin-1", "iso8859-", "cp125", "koi8-", "mac-")
_WIDE = ("utf-16", "utf-32")
_XML_DECLARATION = re.compile(r"^\s*<\?xml\b[^>]*?\?>")
_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml\b[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
# Characters XML 1.0 forbids: C0 controls but tab, newline and return; U+FFFE, U+FFFF.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_CHARACTER_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));")
_DOCTYPE = re.compile(
    r"(<!DOCTYPE\b[^\[>]*)\[(?:[^\]\"']|\"[^\"]*\"|'[^']*')*\]\s*>", re.IGNORECASE
)
_ENTITY_DECLARATION = re.compile(r"<!ENTITY\b[^>]*>", re.IGNORECASE)
_FIRST_ELEMENT = re.compile(r"<[A-Za-z_:]")


def _codec(name: str | None) -> str | None:
    """Python's name of the charset ``name``, None when it is not a known text encoding."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _byte_order(body: bytes) -> tuple[str, bytes] | None:
    """The encoding a byte-order mark (or a wide ``<``) shows, and the body without the mark."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return encoding, body[len(bom) :]
    for start, encoding in _WIDE_STARTS:
        if body.startswith(start):
            return encoding, body
    return None


def _try_decode(body: bytes, encoding: str) -> str | None:
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_xml(body: bytes, content_type: str = "") -> tuple[str, str | None]:
    """The text of an XML document and, when its bytes contradict its charset, what was done.

    A byte-order mark wins; then the charset of the Content-Type, then the XML
    declaration's (UTF-8 when neither says). UTF-8 bytes declared as a legacy
    one-byte charset are read as UTF-8: such bytes almost never spell legacy text.
    """
    marked = _byte_order(body)
    if marked is not None:
        encoding, rest = marked
        text = rest.decode(encoding, "replace")
        return text, None if "\ufffd" not in text else f"invalid {encoding} bytes replaced"
    match = _DECLARED_ENCODING.match(body)
    said = _charset(content_type) or (match.group(1).decode("ascii") if match else None)
    declared = _codec(said)
    note = f"unknown encoding {said!r}" if said and declared is None else None
    if declared and declared.startswith(_SINGLE_BYTE) and not body.isascii():
        as_utf8 = _try_decode(body, "utf-8")
        if as_utf8 is not None:
            return as_utf8, f"declared as {said}, but the bytes are UTF-8: read as UTF-8"
    candidates = [declared or "utf-8", "utf-8", "cp1252"]
    for encoding in dict.fromkeys(candidates):
        # without a mark (or a wide "<"), the bytes are not UTF-16/32 whatever is declared
        decoded = None if encoding.startswith(_WIDE) else _try_decode(body, encoding)
        if decoded is not None:
            if encoding != candidates[0]:
                note = f"declared as {said or 'utf-8'}, but read as {encoding}"
            return decoded, note
    return body.decode("latin-1"), f"declared as {said or 'utf-8'}, but read as latin-1"


def _allowed_in_xml(code: int) -> bool:
    """Whether XML 1.0 allows the character ``code`` (its production ``Char``)."""
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _forbidden_reference(match: re.Match[str]) -> bool:
    hexadecimal, decimal = match.groups()
    digits = hexadecimal or decimal
    return len(digits) > 8 or not _allowed_in_xml(int(digits, 16 if hexadecimal else 10))


def _drop_forbidden_characters(text: str) -> tuple[str, int]:
    """``text`` without the characters XML forbids, written out or as ``&#…;`` references.

    Feedparser's fallback parser would turn ``&#0;`` into a NUL and fail on ``&#xD800;``.
    """
    text, written = _FORBIDDEN.subn("", text)
    referenced = 0

    def drop(match: re.Match[str]) -> str:
        nonlocal referenced
        if _forbidden_reference(match):
            referenced += 1
            return ""
        return match.group()

    return _CHARACTER_REFERENCE.sub(drop, text), written + referenced


def _root_start(text: str) -> int:
    first = _FIRST_ELEMENT.search(text)
    return first.start() if first else len(text)


def _drop_entity_declarations(text: str) -> tuple[str, bool]:
    """``text`` without its DOCTYPE's internal subset (nor stray ``<!ENTITY``s before the root).

    Only the prolog is touched: a DOCTYPE quoted in an item's text stays as it is.
    """
    cut = text
    doctype = _DOCTYPE.search(cut)
    if doctype and doctype.start() < _root_start(cut):
        cut = cut[: doctype.start()] + doctype.group(1).rstrip() + ">" + cut[doctype.end() :]
    root = _root_start(cut)
    cut = _ENTITY_DECLARATION.sub("", cut[:root]) + cut[root:]
    return cut, cut != text


def _xml_for_feedparser(body: bytes, content_type: str) -> tuple[bytes, str, list[str]]:
    """UTF-8 bytes that declare UTF-8, the content type to say so, and what was repaired."""
    text, note = decode_xml(body, content_type)
    notes = [note] if note else []
    text, forbidden = _drop_forbidden_characters(text)
    if forbidden:
        notes.append(f"{forbidden} character(s) not allowed in XML removed")
    text, dropped = _drop_entity_declarations(text)
    if dropped:
        notes.append("entity declarations ignored (not expanded)")
    declaration = '<?xml version="1.0" encoding="utf-8"?>'
    text, declared = _XML_DECLARATION.subn(declaration, text, count=1)
    if not declared:
        text = f"{declaration}\n{text}"
    if content_type:
        content_type = content_type.split(";")[0].strip() + "; charset=utf-8"
    return text.encode("utf-8"), content_type, notes


def parse_feed(body: bytes, url: str, content_type: str = "") -> ParsedFeed:
    """Entries of the feed in ``body``, with links made absolute against ``url``."""
    if not body.strip():
        return ParsedFeed([], warning="empty body")
    if looks_like_json_feed(body, content_type):
        return parse_json_feed(body, url)
    return _parse_xml_feed(body, url, content_type)


def _parse_xml_feed(body: bytes, url: str, content_type: str) -> ParsedFeed:
    data, content_type, notes = _xml_for_feedparser(body, content_type)
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(data, response_headers=headers, sanitize_html=False)
    language = _text(parsed.feed.get("language"))
    entries = []
    for item in parsed.entries:
        entry = _xml_entry(item, url, language)
        if entry is not None:
            entries.append(entry)
    if parsed.get("bozo"):
        notes.append(f"malformed feed: {parsed.get('bozo_exception')}")
    if not entries and not parsed.get("version"):
        notes = notes or ["not a feed (no RSS, Atom or JSON Feed found)"]
    return ParsedFeed(entries, "; ".join(notes) or None, _text(parsed.feed.get("title")))


def _xml_entry(item: Any, url: str, language: str | None) -> FeedEntry | None:
    link = _text(item.get("link"))
    if not link:
        for candidate in item.get("links", []):
            if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                link = candidate["href"]
                break
    if not link:
        guid = _text(item.get("id"))
        link = guid if guid and guid.startswith("http") else None
    return _entry(
        url,
        link,
        title=_text(item.get("title")),
        author=_text(item.get("author")),
        published=_struct_to_dt(item.get("published_parsed")),
        # read the key only when present: feedparser otherwise maps it to published, with a warning
        updated=_struct_to_dt(item["updated_parsed"]) if "updated_parsed" in item else None,
        summary=_text(item.get("summary")),
        language=language,
    )


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """A JSON Feed (1.0/1.1); items with wrong types are dropped and counted in the warning."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return ParsedFeed([], warning=f"invalid JSON feed: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        return ParsedFeed([], warning="JSON feed has no items list")
    language = _text(data.get("language"))
    entries, dropped = [], 0
    for item in data["items"]:
        entry = _json_entry(item, url, language) if isinstance(item, dict) else None
        if entry is None:
            dropped += 1
        else:
            entries.append(entry)
    warning = f"{dropped} JSON feed item(s) without a usable url" if dropped else None
    return ParsedFeed(entries, warning, _text(data.get("title")))


def _json_author(item: dict[str, Any]) -> str | None:
    authors = item.get("authors")
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        return _text(authors[0].get("name"))
    author = item.get("author")
    return _text(author.get("name")) if isinstance(author, dict) else None


def _json_entry(item: dict[str, Any], url: str, language: str | None) -> FeedEntry | None:
    link = item.get("url") if isinstance(item.get("url"), str) else item.get("external_url")
    return _entry(
        url,
        link if isinstance(link, str) else None,
        title=_text(item.get("title")),
        author=_json_author(item),
        published=parse_iso(item.get("date_published")),
        updated=parse_iso(item.get("date_modified")),
        summary=_text(item.get("summary")),
        language=_text(item.get("language")) or language,
    )

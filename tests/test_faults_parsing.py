"""Fault injection on the pure parsing stages.

9: hostile XML (XXE, entity expansion, external DTDs) in feeds and sitemaps reads no file,
expands nothing, fetches nothing and stays fast. 10: malformed feeds keep their usable
entries and say why. 20: property-based fuzzing of every parser, of ``canonicalize`` and of
the article dedup key (canonical URL and content hash).
"""

from __future__ import annotations

import html
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from crawler.dates import parse_iso
from crawler.extract import ExtractedPage, ExtractError, extract_article
from crawler.feeds import ParsedFeed, parse_feed
from crawler.listings import article_links, compile_patterns, next_page
from crawler.sitemaps import ParsedSitemap, parse_sitemap
from crawler.urls import canonicalize, is_http
from storage.articles import content_hash

BASE = "http://news.test"
SECRET = "shopwatch-secret-5b7e1d"  # the content of the local file the XXE payloads point at
MAX_FIELD = 4096  # "a few KB": no parsed field may be longer (nothing expands)
PARSE_SECONDS = 1.0

# --- hostile documents ---------------------------------------------------------------

DocMaker = Callable[[str, str], str]  # (DOCTYPE, entity reference) -> document after the prolog


def _rss(doctype: str, ref: str) -> str:
    return (
        f'{doctype}<rss version="2.0"><channel><title>Channel {ref}</title>'
        f"<description>About {ref}</description><item><title>Title {ref}</title>"
        f"<link>http://news.test/a/1?q={ref}</link><description>Summary {ref}</description>"
        f"<author>x@news.test (Ann {ref})</author></item></channel></rss>"
    )


def _atom(doctype: str, ref: str) -> str:
    return (
        f'{doctype}<feed xmlns="http://www.w3.org/2005/Atom"><title>Feed {ref}</title>'
        f"<id>urn:x</id><updated>2026-11-01T00:00:00Z</updated><entry><title>Title {ref}</title>"
        f'<link rel="alternate" href="http://news.test/a/1?q={ref}"/><id>urn:a:{ref}</id>'
        f"<updated>2026-11-02T10:00:00Z</updated><summary>Summary {ref}</summary>"
        f"<author><name>Ann {ref}</name></author></entry></feed>"
    )


def _urlset(doctype: str, ref: str) -> str:
    return (
        f'{doctype}<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"<url><loc>http://news.test/a/1?q={ref}</loc><lastmod>2026-11-01{ref}</lastmod>"
        f"<news:news><news:title>Title {ref}</news:title><news:language>en{ref}</news:language>"
        "</news:news></url></urlset>"
    )


def _sitemapindex(doctype: str, ref: str) -> str:
    return (
        f'{doctype}<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>http://news.test/a/1?q={ref}</loc><lastmod>2026-11-02{ref}</lastmod>"
        "</sitemap></sitemapindex>"
    )


KINDS: dict[str, DocMaker] = {
    "rss": _rss,
    "atom": _atom,
    "urlset": _urlset,
    "sitemapindex": _sitemapindex,
}
ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")  # UTF-16 with its byte-order mark and declared


def _encoded(document: str, encoding: str) -> bytes:
    if encoding == "utf-8":
        return f'<?xml version="1.0" encoding="utf-8"?>{document}'.encode()
    text = f'<?xml version="1.0" encoding="UTF-16"?>{document}'
    return ("\ufeff" + text).encode(encoding)


Parsed = ParsedFeed | ParsedSitemap


def _parse(kind: str, body: bytes) -> Parsed:
    if kind == "rss":
        return parse_feed(body, f"{BASE}/rss.xml", "application/rss+xml")
    if kind == "atom":
        return parse_feed(body, f"{BASE}/atom.xml")  # no Content-Type: feedparser must cope
    return parse_sitemap(body, f"{BASE}/sitemap.xml")


def _strings(parsed: Parsed) -> list[str]:
    """Every string the parse produced: its own fields and those of each entry."""
    values: list[Any] = [getattr(parsed, f.name) for f in fields(parsed)]
    for entry in parsed.entries:
        values += [getattr(entry, f.name) for f in fields(entry)]
    return [v for v in values if isinstance(v, str)]


def _timed_parse(kind: str, body: bytes) -> tuple[Parsed, float]:
    start = time.perf_counter()
    parsed = _parse(kind, body)
    return parsed, time.perf_counter() - start


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(f"{SECRET}\nroot:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    return path


def _xxe(target: str) -> str:
    return f'<!DOCTYPE r [<!ENTITY x SYSTEM "file://{target}">]>'


def _billion_laughs(levels: int) -> str:
    """Nested entities, each ten of the one before: ``&l{levels};`` is 10**levels laughs."""
    declarations = ['<!ENTITY l0 "lollollollollollollollollollol">']
    declarations += [f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, levels + 1)]
    return f"<!DOCTYPE r [{''.join(declarations)}]>"


QUADRATIC = f'<!DOCTYPE r [<!ENTITY a "{"A" * 50_000}">]>'  # no nesting: one big entity, used often

EXPANSIONS = {
    # expat stops this one at its amplification limit (after ~8 MB of work)
    "billion-laughs": (_billion_laughs(9), "&l9;"),
    # small enough to stay under expat's limit: 3 MB of laughs per field if expanded
    "laughs-under-expat-limit": (_billion_laughs(5), "&l5;"),
    "quadratic-blowup": (QUADRATIC, "&a;" * 100),
}


@pytest.mark.fault(9)
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_external_entities_read_no_file(kind: str, encoding: str, secret_file: Path) -> None:
    for target, marker in ((str(secret_file), SECRET), ("/etc/passwd", "root:")):
        body = _encoded(KINDS[kind](_xxe(target), "&x;"), encoding)
        parsed, seconds = _timed_parse(kind, body)
        strings = _strings(parsed)
        assert not [s for s in strings if marker in s], (target, strings)
        assert seconds < PARSE_SECONDS
        # the usable part of the document is still read
        assert [e.url.split("?")[0] for e in parsed.entries] == ["http://news.test/a/1"]


@pytest.mark.fault(9)
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_the_xxe_payload_is_live_for_a_parser_that_resolves(
    encoding: str, secret_file: Path
) -> None:
    """Control: the same bytes do leak the file through a parser told to resolve entities."""
    body = _encoded(_rss(_xxe(str(secret_file)), "&x;"), encoding)
    naive = etree.XMLParser(resolve_entities=True, no_network=True, load_dtd=True)
    assert SECRET in etree.tostring(etree.fromstring(body, parser=naive), encoding="unicode")


@pytest.mark.fault(9)
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("attack", list(EXPANSIONS))
def test_entity_expansion_is_not_performed(kind: str, encoding: str, attack: str) -> None:
    doctype, ref = EXPANSIONS[attack]
    body = _encoded(KINDS[kind](doctype, ref), encoding)
    parsed, seconds = _timed_parse(kind, body)
    longest = max(map(len, _strings(parsed)), default=0)
    assert longest <= MAX_FIELD, f"{attack}: a field of {longest} characters"
    assert seconds < PARSE_SECONDS, f"{attack}: {seconds:.2f} s"
    assert [e.url.split("?")[0] for e in parsed.entries] == ["http://news.test/a/1"]


@dataclass
class ConnectionRecorder:
    """A loopback TCP server that notes every connection (and answers a tiny DTD)."""

    server: socket.socket
    connections: list[tuple[str, int]]

    @property
    def port(self) -> int:
        return int(self.server.getsockname()[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def recorder() -> Iterator[ConnectionRecorder]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    found = ConnectionRecorder(server, [])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except TimeoutError:
                continue
            found.connections.append(peer)
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n<!ENTITY x 'FETCHED'>")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield found
    stop.set()
    thread.join(timeout=5)
    server.close()


def _network_doctypes(base: str) -> dict[str, str]:
    return {
        "parameter-entity": f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{base}/p.dtd"> %p;]>',
        "external-dtd": f'<!DOCTYPE r SYSTEM "{base}/r.dtd">',
        "public-dtd": f'<!DOCTYPE r PUBLIC "-//Shop//DTD Feed//EN" "{base}/pub.dtd">',
        "external-entity": f'<!DOCTYPE r [<!ENTITY x SYSTEM "{base}/x">]>',
    }


@pytest.mark.fault(9)
def test_external_dtds_and_parameter_entities_fetch_nothing(recorder: ConnectionRecorder) -> None:
    for name, doctype in _network_doctypes(recorder.base).items():
        for kind, make in KINDS.items():
            for encoding in ENCODINGS:
                parsed, seconds = _timed_parse(kind, _encoded(make(doctype, "&x;"), encoding))
                assert not [s for s in _strings(parsed) if "FETCHED" in s], (name, kind)
                assert seconds < PARSE_SECONDS, (name, kind, encoding)
        page = (
            f"{doctype}<html><body><article><p>{'Temu grew. ' * 40}&x;</p></article></body></html>"
        )
        extracted = extract_article(page, f"{BASE}/a/1")
        assert "FETCHED" not in extracted.text
    time.sleep(0.2)  # a late connection would still be seen
    assert recorder.connections == []
    # control: the recorder does see a connection when one is made
    with socket.create_connection(("127.0.0.1", recorder.port), timeout=2):
        pass
    deadline = time.monotonic() + 5
    while not recorder.connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(recorder.connections) == 1


# --- malformed feeds -------------------------------------------------------------------

ITEMS = (
    "<item><title>Café 1</title><link>http://news.test/a/1</link></item>"
    "<item><title>Café 2</title><link>http://news.test/a/2</link></item>"
)


def _feed(declaration: str = '<?xml version="1.0"?>') -> str:
    return f'{declaration}<rss version="2.0"><channel><title>Ch</title>{ITEMS}</channel></rss>'


def _declared(encoding: str) -> str:
    return f'<?xml version="1.0" encoding="{encoding}"?>'


WRONG_ENCODINGS = {
    "declared utf-8, bytes latin-1": (_feed(_declared("utf-8")).encode("latin-1"), ""),
    "header utf-8, bytes latin-1": (
        _feed().encode("latin-1"),
        "application/rss+xml; charset=utf-8",
    ),
    "declared iso-8859-1, bytes utf-8": (_feed(_declared("iso-8859-1")).encode(), ""),
    "header iso-8859-1, bytes utf-8": (
        _feed(_declared("utf-8")).encode(),
        "application/rss+xml; charset=ISO-8859-1",
    ),
    "declared windows-1252, bytes utf-8": (_feed(_declared("windows-1252")).encode(), ""),
    "declared utf-16, bytes utf-8": (_feed(_declared("utf-16")).encode(), "text/xml"),
    "declared an unknown encoding": (_feed(_declared("x-klingon")).encode(), ""),
}


@pytest.mark.fault(10)
@pytest.mark.parametrize("case", list(WRONG_ENCODINGS))
def test_wrong_declared_encoding_keeps_the_entries_and_says_why(case: str) -> None:
    body, content_type = WRONG_ENCODINGS[case]
    parsed = parse_feed(body, f"{BASE}/rss.xml", content_type)
    assert [(e.url, e.title) for e in parsed.entries] == [
        ("http://news.test/a/1", "Café 1"),
        ("http://news.test/a/2", "Café 2"),
    ]
    assert parsed.warning and ("declared" in parsed.warning or "encoding" in parsed.warning)


@pytest.mark.fault(10)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_feed().encode(), id="utf-8 without declared encoding"),
        pytest.param(("\ufeff" + _feed()).encode("utf-16-le"), id="utf-16 bom only"),
        pytest.param(("\ufeff" + _feed()).encode("utf-16-be"), id="utf-16-be bom only"),
        pytest.param(_feed().encode("utf-16-le"), id="utf-16 without bom"),
        pytest.param(b"\xef\xbb\xbf" + _feed(_declared("utf-8")).encode(), id="utf-8 bom"),
    ],
)
def test_undeclared_encodings_follow_the_xml_rules(body: bytes) -> None:
    """No Content-Type and no declared encoding: the byte-order mark, else UTF-8, decides."""
    parsed = parse_feed(body, f"{BASE}/rss.xml")
    assert [e.title for e in parsed.entries] == ["Café 1", "Café 2"]


NUL_CASES = {
    "in a title": _feed().replace("Café 1", "Caf\x00é 1"),
    "in a link": _feed().replace("a/1<", "a/\x001<"),
    "between elements": _feed().replace("</item><item>", "</item>\x00\x00<item>"),
    "other controls": _feed().replace("Café 1", "Café\x0b\x1f 1").replace("Ch<", "C\x08h<"),
    # feedparser's fallback parser made NULs of some and raised on the others
    "as character references": _feed().replace(
        "Café 1", "Caf&#0;é&#xD800; 1&#x110000;&#99999999999;"
    ),
}


@pytest.mark.fault(10)
@pytest.mark.parametrize("case", list(NUL_CASES))
@pytest.mark.parametrize("content_type", ["", "application/rss+xml"])
def test_nul_and_control_bytes_are_removed_and_reported(case: str, content_type: str) -> None:
    parsed = parse_feed(NUL_CASES[case].encode(), f"{BASE}/rss.xml", content_type)
    assert [(e.url, e.title) for e in parsed.entries] == [
        ("http://news.test/a/1", "Café 1"),
        ("http://news.test/a/2", "Café 2"),
    ]
    assert parsed.warning and "removed" in parsed.warning


@pytest.mark.fault(10)
def test_nul_bytes_in_an_atom_feed() -> None:
    body = ATOM_FEED.replace(b"<title>Rel", b"<title>R\x00el").replace(b"/story/", b"/st\x00ory/")
    parsed = parse_feed(body, f"{BASE}/atom.xml", "application/atom+xml")
    assert [(e.url, e.title) for e in parsed.entries] == [("http://news.test/story/rel", "Rel")]
    assert parsed.warning


ATOM_FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
    b"<title>W</title><id>x</id><updated>2026-11-01T00:00:00Z</updated><entry><title>Rel</title>"
    b'<link rel="alternate" href="/story/rel"/><id>r</id><updated>2026-11-02T10:00:00Z</updated>'
    b"</entry></feed>"
)


@pytest.mark.fault(10)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"\xef\xbb\xbf", id="utf-8 bom"),
        pytest.param(b"\xff\xfe", id="utf-16 bom"),
        pytest.param(b"\x00" * 16, id="nul bytes"),
        pytest.param(b"<?xml version='1.0'?>", id="declaration only"),
    ],
)
def test_an_empty_or_contentless_body_yields_nothing_and_says_why(body: bytes) -> None:
    for content_type in ("", "application/rss+xml"):
        parsed = parse_feed(body, f"{BASE}/rss.xml", content_type)
        assert parsed.entries == []
        assert parsed.warning


@pytest.mark.fault(10)
@pytest.mark.parametrize("content_type", ["", "application/rss+xml", "text/html; charset=utf-8"])
def test_html_served_as_a_feed_under_any_content_type(content_type: str) -> None:
    page = b"<!DOCTYPE html><html><head><title>Shop</title></head><body>"
    page += b'<a href="/news/1">One</a><p>Caf\xc3\xa9 &nbsp; <br> unclosed <div></body></html>'
    parsed = parse_feed(page, f"{BASE}/rss.xml", content_type)
    assert parsed.entries == []
    assert parsed.warning


JSON_CASES: dict[str, tuple[bytes, list[str]]] = {
    "items is an object": (b'{"items": {"url": "/a/1"}}', []),
    "top level is a list": (b'[{"url": "/a/1"}]', []),
    "top level is a string": (b'"items"', []),
    "invalid JSON": (b'{"items": [', []),
    "invalid UTF-8": (b'{"items": [{"url": "/a/\xff"}]}', []),
    "nested too deep": (b'{"items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", []),
    "fields of the wrong type": (
        json.dumps(
            {
                "title": 5,
                "language": ["en"],
                "items": [
                    {
                        "url": "/a/1",
                        "title": {"t": 1},
                        "date_published": 20261103,
                        "date_modified": [],
                        "authors": "Ann",
                        "author": ["x"],
                        "summary": 3.5,
                        "language": None,
                    },
                    {"url": ["/a/2"], "external_url": "/a/3"},
                    {"url": "http://[bad-ipv6/x"},
                    {"url": "http://news.test:99999/x"},
                    {"url": "javascript:alert(1)"},
                    {
                        "url": "/a/4",
                        "authors": [None, 1],
                        "date_published": "0001-01-01T00:00+05:00",
                    },
                ],
            }
        ).encode(),
        ["http://news.test/a/1", "http://news.test/a/3", "http://news.test/a/4"],
    ),
}


@pytest.mark.fault(10)
@pytest.mark.parametrize("case", list(JSON_CASES))
def test_json_feed_with_wrong_types_or_shapes_never_raises(case: str) -> None:
    body, urls = JSON_CASES[case]
    parsed = parse_feed(body, f"{BASE}/feed.json", "application/feed+json")
    assert [e.url for e in parsed.entries] == urls
    assert parsed.warning
    assert all(e.published is None for e in parsed.entries)


SITEMAP = (
    '<?xml version="1.0" encoding="utf-8"?><urlset '
    'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
    'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
    "<url><loc>http://news.test/a/1</loc><news:news><news:title>Café</news:title></news:news></url>"
    "<url><loc>http://news.test/a/2</loc></url></urlset>"
)


@pytest.mark.fault(10)
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(SITEMAP.encode("latin-1"), id="declared utf-8, bytes latin-1"),
        pytest.param(SITEMAP.replace("a/1<", "a/1\x00<").encode(), id="nul byte"),
        pytest.param(SITEMAP.encode()[:-12], id="unclosed"),
    ],
)
def test_malformed_sitemap_keeps_entries_and_says_why(body: bytes) -> None:
    parsed = parse_sitemap(body, f"{BASE}/sitemap.xml")
    assert [e.url for e in parsed.entries] == ["http://news.test/a/1", "http://news.test/a/2"]
    assert parsed.warning and parsed.warning.startswith("malformed sitemap")


# --- property-based fuzzing ---------------------------------------------------------------

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

T = TypeVar("T", str, bytes)

ODD_URLS = [
    "http://news.test/news/2026/a",
    "/news/2026/b?utm_source=x&id=2#f",
    "//cdn.test/news/1",
    "news/2026/rel",
    "HTTPS://News.TEST:443/news/2026/c?UTM_Medium=m",
    "http://[::1]:8080/news/",
    "http://[",
    "http://[::1",
    "http://]x/",
    "http://a:99999/news/",
    "http://a:x/news/",
    "http://a:-1/",
    "http://a:/news/",
    "javascript:alert(1)",
    "mailto:x@y.test",
    "data:text/html,x",
    "file:///etc/passwd",
    "",
    "   ",
    "http://user:pw@Host.test/news/",
    "http://@host.test/news/",
    "http://ex\u00e4mple.test/news/",
    "http://\uff21.test/news",
    "http://a\u2100b/news",
    "http://a/news/\x00",
    "http://a/%zz?%zz=%zz",
    "?page=2",
    "#top",
    "http://a/x ?utm_source=1",
    "http://a/x #frag",
    "http://a/p?b=2&a=1&a=3&fbclid=1",
    "http://a/p?q=a+b&r=%2B&s",
    "http://a/p?x=1;y=2",
    "http://[fe80::1%25eth0]/news",
    "http://1.2.3.4:80/news",
    "\thttp://tab.test/news\n",
    "http://a.test/\u0130stanbul",
]
url_text = st.one_of(
    st.sampled_from(ODD_URLS),
    st.text("abcxyz0189-._~%/?=&#:;+@ ", max_size=20).map("http://news.test/news/".__add__),
    st.text(max_size=40),
    st.builds(str.__add__, st.sampled_from(ODD_URLS), st.text(max_size=12)),
    st.builds(str.__add__, st.text(max_size=12), st.sampled_from(ODD_URLS)),
)
DATES = [
    "2026-11-03",
    "2026-11-03T10:00:00+0100",
    "2026-11-03T10:00:00Z",
    "Tue, 12 Nov 2026 08:30:00 GMT",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "2026-13-45",
    "yesterday",
]
MARKUP = [
    "&amp;",
    "&x;",
    "&#0;",
    "&#xD800;",
    "&nbsp;",
    "<![CDATA[<b>x</b>]]>",
    "]]>",
    "<!--",
    "\x00",
    "\ufeff",
    "\ufffe",
    "<b>bold</b>",
]
SENTENCE = "Temu expanded into Kenya this week, the company said on Tuesday. "


def _escaped(text: str) -> str:
    return html.escape(text, quote=True)


# text and attribute values: mostly escaped (they reach the parser), sometimes raw markup
text_value = st.one_of(st.text(max_size=30).map(_escaped), st.sampled_from(MARKUP))
url_value = st.one_of(url_text.map(_escaped), st.sampled_from(MARKUP))
date_value = st.one_of(st.sampled_from(DATES), st.text(max_size=25).map(_escaped))
lang_value = st.one_of(st.sampled_from(["en", "de-DE", "EN_gb", "", "x" * 40]), text_value)


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[T], pieces: st.SearchStrategy[T]) -> T:
    """A document cut, spliced, trimmed or repeated at random places."""
    doc = draw(documents)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(doc)))
        operation = draw(st.sampled_from(["cut", "insert", "delete", "repeat"]))
        if operation == "cut":
            doc = doc[:at]
        elif operation == "insert":
            doc = doc[:at] + draw(pieces) + doc[at:]
        elif operation == "delete":
            doc = doc[:at] + doc[at + draw(st.integers(1, 20)) :]
        else:
            doc = doc[:at] + doc[at : at + 40] * draw(st.integers(2, 4)) + doc[at:]
    return doc


def _many(part: st.SearchStrategy[str], most: int = 4) -> st.SearchStrategy[str]:
    return st.lists(part, max_size=most).map("".join)


# --- XML: feeds and sitemaps as they are built, then broken

PROLOGS = [
    "",
    '<?xml version="1.0"?>',
    '<?xml version="1.0" encoding="iso-8859-1"?>',
    '<?xml version="1.0" encoding="utf-16"?>',
    '<?xml version="1.0" encoding="nope"?>',
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    '<?xml version="1.0"?>' + _billion_laughs(3),
    "<!DOCTYPE rss PUBLIC '-//Netscape Communications//DTD RSS 0.91//EN' 'x.dtd'>",
    "\ufeff",
]
rss_item = st.builds(
    "<item><title>{}</title><link>{}</link><guid>{}</guid><pubDate>{}</pubDate>"
    "<description>{}</description><author>{}</author></item>".format,
    text_value,
    url_value,
    url_value,
    date_value,
    text_value,
    text_value,
)
rss = st.builds(
    '<rss version="2.0"><channel><title>{}</title><language>{}</language>{}</channel></rss>'.format,
    text_value,
    lang_value,
    _many(rss_item),
)
atom_entry = st.builds(
    '<entry><title>{}</title><link rel="{}" href="{}"/><id>{}</id><published>{}</published>'
    "<updated>{}</updated><summary>{}</summary><author><name>{}</name></author></entry>".format,
    text_value,
    st.sampled_from(["alternate", "self", "enclosure", ""]),
    url_value,
    url_value,
    date_value,
    date_value,
    text_value,
    text_value,
)
atom = st.builds(
    '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{}" xml:base="{}"><title>{}</title>'
    "{}</feed>".format,
    lang_value,
    url_value,
    text_value,
    _many(atom_entry),
)
sitemap_url = st.builds(
    "<url><loc>{}</loc><lastmod>{}</lastmod><news:news><news:publication_date>{}"
    "</news:publication_date><news:title>{}</news:title><news:language>{}</news:language>"
    "</news:news></url>".format,
    url_value,
    date_value,
    date_value,
    text_value,
    lang_value,
)
urlset = _many(sitemap_url).map(
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
    'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{}</urlset>'.format
)
sitemap_index = _many(
    st.builds("<sitemap><loc>{}</loc><lastmod>{}</lastmod></sitemap>".format, url_value, date_value)
).map('<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{}</sitemapindex>'.format)


def _element(tag: str, attributes: list[tuple[str, str]], children: list[str]) -> str:
    attrs = "".join(f' {name}="{_escaped(value)}"' for name, value in attributes)
    return f"<{tag}{attrs}>{''.join(children)}</{tag}>"


def _tree(
    tags: list[str], names: list[str], values: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    """Any nesting of ``tags`` with random attributes and text: the shapes nobody planned."""
    return st.recursive(
        text_value,
        lambda children: st.builds(
            _element,
            st.sampled_from(tags),
            st.lists(st.tuples(st.sampled_from(names), values), max_size=3),
            st.lists(children, max_size=4),
        ),
        max_leaves=20,
    )


XML_TAGS = ["rss", "channel", "item", "title", "link", "guid", "entry", "feed", "id"]
XML_TAGS += ["urlset", "url", "loc", "lastmod", "sitemap", "sitemapindex", "news:title", ":"]
any_xml = _tree(XML_TAGS, ["href", "rel", "xml:lang", "xml:base", "xmlns"], url_text)
xml_documents = st.builds(
    lambda prolog, document, encoding: (prolog + document).encode(encoding, "xmlcharrefreplace"),
    st.sampled_from(PROLOGS),
    st.one_of(rss, atom, urlset, sitemap_index, any_xml),
    st.sampled_from(["utf-8", "utf-8", "latin-1", "cp1252", "utf-16"]),
)
fuzzed_xml = st.one_of(
    st.binary(max_size=1024),
    st.text(max_size=512).map(str.encode),
    xml_documents,
    mutated(xml_documents, st.binary(max_size=16)),
)
CONTENT_TYPES = [
    "",
    "application/rss+xml",
    "application/atom+xml; charset=iso-8859-1",
    "text/xml",
    "text/html; charset=utf-8",
    "application/feed+json",
    "application/xml; charset=utf-16",
    "application/xml; charset=bogus",
]


def _check_parsed(parsed: Parsed) -> None:
    assert all(is_http(e.url) for e in parsed.entries)
    assert max(map(len, _strings(parsed)), default=0) <= 100_000
    for entry in parsed.entries:
        for moment in (getattr(entry, name, None) for name in ("published", "updated", "lastmod")):
            if moment is not None:
                moment.astimezone(UTC)  # storable: it has a time in UTC


@pytest.mark.fault(20)
@FUZZ
@given(body=fuzzed_xml, content_type=st.sampled_from(CONTENT_TYPES))
# found by hypothesis: feedparser's fallback parser raised on the reference to a surrogate
@example(body=b'<rss version="2.0"><channel><item><title>&#xD800;', content_type="")
@example(body=b'<rss version="2.0"><item><link>http://[</link></item></rss>', content_type="")
def test_parse_feed_never_raises_on_any_bytes(body: bytes, content_type: str) -> None:
    parsed = parse_feed(body, f"{BASE}/feed.xml", content_type)
    assert isinstance(parsed, ParsedFeed)
    _check_parsed(parsed)


JSON_KEYS = ["url", "external_url", "title", "date_published", "date_modified", "authors"]
JSON_KEYS += ["author", "name", "summary", "language", "items", "version"]
json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(ODD_URLS)
    | st.sampled_from(DATES),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(JSON_KEYS),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
json_item = st.fixed_dictionaries(
    {},
    optional={
        "url": st.one_of(url_text, json_value),
        "external_url": url_text,
        "title": json_value,
        "date_published": st.one_of(st.sampled_from(DATES), json_value),
        "date_modified": st.sampled_from(DATES),
        "authors": json_value,
        "author": json_value,
        "summary": json_value,
        "language": json_value,
    },
)


@pytest.mark.fault(20)
@settings(FUZZ, max_examples=80)
@given(
    feed=st.dictionaries(st.sampled_from(["title", "language", "version"]), json_value),
    items=st.lists(st.one_of(json_item, json_value), max_size=5),
)
def test_parse_feed_never_raises_on_any_json_feed(feed: dict[str, Any], items: list[Any]) -> None:
    body = json.dumps({**feed, "items": items}).encode()
    parsed = parse_feed(body, f"{BASE}/feed.json", "application/feed+json")
    _check_parsed(parsed)
    assert len(parsed.entries) <= len(items)


@pytest.mark.fault(20)
@FUZZ
@given(body=fuzzed_xml)
@example(body=b"<:>")  # found by hypothesis: etree.QName refused the tag ":"
@example(body=b"<urlset><url>&#xD800;")  # found by hypothesis: reading the text raised
def test_parse_sitemap_never_raises_on_any_bytes(body: bytes) -> None:
    parsed = parse_sitemap(body, f"{BASE}/sitemap.xml")
    assert parsed.kind in ("urlset", "sitemapindex", "unknown")
    assert parsed.entries == [] or parsed.kind != "unknown"
    _check_parsed(parsed)


# --- HTML: listing and article pages as they are built, then broken

anchor = st.builds(
    '<a href="{}"{}>{}</a>'.format,
    url_value,
    st.sampled_from(["", ' rel="next"', ' rel="nofollow next"', ' rel="NEXT"', ' rel=""']),
    text_value,
)
listing = st.builds(
    "<html><head>{}{}</head><body>{}</body></html>".format,
    st.one_of(st.just(""), url_value.map('<base href="{}">'.format)),
    st.one_of(st.just(""), url_value.map('<link rel="next" href="{}">'.format)),
    _many(anchor, 8),
)
json_ld = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(DATES)
    | st.sampled_from(["NewsArticle", "Person", "WebSite", "https://x.test/p"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["@type", "@graph", "headline", "name", "author", "datePublished"])
            | st.sampled_from(["publisher", "inLanguage", "description"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=15,
).map(lambda data: f'<script type="application/ld+json">{json.dumps(data)}</script>')
META_KEYS = ["og:title", "og:locale", "og:site_name", "description", "author"]
META_KEYS += ["article:author", "article:published_time", "date", "dc.date"]
meta = st.builds(
    '<meta {}="{}" content="{}">'.format,
    st.sampled_from(["property", "name", "itemprop"]),
    st.sampled_from(META_KEYS),
    st.one_of(url_value, date_value, text_value),
)
article = st.builds(
    '<html lang="{}"><head><title>{}</title><link rel="canonical" href="{}">{}{}</head><body>'
    '<h1>{}</h1><div class="byline">{}</div><time datetime="{}">x</time><article>{}</article>'
    "</body></html>".format,
    lang_value,
    text_value,
    url_value,
    _many(meta),
    _many(json_ld, 2),
    text_value,
    text_value,
    date_value,
    _many(st.one_of(st.just(SENTENCE * 3), text_value).map("<p>{}</p>".format), 8),
)
HTML_TAGS = ["html", "head", "body", "title", "article", "p", "div", "h1", "a", "link", "base"]
HTML_TAGS += ["meta", "time", "nav", "script", "table", "td", "li", "b"]
HTML_ATTRIBUTES = ["href", "rel", "class", "content", "property", "name", "datetime", "lang"]
any_html = _tree(HTML_TAGS, HTML_ATTRIBUTES, st.one_of(url_text, st.sampled_from(DATES)))
html_documents = st.builds(
    str.__add__,
    st.sampled_from(["", "<!DOCTYPE html>", '<?xml version="1.0"?>', PROLOGS[5], "\ufeff"]),
    st.one_of(listing, article, any_html),
)
fuzzed_html = st.one_of(
    st.text(max_size=512),
    st.binary(max_size=512).map(lambda b: b.decode("utf-8", "replace")),
    html_documents,
    mutated(html_documents, st.text(max_size=16)),
)
PAGE_URLS = ["http://news.test/latest", "https://news.test/a/1?utm_source=x#top", "http://[::1]:8/"]


@pytest.mark.fault(20)
@FUZZ
@given(page=fuzzed_html, base=st.sampled_from(PAGE_URLS))
# found by hypothesis: the bad IPv6 literal and port raised, and libxml2 made bytes of &#xD800;
@example(page='<a href="http://[">x</a><a href="http://a:99999/news/">y</a>', base=PAGE_URLS[0])
@example(page='<?xml ><base href="&#xD800;"', base=PAGE_URLS[0])
def test_listing_pages_never_raise_and_give_canonical_http_links(page: str, base: str) -> None:
    links = article_links(page, base, compile_patterns([r"/news/", r"."]))
    assert all(is_http(u) and canonicalize(u) == u for u in links)
    assert len(links) == len(set(links))
    following = next_page(page, base)
    assert following is None or is_http(following)


def _extract_or_none(page: str | bytes, url: str, min_chars: int) -> ExtractedPage | None:
    """The page, or None for the refusals the spider expects (ExtractError and NotAnArticle)."""
    try:
        return extract_article(page, url, min_text_chars=min_chars)
    except ExtractError:
        return None


@pytest.mark.fault(20)
@FUZZ
@given(
    page=st.one_of(
        article,
        mutated(article, st.text(max_size=16)),
        fuzzed_html,
        fuzzed_html.map(str.encode),
        st.binary(max_size=512),
    ),
    url=st.sampled_from(PAGE_URLS),
    min_chars=st.sampled_from([1, 40, 200]),
)
def test_extract_article_raises_nothing_but_extract_errors(
    page: str | bytes, url: str, min_chars: int
) -> None:
    extracted = _extract_or_none(page, url, min_chars)
    if extracted is not None:
        assert len(extracted.text) >= min_chars and extracted.title
        assert is_http(extracted.canonical_url)
        assert canonicalize(extracted.canonical_url) == extracted.canonical_url
        if extracted.published_at is not None:
            extracted.published_at.astimezone(UTC)  # storable: it has a time in UTC


# --- URLs and the dedup key


@pytest.mark.fault(20)
@settings(FUZZ, max_examples=400)
@given(url=url_text)
@example(url="http://a/x ?utm_source=1")  # found by hypothesis: "http://a/x " then "http://a/x"
@example(url="http://a\u2100b/news")  # found by hypothesis: urlsplit raised (NFKC)
def test_canonicalize_never_raises_and_is_idempotent(url: str) -> None:
    once = canonicalize(url)
    assert canonicalize(once) == once
    if is_http(once):
        assert "#" not in once and "utm_" not in once.split("?", 1)[-1].lower()


hosts = st.lists(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8), min_size=1, max_size=3
).map(".".join)
segments = st.text("abcdefghijklmnopqrstuvwxyzABC0123456789-_.~%20", max_size=10)
params = st.lists(
    st.tuples(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=6), segments), max_size=3
).filter(lambda ps: not any(k.startswith(("utm_", "mc_", "pk_", "mtm_")) for k, _ in ps))
tracking = st.lists(
    st.tuples(
        st.sampled_from(["utm_source", "UTM_Medium", "utm_campaign", "fbclid", "gclid", "mc_eid"]),
        segments,
    ),
    max_size=3,
)


@st.composite
def one_article_many_links(draw: st.DrawFn) -> tuple[str, str]:
    """The plain URL of an article, and the same article as a link in the wild might give it."""
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(hosts)
    path = "/" + "/".join(draw(st.lists(segments, max_size=3)))
    query = draw(params)
    plain_query = "&".join(f"{k}={v}" for k, v in query)
    plain = f"{scheme}://{host}{path}" + (f"?{plain_query}" if plain_query else "")
    mixed = list(query)
    for item in draw(tracking):
        mixed.insert(draw(st.integers(0, len(mixed))), item)
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in f"{scheme}://{host}")
    port = draw(st.sampled_from(["", ":80" if scheme == "http" else ":443"]))
    fragment = draw(st.sampled_from(["", "#", "#top", "#comments?x=1"]))
    space = draw(st.sampled_from(["", " ", "\n", "\t "]))
    query_text = "&".join(f"{k}={v}" for k, v in mixed)
    link = f"{space}{cased}{port}{path}{'?' + query_text if query_text else ''}{fragment}{space}"
    return plain, link


@pytest.mark.fault(20)
@settings(FUZZ, max_examples=150)
@given(urls=one_article_many_links())
def test_canonical_url_is_the_same_across_tracking_fragments_and_case(
    urls: tuple[str, str],
) -> None:
    plain, link = urls
    assert canonicalize(link) == canonicalize(plain)


ARTICLE_BODY = "<p>" + "Shein opened a pop-up store in Madrid on Friday, its third. " * 8 + "</p>"


@pytest.mark.fault(20)
@settings(FUZZ, max_examples=40)
@given(urls=one_article_many_links(), declares_canonical=st.booleans())
def test_the_dedup_key_of_one_article_is_stable_across_its_links(
    urls: tuple[str, str], declares_canonical: bool
) -> None:
    """storage.articles finds an article by canonical URL and tells a change by content hash."""
    plain, link = urls
    head = f'<link rel="canonical" href="{_escaped(link)}">' if declares_canonical else ""
    page = f"<html><head>{head}<title>Madrid</title></head><body><article>{ARTICLE_BODY}"
    page += "</article></body></html>"
    seen = [extract_article(page, url) for url in (link.strip(), plain, canonicalize(link))]
    assert {p.canonical_url for p in seen} == {canonicalize(plain)}
    assert len({content_hash(p.title, p.text) for p in seen}) == 1


# --- dates

offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@pytest.mark.fault(20)
@FUZZ
@given(value=st.one_of(st.text(max_size=40), st.sampled_from(DATES)))
@example(value="0001-01-01T00:00:00+05:00")  # found by hypothesis: astimezone(UTC) overflowed
def test_parse_iso_gives_none_or_a_time_storable_in_utc(value: str) -> None:
    moment = parse_iso(value)
    if moment is not None:
        assert moment.tzinfo is not None
        moment.astimezone(UTC)


@pytest.mark.fault(20)
@FUZZ
@given(moment=st.datetimes(timezones=offsets))
def test_parse_iso_reads_back_what_isoformat_wrote(moment: datetime) -> None:
    parsed = parse_iso(moment.isoformat())
    try:
        moment.astimezone(UTC)
    except OverflowError:
        assert parsed is None
    else:
        assert parsed == moment

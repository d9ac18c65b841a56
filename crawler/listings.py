"""Crawler stage: finding article links and the next page on listing pages.

Pure: HTML in, URLs out. A link is an article when one of the source's
``follow`` regexes is found anywhere in its absolute URL (searched, not anchored).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from parsel import Selector

from crawler.urls import absolute, canonicalize, is_http


def compile_patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    return [re.compile(pattern) for pattern in patterns]


# A numeric character reference, in HTML's loose form (the semicolon may be missing).
_CHARACTER_REFERENCE = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));?")


def _is_unicode_scalar(code: int) -> bool:
    return 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF


def _replace_bad_reference(match: re.Match[str]) -> str:
    hexadecimal, decimal = match.groups()
    digits = hexadecimal or decimal
    if len(digits) <= 8 and _is_unicode_scalar(int(digits, 16 if hexadecimal else 10)):
        return match.group()
    return "\ufffd"


def _selector(html: str) -> Selector:
    """The page parsed, references to NUL, surrogates or past U+10FFFF made U+FFFD (as HTML says).

    Behind an XML declaration, libxml2 turns ``&#xD800;`` into bytes that are not UTF-8,
    and reading such an attribute raises.
    """
    return Selector(text=_CHARACTER_REFERENCE.sub(_replace_bad_reference, html))


def article_links(html: str, base_url: str, patterns: Sequence[re.Pattern[str]]) -> list[str]:
    """Canonical URLs of the links on the page that match a pattern, in page order, once each."""
    selector = _selector(html)
    base = selector.css("base::attr(href)").get()
    base_url = absolute(base_url, base) if base else base_url
    found: dict[str, None] = {}
    for href in selector.css("a::attr(href)").getall():
        url = absolute(base_url, href)
        if is_http(url) and any(p.search(url) for p in patterns):
            found.setdefault(canonicalize(url), None)
    return list(found)


def next_page(html: str, base_url: str) -> str | None:
    """The page's ``rel="next"`` link (``<link>`` or ``<a>``), if any."""
    selector = _selector(html)
    for href in selector.xpath(
        "//link[contains(concat(' ', normalize-space(@rel), ' '), ' next ')]/@href"
        " | //a[contains(concat(' ', normalize-space(@rel), ' '), ' next ')]/@href"
    ).getall():
        url = absolute(base_url, href)
        if is_http(url):
            return url
    return None

"""Canonical URLs and the network policy."""

import pytest

from crawler.netguard import NetworkPolicy
from crawler.urls import canonicalize


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTP://Example.COM:80/a/b?utm_source=rss&id=3&fbclid=9#frag",
            "http://example.com/a/b?id=3",
        ),
        ("https://example.com:443/x?utm_medium=feed&utm_campaign=c", "https://example.com/x"),
        ("https://example.com", "https://example.com/"),
        ("http://example.com:8080/p?b=2&a=1", "http://example.com:8080/p?b=2&a=1"),
    ],
)
def test_canonicalize_drops_tracking_and_fragment(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2/",
        "http://10.0.0.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.2]/",
        "http://[::1]:8000/",
        "file:///etc/passwd",
        "ftp://example.com/x",
        "data:text/html,hello",
    ],
)
def test_policy_refuses_private_addresses_and_other_schemes(url: str) -> None:
    assert NetworkPolicy(["127.0.0.1/32"]).refusal_for_url(url)


def test_policy_allows_public_and_configured_ranges() -> None:
    policy = NetworkPolicy(["127.0.0.1/32"])
    assert policy.refusal_for_url("http://127.0.0.1:8000/feed") is None
    assert policy.refusal_for_url("https://example.org/news") is None
    assert policy.refusal_for_ip("93.184.215.14") is None
    assert policy.refusal_for_ip("192.168.1.5") is not None

"""Crawler stage: the network guard; only public addresses and allowed private ranges are fetched.

Checked twice: on every request's URL (scheme and literal IP addresses, also
after redirects) by :class:`NetworkGuardMiddleware`, and on every resolved
address at connect time by :class:`GuardedResolver`, so a host name that
resolves to a private address is refused before any byte is sent. The
resolver keeps why it refused each name (:attr:`GuardedResolver.refused`), so
the failure recorded for the request says so rather than "DNS lookup failed".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer
from twisted.internet.error import DNSLookupError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = frozenset({"http", "https"})


class RefusedAddress(IgnoreRequest):
    """A request to an address or scheme the policy forbids."""


class RefusedName(DNSLookupError):
    """A host name resolving to a forbidden address (a lookup failure to Twisted: no traceback)."""


def scheme_refusal(url: str) -> str | None:
    """Why ``url``'s scheme may not be fetched, or None for http and https."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ALLOWED_SCHEMES:
        return None
    return f"scheme {scheme or '(none)'!r} is not allowed (only http and https)"


class NetworkPolicy:
    """Which addresses may be fetched: every global address, plus ``allowed`` ranges."""

    def __init__(self, allowed: Iterable[IPNetwork | str] = ()) -> None:
        self.allowed = tuple(ipaddress.ip_network(str(net), strict=False) for net in allowed)

    def refusal_for_ip(self, address: str | IPAddress) -> str | None:
        """Why ``address`` may not be fetched, or None when it may."""
        ip = ipaddress.ip_address(str(address))
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allowed if net.version == ip.version):
            return None
        if ip.is_global and not ip.is_multicast:
            return None
        return (
            f"address {ip} is private, loopback, link-local or reserved and not in allowed_networks"
        )

    def refusal_for_url(self, url: str) -> str | None:
        """Why ``url`` may not be fetched judging by its text alone (scheme, literal IP)."""
        refusal = scheme_refusal(url)
        if refusal:
            return refusal
        host = urlsplit(url).hostname
        if not host:
            return "URL has no host"
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None  # a name: checked when it is resolved
        return self.refusal_for_ip(host)


def _policy_from_settings(settings: Any) -> NetworkPolicy:
    return NetworkPolicy(settings.getlist("SHOPWATCH_ALLOWED_NETWORKS"))


class NetworkGuardMiddleware:
    """Downloader middleware refusing bad schemes and literal addresses (redirects included)."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Any) -> NetworkGuardMiddleware:
        return cls(_policy_from_settings(crawler.settings))

    def process_request(self, request: Any) -> None:
        reason = self.policy.refusal_for_url(request.url)
        if reason:
            raise RefusedAddress(f"refused {request.url}: {reason}")


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, refusing names that resolve to forbidden addresses."""

    policy = NetworkPolicy()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused: dict[str, str] = {}  # host name -> why it was refused

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        resolver = super().from_crawler(crawler, reactor)
        resolver.policy = _policy_from_settings(crawler.settings)
        return resolver

    def getHostByName(self, name: str, timeout: Any = ()) -> defer.Deferred[str]:
        return super().getHostByName(name, timeout).addCallback(self._check, name)

    def _check(self, address: str, name: str) -> str:
        reason = self.policy.refusal_for_ip(address)
        if reason:
            self.refused[name.lower()] = reason
            raise RefusedName(f"refused {name}: {reason}")
        return address


def refused_names() -> dict[str, str]:
    """The names the running crawl's resolver refused, with the reason (empty when none)."""
    from twisted.internet import reactor

    resolver = getattr(reactor, "resolver", None)
    return resolver.refused if isinstance(resolver, GuardedResolver) else {}

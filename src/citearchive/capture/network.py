"""Which addresses a capture may reach: a public source stays on the public internet.

A cited page on the public internet must not be able to make citearchive fetch (and
archive) something on the researcher's own network or a cloud metadata service, by a
redirect (``Location: http://169.254.169.254/``) or by a DNS answer (a public name that
resolves to ``10.0.0.5``). Every address is put in a *scope* (:func:`scope`); a capture
may reach public addresses and addresses in the scope of the cited URL's own host, so a
source on ``127.0.0.1`` (a test server, a local mirror) may reach its own loopback, and a
source on an intranet address its intranet, but neither may reach a link-local metadata
address. The check is made on the name's DNS answers before a request is sent, and on the
address actually connected to once the response arrives (a name that changed its answer
in between is caught there).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

PUBLIC = "public"

__all__ = ["PUBLIC", "address_refusal", "resolve_scopes", "scope"]


def scope(address: str) -> str:
    """The scope of an IP address: "public", "loopback", "link-local", "private" or
    "reserved" (multicast, unspecified and other addresses nobody should be sent to)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("%eth0")
    except ValueError:
        return "reserved"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return "reserved"
    if ip.is_private or not ip.is_global:
        return "private"
    return PUBLIC


def address_refusal(address: str, allowed: str, url: str) -> str | None:
    """Why ``address`` (of ``url``) may not be reached by a capture whose source is in
    scope ``allowed``, or None when it may."""
    where = scope(address)
    if where in (PUBLIC, allowed):
        return None
    source = "on the public internet" if allowed == PUBLIC else f"on a {allowed} address"
    host = httpx.URL(url).host
    at = address if host == address else f"{host} at {address}"
    return (
        f"refused to connect to {at}, a {where} address: "
        f"the source is {source} (a redirect or DNS answer must not lead inside a network)"
    )


async def resolve_scopes(url: str) -> list[tuple[str, str]]:
    """(address, scope) for each address ``url``'s host resolves to; [] when it does not
    resolve (the request itself then reports the DNS failure)."""
    parsed = httpx.URL(url)
    host = parsed.host
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        return [(host, scope(host))]
    except ValueError:
        pass
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    addresses = dict.fromkeys(str(info[4][0]) for info in infos)
    return [(a, scope(a)) for a in addresses]

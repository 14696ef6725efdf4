"""Where a webhook may post: public addresses only, unless the hub allows a network (SSRF).

A webhook URL is chosen by an agency's liaison, and the hub posts to it from inside its own network: without this
check it could be pointed at the hub's database, a metadata service (169.254.169.254) or an admin port on
loopback. The check runs at registration (a clear 422) and again at every delivery on the addresses the name
resolves to then, and the post goes to the very address checked, so a name that changes its answer between the
two (DNS rebinding) reaches nothing it should not. Redirects are never followed (the dispatcher's client)."""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@lru_cache(maxsize=8)
def networks(text: str) -> tuple:
    """The allow-list setting (`CONCORD_WEBHOOK_ALLOW_NETWORKS`, comma-separated CIDRs) parsed; ValueError names
    the entry that is not a network."""
    out = []
    for entry in (e.strip() for e in text.split(",")):
        if entry:
            try:
                out.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is not a network (write e.g. 127.0.0.0/8 or ::1/128)") from None
    return tuple(out)


def refused(ip: Address, allowed: tuple) -> str | None:
    """Why the hub must not post to this address (None: it may)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    if any(ip in net for net in allowed):
        return None
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{kind}"):
            return f"{ip} is a {kind.replace('_', '-')} address"
    if not ip.is_global:  # shared address space (100.64.0.0/10) and the like
        return f"{ip} is not a public address"
    return None


def host_of(url: str) -> tuple[str, int]:
    """(host, port) of the URL; a ValueError when the standard library cannot split it (a bad IPv6 literal, a port
    out of range)."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[Address]:
    """Every address the name resolves to now (an IP literal is itself); [] when it does not resolve."""
    if (ip := literal(host)) is not None:
        return [ip]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def check(url: str, allowed: tuple) -> tuple[str, list[Address]]:
    """(why not, or "") and the addresses checked: every address must be allowed, since a client may use any."""
    host, port = host_of(url)
    addresses = resolve(host, port)
    for ip in addresses:
        if reason := refused(ip, allowed):
            return reason, addresses
    return "", addresses


async def check_async(url: str, allowed: tuple) -> tuple[str, list[Address]]:
    """check() with the lookup on the event loop's resolver (a delivery must not block the loop)."""
    import asyncio

    host, port = host_of(url)
    if literal(host) is not None:
        return check(url, allowed)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return f"{host} does not resolve", []
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    for ip in addresses:
        if reason := refused(ip, allowed):
            return reason, addresses
    return "", addresses


def pinned(url: str, ip: Address) -> tuple[str, dict, dict]:
    """(the URL with its host replaced by the checked address, the headers and the request extensions that keep
    the name for Host and for TLS: the certificate is still verified against the name)."""
    parts = urlsplit(url)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{host}:{parts.port}" if parts.port else host
    name = parts.netloc.rpartition("@")[2]
    extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
    return parts._replace(netloc=netloc).geturl(), {"host": name}, extensions

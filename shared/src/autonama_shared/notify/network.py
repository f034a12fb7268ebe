"""Where the notifier may connect: public addresses only, unless an operator allows more.

A subscription's URL is chosen by whoever holds a write token; left unchecked, the
notifier would connect wherever it says (the database, the broker, a cloud's metadata
service) and the deliveries endpoint would report what it found. So every address the
notifier connects to is checked *after* name resolution and *at connection time* (a name
that resolves to a public address when the subscription is made and to 127.0.0.1 later,
a redirect, an IP literal in any of its spellings, an Apprise plugin's own socket: all
pass through the same check), and once more when a subscription is made, for a clear 422.

Refused: every address that is not globally routable (loopback, private, link-local,
unique-local, shared address space, benchmarking, documentation, reserved, unspecified),
multicast, and the IPv6 forms that carry an IPv4 address (mapped ``::ffff:a.b.c.d``,
compatible ``::a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``) whenever the IPv4
address inside is refused; Teredo and local-use NAT64 always.

``AUTONAMA_NOTIFIER_ALLOWED_NETWORKS`` (a comma list of CIDRs and host names, empty by
default; the API's check reads the same variable) opens what an operator names, as
GitLab's "allow requests to the local network from webhooks" does: a home-automation
receiver at ``192.168.1.20``, a test receiver on ``127.0.0.1``. A host name in it is
resolved when the list is read, and its addresses are allowed.

>>> forbidden_reason(ipaddress.ip_address("8.8.8.8")) is None
True
>>> forbidden_reason(ipaddress.ip_address("::ffff:127.0.0.1"))
'loopback'
>>> AllowList.parse("127.0.0.1/32").allows(ipaddress.ip_address("127.0.0.1"))
True
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "REFUSED",
    "AllowList",
    "RefusedAddress",
    "check_host",
    "check_sockaddr",
    "forbidden_reason",
    "install_socket_guard",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: What a refused connection reports, and all it reports (never the address).
REFUSED = "refused: private address"

_EXTRA_V4 = (
    ipaddress.ip_network("100.64.0.0/10"),  # shared address space (carrier-grade NAT)
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
)
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_TEREDO = ipaddress.ip_network("2001::/32")


class RefusedAddress(OSError):
    """A connection to an address the guard refuses (an ``OSError``, as connect raises)."""

    def __init__(self) -> None:
        super().__init__(errno.EACCES, REFUSED)


def _v4_reason(ip: ipaddress.IPv4Address) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private or any(ip in n for n in _EXTRA_V4):
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why the notifier may not connect to ``ip`` (None: it may).

    >>> [forbidden_reason(ipaddress.ip_address(a)) for a in
    ...  ("127.0.0.1", "169.254.169.254", "10.1.2.3", "::1", "fd00::1", "2002:7f00:1::")]
    ['loopback', 'link-local', 'private', 'loopback', 'private', 'loopback']
    """
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_reason(ip)
    if ip.ipv4_mapped is not None:
        return _v4_reason(ip.ipv4_mapped)
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip in _V4_COMPATIBLE:
        return _v4_reason(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)) or "reserved"
    if ip.sixtofour is not None:
        return _v4_reason(ip.sixtofour)
    if ip in _NAT64:
        return _v4_reason(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in _NAT64_LOCAL or ip in _TEREDO:
        return "reserved"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private or ip.is_site_local:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


@dataclass(frozen=True)
class AllowList:
    """Networks an operator opened (``AUTONAMA_NOTIFIER_ALLOWED_NETWORKS``)."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> AllowList:
        """From a comma list (or items) of CIDRs, addresses and host names; ``ValueError``
        naming an entry that is none of them."""
        items = text.split(",") if isinstance(text, str) else list(text)
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for raw in items:
            item = raw.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
                continue
            except ValueError:
                pass
            try:
                infos = socket.getaddrinfo(item, None, proto=socket.IPPROTO_TCP)
            except (OSError, UnicodeError) as e:
                raise ValueError(
                    f"AUTONAMA_NOTIFIER_ALLOWED_NETWORKS: {item!r} is neither a CIDR nor a "
                    f"host name that resolves ({e})"
                ) from e
            for info in infos:
                networks.append(ipaddress.ip_network(_ip_of(info[4]).compressed))
        return cls(tuple(networks))

    def allows(self, ip: IPAddress) -> bool:
        """Whether an operator opened ``ip`` (its mapped IPv4 form counts as itself)."""
        plain = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        return any(ip in n or (plain is not None and plain in n) for n in self.networks)

    def refuses(self, ip: IPAddress) -> bool:
        return forbidden_reason(ip) is not None and not self.allows(ip)


def _ip_of(sockaddr: Any) -> IPAddress:
    host = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 scope id (fe80::1%eth0)
    return ipaddress.ip_address(host)


def check_sockaddr(family: int, sockaddr: Any, allow: AllowList) -> None:
    """``RefusedAddress`` unless the notifier may connect to ``sockaddr``."""
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise RefusedAddress  # unix sockets, netlink...: never a receiver
    if allow.refuses(_ip_of(sockaddr)):
        raise RefusedAddress


def check_host(url: str, allow: AllowList) -> None:
    """``ValueError`` (saying only "private address") when the host of ``url`` is, or
    resolves to, an address the notifier would refuse. A name that does not resolve now is
    accepted: the connection is checked again whenever it is made."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return  # the URL's own validation says what is wrong with it
    if not host:
        return
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return
    for family, _, _, _, sockaddr in infos:
        try:
            check_sockaddr(family, sockaddr, allow)
        except RefusedAddress:
            raise ValueError(
                f"{REFUSED}: the target's host is, or resolves to, an address the notifier "
                "does not connect to (loopback, private, link-local...); an operator can "
                "allow it with AUTONAMA_NOTIFIER_ALLOWED_NETWORKS"
            ) from None


def install_socket_guard(allow: AllowList) -> list[int]:
    """Check every connection this *process* makes (for the Apprise workers, whose plugins
    open their own sockets through requests, smtplib...): ``socket.socket.connect`` and
    ``connect_ex`` refuse what the guard refuses, whatever library calls them. Returns a
    one-item list counting the connections refused so far (a plugin's own error text may
    name the host; the caller reports only that the address was refused)."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    refused = [0]

    def checked(family: int, address: Any) -> bool:
        try:
            check_sockaddr(family, address, allow)
        except RefusedAddress:
            refused[0] += 1
            return False
        return True

    def connect(self: socket.socket, address: Any) -> None:
        if not checked(self.family, address):
            raise RefusedAddress
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not checked(self.family, address):
            return errno.EACCES
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    return refused

"""The notifier's network guard: every spelling of an inside address is refused, public ones
pass, and an operator's allow-list opens exactly what it names."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from autonama_shared.notify.apprise_urls import check_apprise_url
from autonama_shared.notify.network import (
    REFUSED,
    AllowList,
    RefusedAddress,
    check_host,
    check_sockaddr,
    forbidden_reason,
)
from autonama_shared.untrusted import printable

INSIDE = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space
    "192.0.0.8",
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",  # site-local
    "ff02::1",
    "::ffff:127.0.0.1",  # mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # compatible
    "::8.8.8.8",  # compatible: deprecated, never a receiver
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::1",  # local-use NAT64
    "2001::1",  # Teredo
    "2001:db8::1",  # documentation
    "100::1",  # discard-only
]
OUTSIDE = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "64:ff9b::808:808"]


@pytest.mark.parametrize("address", INSIDE)
def test_every_inside_address_is_refused(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with pytest.raises(RefusedAddress, match=REFUSED):
        check_sockaddr(family, (address, 443), AllowList())


@pytest.mark.parametrize("address", OUTSIDE)
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    check_sockaddr(family, (address, 443), AllowList())


def test_a_scoped_link_local_address_is_refused() -> None:
    with pytest.raises(RefusedAddress):
        check_sockaddr(socket.AF_INET6, ("fe80::1%lo", 443, 0, 1), AllowList())


def test_a_unix_socket_is_never_a_receiver() -> None:
    with pytest.raises(RefusedAddress):
        check_sockaddr(
            socket.AF_UNIX, "/run/postgresql/.s.PGSQL.5432", AllowList.parse("0.0.0.0/0")
        )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5433/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9092/",
        "http://0x7f000001/",  # hexadecimal
        "http://017700000001/",  # octal
        "http://2130706433/",  # one decimal number
        "http://127.1/",  # short form
        "http://0/",
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://localhost:5433/",  # a name that resolves inside
        "http://LOCALHOST/",
        "https://user@10.0.0.5/",
        "json://127.0.0.1:5433/?method=DELETE",
        "mailtos://me:pw@192.168.0.10",
    ],
)
def test_creation_refuses_an_inside_host_in_any_spelling(url: str) -> None:
    with pytest.raises(ValueError, match=REFUSED):
        check_host(url, AllowList())


def test_creation_accepts_a_public_address_and_a_name_that_does_not_resolve_now() -> None:
    check_host("https://8.8.8.8/hooks", AllowList())
    check_host("https://receiver.invalid/hooks", AllowList())  # checked again at connect


def test_the_allow_list_opens_what_it_names_and_nothing_else() -> None:
    allow = AllowList.parse("127.0.0.1/32, 192.168.1.0/24")
    assert allow.allows(ipaddress.ip_address("127.0.0.1"))
    assert allow.allows(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert allow.allows(ipaddress.ip_address("192.168.1.77"))
    assert not allow.allows(ipaddress.ip_address("127.0.0.2"))
    assert not allow.allows(ipaddress.ip_address("192.168.2.1"))
    check_host("http://127.0.0.1:8080/", allow)
    with pytest.raises(ValueError, match=REFUSED):
        check_host("http://127.0.0.2:8080/", allow)
    with pytest.raises(ValueError, match=REFUSED):
        check_host("http://169.254.169.254/", allow)


def test_a_host_name_in_the_allow_list_allows_its_addresses() -> None:
    allow = AllowList.parse("localhost")
    assert allow.allows(ipaddress.ip_address("127.0.0.1"))
    check_host("http://localhost:8123/api/webhook/x", allow)


def test_an_allow_list_entry_that_is_nothing_is_named() -> None:
    with pytest.raises(ValueError, match=r"'no such host\.invalid'"):
        AllowList.parse("no such host.invalid")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("syslog://10.0.0.1", "not accepted"),
        ("rsyslog://10.0.0.1:514", "not accepted"),
        ("irc://irc.example.com/#chan", "not accepted"),
        ("json://example.com/?rto=3600", "rto"),
        ("json://example.com/?cto=999", "cto"),
        ("json://example.com/?method=DELETE", "method"),
        ("json://example.com/?METHOD=put", "method"),
        ("json://example.com/?+X-Admin=1", "header"),
        ("json://example.com/?%2BAuthorization=x", "header"),
    ],
)
def test_apprise_urls_cannot_reach_sockets_or_take_the_notifiers_controls(
    url: str, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        check_apprise_url(url)


def test_common_apprise_services_are_accepted() -> None:
    for url in (
        "tgram://123456789:AAH-bot-token/987654321",
        "mailtos://user:app-password@gmail.com",
        "ntfys://ntfy.sh/my-topic",
        "json://example.com/hook",
    ):
        check_apprise_url(url)


def test_upstream_text_is_bounded_and_every_control_character_escaped() -> None:
    hostile = "evil\x00\nFAKE LOG LINE\r\x1b[31m\u202e\u2028" + "x" * 2000
    shown = printable(hostile, 100)
    for raw in ("\x00", "\n", "\r", "\x1b", "\u202e", "\u2028"):
        assert raw not in shown
    assert shown.startswith("evil\\x00\\nFAKE LOG LINE\\r\\x1b[31m\\u202e\\u2028")
    assert shown.endswith("...")
    assert len(shown) < 140
    assert printable("BTCUSDT déjà vu ✓") == "BTCUSDT déjà vu ✓"

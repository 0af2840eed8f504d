"""The address policy for tenant-chosen URLs: every spelling of a non-public address is
refused, at registration (what the URL shows) and for whatever a name resolves to."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from jobcast.destinations import (
    address_problem,
    host_problem,
    parse_ip_literal,
    parse_ipv4,
    parse_resolved,
    resolved_problem,
)

LOOPBACK = IPv4Address("127.0.0.1")


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # one decimal number
        ("0x7f000001", "127.0.0.1"),  # one hex number
        ("0X7F000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),  # one octal number
        ("127.1", "127.0.0.1"),  # a.b: b fills three bytes
        ("127.0.1", "127.0.0.1"),  # a.b.c: c fills two bytes
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.0x0.0x0.0x1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("169.254.43518", "169.254.169.254"),
        ("4294967295", "255.255.255.255"),
    ],
)
def test_ipv4_is_read_as_inet_aton_reads_it(spelling: str, address: str) -> None:
    assert parse_ipv4(spelling) == IPv4Address(address)


@pytest.mark.parametrize(
    "text",
    ["", "4294967296", "256.0.0.1", "1.2.3.4.5", "1..2", "08", "0x1g", "127.0.0.1 ", "1.256.1",
     "١٢٧.0.0.1", "-1", "hooks.example.com"],
)  # fmt: skip
def test_what_inet_aton_refuses_is_no_ipv4_address(text: str) -> None:
    assert parse_ipv4(text) is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
    ],
)
def test_ip_literals(host: str, address: str) -> None:
    assert parse_ip_literal(host) == ip_address(address)


def test_names_are_no_literals() -> None:
    assert parse_ip_literal("hooks.example.com") is None
    assert parse_ip_literal("[not-an-address]") is None


NON_PUBLIC = [
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("10.0.0.5", "private"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.254", "shared (CGNAT)"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "link-local"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.1", "documentation"),
    ("192.88.99.1", "reserved"),
    ("192.168.1.1", "private"),
    ("198.18.0.1", "reserved"),
    ("198.51.100.1", "documentation"),
    ("203.0.113.1", "documentation"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:10.0.0.5", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::127.0.0.1", "loopback"),  # IPv4-compatible
    ("::8.8.8.8", "reserved"),  # IPv4-compatible is refused even for a public address
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("64:ff9b:1::1", "private"),  # local-use NAT64
    ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:a00:5::1", "private"),  # 6to4 of 10.0.0.5
    ("2001::1", "reserved"),  # Teredo
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("100::1", "reserved"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fe80::1", "link-local"),
    ("fec0::1", "private"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("4000::1", "reserved"),  # outside global unicast 2000::/3
    ("::2:3:4:5:6", "reserved"),
]


@pytest.mark.parametrize(("address", "kind"), NON_PUBLIC)
def test_non_public_addresses_are_refused_by_kind(address: str, kind: str) -> None:
    problem = address_problem(ip_address(address))
    assert problem is not None
    assert problem.endswith(f" {kind} address")


@pytest.mark.parametrize(
    "address",
    ["93.184.216.34", "8.8.8.8", "1.1.1.1", "100.63.255.255", "100.128.0.0", "172.32.0.1",
     "192.0.1.1", "223.255.255.255", "2606:4700::1111", "2a00:1450:4001:80b::200e",
     "::ffff:93.184.216.34", "64:ff9b::808:808", "2002:808:808::1"],
)  # fmt: skip
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(ip_address(address)) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
def test_loopback_passes_only_when_allowed(address: str) -> None:
    assert address_problem(ip_address(address)) is not None
    assert address_problem(ip_address(address), allow_loopback=True) is None


@pytest.mark.parametrize(
    "address", ["0.0.0.0", "10.0.0.5", "169.254.169.254", "100.64.0.1", "::", "fe80::1"]
)
def test_allowing_loopback_allows_nothing_else(address: str) -> None:
    assert address_problem(ip_address(address), allow_loopback=True) is not None


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("2130706433", "127.0.0.1 is a loopback address"),
        ("0x7f000001", "127.0.0.1 is a loopback address"),
        ("127.1", "127.0.0.1 is a loopback address"),
        ("0", "0.0.0.0 is an unspecified address"),
        ("017700000001", "127.0.0.1 is a loopback address"),
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("127.0.0.1.", "127.0.0.1 is a loopback address"),
        ("0xa9fea9fe", "169.254.169.254 is a link-local address"),
        ("10.0.0.5", "10.0.0.5 is a private address"),
        ("::1", "::1 is a loopback address"),
        ("[::1]", "::1 is a loopback address"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1 is a loopback address"),
        ("64:ff9b::7f00:1", "64:ff9b::7f00:1 is a loopback address"),
        ("localhost", "localhost is a local name"),
        ("localhost.", "localhost. is a local name"),
        ("LOCALHOST", "localhost is a local name"),
        ("hooks.localhost", "hooks.localhost is a local name"),
        ("printer.local", "printer.local is a local name"),
        ("metadata.google.internal", "metadata.google.internal is a local name"),
        ("nas.home.arpa", "nas.home.arpa is a local name"),
        ("kafka", "kafka is not a fully qualified public name"),
        ("kafka.", "kafka. is not a fully qualified public name"),
        ("postgres", "postgres is not a fully qualified public name"),
        ("1.2.3.256", "1.2.3.256 is not a valid address"),
        ("hooks.0x10", "hooks.0x10 is not a valid address"),
        ("hooks..example.com", "hooks..example.com is not a valid host name"),
        ("-hooks.example.com", "-hooks.example.com is not a valid host name"),
    ],
)
def test_registration_refuses_what_the_host_shows(host: str, problem: str) -> None:
    assert host_problem(host) == problem


@pytest.mark.parametrize(
    "host",
    ["hooks.example.com", "HOOKS.Example.COM", "hooks.example.com.", "xn--bcher-kva.example",
     "a_b.example.org", "93.184.216.34", "2606:4700::1111", "127localhost.example.com"],
)  # fmt: skip
def test_registration_accepts_public_hosts(host: str) -> None:
    assert host_problem(host) is None


def test_allowing_loopback_lets_local_development_register() -> None:
    for host in ("127.0.0.1", "127.1", "localhost", "localhost.", "hooks.localhost", "::1"):
        assert host_problem(host, allow_loopback=True) is None, host
    for host in ("kafka", "10.0.0.5", "0", "printer.local", "169.254.169.254"):
        assert host_problem(host, allow_loopback=True) is not None, host


def test_a_public_looking_name_that_resolves_to_a_private_address_is_refused() -> None:
    # What a resolver answered for a name the registration could not judge.
    answered = [parse_resolved("10.0.0.5")]
    assert resolved_problem("hooks.example.com", answered) == (
        "hooks.example.com resolves to 10.0.0.5, a private address"
    )
    metadata = [parse_resolved("169.254.169.254")]
    assert resolved_problem("hooks.example.com", metadata) == (
        "hooks.example.com resolves to 169.254.169.254, a link-local address"
    )


def test_one_private_answer_among_public_ones_refuses_the_name() -> None:
    answered = [ip_address("93.184.216.34"), ip_address("2606:4700::1111"), LOOPBACK]
    assert resolved_problem("hooks.example.com", answered) == (
        "hooks.example.com resolves to 127.0.0.1, a loopback address"
    )
    assert resolved_problem("hooks.example.com", answered, allow_loopback=True) is None


def test_every_ipv6_answer_is_checked_too() -> None:
    answered = [ip_address("93.184.216.34"), parse_resolved("fe80::1%2")]
    assert resolved_problem("hooks.example.com", answered) == (
        "hooks.example.com resolves to fe80::1, a link-local address"
    )
    mapped = [IPv6Address("::ffff:169.254.169.254")]
    assert resolved_problem("hooks.example.com", mapped) is not None


def test_public_answers_pass_and_no_answer_does_not() -> None:
    answered = [ip_address("93.184.216.34"), ip_address("2606:4700::1111")]
    assert resolved_problem("hooks.example.com", answered) is None
    assert resolved_problem("hooks.example.com", []) == "hooks.example.com resolved to no address"


def test_a_literal_host_is_named_once() -> None:
    assert resolved_problem("2130706433", [LOOPBACK]) == "127.0.0.1 is a loopback address"

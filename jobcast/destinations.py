"""Where jobcast may send requests to URLs its tenants chose: public addresses only.

A tenant's URL is requested from inside jobcast's network, so a URL that reaches a
loopback, private, link-local or otherwise non-public address would let a tenant probe
or call internal services (Kafka, Postgres, a cloud metadata endpoint). Two checks use
this module:

- at registration, `host_problem` refuses what the URL already shows: an address
  literal in any spelling `inet_aton` accepts (`2130706433`, `0x7f000001`, `127.1`,
  `017700000001`, `0`), IPv6 literals (also IPv4-mapped, -compatible, NAT64 and 6to4
  forms of such addresses), `localhost` and other special-use names, single-label names
  (`kafka`), with or without a trailing dot;
- at connect time, `resolved_problem` checks EVERY address the name resolved to, and
  the caller connects only to those checked addresses (see `jobcast.public_http`).

Pure: no I/O, no resolver. The address table is explicit (IANA special-purpose
registries) rather than `ipaddress.is_global`, whose answers changed between Python
patch releases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

IPAddress = IPv4Address | IPv6Address

# Non-public IPv4 blocks (they do not overlap).
_IPV4_BLOCKS: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), kind)
    for net, kind in (
        ("0.0.0.0/8", "unspecified"),  # "this network"; connecting to 0.0.0.0 reaches loopback
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),  # cloud metadata endpoints live here
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),  # IETF protocol assignments
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),  # former 6to4 relay anycast
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved"),  # benchmarking
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # includes the broadcast address
    )
)
_GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")
# Non-public IPv6 blocks. Past these, an address that embeds an IPv4 one (mapped,
# compatible, NAT64, 6to4) is judged by that address, and anything else outside global
# unicast (2000::/3) is reserved.
_IPV6_BLOCKS: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), kind)
    for net, kind in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "private"),  # local-use NAT64
        ("100::/64", "reserved"),  # discard-only
        ("2001::/23", "reserved"),  # IETF protocol assignments, Teredo among them
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("fc00::/7", "private"),  # unique local
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private"),  # site-local (deprecated)
        ("ff00::/8", "multicast"),
    )
)
_MAPPED = IPv6Network("::ffff:0:0/96")  # IPv4-mapped
_COMPATIBLE = IPv6Network("::/96")  # IPv4-compatible (deprecated)
_NAT64 = IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix
_SIX_TO_FOUR = IPv6Network("2002::/16")

# Names that never denote a public host (RFC 6761, RFC 8375 and common internal suffixes).
_SPECIAL_SUFFIXES = ("localhost", "local", "internal", "localdomain", "lan", "home.arpa")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_HEX_NUMBER = re.compile(r"0x[0-9a-f]*")


def address_problem(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why jobcast must not connect to `address`, or None if it is public.

    `allow_loopback` lets loopback through (127.0.0.0/8, ::1 and their IPv6 forms) for
    development and tests; private, link-local and the rest stay refused.
    """
    kind = _refused_kind(address, allow_loopback)
    return None if kind is None else f"{address} is {_a(kind)} address"


def _refused_kind(address: IPAddress, allow_loopback: bool) -> str | None:
    kind = _non_public_kind(address)
    return None if kind == "loopback" and allow_loopback else kind


def _non_public_kind(address: IPAddress) -> str | None:
    if isinstance(address, IPv4Address):
        return next((kind for net, kind in _IPV4_BLOCKS if address in net), None)
    kind = next((kind for net, kind in _IPV6_BLOCKS if address in net), None)
    if kind is not None:
        return kind
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        kind = _non_public_kind(embedded)
        # IPv4-compatible is deprecated and never routed: refused even if what it embeds
        # is public (it is named after what it embeds when that is not).
        return kind or "reserved" if address in _COMPATIBLE else kind
    return None if address in _GLOBAL_UNICAST_V6 else "reserved"


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv4-mapped, -compatible, NAT64 or 6to4 address stands for."""
    if address in _MAPPED or address in _NAT64 or address in _COMPATIBLE:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    return None


def parse_ipv4(text: str) -> IPv4Address | None:
    """`text` read as `inet_aton` (and so `getaddrinfo`) reads it, or None.

    One to four dot-separated parts, each decimal, octal (leading 0) or hex (0x); the last
    part fills the remaining bytes: `127.1` is 127.0.0.1, `2130706433` and `0x7f000001`
    are too, and `0` is 0.0.0.0.
    """
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        value = _inet_aton_number(part)
        if value is None:
            return None
        values.append(value)
    *leading, last = values
    if any(v > 0xFF for v in leading) or last >= 256 ** (4 - len(leading)):
        return None
    number = last
    for position, value in enumerate(leading):
        number |= value << (8 * (3 - position))
    return IPv4Address(number)


def _inet_aton_number(part: str) -> int | None:
    lowered = part.lower()
    if lowered.startswith("0x"):
        digits = lowered[2:]
        return int(digits or "0", 16) if _HEX_NUMBER.fullmatch(lowered) else None
    if not part.isascii() or not part.isdigit():
        return None
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if all(c in "01234567" for c in part) else None
    return int(part)


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address `host` spells (IPv4 in any `inet_aton` spelling, IPv6 with or without
    brackets or a zone), or None if it is a name."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in bare:
        try:
            return IPv6Address(bare.split("%", 1)[0])
        except ValueError:
            return None
    return parse_ipv4(bare.removesuffix("."))


def host_problem(host: str, *, allow_loopback: bool = False) -> str | None:
    """Why a URL with this host must not be registered, or None (what a URL shows; the
    addresses a name resolves to are checked when connecting, by `resolved_problem`).

    `host` as a URL parser gives it: lower case, IDNA-encoded, IPv6 without brackets.
    """
    host = host.lower()
    literal = parse_ip_literal(host)
    if literal is not None:
        return address_problem(literal, allow_loopback=allow_loopback)
    return _name_problem(host, allow_loopback=allow_loopback)


def _name_problem(host: str, *, allow_loopback: bool) -> str | None:
    name = host.removesuffix(".")
    labels = name.split(".")
    if ends_in_a_number(name):
        # What a browser would read as an IPv4 address; not one inet_aton accepts either.
        return f"{host} is not a valid address"
    if not all(_LABEL.fullmatch(label) for label in labels):
        return f"{host} is not a valid host name"
    special = next((s for s in _SPECIAL_SUFFIXES if name == s or name.endswith("." + s)), None)
    if special is not None:
        return None if special == "localhost" and allow_loopback else f"{host} is a local name"
    if len(labels) < 2:
        return f"{host} is not a fully qualified public name"
    return None


def ends_in_a_number(host: str) -> bool:
    """WHATWG URL "ends in a number": the last label is all digits, or 0x followed by hex
    digits. Such a host is an IPv4 address to a URL parser, or no valid host at all."""
    label = host.removesuffix(".").rsplit(".", 1)[-1]
    return (label.isascii() and label.isdigit()) or bool(_HEX_NUMBER.fullmatch(label))


def resolved_problem(
    host: str, addresses: Iterable[IPAddress], *, allow_loopback: bool = False
) -> str | None:
    """Why `host` must not be connected to, given every address it resolved to, or None.

    One non-public address refuses them all: a name that answers a public and a private
    address could otherwise be made to reach the private one.
    """
    checked = list(addresses)
    if not checked:
        return f"{host} resolved to no address"
    for address in checked:
        kind = _refused_kind(address, allow_loopback)
        if kind is not None:
            if parse_ip_literal(host.lower()) == address:
                return f"{address} is {_a(kind)} address"
            return f"{host} resolves to {address}, {_a(kind)} address"
    return None


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def parse_resolved(text: str) -> IPAddress:
    """An address as a resolver returns it (`getaddrinfo` may append an IPv6 zone)."""
    return ip_address(text.split("%", 1)[0])

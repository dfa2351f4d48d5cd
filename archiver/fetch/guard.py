"""The address guard: which addresses archiver may connect to, decided in one place.

A manifest or a hostile redirect must not make archiver fetch from the machine it runs on or the
networks around it (loopback, RFC 1918 and ULA ranges, link-local and the cloud metadata services on
it, CGNAT) and then keep and export what it found. So every connection is judged on the address it
is actually made to, after resolution: `dial` resolves a name once, drops the candidates the policy
refuses and connects only to the rest, so there is no window between a check and a second lookup
(DNS rebinding). The fetcher's connections (wire.py) and its DNS pre-check go through here, and so
must anything else that opens connections for a capture (a browser's sub-resources included).

`AddressPolicy` is the user's choice (settings `allow_private`, `allow`): `check(address)` says why an
address is refused, or None. Without a choice, only globally routable unicast addresses are allowed.
`--allow-private` opens the private networks (loopback, RFC 1918, ULA, link-local, CGNAT, site-local);
cloud metadata addresses, multicast, broadcast, unspecified, documentation and reserved ranges stay
closed unless an `allow` CIDR names them. IPv6 forms that carry an IPv4 address (IPv4-mapped,
IPv4-compatible, NAT64, 6to4, Teredo) are judged by the IPv4 address they carry.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

from ..errors import ConfigError

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
# One getaddrinfo answer: (family, type, proto, canonname, sockaddr).
Candidate = tuple[int, int, int, str, Any]


@dataclass(frozen=True)
class Range:
    """A range the guard refuses by default, how a reason names it, and whether `allow_private` opens it."""

    network: IPNetwork
    what: str
    private: bool = False


def _ranges(*rows: tuple[str, str, bool]) -> tuple[Range, ...]:
    return tuple(Range(ip_network(cidr), what, private) for cidr, what, private in rows)


# Most specific first: the first range holding an address names it. Sources: the IANA IPv4 and IPv6
# Special-Purpose Address Registries (RFC 6890 and successors); cloud metadata services from their
# providers' documentation (AWS, GCP, Azure, Oracle: 169.254.169.254; AWS ECS: 169.254.170.2; AWS over
# IPv6: fd00:ec2::254; Alibaba: 100.100.100.200).
RANGES: tuple[Range, ...] = _ranges(
    ("169.254.169.254/32", "link-local (cloud metadata)", False),
    ("169.254.170.2/32", "link-local (container metadata)", False),
    ("100.100.100.200/32", "CGNAT (cloud metadata)", False),
    ("fd00:ec2::254/128", "unique local (cloud metadata)", False),
    ("0.0.0.0/32", "unspecified", False),
    ("0.0.0.0/8", "'this network' (reserved)", False),
    ("10.0.0.0/8", "private (RFC 1918)", True),
    ("100.64.0.0/10", "CGNAT (RFC 6598 shared address space)", True),
    ("127.0.0.0/8", "loopback", True),
    ("169.254.0.0/16", "link-local", True),
    ("172.16.0.0/12", "private (RFC 1918)", True),
    ("192.0.0.0/24", "reserved (IETF protocol assignments)", False),
    ("192.0.2.0/24", "documentation (TEST-NET-1)", False),
    ("192.88.99.0/24", "reserved (6to4 relay anycast)", False),
    ("192.168.0.0/16", "private (RFC 1918)", True),
    ("198.18.0.0/15", "benchmarking (RFC 2544)", False),
    ("198.51.100.0/24", "documentation (TEST-NET-2)", False),
    ("203.0.113.0/24", "documentation (TEST-NET-3)", False),
    ("224.0.0.0/4", "multicast", False),
    ("255.255.255.255/32", "broadcast", False),
    ("240.0.0.0/4", "reserved (240.0.0.0/4)", False),
    ("::/128", "unspecified", False),
    ("::1/128", "loopback", True),
    ("fc00::/7", "unique local (ULA)", True),
    ("fe80::/10", "link-local", True),
    ("fec0::/10", "site-local (deprecated)", True),
    ("ff00::/8", "multicast", False),
    ("100::/64", "discard-only (RFC 6666)", False),
    ("2001:2::/48", "benchmarking (RFC 5180)", False),
    ("2001:10::/28", "reserved (ORCHID)", False),
    ("2001:20::/28", "reserved (ORCHIDv2)", False),
    ("2001:db8::/32", "documentation", False),
    ("3fff::/20", "documentation", False),
)
GLOBAL_UNICAST_V6 = IPv6Network("2000::/3")  # everything else in IPv6 is special or not yet assigned

# IPv6 forms that carry an IPv4 address, and where they carry it.
MAPPED = IPv6Network("::ffff:0:0/96")  # IPv4-mapped (RFC 4291)
COMPATIBLE = IPv6Network("::/96")  # IPv4-compatible (RFC 4291, deprecated)
NAT64 = IPv6Network("64:ff9b::/96")  # NAT64 well-known prefix (RFC 6052)
NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")  # NAT64 local-use prefix (RFC 8215), read as a /96 from it
SIX_TO_FOUR = IPv6Network("2002::/16")  # 6to4 (RFC 3056)
TEREDO = IPv6Network("2001::/32")  # Teredo (RFC 4380)


def parse_address(text: str | IPAddress) -> IPAddress:
    """An address as written in a URL, a sockaddr or a resolve entry: brackets and an IPv6 zone allowed.
    Raises ValueError for anything else."""
    if isinstance(text, (IPv4Address, IPv6Address)):
        return text
    return ip_address(text.strip().removeprefix("[").removesuffix("]"))


def shown(address: IPAddress) -> str:
    """An address as a reason shows it: one that carries an IPv4 address in its last 32 bits with that
    address dotted (::ffff:127.0.0.1, 64:ff9b::10.0.0.1), as people write them."""
    if isinstance(address, IPv6Address) and address in MAPPED:
        return f"::ffff:{IPv4Address(int(address) & 0xFFFFFFFF)}"
    if isinstance(address, IPv6Address) and int(address) > 1 and any(
            address in net for net in (MAPPED, COMPATIBLE, NAT64, NAT64_LOCAL)):
        prefix = str(IPv6Address(int(address) & ~0xFFFFFFFF))
        if prefix.endswith("::"):
            return f"{prefix}{IPv4Address(int(address) & 0xFFFFFFFF)}"
    return str(address)


def embedded(address: IPv6Address) -> tuple[str, tuple[IPv4Address, ...]] | None:
    """(form, the IPv4 addresses it carries) for an IPv6 address of a form that carries one."""
    low32 = IPv4Address(int(address) & 0xFFFFFFFF)
    if address in MAPPED:
        return "IPv4-mapped", (low32,)
    if address in COMPATIBLE and int(address) > 1:  # :: and ::1 are IPv6's own
        return "IPv4-compatible", (low32,)
    if address in NAT64 or address in NAT64_LOCAL:
        return "NAT64", (low32,)
    if address in SIX_TO_FOUR:
        assert address.sixtofour is not None
        return "6to4", (address.sixtofour,)
    if address in TEREDO:
        assert address.teredo is not None
        server, client = address.teredo
        return "Teredo", (client, server)
    return None


def classify(address: IPAddress) -> tuple[str, bool] | None:
    """Why `address` is not a public unicast address, and whether `allow_private` opens it; None
    for a globally routable one. Policy-free: AddressPolicy.check applies the user's choices."""
    if isinstance(address, IPv6Address):
        carried = embedded(address)
        if carried is not None:
            form, inner = carried
            for ipv4 in inner:
                found = classify(ipv4)
                if found is not None:
                    what, private = found
                    # The deprecated IPv4-compatible form reaches nothing: no opening it by allow_private.
                    return f"the {form} form of {ipv4}, which is {what}", private and form != "IPv4-compatible"
            if form == "IPv4-compatible":  # deprecated: nothing routes it, whatever it carries
                return "IPv4-compatible (deprecated, RFC 4291)", False
            return None
    for row in RANGES:
        if address.version == row.network.version and address in row.network:
            return row.what, row.private
    if isinstance(address, IPv6Address) and address not in GLOBAL_UNICAST_V6:
        return "reserved (outside 2000::/3)", False
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which refused ranges the user opened: `allow_private` (every private network) and `allow`
    (exactly these networks; an IPv6 form carrying an IPv4 address is opened by its IPv4 address too)."""

    allow_private: bool = False
    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def of(cls, allow_private: bool, allow: Iterable[str]) -> AddressPolicy:
        """From the settings' values (CIDR strings, checked by config.py when read)."""
        networks = []
        for cidr in allow:
            try:
                networks.append(ip_network(cidr))
            except ValueError as exc:
                raise ConfigError(f"allow entry {cidr!r}: {exc}") from exc
        return cls(allow_private, tuple(networks))

    def opened(self, address: IPAddress) -> bool:
        """Whether an `allow` network holds the address or the IPv4 address it carries."""
        seen: list[IPAddress] = [address]
        if isinstance(address, IPv6Address):
            carried = embedded(address)
            if carried is not None:
                seen.extend(carried[1])
        return any(a.version == net.version and a in net for a in seen for net in self.allow)

    def check(self, address: str | IPAddress) -> str | None:
        """None when archiver may connect to `address`, else the reason, naming it:
        "169.254.169.254 is link-local (cloud metadata)". Raises ValueError for a non-address."""
        ip = parse_address(address)
        if self.allow and self.opened(ip):
            return None
        found = classify(ip)
        if found is None:
            return None
        what, private = found
        if private and self.allow_private:
            return None
        return f"{shown(ip)} is {what}"

    def check_name(self, host: str) -> str | None:
        """A reason to refuse a host name before any lookup: `localhost` and names under `.localhost`
        are loopback wherever they are resolved (RFC 6761), a proxy included."""
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            reason = self.check("127.0.0.1")
            return f"{host} is loopback (RFC 6761)" if reason is not None else None
        return None


class AddressRefused(OSError):
    """Every candidate address of a connection is one the policy refuses: nothing was connected."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def literal(host: str, port: int) -> list[Candidate] | None:
    """The candidate when `host` is an address in any form the C library reads as one (127.0.0.1, but
    also 127.1, 2130706433, 0x7f.0.0.1, as a proxy or urllib3 would read it); None for a name."""
    try:
        found = socket.getaddrinfo(host.strip("[]"), port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return None
    return [(int(family), int(kind), proto, name, sockaddr) for family, kind, proto, name, sockaddr in found]


def numeric(address: str, port: int) -> list[Candidate]:
    """The candidate for an address given as text (no lookup: AI_NUMERICHOST)."""
    found = socket.getaddrinfo(str(parse_address(address)), port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    return [(int(family), int(kind), proto, name, sockaddr) for family, kind, proto, name, sockaddr in found]


def resolve(host: str, port: int) -> list[Candidate]:
    """Every address `host` resolves to, in the resolver's order. Raises socket.gaierror."""
    found = socket.getaddrinfo(host.strip("[]"), port, 0, socket.SOCK_STREAM)
    return [(int(family), int(kind), proto, name, sockaddr) for family, kind, proto, name, sockaddr in found]


def sort(candidates: Sequence[Candidate], policy: AddressPolicy) -> tuple[list[Candidate], list[str]]:
    """(the candidates the policy allows, in order; the reasons for those it refuses)."""
    allowed: list[Candidate] = []
    refused: list[str] = []
    for candidate in candidates:
        reason = policy.check(str(candidate[4][0]))
        if reason is None:
            allowed.append(candidate)
        elif reason not in refused:
            refused.append(reason)
    return allowed, refused


def refusal(refused: Sequence[str]) -> str:
    """One line for a host none of whose addresses may be connected."""
    if len(refused) <= 2:
        return "; ".join(refused)
    return f"{refused[0]}; {refused[1]}; and {len(refused) - 2} more refused addresses"


def dial(
    candidates: Sequence[Candidate],
    policy: AddressPolicy | None,
    *,
    timeout: float | None = None,
    source_address: tuple[str, int] | None = None,
    socket_options: Iterable[tuple[int, int, int | bytes]] = (),
) -> socket.socket:
    """A socket connected to the first candidate that answers among those `policy` allows (None: a
    trusted destination, the configured proxy). Raises AddressRefused when the policy allows none,
    else the last connection error (socket.timeout among them). `timeout` None: the socket default."""
    refused: list[str] = []
    if policy is None:
        allowed = list(candidates)
    else:
        allowed, refused = sort(candidates, policy)
    if not candidates:
        raise OSError("no address to connect to")
    if not allowed:
        raise AddressRefused(refusal(refused))
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in allowed:
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options:
                sock.setsockopt(*option)
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address is not None:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    assert error is not None
    raise error


__all__ = [
    "RANGES",
    "AddressPolicy",
    "AddressRefused",
    "Candidate",
    "Range",
    "classify",
    "dial",
    "embedded",
    "literal",
    "numeric",
    "parse_address",
    "refusal",
    "resolve",
    "shown",
    "sort",
]

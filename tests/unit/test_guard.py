"""The address guard's policy, address by address (every refused range, its edges, the IPv6 forms that
carry an IPv4 address), what allow-private and `allow` open, and `dial` on real loopback sockets:
refused candidates are never connected, the allowed ones in the resolver's order."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from offhost import armed

from archiver.fetch.guard import (
    NAT64_LOCAL,
    RANGES,
    AddressPolicy,
    AddressRefused,
    classify,
    dial,
    literal,
    numeric,
    refusal,
    shown,
)

DEFAULT = AddressPolicy()
PRIVATE = AddressPolicy(allow_private=True)


@pytest.fixture(autouse=True)
def no_connection_leaves_the_machine() -> Iterator[None]:
    with armed():
        yield


# (address, the reason the default policy gives; None: allowed)
REFUSED = [
    # IPv4: loopback, RFC 1918, link-local and the metadata services on it, CGNAT
    ("127.0.0.1", "127.0.0.1 is loopback"),
    ("127.255.255.254", "127.255.255.254 is loopback"),
    ("10.0.0.0", "10.0.0.0 is private (RFC 1918)"),
    ("10.255.255.255", "10.255.255.255 is private (RFC 1918)"),
    ("172.16.0.1", "172.16.0.1 is private (RFC 1918)"),
    ("172.31.255.254", "172.31.255.254 is private (RFC 1918)"),
    ("192.168.0.1", "192.168.0.1 is private (RFC 1918)"),
    ("192.168.255.255", "192.168.255.255 is private (RFC 1918)"),
    ("169.254.169.254", "169.254.169.254 is link-local (cloud metadata)"),
    ("169.254.170.2", "169.254.170.2 is link-local (container metadata)"),
    ("169.254.0.1", "169.254.0.1 is link-local"),
    ("169.254.255.255", "169.254.255.255 is link-local"),
    ("100.100.100.200", "100.100.100.200 is CGNAT (cloud metadata)"),
    ("100.64.0.0", "100.64.0.0 is CGNAT (RFC 6598 shared address space)"),
    ("100.127.255.255", "100.127.255.255 is CGNAT (RFC 6598 shared address space)"),
    # IPv4: unspecified, multicast, broadcast, reserved, documentation, benchmarking
    ("0.0.0.0", "0.0.0.0 is unspecified"),
    ("0.1.2.3", "0.1.2.3 is 'this network' (reserved)"),
    ("224.0.0.1", "224.0.0.1 is multicast"),
    ("239.255.255.250", "239.255.255.250 is multicast"),
    ("255.255.255.255", "255.255.255.255 is broadcast"),
    ("240.0.0.1", "240.0.0.1 is reserved (240.0.0.0/4)"),
    ("255.255.255.254", "255.255.255.254 is reserved (240.0.0.0/4)"),
    ("192.0.0.8", "192.0.0.8 is reserved (IETF protocol assignments)"),
    ("192.88.99.1", "192.88.99.1 is reserved (6to4 relay anycast)"),
    ("192.0.2.1", "192.0.2.1 is documentation (TEST-NET-1)"),
    ("198.51.100.7", "198.51.100.7 is documentation (TEST-NET-2)"),
    ("203.0.113.9", "203.0.113.9 is documentation (TEST-NET-3)"),
    ("198.18.0.1", "198.18.0.1 is benchmarking (RFC 2544)"),
    ("198.19.255.255", "198.19.255.255 is benchmarking (RFC 2544)"),
    # IPv6
    ("::1", "::1 is loopback"),
    ("::", ":: is unspecified"),
    ("fc00::1", "fc00::1 is unique local (ULA)"),
    ("fd12:3456:789a::1", "fd12:3456:789a::1 is unique local (ULA)"),
    ("fd00:ec2::254", "fd00:ec2::254 is unique local (cloud metadata)"),
    ("fe80::1", "fe80::1 is link-local"),
    ("fe80::1%eth0", "fe80::1%eth0 is link-local"),
    ("febf:ffff::1", "febf:ffff::1 is link-local"),
    ("fec0::1", "fec0::1 is site-local (deprecated)"),
    ("ff02::1", "ff02::1 is multicast"),
    ("ff05::1:3", "ff05::1:3 is multicast"),
    ("100::1", "100::1 is discard-only (RFC 6666)"),
    ("2001:db8::1", "2001:db8::1 is documentation"),
    ("3fff::1", "3fff::1 is documentation"),
    ("2001:2::1", "2001:2::1 is benchmarking (RFC 5180)"),
    ("2001:10::1", "2001:10::1 is reserved (ORCHID)"),
    ("2001:20::1", "2001:20::1 is reserved (ORCHIDv2)"),
    ("5f00::1", "5f00::1 is reserved (outside 2000::/3)"),
    ("4000::1", "4000::1 is reserved (outside 2000::/3)"),
    ("1234::1", "1234::1 is reserved (outside 2000::/3)"),
    # IPv6 forms that carry an IPv4 address: judged by it
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1 is the IPv4-mapped form of 127.0.0.1, which is loopback"),
    ("[::ffff:7f00:1]", "::ffff:127.0.0.1 is the IPv4-mapped form of 127.0.0.1, which is loopback"),
    ("::ffff:169.254.169.254",
     "::ffff:169.254.169.254 is the IPv4-mapped form of 169.254.169.254, which is link-local (cloud metadata)"),
    ("::ffff:10.1.2.3", "::ffff:10.1.2.3 is the IPv4-mapped form of 10.1.2.3, which is private (RFC 1918)"),
    ("::ffff:0:0", "::ffff:0.0.0.0 is the IPv4-mapped form of 0.0.0.0, which is unspecified"),
    ("::127.0.0.1", "::127.0.0.1 is the IPv4-compatible form of 127.0.0.1, which is loopback"),
    ("::8.8.8.8", "::8.8.8.8 is IPv4-compatible (deprecated, RFC 4291)"),
    ("64:ff9b::127.0.0.1", "64:ff9b::127.0.0.1 is the NAT64 form of 127.0.0.1, which is loopback"),
    ("64:ff9b::a9fe:a9fe",
     "64:ff9b::169.254.169.254 is the NAT64 form of 169.254.169.254, which is link-local (cloud metadata)"),
    ("64:ff9b:1::10.0.0.1", "64:ff9b:1::10.0.0.1 is the NAT64 form of 10.0.0.1, which is private (RFC 1918)"),
    ("2002:7f00:1::", "2002:7f00:1:: is the 6to4 form of 127.0.0.1, which is loopback"),
    ("2002:a9fe:a9fe::1",
     "2002:a9fe:a9fe::1 is the 6to4 form of 169.254.169.254, which is link-local (cloud metadata)"),
    ("2002:c0a8:101::1", "2002:c0a8:101::1 is the 6to4 form of 192.168.1.1, which is private (RFC 1918)"),
    # Teredo: server 65.54.227.120, client 192.168.1.1 (stored inverted); then a private server
    ("2001:0:4136:e378:8000:63bf:3f57:fefe",
     "2001:0:4136:e378:8000:63bf:3f57:fefe is the Teredo form of 192.168.1.1, which is private (RFC 1918)"),
    ("2001:0:a00:1:8000:63bf:f7f7:f7f7",
     "2001:0:a00:1:8000:63bf:f7f7:f7f7 is the Teredo form of 10.0.0.1, which is private (RFC 1918)"),
]
ALLOWED = [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "11.0.0.0", "9.255.255.255", "126.255.255.255", "128.0.0.0",
    "100.63.255.255", "100.128.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0",
    "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0", "223.255.255.255", "1.0.0.0",
    "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001:82b::200e", "2000::1", "3ffe::1",
    "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, public server and client (8.8.8.8)
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_refused_by_default(address: str, reason: str) -> None:
    assert DEFAULT.check(address) == reason


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert DEFAULT.check(address) is None
    assert PRIVATE.check(address) is None


# What allow-private opens: the private networks, and the forms carrying one (but not the deprecated one).
OPENED_BY_PRIVATE = ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.0.1", "100.64.0.1", "::1",
                     "fc00::1", "fe80::1", "fec0::1", "::ffff:127.0.0.1", "64:ff9b::10.0.0.1", "2002:c0a8:101::1"]
STILL_REFUSED = ["169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "::ffff:169.254.169.254",
                 "0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255", "240.0.0.1", "192.0.2.1", "2001:db8::1",
                 "198.18.0.1", "::127.0.0.1", "5f00::1"]


@pytest.mark.parametrize("address", OPENED_BY_PRIVATE)
def test_allow_private_opens_the_private_networks(address: str) -> None:
    assert DEFAULT.check(address) is not None
    assert PRIVATE.check(address) is None


@pytest.mark.parametrize("address", STILL_REFUSED)
def test_allow_private_never_opens_metadata_or_special_ranges(address: str) -> None:
    assert PRIVATE.check(address) == DEFAULT.check(address) is not None


@pytest.mark.parametrize(("allow", "opened", "closed"), [
    (["10.0.0.0/8"], ["10.1.2.3", "::ffff:10.1.2.3", "64:ff9b::10.1.2.3", "2002:a01:203::1"],
     ["172.16.0.1", "192.168.1.1", "127.0.0.1", "100.64.0.1"]),
    (["127.0.0.1/32"], ["127.0.0.1", "::ffff:127.0.0.1"], ["127.0.0.2", "::1", "10.0.0.1"]),
    (["169.254.169.254/32"], ["169.254.169.254"], ["169.254.0.1", "169.254.170.2", "fd00:ec2::254"]),
    (["fd00::/8"], ["fd12::1", "fd00:ec2::254"], ["fc00::1", "fe80::1", "::1"]),
    (["192.0.2.0/24", "::/128"], ["192.0.2.1", "::"], ["198.51.100.1", "0.0.0.0"]),
])
def test_allow_opens_exactly_the_listed_networks(allow: list[str], opened: list[str], closed: list[str]) -> None:
    policy = AddressPolicy.of(False, allow)
    assert [a for a in opened if policy.check(a) is not None] == []
    assert [a for a in closed if policy.check(a) is None] == []
    assert [a for a in ALLOWED if policy.check(a) is not None] == []


def test_localhost_names_are_loopback_before_any_lookup() -> None:
    for name in ("localhost", "LOCALHOST.", "admin.localhost", "a.b.localhost"):
        assert DEFAULT.check_name(name) == f"{name} is loopback (RFC 6761)"
        assert PRIVATE.check_name(name) is None
        assert AddressPolicy.of(False, ["127.0.0.0/8"]).check_name(name) is None
    for name in ("localhost.example.org", "notlocalhost", "example.org"):
        assert DEFAULT.check_name(name) is None


def test_not_an_address_is_a_value_error() -> None:
    for text in ("example.org", "", "300.1.1.1", "::g"):
        with pytest.raises(ValueError):
            DEFAULT.check(text)


@pytest.mark.parametrize(("host", "address"), [
    ("127.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f.0.0.1", "127.0.0.1"),
    ("017700000001", "127.0.0.1"), ("0", "0.0.0.0"), ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"), ("::1", "::1"),
    ("example.org", None), ("1.2.3.4.5", None), ("localhost", None), ("bücher.example", None),
])
def test_literal_reads_addresses_as_the_c_library_does(host: str, address: str | None) -> None:
    """Without a lookup (a name is None): the forms a proxy or urllib3 would take for an address."""
    found = literal(host, 80)
    assert (None if found is None else {c[4][0] for c in found}) == (None if address is None else {address})


def test_shown_writes_carried_ipv4_addresses_dotted() -> None:
    assert shown(ip_address("::ffff:7f00:1")) == "::ffff:127.0.0.1"
    assert shown(ip_address("64:ff9b::a00:1")) == "64:ff9b::10.0.0.1"
    assert shown(ip_address("::a00:1")) == "::10.0.0.1"
    assert shown(ip_address("::1")) == "::1" and shown(ip_address("2001:db8::1")) == "2001:db8::1"


# ------------------------------------------------------------------------------------------------
# Properties: never laxer than the IANA registry as Python reads it


def _in(network: str) -> st.SearchStrategy[str]:
    net = ip_address(network.split("/")[0])
    size = 2 ** ((32 if net.version == 4 else 128) - int(network.split("/")[1]))
    return st.integers(0, size - 1).map(lambda n: str(ip_address(int(net) + n)))


addresses = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda n: str(IPv4Address(n))),
    st.integers(0, 2**128 - 1).map(lambda n: str(IPv6Address(n))),
    st.sampled_from([str(r.network) for r in RANGES]).flatmap(_in),
    st.sampled_from(["::ffff:0:0/96", "64:ff9b::/96", "2002::/16", "2001::/32", "::/96"]).flatmap(_in),
)


@given(addresses)
def test_what_the_guard_allows_the_registry_calls_global(text: str) -> None:
    address = ip_address(text)
    if DEFAULT.check(address) is not None:
        return
    # Python reads 2001::/23 (Teredo included) and ::ffff:0:0/96 as not global, whatever they carry;
    # the guard judges what they carry. Everything else it allows, the registry calls global.
    carried = isinstance(address, IPv6Address) and (address in IPv6Network("2001::/23")
                                                     or address.ipv4_mapped is not None or address in NAT64_LOCAL)
    assert carried or address.is_global, text


@given(addresses, st.lists(st.sampled_from(["10.0.0.0/8", "127.0.0.0/8", "fd00::/8", "169.254.169.254/32"])))
def test_opening_never_closes(text: str, allow: list[str]) -> None:
    """allow-private and `allow` only open: what the default allows they allow, and what they refuse
    they refuse with the default's reason."""
    policies = [PRIVATE, AddressPolicy.of(False, allow), AddressPolicy.of(True, allow)]
    default = DEFAULT.check(text)
    for policy in policies:
        reason = policy.check(text)
        assert reason is None or reason == default
    assert (default is None) == (classify(ip_address(text)) is None)


# ------------------------------------------------------------------------------------------------
# dial: real sockets on loopback


@pytest.fixture()
def listeners() -> Iterator[dict[str, socket.socket]]:
    """Listening sockets on 127.0.0.2 and 127.0.0.3, one port: two DNS answers for one name."""
    first = socket.create_server(("127.0.0.3", 0))
    port = first.getsockname()[1]
    second = socket.create_server(("127.0.0.2", port))
    for sock in (first, second):
        sock.setblocking(False)
    yield {"127.0.0.3": first, "127.0.0.2": second}
    first.close()
    second.close()


def accepted(listener: socket.socket) -> bool:
    """Whether a connection is waiting on `listener` (dial has returned: any connect it made is queued)."""
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def test_dial_skips_refused_candidates(listeners: dict[str, socket.socket]) -> None:
    port = listeners["127.0.0.3"].getsockname()[1]
    candidates = numeric("127.0.0.2", port) + numeric("127.0.0.3", port)
    with dial(candidates, AddressPolicy.of(False, ["127.0.0.3/32"]), timeout=2) as sock:
        assert sock.getpeername() == ("127.0.0.3", port)
    assert accepted(listeners["127.0.0.3"]) and not accepted(listeners["127.0.0.2"])


def test_dial_keeps_the_resolvers_order_among_allowed_candidates(listeners: dict[str, socket.socket]) -> None:
    port = listeners["127.0.0.3"].getsockname()[1]
    candidates = numeric("127.0.0.2", port) + numeric("127.0.0.3", port)
    with dial(candidates, PRIVATE, timeout=2) as sock:
        assert sock.getpeername() == ("127.0.0.2", port)


def test_dial_falls_through_a_dead_candidate_to_the_next_allowed(listeners: dict[str, socket.socket]) -> None:
    port = listeners["127.0.0.3"].getsockname()[1]
    candidates = numeric("127.0.0.4", port) + numeric("127.0.0.3", port)  # nothing listens on .4
    with dial(candidates, PRIVATE, timeout=2) as sock:
        assert sock.getpeername() == ("127.0.0.3", port)


def test_dial_refuses_when_no_candidate_is_allowed(listeners: dict[str, socket.socket]) -> None:
    port = listeners["127.0.0.3"].getsockname()[1]
    candidates = numeric("127.0.0.2", port) + numeric("127.0.0.3", port) + numeric("::ffff:127.0.0.3", port)
    with pytest.raises(AddressRefused) as refused:
        dial(candidates, DEFAULT, timeout=2)
    assert refused.value.reason == ("127.0.0.2 is loopback; 127.0.0.3 is loopback; and 1 more refused addresses")
    assert not any(accepted(listener) for listener in listeners.values())


def test_a_trusted_destination_is_dialled_as_given(listeners: dict[str, socket.socket]) -> None:
    """policy None: the configured proxy, whose address the user chose."""
    port = listeners["127.0.0.3"].getsockname()[1]
    with dial(numeric("127.0.0.3", port), None, timeout=2) as sock:
        assert sock.getpeername() == ("127.0.0.3", port)


def test_refusal_names_at_most_two_addresses() -> None:
    assert refusal(["a"]) == "a"
    assert refusal(["a", "b"]) == "a; b"
    assert refusal(["a", "b", "c", "d"]) == "a; b; and 2 more refused addresses"

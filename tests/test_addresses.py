"""core.addresses: the address-set type the program, the split and the drift evaluator share.

Every property is checked here once, against Python's `ipaddress` as the oracle, in IPv4 and IPv6:
the set operations against brute-force membership of sampled addresses, and every result's CIDR
cover against `ipaddress.collapse_addresses` of the same set (the standard library's cover is minimal
and exact, so equal lists mean ours is too). The strict parser the program uses (core.ips.to_span)
and the IAM reading the drift evaluator uses (`Ranges.of`) are checked against `ipaddress` as well.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.addresses import AddressSyntaxError, Network, Ranges, Span
from core.ips import AddressError, collapse, to_network, to_span

ALL4, ALL6 = ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")
EVERYWHERE, NOTHING = Ranges.all(), Ranges.none()

# Oracle: set operations on lists of networks with ipaddress alone ---------------------------------


def std_cover(nets: Iterable[Network]) -> list[str]:
    """ipaddress's minimal cover of the networks' union: IPv4 first, then IPv6, ascending."""
    nets = list(nets)
    v4 = [n for n in nets if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in nets if isinstance(n, ipaddress.IPv6Network)]
    return [str(n) for n in ipaddress.collapse_addresses(v4)] + [str(n) for n in ipaddress.collapse_addresses(v6)]


def std_minus(a: Iterable[Network], b: Iterable[Network]) -> list[Network]:
    """A minus B with ipaddress: two CIDRs either are disjoint or one contains the other."""
    out = [ipaddress.ip_network(c) for c in std_cover(a)]
    for cut in [ipaddress.ip_network(c) for c in std_cover(b)]:
        rest: list[Network] = []
        for net in out:
            if net.version != cut.version or not net.overlaps(cut):
                rest.append(net)
            elif not cut.supernet_of(net):  # type: ignore[arg-type]
                rest += net.address_exclude(cut)  # type: ignore[arg-type]
        out = rest
    return out


def brute(nets: list[Network], addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(addr in n for n in nets)


# Strategies ------------------------------------------------------------------------------------
# Networks near a few anchors, so that overlaps, containment and adjacency are common, plus some
# anywhere; IPv6 prefixes from /56, so that the covers stay small enough to compare quickly.

def _net(version: int, base: int, prefix: int) -> Network:
    return ipaddress.ip_network((base, prefix), strict=False)


ANCHORS4 = [0, 0x0A000000, 0xC0000200, 2**32 - 256]
ANCHORS6 = [0, 0x2001_0DB8 << 96, 2**128 - 256]
ipv4 = st.one_of(
    st.builds(lambda a, off, p: _net(4, a + off, p), st.sampled_from(ANCHORS4), st.integers(0, 255), st.integers(24, 32)),
    st.builds(lambda a, p: _net(4, a, p), st.integers(0, 2**32 - 1), st.integers(1, 32)),
)
ipv6 = st.one_of(
    st.builds(lambda a, off, p: _net(6, a + off, p), st.sampled_from(ANCHORS6), st.integers(0, 255), st.integers(120, 128)),
    st.builds(lambda a, p: _net(6, a, p), st.integers(0, 2**128 - 1), st.integers(56, 128)),
)
networks = st.lists(st.one_of(ipv4, ipv6), max_size=24)


def samples(nets: list[Network], rnd: random.Random) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every network's edges and their neighbours (where sets change), the families' ends, and random addresses."""
    points: set[tuple[int, int]] = {(4, 0), (4, 2**32 - 1), (6, 0), (6, 2**128 - 1)}
    for n in nets:
        last = 2**32 - 1 if n.version == 4 else 2**128 - 1
        lo, hi = int(n.network_address), int(n.broadcast_address)
        points |= {(n.version, x) for x in (lo - 1, lo, hi, hi + 1, rnd.randint(lo, hi)) if 0 <= x <= last}
    points |= {(4, rnd.getrandbits(32)) for _ in range(8)} | {(6, rnd.getrandbits(128)) for _ in range(8)}
    return [ipaddress.IPv4Address(x) if v == 4 else ipaddress.IPv6Address(x) for v, x in sorted(points)]


# Properties ------------------------------------------------------------------------------------


@given(networks, st.randoms(use_true_random=False))
@settings(max_examples=300, deadline=None)
def test_the_cover_is_ipaddress_minimal_cover_whatever_the_order_and_duplicates(nets: list[Network], rnd: random.Random) -> None:
    shuffled = nets + nets[: len(nets) // 2]
    rnd.shuffle(shuffled)
    got = Ranges.from_networks(shuffled)
    assert got.cidrs() == std_cover(nets)
    assert collapse(shuffled) == got.cidrs()  # what core.ips hands to the policies
    assert Ranges.of(got.cidrs()) == got  # the cover is the set: reading it back gives it again


@given(networks, networks, st.randoms(use_true_random=False))
@settings(max_examples=300, deadline=None)
def test_set_operations_agree_with_ipaddress(a: list[Network], b: list[Network], rnd: random.Random) -> None:
    left, right = Ranges.from_networks(a), Ranges.from_networks(b)
    union, inter, diff, comp = left | right, left & right, left - right, ~left

    # Exactness and minimality of every result's cover: equal to ipaddress's cover of the same set.
    assert union.cidrs() == std_cover(a + b)
    assert diff.cidrs() == std_cover(std_minus(a, b))
    assert inter.cidrs() == std_cover(std_minus(a, std_minus(a, b)))
    assert comp.cidrs() == std_cover(std_minus([ALL4, ALL6], a))

    # Membership, against brute force on the addresses where the sets can change.
    for addr in samples(a + b, rnd):
        in_a, in_b = brute(a, addr), brute(b, addr)
        assert left.contains(str(addr)) == in_a
        assert union.contains(str(addr)) == (in_a or in_b)
        assert inter.contains(str(addr)) == (in_a and in_b)
        assert diff.contains(str(addr)) == (in_a and not in_b)
        assert comp.contains(str(addr)) == (not in_a)

    # A canonical representation: equality is set equality, whichever way the set was reached.
    assert (left - right) | (left & right) == left
    assert ~~left == left and left | ~left == EVERYWHERE and (left & ~left).is_empty()
    assert bool(left) == bool(a)


ENTRIES = st.one_of(
    st.builds(lambda a, p: f"{ipaddress.IPv4Address(a)}/{p}", st.integers(0, 2**32 - 1), st.integers(0, 32)),
    st.builds(lambda a: str(ipaddress.IPv4Address(a)), st.integers(0, 2**32 - 1)),
    st.from_regex(r"\A[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}(/[0-9]{1,3})?\Z"),
    st.builds(lambda a, p: f"{ipaddress.IPv6Address(a)}/{p}", st.integers(0, 2**128 - 1), st.integers(0, 128)),
)


@given(ENTRIES)
@settings(max_examples=300, deadline=None)
def test_the_fast_parser_accepts_and_refuses_exactly_what_ipaddress_does(entry: str) -> None:
    # The strict reading (the program's settings and Atlas's answers): host bits refused.
    try:
        net = to_network(entry, "e")
    except AddressError as exc:
        with pytest.raises(AddressError) as fast:
            to_span(entry, "e")
        assert str(fast.value) == str(exc)
    else:
        span = to_span(entry, "e")
        assert span == Span.of_network(net) and span.cidr == str(net)
    # IAM's reading (live policies): host bits cleared.
    try:
        lenient = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        with pytest.raises(AddressSyntaxError):
            Ranges.of([entry])
    else:
        assert Ranges.of([entry]).cidrs() == [str(lenient)]


# Examples --------------------------------------------------------------------------------------


def test_the_fast_parser_refuses_digits_of_other_scripts_as_ipaddress_does() -> None:
    for entry in ("3\u0661.2.3.4", "3.2.3.\u0664", "3.2.3.4/2\u0664"):
        with pytest.raises(AddressError):
            to_network(entry, "e")
        with pytest.raises(AddressError):
            to_span(entry, "e")
        with pytest.raises(AddressSyntaxError):
            Ranges.of([entry])


def test_ranges_merge_entries_and_read_host_bits_as_iam_does() -> None:
    r = Ranges.of(["10.0.0.1/24", "10.0.1.0/24", "10.0.0.7", "2001:db8::/33", "2001:db8:8000::/33"])
    assert r.cidrs() == ["10.0.0.0/23", "2001:db8::/32"]  # IPv4 first, merged, host bits cleared
    assert r == Ranges.of(["2001:db8::/32", "10.0.0.0/23"])  # a set: order and form do not matter
    assert Ranges.of("192.0.2.1") == Ranges.of(["192.0.2.1/32"])  # a single string is one entry, as in IAM


def test_ranges_set_algebra_within_each_family() -> None:
    a, b = Ranges.of(["10.0.0.0/24", "2001:db8::/64"]), Ranges.of(["10.0.0.128/25", "192.0.2.0/24"])
    assert (a | b).cidrs() == ["10.0.0.0/24", "192.0.2.0/24", "2001:db8::/64"]
    assert (a & b).cidrs() == ["10.0.0.128/25"]
    assert (a - b).cidrs() == ["10.0.0.0/25", "2001:db8::/64"]
    assert (~a).contains("10.0.1.0") and not (~a).contains("10.0.0.255") and (~a).contains("::1")
    assert ~EVERYWHERE == NOTHING and ~NOTHING == EVERYWHERE
    assert EVERYWHERE.cidrs() == ["0.0.0.0/0", "::/0"] and NOTHING.cidrs() == []
    assert NOTHING.is_empty() and not EVERYWHERE.is_empty() and not bool(NOTHING)


def test_ranges_never_mix_families() -> None:
    v4, v6 = Ranges.of(["0.0.0.0/0"]), Ranges.of(["::/0"])
    assert not v4.contains("::ffff:10.0.0.1") and not v6.contains("10.0.0.1")
    assert (v4 & v6).is_empty() and v4 | v6 == EVERYWHERE and ~v4 == v6


def test_ranges_are_hashable_values() -> None:
    assert len({Ranges.of(["10.0.0.0/8"]), Ranges.of(["10.0.0.0/9", "10.128.0.0/9"]), Ranges(((10 << 24, (11 << 24) - 1),))}) == 1


def test_intervals_given_directly_are_checked_and_merged() -> None:
    assert Ranges(((5, 9), (0, 4)), ((1, 1),)).cidrs() == ["0.0.0.0/29", "0.0.0.8/31", "::1/128"]
    with pytest.raises(ValueError, match="IPv4 interval out of range"):
        Ranges(((0, 2**32),))


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "not-an-ip", "", " 10.0.0.1", "10.0.0.0/8/8", "10.0.0.0/", "10.0.0.0/255.0.0.0",
                                 "fe80::1%eth0", 42])
def test_ranges_refuse_malformed_entries(bad: Any) -> None:
    with pytest.raises(AddressSyntaxError, match="not an IP address or CIDR"):
        Ranges.of([bad])

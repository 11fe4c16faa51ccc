"""The allowed source-address set: normalising, collapsing, selecting, in examples and properties."""

from __future__ import annotations

import ipaddress
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ips import (
    AddressError,
    ClusterAddresses,
    Origin,
    SourceSelection,
    build_address_set,
    canonical_cidrs,
    collapse,
    to_network,
)
from tests.address_math import covered

CONTROL_PLANE = {
    "aws": {"us-east-1": ["3.92.113.229/32", "3.212.79.116/32"], "eu-west-1": ["192.0.2.16/29"]},
    "azure": {"westeurope": ["192.0.2.64/28"]},
    "gcp": {"us-central1": ["192.0.2.128/32"]},
}
CLUSTERS = [
    ClusterAddresses("orders", outbound=("198.51.100.10", "198.51.100.11"), future_outbound=("198.51.100.12",)),
    ClusterAddresses("payments", outbound=("203.0.113.5",)),
]


def test_a_bare_address_becomes_a_host_network() -> None:
    assert str(to_network("3.92.113.229", "x")) == "3.92.113.229/32"
    assert str(to_network("2001:db8::1", "x")) == "2001:db8::1/128"


@pytest.mark.parametrize("bad", ["", "3.92.113", "300.1.1.1", "3.92.113.229/33", "not-an-ip", "1.2.3.4/24 x"])
def test_malformed_entries_are_refused_naming_where_they_came_from(bad: str) -> None:
    with pytest.raises(AddressError, match=r"^sourceIps\.extraCidrs\[0\]"):
        canonical_cidrs([bad], "sourceIps.extraCidrs")


def test_host_bits_are_refused_with_the_network_meant() -> None:
    with pytest.raises(AddressError, match=r"did you mean 10\.0\.0\.0/24"):
        to_network("10.0.0.1/24", "extraCidrs[0]")


def test_adjacent_and_contained_networks_collapse_ipv4_first() -> None:
    got = canonical_cidrs(["10.0.0.1", "10.0.0.0", "10.0.0.0/31", "2001:db8::/33", "2001:db8:8000::/33", "9.0.0.0/8"])
    assert got == ["9.0.0.0/8", "10.0.0.0/31", "2001:db8::/32"]


def test_sorting_is_numeric_not_lexical() -> None:
    assert canonical_cidrs(["100.0.0.1", "3.0.0.1", "20.0.0.1"]) == ["3.0.0.1/32", "20.0.0.1/32", "100.0.0.1/32"]


def test_all_control_plane_clouds_and_all_clusters_with_future_addresses_by_default() -> None:
    result = build_address_set(CONTROL_PLANE, CLUSTERS, SourceSelection())
    assert result.cidrs == (
        "3.92.113.229/32",
        "3.212.79.116/32",
        "192.0.2.16/29",
        "192.0.2.64/28",
        "192.0.2.128/32",
        "198.51.100.10/31",
        "198.51.100.12/32",
        "203.0.113.5/32",
    )


def test_selection_narrows_clouds_and_clusters_and_can_leave_out_future_addresses() -> None:
    selection = SourceSelection(control_plane=("aws",), clusters=("orders",), include_future=False, extra_cidrs=("192.0.2.240/28",))
    result = build_address_set(CONTROL_PLANE, CLUSTERS, selection)
    assert result.cidrs == ("3.92.113.229/32", "3.212.79.116/32", "192.0.2.16/29", "192.0.2.240/28", "198.51.100.10/31")


def test_every_address_knows_where_it_comes_from() -> None:
    result = build_address_set(CONTROL_PLANE, CLUSTERS, SourceSelection())
    assert result.origins_of("198.51.100.12/32") == (Origin("cluster-future", "orders"),)
    assert Origin("control-plane", "aws/us-east-1") in result.origins_of("3.92.113.229/32")
    assert result.origins_of("198.51.100.10/31") == (Origin("cluster", "orders"),)


def test_a_project_without_clusters_allows_the_control_plane_only() -> None:
    result = build_address_set(CONTROL_PLANE, [], SourceSelection())
    assert len(result.cidrs) == 5


def test_an_empty_control_plane_is_an_error_not_a_lockout() -> None:
    with pytest.raises(AddressError, match="no control-plane outbound addresses at all"):
        build_address_set({"aws": {}, "azure": {}, "gcp": {}}, CLUSTERS, SourceSelection())


def test_a_selected_cloud_without_addresses_is_an_error() -> None:
    with pytest.raises(AddressError, match="for cloud 'gcp'"):
        build_address_set({"aws": CONTROL_PLANE["aws"], "gcp": {}}, [], SourceSelection(control_plane=("gcp",)))


def test_a_malformed_address_from_atlas_is_an_error_naming_its_cluster() -> None:
    with pytest.raises(AddressError, match="cluster payments"):
        build_address_set(CONTROL_PLANE, [ClusterAddresses("payments", outbound=("203.0.113.999",))], SourceSelection())


def test_named_clusters_that_atlas_does_not_report_are_listed_as_missing() -> None:
    result = build_address_set(CONTROL_PLANE, CLUSTERS, SourceSelection(clusters=("orders", "ghost")))
    assert result.missing_clusters == ("ghost",)


# Properties ---------------------------------------------------------------------------------

ipv4 = st.builds(
    lambda addr, prefix: ipaddress.ip_network((addr, prefix), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(8, 32),
)
ipv6 = st.builds(
    lambda addr, prefix: ipaddress.ip_network((addr, prefix), strict=False),
    st.integers(0, 2**128 - 1),
    st.integers(32, 128),
)
networks = st.lists(st.one_of(ipv4, ipv6), max_size=60)


@given(networks)
@settings(max_examples=300, deadline=None)
def test_collapse_keeps_exactly_the_same_addresses(nets) -> None:
    out = [ipaddress.ip_network(c) for c in collapse(nets)]
    assert covered(out) == covered(nets)


@given(networks, st.randoms(use_true_random=False))
@settings(max_examples=200, deadline=None)
def test_collapse_ignores_order_and_duplicates(nets, rnd: random.Random) -> None:
    shuffled = nets + nets[: len(nets) // 2]
    rnd.shuffle(shuffled)
    assert collapse(shuffled) == collapse(nets)


@given(networks)
@settings(max_examples=200, deadline=None)
def test_collapse_is_sorted_disjoint_and_idempotent(nets) -> None:
    out = collapse(nets)
    parsed = [ipaddress.ip_network(c) for c in out]
    keys = [(n.version, int(n.network_address)) for n in parsed]
    assert keys == sorted(keys)
    for a, b in itertools.pairwise(parsed):
        # Disjoint; neighbours may touch (0.0.0.0/21 + 0.0.8.0/22 is no single CIDR).
        assert a.version != b.version or int(a.broadcast_address) < int(b.network_address)
        if a.version == b.version and int(a.broadcast_address) + 1 == int(b.network_address):
            assert a.supernet() != b.supernet() or a.prefixlen != b.prefixlen
    assert collapse(parsed) == out


@given(networks)
@settings(max_examples=300, deadline=None)
def test_collapse_equals_the_standard_librarys_minimal_cover(nets) -> None:
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    expected = [str(n) for n in ipaddress.collapse_addresses(v4)] + [str(n) for n in ipaddress.collapse_addresses(v6)]
    assert collapse(nets) == expected


@given(st.one_of(
    st.builds(lambda a, p: f"{ipaddress.IPv4Address(a)}/{p}", st.integers(0, 2**32 - 1), st.integers(0, 32)),
    st.builds(lambda a: str(ipaddress.IPv4Address(a)), st.integers(0, 2**32 - 1)),
    st.from_regex(r"\A[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}(/[0-9]{1,3})?\Z"),
    st.builds(lambda a, p: f"{ipaddress.IPv6Address(a)}/{p}", st.integers(0, 2**128 - 1), st.integers(0, 128)),
))
@settings(max_examples=300, deadline=None)
def test_the_fast_parser_accepts_and_refuses_exactly_what_ipaddress_does(entry: str) -> None:
    from core.ips import to_span

    try:
        net = to_network(entry, "e")
    except AddressError as exc:
        with pytest.raises(AddressError) as fast:
            to_span(entry, "e")
        assert str(fast.value) == str(exc)
        return
    span = to_span(entry, "e")
    assert (span.version, span.lo, span.hi, span.prefix) == (
        net.version, int(net.network_address), int(net.broadcast_address), net.prefixlen)
    assert span.cidr == str(net)


def test_the_fast_parser_refuses_digits_of_other_scripts_as_ipaddress_does() -> None:
    from core.ips import to_span

    for entry in ("3\u0661.2.3.4", "3.2.3.\u0664", "3.2.3.4/2\u0664"):
        with pytest.raises(AddressError):
            to_network(entry, "e")
        with pytest.raises(AddressError):
            to_span(entry, "e")


def test_atlas_and_extra_addresses_merging_into_a_wide_range_stop_the_plan() -> None:
    cp = {"aws": {"us-east-1": ["3.92.113.229/32"]}}
    wide = SourceSelection(extra_cidrs=("13.0.0.0/16", "13.1.0.0/16"))
    with pytest.raises(AddressError, match=r"merge into 13.0.0.0/15, wider than /16.*allowWideCidrs"):
        build_address_set(cp, [], wide)
    allowed = SourceSelection(extra_cidrs=("13.0.0.0/16", "13.1.0.0/16"), allow_wide=True)
    assert "13.0.0.0/15" in build_address_set(cp, [], allowed).cidrs

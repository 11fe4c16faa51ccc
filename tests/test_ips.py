"""The allowed source-address set: normalising, collapsing, selecting, in examples and properties."""

from __future__ import annotations

import pytest

from core.ips import (
    AddressError,
    ClusterAddresses,
    Origin,
    SourceSelection,
    build_address_set,
    canonical_cidrs,
    to_network,
)

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


# The properties of collapsing and of the fast parser (exact, minimal, order-independent, equal to
# ipaddress) are checked once, for the type that implements them: tests/test_addresses.py.


def test_atlas_and_extra_addresses_merging_into_a_wide_range_stop_the_plan() -> None:
    cp = {"aws": {"us-east-1": ["3.92.113.229/32"]}}
    wide = SourceSelection(extra_cidrs=("13.0.0.0/16", "13.1.0.0/16"))
    with pytest.raises(AddressError, match=r"merge into 13.0.0.0/15, wider than /16.*allowWideCidrs"):
        build_address_set(cp, [], wide)
    allowed = SourceSelection(extra_cidrs=("13.0.0.0/16", "13.1.0.0/16"), allow_wide=True)
    assert "13.0.0.0/15" in build_address_set(cp, [], allowed).cidrs


def test_a_control_plane_cloud_it_does_not_know_is_refused_by_name_when_all_clouds_are_allowed() -> None:
    other = {**CONTROL_PLANE, "oci": {"us-ashburn-1": ["192.0.2.250/32"]}}
    with pytest.raises(AddressError, match=r"for cloud 'oci', which this program does not know"):
        build_address_set(other, CLUSTERS, SourceSelection())
    # Nothing dropped: an empty unknown cloud, or a selection of named clouds, which never included it.
    assert build_address_set({**CONTROL_PLANE, "oci": {}}, CLUSTERS, SourceSelection()).cidrs == \
        build_address_set(CONTROL_PLANE, CLUSTERS, SourceSelection()).cidrs
    assert "192.0.2.250/32" not in build_address_set(other, [], SourceSelection(control_plane=("aws",))).cidrs


@pytest.mark.parametrize("clusters", ["all", ("orders",)])
def test_two_clusters_with_one_name_allow_both_address_lists(clusters: object) -> None:
    twins = [ClusterAddresses("orders", outbound=("198.51.100.10",)), ClusterAddresses("orders", outbound=("203.0.113.50",))]
    result = build_address_set(CONTROL_PLANE, twins, SourceSelection(clusters=clusters))  # type: ignore[arg-type]
    assert {"198.51.100.10/32", "203.0.113.50/32"} <= set(result.cidrs)
    assert result.origins_of("198.51.100.10/32") == result.origins_of("203.0.113.50/32") == (Origin("cluster", "orders"),)

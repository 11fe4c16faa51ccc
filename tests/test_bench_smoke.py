"""The benchmark code cannot rot: its capacity and determinism functions on small inputs."""

from __future__ import annotations

import ipaddress

from bench.run import determinism, fits, largest, naive_fits, ranges, scattered


def test_scattered_addresses_never_collapse() -> None:
    addresses = scattered(200)
    assert len({ipaddress.ip_network(a) for a in addresses}) == 200
    assert len(list(ipaddress.collapse_addresses(ipaddress.IPv4Network(a) for a in addresses))) == 200


def test_capacity_search_finds_the_boundary() -> None:
    one = largest(lambda n: fits(n, "managed", 1), 600)
    assert fits(one, "managed", 1) and not fits(one + 1, "managed", 1)
    assert 200 < one < 400  # a second part is opened at 80 % of the first (core/split.py headroom)
    assert largest(lambda n: naive_fits(n, 6144), 100) < one // 5


def test_ranges_collapse() -> None:
    from core.ips import canonical_cidrs

    assert len(canonical_cidrs(ranges(20))) <= 20 < len(ranges(20))


def test_determinism_counts_one_document_set() -> None:
    result = determinism(5, 1)
    assert result["distinct"] == 1 and result["program_distinct"] == 1

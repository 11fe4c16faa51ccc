"""The stable split of the allowed CIDRs across managed policies: coverage, stability, no transient gap.

Address coverage is checked with the independent oracle in tests/address_math.py, never with
the code under test. The update model is the component's: parts written from the highest index
down (created parts first), removed parts deleted last.
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import random
from collections.abc import Iterable, Iterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.arns import LONGEST_KEY_ARN
from core.ips import canonical_cidrs, collapse
from core.policies import (
    MANAGED_POLICIES_PER_ROLE,
    MANAGED_POLICY_MAX_CHARS,
    PolicySizeError,
    chunk_cidrs,
    part_room,
    policy_size,
    role_kms_document,
)
from core.split import greedy_split, part_cost, stable_split
from tests.address_math import covered

WIDEST_SID = "AtlasEncryptionAtRestKmsPart10"
# What one managed policy leaves for its CIDR list, computed as core.policies does.
ROOM = MANAGED_POLICY_MAX_CHARS - (
    policy_size(role_kms_document(LONGEST_KEY_ARN, ["0.0.0.0/0"], WIDEST_SID)) - len('"0.0.0.0/0"')
)
MAX_PARTS = MANAGED_POLICIES_PER_ROLE
BLOCKS = (3, 13, 52)  # public-looking /8s

Intervals = list[tuple[int, int, int]]


# Address sets as the oracle's merged (version, first, last) intervals -----------------------

def common(a: Intervals, b: Intervals) -> Intervals:
    out: Intervals = []
    i = j = 0
    while i < len(a) and j < len(b):
        (va, lo_a, hi_a), (vb, lo_b, hi_b) = a[i], b[j]
        if va == vb and max(lo_a, lo_b) <= min(hi_a, hi_b):
            out.append((va, max(lo_a, lo_b), min(hi_a, hi_b)))
        if (va, hi_a) < (vb, hi_b):
            i += 1
        else:
            j += 1
    return out


def size(a: Intervals) -> int:
    return sum(hi - lo + 1 for _, lo, hi in a)


def covered_by_parts(parts: Iterable[Sequence[str]]) -> Intervals:
    return covered(itertools.chain.from_iterable(parts))


def union(sets: Iterable[Intervals]) -> Intervals:
    merged: list[list[int]] = []
    for v, lo, hi in sorted(itertools.chain.from_iterable(sets)):
        if merged and merged[-1][0] == v and lo <= merged[-1][2] + 1:
            merged[-1][2] = max(merged[-1][2], hi)
        else:
            merged.append([v, lo, hi])
    return [(v, lo, hi) for v, lo, hi in merged]


def holder(parts: Sequence[Sequence[str]], address: str) -> int:
    [index] = [i for i, part in enumerate(parts) if common(covered(part), covered([address]))]
    return index


def bucket(cidr: str) -> str:
    net = ipaddress.ip_network(cidr)
    prefix = 24 if net.version == 4 else 48
    return str(net if net.prefixlen < prefix else net.supernet(new_prefix=prefix))


def bucket_parts(parts: Sequence[Sequence[str]]) -> dict[str, int]:
    owners: dict[str, set[int]] = {}
    for i, part in enumerate(parts):
        for cidr in part:
            owners.setdefault(bucket(cidr), set()).add(i)
    assert all(len(o) == 1 for o in owners.values()), "a bucket was split across parts"
    return {key: o.pop() for key, o in owners.items()}


# Worlds ---------------------------------------------------------------------------------------

def random_address(rnd: random.Random) -> int:
    return (rnd.choice(BLOCKS) << 24) | rnd.getrandbits(24)


def new_address(rnd: random.Random, taken: set[int]) -> int:
    while (address := random_address(rnd)) in taken:
        pass
    return address


def scattered(rnd: random.Random, n: int) -> set[int]:
    picked: set[int] = set()
    while len(picked) < n:
        picked.add(random_address(rnd))
    return picked


def cidrs_of(addresses: Iterable[int], extra: Iterable[str] = ()) -> list[str]:
    """The canonical allowed set, as core.ips.build_address_set makes it."""
    return collapse([*map(ipaddress.IPv4Network, addresses), *map(ipaddress.ip_network, extra)])


def greedy(cidrs: Sequence[str], room: int) -> list[list[str]]:
    """Sorted packing, part after part, as core.policies.chunk_cidrs does for its own room."""
    parts: list[list[str]] = []
    for cidr in canonical_cidrs(cidrs):
        if not parts or part_cost([*parts[-1], cidr]) > room:
            parts.append([])
        parts[-1].append(cidr)
    return parts


def split(cidrs: Sequence[str], room: int = ROOM) -> list[list[str]]:
    return stable_split(cidrs, room=room, max_parts=MAX_PARTS)


def component_states(old: Sequence[Sequence[str]], new: Sequence[Sequence[str]]) -> Iterator[Intervals]:
    """Coverage of the role after each single write, in the order the component makes Pulumi use."""
    live = {i: covered(part) for i, part in enumerate(old)}
    for i in reversed(range(len(new))):
        live[i] = covered(new[i])
        yield union(live.values())
    for i in reversed(range(len(new), len(old))):
        del live[i]
        yield union(live.values())


def gaps(old: Sequence[Sequence[str]], new: Sequence[Sequence[str]]) -> int:
    """The most addresses allowed before and after that some intermediate state does not allow."""
    stay = common(covered_by_parts(old), covered_by_parts(new))
    return max((size(stay) - size(common(stay, state)) for state in component_states(old, new)), default=0)


# Examples -------------------------------------------------------------------------------------

def test_part_cost_is_the_json_list_without_its_brackets() -> None:
    cidrs = ["3.92.113.229/32", "192.0.2.16/29", "2001:db8::/32"]
    assert part_cost(cidrs) == len(json.dumps(cidrs, separators=(",", ":"))) - 2
    assert part_cost([]) == 0


def test_a_set_that_fits_one_part_with_headroom_is_one_part() -> None:
    cidrs = cidrs_of(scattered(random.Random(1), 100))
    assert split(cidrs) == [cidrs]


def test_no_addresses_give_no_parts() -> None:
    assert split([]) == []


def test_when_no_part_count_leaves_the_headroom_the_parts_may_fill_up_to_the_room() -> None:
    cidrs = cidrs_of(scattered(random.Random(0), 2500))
    parts = split(cidrs)
    assert parts != greedy(cidrs, ROOM)
    assert 0.8 * ROOM < max(map(part_cost, parts)) <= ROOM


def test_when_no_hashed_split_fits_the_greedy_packing_is_used() -> None:
    # 3,000 scattered addresses: hashing cannot balance 10 parts that full; the role still fits.
    cidrs = cidrs_of(scattered(random.Random(7), 3000))
    assert part_room("managed") == ROOM
    assert split(cidrs) == chunk_cidrs(cidrs, "managed") == greedy(cidrs, ROOM) == greedy_split(cidrs, room=ROOM)


def test_a_set_that_no_split_fits_is_refused_naming_the_quota() -> None:
    cidrs = cidrs_of(scattered(random.Random(7), 4000))
    assert len(split(cidrs)) > MAX_PARTS  # the split itself says how many it would take
    with pytest.raises(PolicySizeError, match=r"need \d+ managed policies .* at most 10 .* Nothing was changed"):
        chunk_cidrs(cidrs, "managed")


def test_a_cidr_longer_than_a_whole_part_is_refused() -> None:
    with pytest.raises(PolicySizeError, match="cannot fit a policy"):
        stable_split(["2001:db8::/32"], room=10, max_parts=MAX_PARTS)


def test_greedy_packing_leaves_a_gap_even_in_the_component_order() -> None:
    # Why this module exists: removing an early address shifts every boundary one to the left.
    addresses = sorted(scattered(random.Random(3), 1500))
    old = greedy_split(cidrs_of(addresses), room=ROOM)
    new = greedy_split(cidrs_of(addresses[1:]), room=ROOM)
    assert len(old) == len(new) > 1
    assert gaps(old, new) > 0
    assert gaps(split(cidrs_of(addresses)), split(cidrs_of(addresses[1:]))) == 0


def test_growing_through_every_part_count_never_leaves_a_gap() -> None:
    rnd = random.Random(11)
    addresses: set[int] = set()
    previous: list[list[str]] = []
    counts = []
    for _ in range(10):
        addresses |= scattered(rnd, 200)
        parts = split(cidrs_of(addresses))
        assert gaps(previous, parts) == 0 and gaps(parts, previous) == 0
        counts.append(len(parts))
        previous = parts
    assert len(set(counts)) >= 5, counts  # the sweep really crossed part counts


# Properties -----------------------------------------------------------------------------------

ipv4 = st.builds(
    lambda addr, prefix: ipaddress.ip_network((addr, prefix), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(16, 32),
)
ipv6 = st.builds(
    lambda addr, prefix: ipaddress.ip_network((addr, prefix), strict=False),
    st.integers(0, 2**128 - 1),
    st.integers(40, 128),
)
# Few distinct /24s and /48s, so that buckets hold several CIDRs.
clustered = st.builds(
    lambda hi, lo, prefix: ipaddress.ip_network(((0x0A0000 + hi) << 8 | lo, prefix), strict=False),
    st.integers(0, 7),
    st.integers(0, 255),
    st.integers(26, 32),
)
networks = st.lists(st.one_of(ipv4, ipv6, clustered), min_size=1, max_size=40).map(lambda ns: [str(n) for n in ns])
rooms = st.sampled_from([ROOM, 400, 300])
# A seed, not hypothesis-drawn addresses: worlds of thousands of addresses stay cheap to generate.
worlds = st.integers(0, 2**32 - 1).map(random.Random)


@given(networks, rooms)
@settings(max_examples=50, deadline=None)
def test_the_parts_allow_exactly_the_input_each_address_in_one_part(cidrs: list[str], room: int) -> None:
    parts = stable_split(cidrs, room=room, max_parts=MAX_PARTS)
    assert covered_by_parts(parts) == covered(cidrs)
    assert sum(size(covered(p)) for p in parts) == size(covered(cidrs))


@given(networks, rooms)
@settings(max_examples=50, deadline=None)
def test_every_part_fits_is_non_empty_collapsed_sorted_and_keeps_its_buckets_whole(cidrs: list[str], room: int) -> None:
    parts = stable_split(cidrs, room=room, max_parts=MAX_PARTS)
    assert 1 <= len(parts) <= MAX_PARTS
    for part in parts:
        assert part and part_cost(part) <= room
        assert canonical_cidrs(part) == part
    if parts != greedy(cidrs, room):  # the fallback packs in sorted order, across buckets
        bucket_parts(parts)


@given(st.sets(st.integers(0, 2**24 - 1), min_size=2, max_size=4))
@settings(max_examples=50, deadline=None)
def test_no_part_is_ever_empty_even_with_fewer_buckets_than_parts(slash24s: set[int]) -> None:
    # Each bucket fills most of a part: with k parts for few buckets, some part gets none.
    cidrs = cidrs_of({b << 8 | host for b in slash24s for host in range(0, 32, 2)})
    room = part_cost(cidrs) * 3 // (2 * len(slash24s))
    parts = stable_split(cidrs, room=room, max_parts=MAX_PARTS)
    assert all(parts) and covered_by_parts(parts) == covered(cidrs)


@given(worlds, st.integers(300, 1800))
@settings(max_examples=10, deadline=None)
def test_every_part_makes_a_managed_policy_within_the_iam_limit_with_headroom(rnd: random.Random, n: int) -> None:
    for part in split(cidrs_of(scattered(rnd, n))):
        assert policy_size(role_kms_document(LONGEST_KEY_ARN, part, WIDEST_SID)) <= MANAGED_POLICY_MAX_CHARS
        assert part_cost(part) <= 0.8 * ROOM


@given(networks, rooms, st.randoms(use_true_random=False))
@settings(max_examples=50, deadline=None)
def test_any_order_of_the_input_gives_byte_identical_parts(cidrs: list[str], room: int, rnd: random.Random) -> None:
    shuffled = cidrs + cidrs[: len(cidrs) // 3]
    rnd.shuffle(shuffled)
    expected = json.dumps(stable_split(canonical_cidrs(cidrs), room=room, max_parts=MAX_PARTS))
    assert json.dumps(stable_split(shuffled, room=room, max_parts=MAX_PARTS)) == expected


# Stability holds up to where hashing can balance the parts: from about 2,800 scattered
# addresses no hashed split fits 10 parts and the (unstable) greedy fallback takes over.
@given(worlds, st.integers(300, 2000), st.booleans())
@settings(max_examples=30, deadline=None)
def test_one_address_more_or_less_rewrites_only_the_part_that_holds_it(
    rnd: random.Random, n: int, add: bool
) -> None:
    addresses = scattered(rnd, n)
    address = new_address(rnd, addresses) if add else rnd.choice(sorted(addresses))
    changed = addresses ^ {address}
    before, after = split(cidrs_of(addresses)), split(cidrs_of(changed))
    if len(before) == len(after):
        differ = {i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b}
        assert differ == {holder(after if add else before, str(ipaddress.IPv4Address(address)))}
    else:
        assert_buckets_move_only_into_new_or_out_of_removed_parts(before, after)


def assert_buckets_move_only_into_new_or_out_of_removed_parts(
    before: Sequence[Sequence[str]], after: Sequence[Sequence[str]]
) -> None:
    old, new = bucket_parts(before), bucket_parts(after)
    kept = min(len(before), len(after))
    for key in old.keys() & new.keys():
        if old[key] != new[key]:
            assert old[key] >= kept or new[key] >= kept, f"{key} moved from part {old[key]} to {new[key]}"


@given(worlds, st.integers(100, 1800), st.integers(1, 600), st.booleans())
@settings(max_examples=30, deadline=None)
def test_between_any_two_sets_a_bucket_moves_only_into_a_new_part_or_out_of_a_removed_one(
    rnd: random.Random, n: int, m: int, grow: bool
) -> None:
    small = scattered(rnd, n)
    large = small | scattered(rnd, m)
    before, after = (split(cidrs_of(small)), split(cidrs_of(large)))
    if not grow:
        before, after = after, before
    assert_buckets_move_only_into_new_or_out_of_removed_parts(before, after)


def one_change(rnd: random.Random, addresses: set[int], kind: str) -> set[int]:
    if kind == "add one address":
        return addresses | {new_address(rnd, addresses)}
    if kind == "remove one address":
        return addresses - {rnd.choice(sorted(addresses))}
    if kind == "replace a cluster's 3 nodes":
        return (addresses - set(rnd.sample(sorted(addresses), 3))) | scattered(rnd, 3)
    # A new region: 20 addresses from one provider /16.
    region = random_address(rnd) & ~0xFFFF
    return addresses | {region | rnd.getrandbits(16) for _ in range(20)}


changes = st.sampled_from(["add one address", "remove one address", "replace a cluster's 3 nodes", "add a region"])


@given(worlds, st.integers(20, 1800), changes)
@settings(max_examples=30, deadline=None)
def test_no_address_allowed_before_and_after_is_ever_denied_during_the_update(
    rnd: random.Random, n: int, change: str
) -> None:
    addresses = scattered(rnd, n)
    before, after = split(cidrs_of(addresses)), split(cidrs_of(one_change(rnd, addresses, change)))
    assert gaps(before, after) == 0


@given(worlds, st.integers(100, 1500), st.integers(22, 23))
@settings(max_examples=25, deadline=None)
def test_a_wide_cidr_breaking_up_can_only_expose_its_own_addresses(rnd: random.Random, n: int, prefix: int) -> None:
    # The documented limitation: a /23 that loses one address becomes smaller CIDRs in
    # other buckets, which may hash to a lower part; nothing outside it may be exposed.
    wide = ipaddress.IPv4Network((random_address(rnd), prefix), strict=False)
    others = {a for a in scattered(rnd, n) if ipaddress.IPv4Address(a) not in wide}
    lost = ipaddress.IPv4Network((int(wide.network_address) + rnd.randrange(wide.num_addresses), 32))
    before = split(cidrs_of(others, [str(wide)]))
    after = split(cidrs_of(others, [str(net) for net in wide.address_exclude(lost)]))
    outside = covered(cidrs_of(others))
    for state in component_states(before, after):
        assert common(outside, state) == outside


# IPv6: a /48 is a bucket, as a /24 is in IPv4 ------------------------------------------------

# A public IPv6 /32 (ARIN's 2600::/12 block); the /48s and hosts below are drawn inside it.
V6_BASE = int(ipaddress.IPv6Address("2600:1f00::"))


def v6_world(rnd: random.Random, slash48s: int, hosts: int) -> list[str]:
    """`hosts` single addresses in each of `slash48s` /48s of one /32, in distinct /64s (nothing merges)."""
    nets = rnd.sample(range(2**16), slash48s)
    addresses = {V6_BASE | n << 80 | rnd.getrandbits(16) << 64 | 1 for n in nets for _ in range(hosts)}
    return collapse(ipaddress.IPv6Network((a, 128)) for a in addresses)


def test_ipv6_addresses_of_one_48_share_a_part_and_the_48s_of_one_32_spread_over_parts() -> None:
    cidrs = v6_world(random.Random(4), 40, 6)
    parts = split(cidrs, room=part_cost(cidrs) // 3)
    assert parts != greedy(cidrs, part_cost(cidrs) // 3), "the hashed split, not the greedy fallback"
    assert covered_by_parts(parts) == covered(cidrs)
    owners = bucket_parts(parts)  # every /48 whole in one part
    assert len(owners) == 40 and len(set(owners.values())) == len(parts) >= 3


@given(worlds, st.integers(8, 40), st.integers(2, 8), st.sampled_from([2, 3, 4]))
@settings(max_examples=40, deadline=None)
def test_an_ipv6_split_allows_exactly_the_input_and_keeps_every_48_whole(
    rnd: random.Random, slash48s: int, hosts: int, share: int
) -> None:
    cidrs = v6_world(rnd, slash48s, hosts)
    room = max(part_cost(cidrs) // share, max(map(len, cidrs)) * hosts * 2)
    parts = split(cidrs, room=room)
    assert covered_by_parts(parts) == covered(cidrs)
    assert all(part and part_cost(part) <= room for part in parts)
    if parts != greedy(cidrs, room):
        bucket_parts(parts)


@given(worlds, st.integers(20, 120), st.integers(2, 8))
@settings(max_examples=40, deadline=None)
def test_a_hashed_split_of_k_parts_is_found_with_exactly_k_parts_allowed(rnd: random.Random, slash48s: int, share: int) -> None:
    # Every part count up to max_parts is tried before the greedy fallback, max_parts itself included.
    cidrs = v6_world(rnd, slash48s, 2) + cidrs_of(scattered(rnd, slash48s))
    room = part_cost(cidrs) // share
    parts = split(cidrs, room=room)
    if parts != greedy(cidrs, room):
        assert stable_split(cidrs, room=room, max_parts=len(parts)) == parts


def test_when_only_ten_parts_fit_the_split_uses_ten_hashed_parts_before_falling_back_to_greedy() -> None:
    cidrs = v6_world(random.Random(8), 300, 1)
    total = part_cost(cidrs)
    hashed = {}
    for room in range(total // MAX_PARTS, total // 4, 20):
        parts = split(cidrs, room=room)
        if parts != greedy(cidrs, room):
            hashed[len(parts)] = room
    assert MAX_PARTS in hashed, hashed
    parts = split(cidrs, room=hashed[MAX_PARTS])
    assert len(parts) == MAX_PARTS and covered_by_parts(parts) == covered(cidrs)

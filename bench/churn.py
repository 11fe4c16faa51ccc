"""Churn of the role's managed policies when Atlas's addresses change: greedy packing vs stable split.

For each world size and change: how many parts there are, how many policy documents a
`pulumi up` rewrites, and how many addresses allowed both before and after are allowed by
no part at some moment of the update. Pure functions only, no timing, no Pulumi.

    venv/bin/python -m bench.churn
"""

from __future__ import annotations

import ipaddress
import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any

from core.arns import LONGEST_KEY_ARN
from core.ips import collapse
from core.policies import (
    MANAGED_POLICIES_PER_ROLE,
    MANAGED_POLICY_MAX_CHARS,
    ROLE_STATEMENT_SID,
    PolicySizeError,
    _part_sid,
    canonical_json,
    chunk_cidrs,
    part_room,
    policy_size,
    role_kms_document,
)
from core.split import greedy_split

SIZES = (100, 1_000, 3_000)
BLOCKS = (3, 13, 52)  # public-looking /8s

Parts = list[list[str]]
SidOf = Callable[[int, int], str]


def old_sid(index: int, total: int) -> str:
    """The Sid before: with the part count, so a change of count rewrote every part."""
    return ROLE_STATEMENT_SID if total == 1 else f"{ROLE_STATEMENT_SID}Part{index + 1}of{total}"


# The room the old split worked with: a managed policy with its widest Sid ("Part10of10").
OLD_ROOM = MANAGED_POLICY_MAX_CHARS - (
    policy_size(role_kms_document(LONGEST_KEY_ARN, ["0.0.0.0/0"], old_sid(9, 10))) - len('"0.0.0.0/0"'))


def old_split(cidrs: Sequence[str]) -> Parts:
    """The greedy packing in sorted order, as core.policies.chunk_cidrs did before."""
    parts = greedy_split(cidrs, room=OLD_ROOM)
    if len(parts) > MANAGED_POLICIES_PER_ROLE:
        raise PolicySizeError(f"{len(parts)} parts")
    return parts


def new_split(cidrs: Sequence[str]) -> Parts:
    """What the program does now (core.policies.chunk_cidrs, stable split)."""
    return chunk_cidrs(cidrs, "managed")


SPLITS: dict[str, tuple[Callable[[Sequence[str]], Parts], SidOf]] = {
    "greedy (before)": (old_split, old_sid),
    "stable (now)": (new_split, _part_sid),
}


def random_address(rnd: random.Random) -> int:
    # Even addresses only: no two of them are adjacent, so a world of n addresses is n CIDRs.
    return (rnd.choice(BLOCKS) << 24) | (rnd.getrandbits(24) & ~1)


def world(n: int, rnd: random.Random) -> set[int]:
    picked: set[int] = set()
    while len(picked) < n:
        picked.add(random_address(rnd))
    return picked


def cidrs_of(addresses: set[int], extra: Sequence[str] = ()) -> list[str]:
    return collapse([*map(ipaddress.IPv4Network, addresses), *map(ipaddress.ip_network, extra)])


def scenarios(n: int, seed: int) -> list[tuple[str, list[str], list[str]]]:
    """(change, CIDRs before, CIDRs after) for one world of n scattered addresses."""
    rnd = random.Random(seed * 1_000_003 + n)
    base = world(n, rnd)
    ordered = sorted(base)
    # "Early" = near the start of the sorted order: the worst place for a greedy packing.
    early = next(a for a in range((3 << 24) + 2, 4 << 24, 2) if a not in base)
    cluster = set(rnd.sample(ordered, 3))
    region = random_address(rnd) & ~0xFFFF
    new_region = {region | (rnd.getrandbits(16) & ~1) for _ in range(20)}
    # Enough to change the part count, and at 3,000 to leave the greedy fallback.
    retired = set(rnd.sample(ordered, n * 3 // 10))
    grown = base | world(n * 3 // 10, rnd)
    return [
        ("remove one address (early)", cidrs_of(base), cidrs_of(base - {ordered[1]})),
        ("add one address (early)", cidrs_of(base), cidrs_of(base | {early})),
        ("replace a cluster's 3 nodes", cidrs_of(base), cidrs_of((base - cluster) | world(3, rnd))),
        ("add a region of 20 addresses", cidrs_of(base), cidrs_of(base | new_region)),
        ("add 30 % more addresses", cidrs_of(base), cidrs_of(grown)),
        ("remove 30 % of the addresses", cidrs_of(base), cidrs_of(base - retired)),
        ("a full /23 loses one address", *wide_loses_one(base, rnd)),
    ]


def wide_loses_one(base: set[int], rnd: random.Random) -> tuple[list[str], list[str]]:
    """The limitation of bucketing: two full adjacent /24s arrive collapsed as one /23, a
    bucket of its own; when one address goes, the rest become other buckets."""
    wide = ipaddress.IPv4Network(((13 << 24) | (rnd.getrandbits(15) << 9), 23))
    lost = ipaddress.IPv4Network((int(wide.network_address) + rnd.randrange(wide.num_addresses), 32))
    return cidrs_of(base, [str(wide)]), cidrs_of(base, [str(net) for net in wide.address_exclude(lost)])


def owners(parts: Parts) -> dict[int, int]:
    """Address -> the one part that allows it."""
    owner: dict[int, int] = {}
    for i, part in enumerate(parts):
        for cidr in part:
            net = ipaddress.ip_network(cidr)
            for address in range(int(net.network_address), int(net.broadcast_address) + 1):
                # The exposure arithmetic below needs each address in exactly one part.
                assert address not in owner, f"{cidr} overlaps another part"
                owner[address] = i
    return owner


def exposure(before: Parts, after: Parts) -> tuple[int, int]:
    """Addresses allowed before and after but by no part at some moment: (worst order, component order).

    Pulumi deletes parts that are no longer in the program after every create and update,
    and by then every address that stays is in its new part; so the moments that matter
    are "some set W of the written parts (index < len(after)) is done". The parts are
    disjoint, so an address that stays is exposed exactly when its old part is in W and its
    new part is not. The worst parallel order is the worst W of all 2^k (k <= 10, so at
    most 1,024), which is at least as bad as "every write that removes coverage first";
    the component's order only ever reaches the suffixes W = {j, ..., k-1}.
    """
    old, new = owners(before), owners(after)
    moved: dict[tuple[int, int], int] = {}
    for address in old.keys() & new.keys():
        if old[address] != new[address]:
            key = (old[address], new[address])
            moved[key] = moved.get(key, 0) + 1

    def exposed(written: set[int]) -> int:
        return sum(count for (p, q), count in moved.items() if p in written and q not in written)

    writes = range(len(after))
    worst = max(
        exposed(set(w)) for r in range(len(writes) + 1) for w in itertools.combinations(writes, r)
    )
    ordered = max(exposed(set(writes[j:])) for j in range(len(writes) + 1))
    return worst, ordered


def part_documents(parts: Parts, sid: SidOf) -> list[str]:
    return [canonical_json(role_kms_document(LONGEST_KEY_ARN, p, sid(i, len(parts)))) for i, p in enumerate(parts)]


def rewritten(before: Parts, after: Parts, sid: SidOf) -> tuple[int, int]:
    """(documents created, deleted or changed; of those, parts whose CIDR list changed)."""
    docs_before, docs_after = part_documents(before, sid), part_documents(after, sid)
    documents = lists = 0
    for i in range(max(len(before), len(after))):
        if i >= len(before) or i >= len(after):
            documents, lists = documents + 1, lists + 1
            continue
        documents += docs_before[i] != docs_after[i]
        lists += before[i] != after[i]
    return documents, lists


def churn_table(seed: int = 1, sizes: Sequence[int] = SIZES) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in sizes:
        for change, cidrs_before, cidrs_after in scenarios(n, seed):
            for name, (split, sid) in SPLITS.items():
                row: dict[str, Any] = {"addresses": n, "change": change, "split": name}
                rows.append(row)
                try:
                    before, after = split(cidrs_before), split(cidrs_after)
                except PolicySizeError:
                    row["refused"] = True
                    continue
                changed, lists = rewritten(before, after, sid)
                worst, ordered = exposure(before, after)
                row.update(
                    refused=False,
                    # Above what hashing can balance, stable_split packs greedily too.
                    fallback_before=split is new_split and is_greedy(before, cidrs_before),
                    fallback_after=split is new_split and is_greedy(after, cidrs_after),
                    parts_before=len(before),
                    parts_after=len(after),
                    documents_rewritten=changed,
                    cidr_lists_changed=lists,
                    uncovered_worst_order=worst,
                    uncovered_component_order=ordered,
                )
    return rows


def is_greedy(parts: Parts, cidrs: Sequence[str]) -> bool:
    return len(parts) > 1 and parts == greedy_split(cidrs, room=part_room("managed"))


def wide_breakup(seed: int = 1, n: int = 1_000, trials: int = 30) -> dict[str, Any]:
    """The documented limitation over many draws: a full /23 loses one address, stable_split.

    One draw is one hash outcome, so the table's single row can show 0 or 511 by luck;
    this is how often and how much, under the component's order.
    """
    rnd = random.Random(seed)
    base = world(n, rnd)
    exposed: list[int] = []
    for _ in range(trials):
        cidrs_before, cidrs_after = wide_loses_one(base, rnd)
        exposed.append(exposure(new_split(cidrs_before), new_split(cidrs_after))[1])
    return {
        "addresses": n,
        "trials": trials,
        "exposed_trials": sum(1 for e in exposed if e),
        "mean_exposed": sum(exposed) / trials,
        "max_exposed": max(exposed),
    }


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| addresses | change | split | parts | documents rewritten (CIDR list changed) "
        "| uncovered, worst parallel order | uncovered, component order |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["refused"]:
            lines.append(f"| {r['addresses']:,} | {r['change']} | {r['split']} | refused: over the role's quota | | | |")
            continue
        fallback = {
            (True, True): " (greedy fallback)",
            (True, False): " (greedy fallback → hashed)",
            (False, True): " (hashed → greedy fallback)",
        }.get((r["fallback_before"], r["fallback_after"]), "")
        lines.append(
            f"| {r['addresses']:,} | {r['change']} | {r['split']}{fallback} | {r['parts_before']} → {r['parts_after']} "
            f"| {r['documents_rewritten']} ({r['cidr_lists_changed']}) | {r['uncovered_worst_order']:,} "
            f"| {r['uncovered_component_order']:,} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(churn_table()))
    w = wide_breakup()
    print(
        f"\nA full /23 losing one address, stable_split, {w['addresses']:,} addresses, {w['trials']} random /23s: "
        f"addresses exposed in the component order in {w['exposed_trials']} of {w['trials']} draws, "
        f"mean {w['mean_exposed']:.0f}, max {w['max_exposed']}."
    )

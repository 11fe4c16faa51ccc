"""A stable split of the allowed CIDRs across the role's managed policies. Pure code.

Why not pack greedily: `chunk_cidrs` fills parts in sorted order, so one address added
or removed early in the order shifts the boundary of every later part. Pulumi updates
the parts in parallel, and an address that moves from part 3 to part 2 is allowed by
neither while part 3 is already written and part 2 not yet: Atlas's KMS calls from it
are denied and Atlas shuts the clusters down at its next check. And every rewritten
part spends one of the 5 versions IAM keeps per managed policy, pushing out the ones a
rollback would need.
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-versioning.html

How: the unit of assignment is a *bucket*, an IPv4 /24 or an IPv6 /48 (a CIDR wider
than that is a bucket of its own), and a bucket goes to the part chosen by rendezvous
(highest-random-weight) hashing over k parts. A bucket's part depends only on the
bucket and on k, never on the other addresses or the input order; and when k grows,
buckets only move *into* the new parts, when k shrinks only *out of* the removed ones.
k is the smallest count whose parts all fit with some headroom, so that ordinary churn
does not change k at all.

Why that is enough for no gap, with the update order the component uses: part i is
written after part i+1 (part i depends on part i+1's attachment), so parts are written
from the highest index down, a created part (always the highest indices) before any
existing part it takes addresses from; Pulumi deletes removed parts last, after every
remaining part already holds what the removed part had. An address that stays in the
set therefore is either in the same part before and after, or moves into a higher part
that is written first, or out of a removed part that is deleted last: it is never
uncovered.

The one case this does not cover: the input is globally collapsed, and a CIDR wider
than a bucket is a bucket of its own. So whenever the collapse makes or breaks such a
CIDR, its addresses change bucket and may hash to a lower part, which is written last:
two full adjacent /24s arrive as one /23, and when one address of it goes away, the rest
becomes a /24 and smaller CIDRs in two other buckets; until the lower part is written
those addresses are allowed by no part (the same when a /23 forms, or in IPv6 around a
/48). Only the addresses of that one CIDR are exposed, and only a world with 256 or more
consecutive allowed addresses (in practice extraCidrs ranges, not Atlas's node
addresses) can hit it; `bench/churn.py` measures how often and how much.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from core.addresses import Ranges, Span, cidr_text
from core.errors import PolicySizeError
from core.ips import to_span

# Atlas nodes of one region and cloud tend to come from the same provider blocks; a
# bucket the size of a typical provider allocation keeps neighbours together, so a
# replaced node usually lands in the part its neighbours are already in.
IPV4_BUCKET_PREFIX = 24
IPV6_BUCKET_PREFIX = 48


def part_cost(cidrs: Sequence[str]) -> int:
    """Characters a CIDR list costs inside a policy document: quotes on each, commas between."""
    return sum(len(c) + 2 for c in cidrs) + max(0, len(cidrs) - 1)


def stable_split(cidrs: Sequence[str], *, room: int, max_parts: int, headroom: float = 0.8) -> list[list[str]]:
    """Split the allowed CIDRs into at most `max_parts` lists of at most `room` characters each.

    `cidrs` is the allowed set (normally `core.ips.collapse`'s output; any order and any
    overlap give the same answer). `room` is what one document leaves for its CIDR list,
    costed as `part_cost`. Part i of the answer is the rendezvous-hashing part i, so the
    caller must keep a part's index as its identity (resource name). Each part is
    collapsed and sorted, and non-empty. No CIDRs give no parts.

    When no hashed split fits, falls back to greedy packing in sorted order (the
    stability above is then lost), which may need more than `max_parts` parts: the
    caller (core.policies.chunk_cidrs) refuses that with the quota in its message.
    """
    if max_parts < 1:
        raise ValueError(f"max_parts must be at least 1, got {max_parts}")
    if not 0 < headroom <= 1:
        raise ValueError(f"headroom must be in (0, 1], got {headroom}")
    # Collapsing again is a no-op for canonical input; for any other input it makes the
    # parts disjoint, so that each address has exactly one part to be in.
    spans = [to_span(c, f"cidrs[{i}]") for i, c in enumerate(cidrs)]
    canonical = Ranges.from_spans(spans).cidrs()
    if not canonical:
        return []
    if canonical != list(cidrs):
        spans = [to_span(c, "canonical") for c in canonical]
    for cidr in canonical:
        if len(cidr) + 2 > room:
            raise PolicySizeError(f"internal: one CIDR ({cidr}) cannot fit a policy")

    # Bucket -> positions in `canonical`. A part is a subset of a canonical cover, and such
    # a subset is its own canonical cover (no two of its CIDRs can merge): taking a part's
    # CIDRs in canonical order gives it collapsed and sorted, and its cost is the sum of
    # its buckets' weights (quotes and a comma per CIDR) minus one comma.
    buckets: dict[str, list[int]] = {}
    weight: dict[str, int] = {}
    for position, (cidr, span) in enumerate(zip(canonical, spans, strict=True)):
        key = _bucket_key(span)
        buckets.setdefault(key, []).append(position)
        weight[key] = weight.get(key, 0) + len(cidr) + 3
    owners = {key: _owners(key, max_parts) for key in buckets}

    for limit in (headroom * room, float(room)):
        for k in range(1, max_parts + 1):
            costs = [-1] * k
            for key in buckets:
                costs[owners[key][k - 1]] += weight[key]
            # -1 is an empty part: a document without addresses cannot be written (an
            # empty IpAddress condition denies everything), so try more parts instead.
            if all(0 <= c <= limit for c in costs):
                positions: list[list[int]] = [[] for _ in range(k)]
                for key in buckets:
                    positions[owners[key][k - 1]] += buckets[key]
                return [[canonical[p] for p in sorted(part)] for part in positions]

    return greedy_split(canonical, room=room)


def _bucket_key(span: Span) -> str:
    bucket_prefix = IPV4_BUCKET_PREFIX if span.version == 4 else IPV6_BUCKET_PREFIX
    if span.prefix < bucket_prefix:
        return span.cidr
    bits = 32 if span.version == 4 else 128
    return cidr_text(span.version, span.lo >> (bits - bucket_prefix) << (bits - bucket_prefix), bucket_prefix)


def _owners(key: str, max_parts: int) -> list[int]:
    """The bucket's part for each k = 1..max_parts: the argmax of its scores over the first k parts.

    The score of (bucket, part) is fixed, so adding part k changes a bucket's owner only
    if part k outscores all others: buckets only ever move into a new part.
    """
    owners: list[int] = []
    best, best_score = 0, -1
    for i in range(max_parts):
        score = int.from_bytes(hashlib.sha256(f"{key}|{i}".encode()).digest(), "big")
        if score > best_score:
            best, best_score = i, score
        owners.append(best)
    return owners


def greedy_split(canonical: Sequence[str], *, room: int) -> list[list[str]]:
    """Sorted packing, part after part: the fewest parts, none of them stable (the old split)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for cidr in canonical:
        if len(cidr) + 2 > room:
            raise PolicySizeError(f"internal: one CIDR ({cidr}) cannot fit a policy")
        cost = len(cidr) + 2 + (1 if current else 0)
        if used + cost > room:
            chunks.append(current)
            current, used = [], 0
            cost = len(cidr) + 2
        current.append(cidr)
        used += cost
    if current:
        chunks.append(current)
    return chunks

"""Generated address sets: the policy allows exactly their union, in any order, within IAM's limits."""

from __future__ import annotations

import ipaddress
import json
import random
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.ips import ClusterAddresses, SourceSelection, build_address_set
from core.policies import (
    INLINE_POLICIES_MAX_CHARS,
    MANAGED_POLICIES_PER_ROLE,
    MANAGED_POLICY_MAX_CHARS,
    PolicySizeError,
    plan_policies,
)
from tests.address_math import covered

KEY = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _public(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    special = ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
               "192.168.0.0/16", "224.0.0.0/3")
    return net.version == 6 or not any(net.overlaps(ipaddress.ip_network(s)) for s in special)


@st.composite
def address_sets(draw: st.DrawFn) -> list[str]:
    """IPv4 and IPv6, bare addresses and CIDRs, nested, adjacent and duplicated entries.

    Hypothesis picks the size, the mix and a seed; the seed draws the addresses, so that sets of
    thousands stay within Hypothesis's data budget.
    """
    size = draw(st.sampled_from([0, 1, 5, 50, 500, 3000]))
    v6_share = draw(st.sampled_from([0.0, 0.1, 0.5]))
    rnd = random.Random(draw(st.integers(0, 2**32)))
    base: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for _ in range(size):
        if rnd.random() < v6_share:
            # Global unicast (2000::/3): Atlas calls from public addresses only.
            base.append(ipaddress.ip_network(((1 << 125) | rnd.getrandbits(125), rnd.randint(56, 128)), strict=False))  # adjacent /48s would merge wider than /48
        else:
            base.append(ipaddress.ip_network((rnd.getrandbits(32), rnd.choice([20, 24, 28, 30, 31, 32, 32, 32])), strict=False))
    extra: list[Any] = []
    for net in rnd.sample(base, min(len(base), 100)):
        if net.prefixlen < net.max_prefixlen:
            extra.append(next(net.subnets()))  # nested
        if int(net.broadcast_address) + 1 < 2 ** net.max_prefixlen:
            extra.append(ipaddress.ip_network((int(net.broadcast_address) + 1, net.prefixlen), strict=False))  # adjacent
    # Only public ranges: the program refuses private, reserved and multicast answers outright.
    base, extra = [n for n in base if _public(n)], [n for n in extra if _public(n)]
    entries = [str(n.network_address) if n.prefixlen == n.max_prefixlen and rnd.random() < 0.5 else str(n) for n in base + extra]
    entries += rnd.sample(entries, len(entries) // 3)  # duplicates
    rnd.shuffle(entries)
    return entries


def policy_json(entries: list[str], kind: str) -> list[str]:
    clusters = [ClusterAddresses("c", tuple(e for e in entries if "/" not in e))]
    found = build_address_set({"aws": {"us-east-1": ["3.92.113.229/32"]}}, clusters,
                              SourceSelection(extra_cidrs=tuple(e for e in entries if "/" in e)))
    return plan_policies(found.cidrs, kind=kind, enforce_ip=True, manage_key_policy=kind == "inline").role_documents(KEY)  # type: ignore[arg-type]


@given(address_sets(), st.sampled_from(["managed", "inline"]), st.randoms(use_true_random=False))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_policies_allow_exactly_the_union_in_any_order_within_iam_limits(entries, kind, rnd: random.Random) -> None:
    event(f"entries: {'thousands' if len(entries) >= 1000 else 'hundreds' if len(entries) >= 100 else 'few'}")
    try:
        docs = policy_json(entries, kind)
    except PolicySizeError as exc:
        event("over the IAM budget")
        assert "allowed CIDRs" in str(exc) and "at most" in str(exc)
        return
    allowed = [c for d in docs for c in json.loads(d)["Statement"][0]["Condition"]["IpAddress"]["aws:SourceIp"]]
    assert covered(allowed) == covered([*entries, "3.92.113.229/32"])
    if kind == "managed":
        assert len(docs) <= MANAGED_POLICIES_PER_ROLE and all(len(d) <= MANAGED_POLICY_MAX_CHARS for d in docs)
    else:
        assert sum(len(d) for d in docs) <= INLINE_POLICIES_MAX_CHARS
    shuffled = list(entries)
    rnd.shuffle(shuffled)
    assert policy_json(shuffled, kind) == docs

"""The pure comparison: exact set differences and hand-edit detection."""

from __future__ import annotations

import ipaddress
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from core.ips import ClusterAddresses, SourceSelection, build_address_set, collapse
from core.policies import plan_policies
from drift.compare import LivePolicy, _difference, compare, live_cidrs

KEY = "arn:aws:kms:eu-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
nets = st.lists(
    st.builds(lambda a, p: ipaddress.ip_network((a, p), strict=False), st.integers(0, 2**16 - 1).map(lambda x: x << 16), st.integers(16, 32)),
    max_size=20,
)


def addresses(cidrs: list[str]) -> set[int]:
    return {int(a) for c in cidrs for a in ipaddress.ip_network(c)}


@given(nets, nets)
@settings(max_examples=200, deadline=None)
def test_the_difference_is_exactly_the_addresses_outside(a, b) -> None:
    small = [n for n in a if n.prefixlen >= 24]
    cut = [n for n in b if n.prefixlen >= 24]
    left, right = collapse(small), collapse(cut)
    assert addresses(_difference(left, right)) == addresses(left) - addresses(right)


def test_live_cidrs_read_only_our_statements_and_accept_a_single_string() -> None:
    doc = {"Statement": [
        {"Sid": "AtlasEncryptionAtRestKmsPart1of2", "Condition": {"IpAddress": {"aws:SourceIp": "192.0.2.1/32"}}},
        {"Sid": "AtlasEncryptionAtRestKmsPart2of2", "Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/32"]}}},
        {"Sid": "SomeoneElse", "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}},
    ]}
    assert live_cidrs([LivePolicy("p", "managed", doc)]) == ["192.0.2.0/31"]


def test_an_unchanged_world_split_over_several_parts_is_not_drift() -> None:
    clusters = [ClusterAddresses(f"c{i}", (f"13.0.{i}.1", f"13.0.{i}.3", f"13.0.{i}.5")) for i in range(200)]
    found = build_address_set({"aws": {"us-east-1": ["3.92.113.229/32"]}}, clusters, SourceSelection())
    docs = plan_policies(found.cidrs, kind="managed", enforce_ip=True, manage_key_policy=False).role_documents(KEY)
    assert len(docs) > 1
    live = [LivePolicy(f"p{i}", "managed", json.loads(d)) for i, d in enumerate(docs)]
    report = compare("prod", "arn:aws:iam::123456789012:role/r", KEY, found, docs, live)
    assert report.status == "ok" and report.exit_code == 0


def test_a_policy_on_another_key_is_a_hand_edit() -> None:
    found = build_address_set({"aws": {"us-east-1": ["3.92.113.229/32"]}}, [], SourceSelection())
    docs = plan_policies(found.cidrs, kind="inline", enforce_ip=True, manage_key_policy=False).role_documents(KEY)
    other = json.loads(docs[0].replace(KEY, KEY.replace("1234abcd", "ffffffff")))
    report = compare("prod", "r", KEY, found, docs, [LivePolicy("inline", "inline", other)])
    assert report.status == "drift" and report.missing == [] and report.hand_edited

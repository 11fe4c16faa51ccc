"""Policy documents: exact shape, canonical JSON, size budgets and splitting."""

from __future__ import annotations

import ipaddress
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.arns import LONGEST_KEY_ARN
from core.policies import (
    INLINE_POLICIES_MAX_CHARS,
    KEY_ADMIN_ACTIONS,
    MANAGED_POLICIES_PER_ROLE,
    MANAGED_POLICY_MAX_CHARS,
    USE_ACTIONS,
    PolicySizeError,
    canonical_json,
    chunk_cidrs,
    key_policy,
    plan_policies,
    policy_size,
    role_policy_documents,
    trust_policy,
)
from tests.address_math import covered

KEY = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE = "arn:aws:iam::111122223333:role/atlas-kms-role-abc1234"


def scattered(n: int) -> list[str]:
    """n /32s no two of which collapse (every other address)."""
    return [f"{ipaddress.IPv4Address(0x0A000000 + 2 * i)}/32" for i in range(n)]


def test_the_role_policy_grants_exactly_three_actions_on_one_key_from_the_given_addresses() -> None:
    [doc] = role_policy_documents(KEY, [["3.92.113.229/32", "192.0.2.16/29"]])
    assert doc == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AtlasEncryptionAtRestKms",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"],
                "Resource": KEY,
                "Condition": {"IpAddress": {"aws:SourceIp": ["3.92.113.229/32", "192.0.2.16/29"]}},
            }
        ],
    }


def test_without_the_ip_condition_only_by_explicit_opt_out() -> None:
    [doc] = role_policy_documents(KEY, None, enforce_ip=False)
    assert "Condition" not in doc["Statement"][0]
    with pytest.raises(PolicySizeError):
        role_policy_documents(KEY, [], enforce_ip=True)


def test_the_trust_policy_names_only_atlas_and_its_external_id() -> None:
    doc = trust_policy("arn:aws:iam::536727724300:root", "ext-123")
    [stmt] = doc["Statement"]
    assert stmt["Principal"] == {"AWS": "arn:aws:iam::536727724300:root"}
    assert stmt["Action"] == "sts:AssumeRole"
    assert stmt["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-123"}}
    with pytest.raises(ValueError, match="external id"):
        trust_policy("arn:aws:iam::536727724300:root", "")


def test_the_key_policy_keeps_the_key_account_as_administrator_and_lets_only_the_role_use_it() -> None:
    doc = key_policy("arn:aws:iam::444455556666:root", ROLE, ["3.92.113.229/32"])
    admin, user = doc["Statement"]
    assert admin["Principal"] == {"AWS": "arn:aws:iam::444455556666:root"}
    assert "kms:PutKeyPolicy" in admin["Action"] and "kms:ScheduleKeyDeletion" in admin["Action"]
    assert not set(admin["Action"]) & {"kms:Decrypt", "kms:Encrypt"}
    assert all("*" not in a for a in KEY_ADMIN_ACTIONS)
    assert user["Principal"] == {"AWS": ROLE}
    assert user["Action"] == list(USE_ACTIONS)
    assert user["Condition"] == {"IpAddress": {"aws:SourceIp": ["3.92.113.229/32"]}}


def test_canonical_json_is_compact_and_sorted() -> None:
    assert canonical_json({"b": 1, "a": [2, 1]}) == '{"a":[2,1],"b":1}'


def test_a_small_list_is_one_policy_and_a_large_one_is_split_into_parts_of_the_same_shape() -> None:
    assert len(chunk_cidrs(scattered(50), "managed")) == 1
    chunks = chunk_cidrs(scattered(1000), "managed")
    assert 3 <= len(chunks) <= MANAGED_POLICIES_PER_ROLE
    assert sorted(c for chunk in chunks for c in chunk) == sorted(scattered(1000))
    docs = role_policy_documents(LONGEST_KEY_ARN, chunks)
    # No part count in the Sid: adding a part must not rewrite the parts that did not change.
    assert [d["Statement"][0]["Sid"] for d in docs] == [f"AtlasEncryptionAtRestKmsPart{i + 1}" for i in range(len(chunks))]
    assert all(policy_size(d) <= MANAGED_POLICY_MAX_CHARS for d in docs)


def test_beyond_what_a_role_can_carry_the_error_says_how_many_and_the_limit() -> None:
    with pytest.raises(PolicySizeError, match=r"^4000 allowed CIDRs .* at most 10 \(10 x 6,144 characters"):
        chunk_cidrs(scattered(4000), "managed")
    with pytest.raises(PolicySizeError, match=r"^1000 allowed CIDRs .* 10,240 characters"):
        chunk_cidrs(scattered(1000), "inline")


def test_the_key_policy_budget_is_checked_when_the_program_writes_the_key_policy() -> None:
    fits_role = scattered(2400)
    plan_policies(fits_role, kind="managed", enforce_ip=True, manage_key_policy=False)
    with pytest.raises(PolicySizeError, match="key policy"):
        plan_policies(fits_role, kind="managed", enforce_ip=True, manage_key_policy=True)


def test_the_plan_renders_the_documents_the_program_writes() -> None:
    plan = plan_policies(["3.92.113.229/32"], kind="inline", enforce_ip=True, manage_key_policy=True)
    [doc] = plan.role_documents(KEY)
    assert json.loads(doc)["Statement"][0]["Resource"] == KEY
    assert doc == canonical_json(json.loads(doc))


# Properties ---------------------------------------------------------------------------------

cidr_lists = st.lists(
    st.builds(lambda a, p: str(ipaddress.ip_network((a, p), strict=False)), st.integers(0, 2**32 - 1), st.integers(16, 32)),
    unique=True,
    max_size=2500,
)


@given(cidr_lists, st.sampled_from(["managed", "inline"]))
@settings(max_examples=60, deadline=None)
def test_every_part_fits_its_budget_or_the_plan_fails_with_the_size_error(cidrs, kind) -> None:
    try:
        chunks = chunk_cidrs(cidrs, kind)
    except PolicySizeError:
        return
    assert covered(c for chunk in chunks for c in chunk) == covered(cidrs)
    docs = role_policy_documents(LONGEST_KEY_ARN, chunks) if cidrs else []
    if kind == "managed":
        assert len(docs) <= MANAGED_POLICIES_PER_ROLE
        assert all(policy_size(d) <= MANAGED_POLICY_MAX_CHARS for d in docs)
    else:
        assert sum(policy_size(d) for d in docs) <= INLINE_POLICIES_MAX_CHARS


@given(cidr_lists.filter(lambda c: len(c) < 200), st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_input_order_never_changes_the_json(cidrs, rnd: random.Random) -> None:
    from core.ips import canonical_cidrs

    shuffled = list(cidrs)
    rnd.shuffle(shuffled)
    a = plan_policies(canonical_cidrs(cidrs) or ["192.0.2.1/32"], kind="managed", enforce_ip=True, manage_key_policy=False)
    b = plan_policies(canonical_cidrs(shuffled) or ["192.0.2.1/32"], kind="managed", enforce_ip=True, manage_key_policy=False)
    assert a.role_documents(KEY) == b.role_documents(KEY)

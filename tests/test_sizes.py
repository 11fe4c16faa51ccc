"""Policy sizes against IAM's and KMS's published limits, measured independently of the code's constants.

The limits are written here as AWS publishes them, not imported: a wrong constant in core/ must fail.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html (6,144 characters per managed
policy, 10,240 for all inline policies of a role, both counted without whitespace; 10 managed policies
per role by default) and https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html
(32 KB per key policy). Documents are measured by re-serialising them here and dropping whitespace, and
built for real longest-case ARNs: the longest partition, the longest region Atlas accepts in it, a
multi-Region key id, and a role name of IAM's maximum 64 characters.
"""

from __future__ import annotations

import ipaddress
import json
import random
import re
from typing import Any

import pytest

from core.policies import (
    PolicySizeError,
    canonical_json,
    chunk_cidrs,
    key_policy,
    plan_policies,
    role_policy_documents,
)

MANAGED_LIMIT = 6_144
INLINE_LIMIT = 10_240
MANAGED_PER_ROLE = 10
KEY_POLICY_LIMIT = 32_768
MRK = "mrk-" + "f" * 32
# The longest key ARNs Atlas can be given: GovCloud's partition with its longest region, and the
# commercial partition with its longest (14-character) regions.
LONGEST_REAL_KEY_ARNS = (
    f"arn:aws-us-gov:kms:us-gov-west-1:999999999999:key/{MRK}",
    f"arn:aws:kms:ap-southeast-7:999999999999:key/{MRK}",
    f"arn:aws:kms:ap-northeast-3:999999999999:key/{MRK}",
)
LONGEST_REAL_ROLE_ARN = "arn:aws-us-gov:iam::999999999999:role/" + "r" * 64
GOV_ROOT = "arn:aws-us-gov:iam::999999999999:root"


def iam_size(doc: dict[str, Any]) -> int:
    """What IAM counts: the document without whitespace (none of these documents has any inside strings)."""
    return len(re.sub(r"\s+", "", json.dumps(doc, indent=4)))


def kms_bytes(doc: dict[str, Any]) -> int:
    return len(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())


def scattered(n: int, seed: int = 5) -> list[str]:
    """n public /32s, no two adjacent (nothing collapses), sorted as the program's canonical list."""
    rnd, picked = random.Random(seed), set[int]()
    while len(picked) < n:
        picked.add((rnd.choice((3, 13, 52, 54)) << 24) | (rnd.getrandbits(24) & ~1))
    return [f"{ipaddress.IPv4Address(a)}/32" for a in sorted(picked)]


def largest(fits: Any, hi: int) -> int:
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def accepts(cidrs: list[str], kind: str, manage_key_policy: bool = False) -> bool:
    try:
        plan_policies(cidrs, kind=kind, enforce_ip=True, manage_key_policy=manage_key_policy)  # type: ignore[arg-type]
    except PolicySizeError:
        return False
    return True


def oracle_parts(cidrs: list[str], limit: int, key_arn: str) -> int:
    """How many managed documents of `limit` characters a plain sorted packing needs, measured."""
    parts, current = 0, list[str]()
    for cidr in cidrs:
        trial = [*current, cidr]
        doc = role_policy_documents(key_arn, [trial, trial])[1]  # a multi-part Sid, as the program writes
        if current and iam_size(doc) > limit:
            parts, current = parts + 1, [cidr]
        else:
            current = trial
    return parts + (1 if current else 0)


@pytest.fixture(scope="module")
def managed_capacity() -> int:
    return largest(lambda n: accepts(scattered(n), "managed"), 6_000)


@pytest.mark.parametrize("key_arn", LONGEST_REAL_KEY_ARNS)
def test_at_capacity_every_managed_document_fits_6144_characters_for_the_longest_real_arns(managed_capacity: int, key_arn: str) -> None:
    chunks = chunk_cidrs(scattered(managed_capacity), "managed")
    docs = role_policy_documents(key_arn, chunks)
    assert len(docs) <= MANAGED_PER_ROLE
    assert max(iam_size(d) for d in docs) <= MANAGED_LIMIT
    # Not a vacuous check: at capacity the fullest part is within one address of the limit.
    assert max(iam_size(d) for d in docs) > MANAGED_LIMIT - 40


@pytest.mark.parametrize("key_arn", LONGEST_REAL_KEY_ARNS)
def test_at_capacity_the_inline_policy_fits_10240_characters(key_arn: str) -> None:
    n = largest(lambda n: accepts(scattered(n), "inline"), 1_000)
    [doc] = role_policy_documents(key_arn, chunk_cidrs(scattered(n), "inline"))
    assert INLINE_LIMIT - 40 < iam_size(doc) <= INLINE_LIMIT


def test_at_capacity_the_key_policy_fits_32_kb_for_the_longest_role_arn() -> None:
    n = largest(lambda n: accepts(scattered(n), "managed", manage_key_policy=True), 3_000)
    size = kms_bytes(key_policy(GOV_ROOT, LONGEST_REAL_ROLE_ARN, scattered(n)))
    assert KEY_POLICY_LIMIT - 40 < size <= KEY_POLICY_LIMIT


def test_a_set_that_fits_by_measurement_is_never_refused(managed_capacity: int) -> None:
    # The size errors must not fire early: whatever a plain packing proves fits in 9 of the 10
    # managed policies (one spare), with the longest real ARN, the program accepts.
    worst_arn = max(LONGEST_REAL_KEY_ARNS, key=len)
    n = largest(lambda n: oracle_parts(scattered(n), MANAGED_LIMIT, worst_arn) <= MANAGED_PER_ROLE - 1, 6_000)
    assert accepts(scattered(n), "managed")
    assert managed_capacity >= n
    inline_ok = largest(lambda n: iam_size(role_policy_documents(worst_arn, [scattered(n)])[0]) <= INLINE_LIMIT - 60, 1_000)
    assert accepts(scattered(inline_ok), "inline")
    key_ok = largest(lambda n: kms_bytes(key_policy(GOV_ROOT, LONGEST_REAL_ROLE_ARN, scattered(n))) <= KEY_POLICY_LIMIT - 60, 3_000)
    assert accepts(scattered(key_ok), "managed", manage_key_policy=True)


def test_a_set_that_cannot_fit_by_measurement_is_refused() -> None:
    shortest_arn = "arn:aws:kms:us-east-1:999999999999:key/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12
    too_many = scattered(4_000)
    assert oracle_parts(too_many, MANAGED_LIMIT, shortest_arn) > MANAGED_PER_ROLE
    with pytest.raises(PolicySizeError):
        chunk_cidrs(too_many, "managed")
    assert iam_size(role_policy_documents(shortest_arn, [scattered(700)])[0]) > INLINE_LIMIT
    with pytest.raises(PolicySizeError):
        chunk_cidrs(scattered(700), "inline")
    assert kms_bytes(key_policy(GOV_ROOT.replace("aws-us-gov", "aws"), "arn:aws:iam::999999999999:role/r", scattered(2_000))) > KEY_POLICY_LIMIT
    assert not accepts(scattered(2_000), "managed", manage_key_policy=True)


def test_the_measure_agrees_with_the_canonical_form_the_program_sends() -> None:
    doc = role_policy_documents(LONGEST_REAL_KEY_ARNS[0], [scattered(5)])[0]
    assert iam_size(doc) == len(canonical_json(doc))

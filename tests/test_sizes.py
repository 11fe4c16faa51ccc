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

from core.arns import LONGEST_KEY_ARN
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


# Exactly on each limit, and one past it ---------------------------------------------------------
# The inputs are built to land on the boundary character for character (not an address count that
# happens to cross it): public /32s `13.bbb.ccc.d/32` whose last octet's width (1 to 3 digits) is
# chosen so that the measured document has exactly the size wanted. No two are adjacent (d is even),
# so nothing collapses and the list is what the program writes.

# Role policies are measured with the ARN the plan sizes them for before the key exists (a created
# key's ARN is unknown in a preview): core.arns.LONGEST_KEY_ARN, the plan's assumption, not a limit.


LAST_OCTET = {15: 2, 16: 20, 17: 200}  # text length of `13.bbb.ccc.d/32` -> an even d of that width


class Addresses:
    """Distinct, sorted, non-adjacent /32s of a chosen text length (15, 16 or 17 characters)."""

    def __init__(self) -> None:
        self.used = 0

    def take(self, lengths: list[int]) -> list[str]:
        out = []
        for length in lengths:
            b, c = divmod(self.used, 150)
            self.used += 1
            out.append(f"13.{100 + b}.{100 + c}.{LAST_OCTET[length]}/32")
        return out

    def exactly(self, measure: Any, target: int) -> list[str]:
        """Entries whose document, as `measure` counts it, is exactly `target` long."""
        start = self.used
        n = 1
        while measure(self._trial(start, [17] * n)) < target:
            n += 1
        excess = measure(self._trial(start, [17] * n)) - target
        assert excess <= 2 * n
        lengths = [15] * (excess // 2) + [16] * (excess % 2) + [17] * (n - excess // 2 - excess % 2)
        return self.take(lengths)

    def _trial(self, start: int, lengths: list[int]) -> list[str]:
        saved, self.used = self.used, start
        try:
            return self.take(lengths)
        finally:
            self.used = saved


def managed_size(part: list[str]) -> int:
    """A managed part as the plan sizes it: the widest Sid a part can get (Part10 of 10)."""
    return iam_size(role_policy_documents(LONGEST_KEY_ARN, [part] * MANAGED_PER_ROLE)[-1])


def test_ten_managed_policies_of_exactly_6144_characters_are_accepted_and_one_character_more_is_refused() -> None:
    pool = Addresses()
    full = [pool.exactly(managed_size, MANAGED_LIMIT) for _ in range(MANAGED_PER_ROLE)]
    assert [managed_size(p) for p in full] == [MANAGED_LIMIT] * MANAGED_PER_ROLE
    cidrs = [c for part in full for c in part]
    chunks = chunk_cidrs(cidrs, "managed")
    docs = role_policy_documents(LONGEST_KEY_ARN, chunks)
    assert len(docs) == MANAGED_PER_ROLE and max(iam_size(d) for d in docs) == MANAGED_LIMIT
    assert sorted(c for chunk in chunks for c in chunk) == sorted(cidrs)

    pool = Addresses()
    over = [pool.exactly(managed_size, MANAGED_LIMIT + 1)] + [pool.exactly(managed_size, MANAGED_LIMIT) for _ in range(MANAGED_PER_ROLE - 1)]
    assert managed_size(over[0]) == MANAGED_LIMIT + 1
    with pytest.raises(PolicySizeError, match=r"need 11 managed policies of 6,144 characters; a role carries at most 10"):
        chunk_cidrs([c for part in over for c in part], "managed")


def test_with_the_private_path_nine_full_address_parts_and_its_policy_fill_the_role_and_a_tenth_part_is_refused() -> None:
    # network both: the private path's own managed policy is attached to the same role, so the address
    # parts get one policy fewer. IAM would refuse an eleventh attachment at apply time, after other changes.
    pool = Addresses()
    full = [pool.exactly(managed_size, MANAGED_LIMIT) for _ in range(MANAGED_PER_ROLE)]
    nine = [c for part in full[:MANAGED_PER_ROLE - 1] for c in part]
    plan = plan_policies(nine, kind="managed", enforce_ip=True, manage_key_policy=False, private=())
    documents = [*(json.loads(d) for d in plan.role_documents(LONGEST_KEY_ARN)),
                 json.loads(plan.private_document(LONGEST_KEY_ARN) or "null")]
    assert len(documents) == MANAGED_PER_ROLE and all(iam_size(d) <= MANAGED_LIMIT for d in documents)
    ten = [c for part in full for c in part]
    plan_policies(ten, kind="managed", enforce_ip=True, manage_key_policy=False)  # without the private path: fits
    with pytest.raises(PolicySizeError, match=r"need 10 managed policies of 6,144 characters; a role carries at most 10 "
                                              r".*the private path's own policy \(atlas-kms:network\) takes 1, leaving 9"):
        plan_policies(ten, kind="managed", enforce_ip=True, manage_key_policy=False, private=())


def test_with_network_both_the_program_attaches_at_most_ten_managed_policies_or_stops_before_any_resource() -> None:
    import pulumi

    from config.stackfile import read_stack_config
    from offline.harness import ROOT, Registration, World, run_program

    config = read_stack_config(ROOT / "samples" / "stacks" / "Pulumi.existing-key.yaml") | {
        "atlas-kms:sourceIps": "{}", "atlas-kms:network": "both"}

    def world(cidrs: list[str]) -> World:
        w = World.sample()
        w.control_plane = {"outbound": {"aws": {"us-east-1": cidrs}}}
        w.project = {"groupId": "6f1e2d3c4b5a697887766554", "services": {"clusters": []}}
        return w

    pool = Addresses()
    full = [pool.exactly(managed_size, MANAGED_LIMIT) for _ in range(MANAGED_PER_ROLE)]
    ran = run_program(config, stack="existing-key", world=world([c for part in full[:MANAGED_PER_ROLE - 1] for c in part]))
    attached = ran.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert len(attached) == MANAGED_PER_ROLE
    assert any(a.name.endswith("-private-attachment") for a in attached)
    seen: list[Registration] = []
    with pytest.raises(pulumi.RunError, match=r"need 10 managed policies .* leaving 9 for the addresses"):
        run_program(config, stack="existing-key", world=world([c for part in full for c in part]), registrations=seen)
    assert [r.type for r in seen] == ["atlas-kms:index:AtlasKmsEncryption"]


def inline_size(cidrs: list[str]) -> int:
    return iam_size(role_policy_documents(LONGEST_KEY_ARN, [cidrs])[0])


def test_an_inline_policy_of_exactly_10240_characters_is_accepted_and_10241_is_refused() -> None:
    at_limit = Addresses().exactly(inline_size, INLINE_LIMIT)
    assert inline_size(at_limit) == INLINE_LIMIT
    assert chunk_cidrs(at_limit, "inline") == [at_limit]
    plan_policies(at_limit, kind="inline", enforce_ip=True, manage_key_policy=False)
    past = Addresses().exactly(inline_size, INLINE_LIMIT + 1)
    assert inline_size(past) == INLINE_LIMIT + 1
    with pytest.raises(PolicySizeError, match=r"inline policy budgets of 10,240 characters"):
        plan_policies(past, kind="inline", enforce_ip=True, manage_key_policy=False)


def key_policy_bytes(cidrs: list[str]) -> int:
    """The key policy for the longest role ARN and key-account root it can name (GovCloud, 64-character name)."""
    return kms_bytes(key_policy(GOV_ROOT, LONGEST_REAL_ROLE_ARN, cidrs))


def test_a_key_policy_of_exactly_32768_bytes_is_accepted_and_32769_is_refused() -> None:
    from core.policies import check_key_policy_budget

    at_limit = Addresses().exactly(key_policy_bytes, KEY_POLICY_LIMIT)
    assert key_policy_bytes(at_limit) == KEY_POLICY_LIMIT
    check_key_policy_budget(at_limit)
    assert accepts(at_limit, "managed", manage_key_policy=True)
    past = Addresses().exactly(key_policy_bytes, KEY_POLICY_LIMIT + 1)
    assert key_policy_bytes(past) == KEY_POLICY_LIMIT + 1
    with pytest.raises(PolicySizeError, match=r"key policy of 32,769 bytes; KMS allows 32,768"):
        check_key_policy_budget(past)
    assert not accepts(past, "managed", manage_key_policy=True)


def test_a_key_policy_one_byte_past_32768_stops_the_program_before_any_resource_is_registered() -> None:
    import pulumi

    from config.stackfile import read_stack_config
    from offline.harness import ROOT, Registration, World, run_program

    config = read_stack_config(ROOT / "samples" / "stacks" / "Pulumi.same-account.yaml") | {"atlas-kms:sourceIps": "{}"}

    def world(cidrs: list[str]) -> World:
        w = World.sample()
        w.control_plane = {"outbound": {"aws": {"us-east-1": cidrs}}}
        w.project = {"groupId": "6f1e2d3c4b5a697887766554", "services": {"clusters": []}}
        return w

    at_limit = Addresses().exactly(key_policy_bytes, KEY_POLICY_LIMIT)
    ran = run_program(config, stack="same-account", world=world(at_limit))
    assert ran.outputs["allowedCidrs"] == at_limit
    assert ran.of_type("aws:kms/key:Key")
    seen: list[Registration] = []
    with pytest.raises(pulumi.RunError, match=r"32,769 bytes; KMS allows 32,768"):
        run_program(config, stack="same-account", world=world(Addresses().exactly(key_policy_bytes, KEY_POLICY_LIMIT + 1)),
                    registrations=seen)
    assert [r.type for r in seen] == ["atlas-kms:index:AtlasKmsEncryption"]

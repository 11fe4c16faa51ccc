"""The verdict, as pure code: findings by set difference, the layer that lacks, and the exit codes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.ips import ClusterAddresses, SourceSelection, build_address_set
from core.policies import canonical_json, key_policy, plan_policies
from drift.compare import Evidence, judge

ROLE = "arn:aws:iam::111122223333:role/atlas-kms-role-prod"
SAME_KEY = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FOREIGN_KEY = "arn:aws:kms:eu-west-2:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"]
ATLAS_OK = {"enabled": True, "customerMasterKeyID": SAME_KEY, "valid": True}
ADDRESSES = build_address_set({"aws": {"us-east-1": ["3.92.113.229/32"]}},
                              [ClusterAddresses("orders", ("198.51.100.10",), ("198.51.100.99",))], SourceSelection())


def role_docs(key: str, cidrs: list[str] | None = None, kind: str = "managed") -> list[tuple[str, dict[str, Any]]]:
    plan = plan_policies(cidrs or list(ADDRESSES.cidrs), kind=kind, enforce_ip=True, manage_key_policy=False)  # type: ignore[arg-type]
    return [(f"policy {i}", json.loads(d)) for i, d in enumerate(plan.role_documents(key))]


# AWS's default key policy: the account's IAM policies decide.
DEFAULT_KEY_POLICY = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                                     "Action": "kms:*", "Resource": "*"}]}


def evidence(**changes: Any) -> Evidence:
    base: dict[str, Any] = {"role_arn": ROLE, "key_arn": SAME_KEY, "identity": role_docs(SAME_KEY),
                            "key_policy": DEFAULT_KEY_POLICY, "atlas": ATLAS_OK}
    return Evidence(**{**base, **changes})


def test_what_the_program_writes_is_in_sync() -> None:
    r = judge("prod", ADDRESSES, evidence())
    assert (r.status, r.exit_code, r.findings, r.notes, r.unread) == ("ok", 0, [], [], [])


def test_a_foreign_key_policy_that_cannot_be_read_is_said_unchecked_and_the_role_judged_alone() -> None:
    r = judge("prod", ADDRESSES, evidence(key_arn=FOREIGN_KEY, identity=role_docs(FOREIGN_KEY, kind="inline"),
                                          key_policy=None, key_policy_note="AccessDeniedException",
                                          atlas={**ATLAS_OK, "customerMasterKeyID": FOREIGN_KEY}))
    assert (r.status, r.findings) == ("ok", [])
    assert r.notes == ["key policy not checked (AccessDeniedException): judged the role's policies alone; "
                       "the key owner's side was NOT checked"]


def test_the_own_account_key_policy_unread_cannot_decide_it_decides_for_that_key() -> None:
    r = judge("prod", ADDRESSES, evidence(key_policy=None, key_policy_note="AccessDeniedException"))
    assert r.exit_code == 2 and "its policy decides" in r.unread[0]
    # ... unless something is certainly wrong anyway.
    assert judge("prod", ADDRESSES, evidence(key_policy=None, atlas={**ATLAS_OK, "valid": False})).exit_code == 1


def test_a_deny_in_the_role_policies_wins_over_the_key_policy_granting_the_role_itself() -> None:
    own = json.loads(canonical_json(key_policy("arn:aws:iam::111122223333:root", ROLE, list(ADDRESSES.cidrs))))
    deny = ("deny", {"Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}]})
    assert judge("prod", ADDRESSES, evidence(key_policy=own)).exit_code == 0
    r = judge("prod", ADDRESSES, evidence(key_policy=own, identity=[*role_docs(SAME_KEY), deny]))
    assert r.exit_code == 1
    missing = [f for f in r.findings if f.kind == "missing"]
    assert {c for f in missing for c in f.cidrs} == set(ADDRESSES.cidrs) and all(f.layer == "role policy" for f in missing)


def test_an_unchanged_world_split_over_several_parts_is_not_drift() -> None:
    clusters = [ClusterAddresses(f"c{i}", (f"13.0.{i}.1", f"13.0.{i}.3", f"13.0.{i}.5")) for i in range(200)]
    addresses = build_address_set({"aws": {"us-east-1": ["3.92.113.229/32"]}}, clusters, SourceSelection())
    identity = role_docs(SAME_KEY, list(addresses.cidrs))
    assert len(identity) > 1
    assert judge("prod", addresses, evidence(identity=identity)).exit_code == 0


def test_a_future_address_missing_is_named_future_with_its_cluster() -> None:
    r = judge("prod", ADDRESSES, evidence(identity=role_docs(SAME_KEY, ["3.92.113.229/32", "198.51.100.10/32"])))
    [missing] = r.findings
    assert (missing.kind, missing.cidrs, missing.origins, missing.future) == ("missing", ("198.51.100.99/32",), ("cluster orders",), True)
    assert r.exit_code == 1


def test_cross_account_both_sides_must_allow_and_each_lacking_layer_has_its_line() -> None:
    cidrs = list(ADDRESSES.cidrs)
    owner = json.loads(canonical_json(key_policy("arn:aws:iam::444455556666:root", ROLE, [c for c in cidrs if c != "3.92.113.229/32"])))
    r = judge("prod", ADDRESSES, evidence(key_arn=FOREIGN_KEY, identity=role_docs(FOREIGN_KEY, cidrs[1:], "inline"),
                                          key_policy=owner, atlas={**ATLAS_OK, "customerMasterKeyID": FOREIGN_KEY}))
    assert [(f.kind, f.layer, f.cidrs, f.actions) for f in r.findings] == [
        ("missing", "key policy", ("3.92.113.229/32",), tuple(ACTIONS)),
        ("missing", "role policy", ("3.92.113.229/32",), tuple(ACTIONS)),
    ]
    assert r.notes == []


def test_a_key_policy_deny_is_its_own_layer() -> None:
    deny = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
                          {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
                           "Condition": {"IpAddress": {"aws:SourceIp": "3.92.113.229/32"}}}]}
    r = judge("prod", ADDRESSES, evidence(key_policy=deny))
    assert [(f.layer, f.cidrs, f.actions) for f in r.findings] == [("key policy (a Deny)", ("3.92.113.229/32",), ("kms:Decrypt",))]


def test_without_the_ip_condition_by_choice_a_policy_without_condition_is_not_excess() -> None:
    open_doc = {"Statement": [{"Effect": "Allow", "Action": ACTIONS, "Resource": SAME_KEY}]}
    assert judge("prod", ADDRESSES, evidence(identity=[("p", open_doc)]), enforce_ip=False).exit_code == 0
    findings = judge("prod", ADDRESSES, evidence(identity=[("p", open_doc)])).findings
    assert [f.kind for f in findings] == ["stale", "excess"]
    assert "allows every address, not only Atlas's 3 CIDRs" in findings[0].detail


@pytest.mark.parametrize(("unread", "atlas", "code"), [
    (False, ATLAS_OK, 0),
    (True, ATLAS_OK, 2),                                 # the verdict depends on what could not be read
    (True, {**ATLAS_OK, "valid": False}, 1),             # certainly wrong, whatever else is unread
    (False, None, 2),                                    # Atlas could not be asked
    (False, {**ATLAS_OK, "valid": False}, 1),
])
def test_exit_1_when_certainly_wrong_exit_2_only_when_the_verdict_depends_on_what_was_not_read(
        unread: bool, atlas: dict[str, Any] | None, code: int) -> None:
    identity = role_docs(SAME_KEY)
    if unread:
        identity = [("p", {"Statement": [{"Effect": "Allow", "Action": ACTIONS, "Resource": SAME_KEY,
                                          "Condition": {"StringEquals": {"aws:SourceVpc": "vpc-1"}}}]})]
    r = judge("prod", ADDRESSES, evidence(identity=identity, atlas=atlas, atlas_note="timed out"))
    assert r.exit_code == code


def test_waiting_for_the_owner_atlas_not_enabled_is_not_drift() -> None:
    r = judge("prod", ADDRESSES, evidence(atlas={"enabled": False}), expects_encryption=False)
    assert r.exit_code == 0
    assert judge("prod", ADDRESSES, evidence(atlas={"enabled": False})).exit_code == 1


def test_the_text_and_the_json_carry_the_same_findings() -> None:
    r = judge("prod", ADDRESSES, evidence(identity=role_docs(SAME_KEY, ["3.92.113.229/32", "198.51.100.10/32", "192.0.2.1/32"]),
                                          atlas={**ATLAS_OK, "valid": False},
                                          gateways=[("atlas-gateway", "aws/us-east-1", "203.0.113.9/32")]))
    body, text = r.to_json(), "\n".join(r.lines())
    assert {f["kind"] for f in body["findings"]} == {"missing", "stale", "atlas", "warning"}
    for f in body["findings"]:
        for cidr in f["cidrs"]:
            assert cidr in text
        for origin in f["origins"]:
            assert origin in text
    assert text.startswith("stack prod: DRIFT, 1 missing, 1 stale, 1 atlas (")

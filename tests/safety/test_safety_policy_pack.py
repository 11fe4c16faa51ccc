"""The policy pack's rules: silent on what the program generates, loud on what breaks the invariants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policy_pack.rules import (
    RULES,
    atlas_role_policy_least_privilege,
    atlas_trust_policy,
    encryption_uses_full_key_arn,
    kms_key_safety,
)

from .documents import MODES, generated

KEY = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GOOD_STATEMENT = {
    "Sid": "AtlasEncryptionAtRestKms", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"],
    "Resource": KEY, "Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24"]}},
}


def policy(**changes: Any) -> dict[str, Any]:
    stmt = {**GOOD_STATEMENT, **changes}
    return {"policy": json.dumps({"Version": "2012-10-17", "Statement": [{k: v for k, v in stmt.items() if v is not None}]})}


@pytest.mark.parametrize("mode", MODES)
def test_every_rule_passes_everything_the_program_registers(mode: str) -> None:
    for reg in generated(mode).run.registrations:
        for rule in RULES:
            assert rule.check(reg.type, reg.inputs) == [], (rule.name, reg.name)


def test_key_rules() -> None:
    good = {"enableKeyRotation": True, "deletionWindowInDays": 30}
    assert kms_key_safety("aws:kms/key:Key", good) == []
    assert kms_key_safety("aws:kms/key:Key", {**good, "enableKeyRotation": False}) == ["KMS key rotation must be enabled (enableKeyRotation: true)"]
    assert "30 days" in kms_key_safety("aws:kms/key:Key", {**good, "deletionWindowInDays": 7})[0]
    assert "bypassPolicyLockoutSafetyCheck" in kms_key_safety("aws:kms/key:Key", {**good, "bypassPolicyLockoutSafetyCheck": True})[0]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"Action": ["kms:*"]}, "must Allow exactly"),
        ({"Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]}, "must Allow exactly"),
        ({"Effect": "Deny"}, "must Allow exactly"),
        ({"Resource": "*"}, "one full KMS key ARN"),
        ({"Resource": "1234abcd-12ab-34cd-56ef-1234567890ab"}, "one full KMS key ARN"),
        ({"Resource": [KEY, KEY.replace("1234abcd", "ffffffff"), KEY.replace("1234abcd", "eeeeeeee")]},
         "one full KMS key ARN (two while Atlas moves to a new key)"),
        ({"Condition": None}, "aws:SourceIp condition"),
        ({"Condition": {"IpAddress": {"aws:SourceIp": []}}}, "aws:SourceIp condition"),
    ],
)
def test_role_policy_rule_catches_each_broken_invariant(changes: dict[str, Any], expected: str) -> None:
    for typ in ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy"):
        problems = atlas_role_policy_least_privilege(typ, policy(**changes))
        assert any(expected in p for p in problems), problems
    assert atlas_role_policy_least_privilege("aws:iam/policy:Policy", policy()) == []


def test_two_keys_while_atlas_moves_and_a_restore_only_statement_for_retained_keys_pass() -> None:
    other = KEY.replace("1234abcd", "ffffffff")
    doc = json.loads(policy(Resource=[KEY, other])["policy"])
    restore = {**doc["Statement"][0], "Sid": "AtlasRestoresRetainedKeys", "Action": ["kms:Decrypt", "kms:DescribeKey"],
               "Resource": [KEY.replace("1234abcd", "eeeeeeee"), KEY.replace("1234abcd", "dddddddd"), KEY]}
    doc["Statement"].append(restore)
    assert atlas_role_policy_least_privilege("aws:iam/policy:Policy", {"policy": json.dumps(doc)}) == []
    # A retained key gets what a restore needs, never Encrypt.
    doc["Statement"][1]["Action"] = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"]
    problems = atlas_role_policy_least_privilege("aws:iam/policy:Policy", {"policy": json.dumps(doc)})
    assert problems == ["AtlasRestoresRetainedKeys: must Allow exactly kms:Decrypt, kms:DescribeKey"]
    doc["Statement"][1]["Action"] = ["kms:Decrypt", "kms:DescribeKey"]
    doc["Statement"][1].pop("Condition")
    problems = atlas_role_policy_least_privilege("aws:iam/policy:Policy", {"policy": json.dumps(doc)})
    assert problems == ["AtlasRestoresRetainedKeys: must carry an IpAddress aws:SourceIp condition with Atlas's addresses"]


def test_unrelated_policies_and_unknown_values_are_left_alone() -> None:
    other = {"policy": json.dumps({"Statement": [{"Sid": "Other", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})}
    assert atlas_role_policy_least_privilege("aws:iam/policy:Policy", other) == []
    assert atlas_role_policy_least_privilege("aws:iam/policy:Policy", {"policy": None}) == []


def test_trust_rule() -> None:
    tags = {"atlas-kms:managed-by": "atlas-kms"}
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::536727724300:root"}, "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"sts:ExternalId": "x"}}}]}
    assert atlas_trust_policy("aws:iam/role:Role", {"tags": tags, "assumeRolePolicy": json.dumps(trust)}) == []
    no_external = {"Statement": [{**trust["Statement"][0], "Condition": {}}]}
    assert "sts:ExternalId" in atlas_trust_policy("aws:iam/role:Role", {"tags": tags, "assumeRolePolicy": json.dumps(no_external)})[0]
    anyone = {"Statement": [{**trust["Statement"][0], "Principal": {"AWS": "*"}}]}
    assert "wildcard" in atlas_trust_policy("aws:iam/role:Role", {"tags": tags, "assumeRolePolicy": json.dumps(anyone)})[0]
    assert atlas_trust_policy("aws:iam/role:Role", {"tags": {}, "assumeRolePolicy": json.dumps(anyone)}) == []


def test_full_arn_rule() -> None:
    ear = "mongodbatlas:index/encryptionAtRest:EncryptionAtRest"
    assert encryption_uses_full_key_arn(ear, {"awsKmsConfig": {"customerMasterKeyId": KEY}}) == []
    assert encryption_uses_full_key_arn(ear, {"awsKmsConfig": {"customerMasterKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"}})


def test_the_pack_wires_every_rule_as_a_mandatory_resource_validation(monkeypatch) -> None:
    import runpy

    import pulumi_policy

    from offline.harness import ROOT

    captured: dict[str, Any] = {}
    monkeypatch.setattr(pulumi_policy, "PolicyPack", lambda **kwargs: captured.update(kwargs))
    runpy.run_path(str(ROOT / "policy_pack" / "__main__.py"), run_name="__main__")
    assert captured["name"] == "atlas-kms-safety"
    assert captured["enforcement_level"] == pulumi_policy.EnforcementLevel.MANDATORY
    policies = captured["policies"]
    assert [p.name for p in policies] == [r.name for r in RULES]
    violations: list[str] = []
    args = pulumi_policy.ResourceValidationArgs("aws:kms/key:Key", {"enableKeyRotation": False, "deletionWindowInDays": 30}, None, None, None, None, None, None)  # type: ignore[arg-type]
    policies[0].validate(args, lambda message, urn: violations.append(message))
    assert violations == ["KMS key rotation must be enabled (enableKeyRotation: true)"]


@pytest.mark.parametrize(
    ("cidrs", "expected"),
    [
        (["0.0.0.0/0"], "wider than /16"),
        (["192.0.2.0/24", "0.0.0.0/1"], "wider than /16"),
        (["::/0"], "wider than /48"),
        (["10.0.0.0/24"], "non-public range 10.0.0.0/8"),
        (["100.64.0.1/32"], "non-public range 100.64.0.0/10"),
        (["fe80::1/128"], "non-public range fe80::/10"),
        (["not-an-address"], "not an IP address"),
    ],
)
def test_the_source_ip_rules_refuse_ranges_atlas_never_calls_from(cidrs: list[str], expected: str) -> None:
    from policy_pack.rules import source_ips_are_narrow, source_ips_are_public

    def found(resource_type: str, props: dict[str, Any]) -> list[str]:
        return source_ips_are_public(resource_type, props) + source_ips_are_narrow(resource_type, props)

    problems = found("aws:iam/policy:Policy", policy(Condition={"IpAddress": {"aws:SourceIp": cidrs}}))
    assert len(problems) == 1 and expected in problems[0], problems
    key_policy = {"policy": json.dumps({"Statement": [{"Sid": "AtlasRoleUsesKey", "Effect": "Allow", "Resource": "*",
                                                       "Condition": {"IpAddress": {"aws:SourceIp": cidrs}}}]})}
    assert found("aws:kms/keyPolicy:KeyPolicy", key_policy) == [problems[0].replace("AtlasEncryptionAtRestKms", "AtlasRoleUsesKey")]
    assert found("aws:iam/policy:Policy", policy()) == []


def test_a_wide_range_is_its_own_rule_so_a_stack_that_allows_it_can_make_only_that_one_advisory() -> None:
    from policy_pack.rules import source_ips_are_narrow, source_ips_are_public

    wide = policy(Condition={"IpAddress": {"aws:SourceIp": ["128.0.0.0/1"]}})
    assert source_ips_are_public("aws:iam/policy:Policy", wide) == []
    assert source_ips_are_narrow("aws:iam/policy:Policy", wide)


def test_a_key_with_rotation_left_unset_fails_the_rotation_rule() -> None:
    # Unset is not "on": AWS creates a key without automatic rotation unless it is asked for.
    # https://docs.aws.amazon.com/kms/latest/developerguide/rotating-keys-enable.html
    for unset in ({"deletionWindowInDays": 30}, {"enableKeyRotation": None, "deletionWindowInDays": 30}):
        assert kms_key_safety("aws:kms/key:Key", unset) == ["KMS key rotation must be enabled (enableKeyRotation: true)"]


@pytest.mark.parametrize("principal", ["arn:aws:iam::*:root", "arn:aws:iam::536727724300:*", "arn:aws:iam::*:role/atlas",
                                       ["arn:aws:iam::536727724300:root", "arn:aws:iam::*:root"]])
def test_a_partial_wildcard_principal_in_the_trust_policy_fails_the_trust_rule(principal: Any) -> None:
    tags = {"atlas-kms:managed-by": "atlas-kms"}
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"sts:ExternalId": "x"}}}]}
    assert atlas_trust_policy("aws:iam/role:Role", {"tags": tags, "assumeRolePolicy": json.dumps(trust)}) == [
        "the trust policy must not use a wildcard principal"]


def test_the_replicas_of_a_multi_region_key_count_as_one_key() -> None:
    mrk = "arn:aws:kms:eu-west-2:111122223333:key/mrk-0123456789abcdef0123456789abcdef"
    replicas = [mrk, mrk.replace("eu-west-2", "eu-west-1"), mrk.replace("eu-west-2", "us-east-1")]
    doc = json.loads(policy(Resource=[*replicas, KEY])["policy"])
    assert atlas_role_policy_least_privilege("aws:iam/policy:Policy", {"policy": json.dumps(doc)}) == []

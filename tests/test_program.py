"""The whole program under Pulumi's mock runtime: wiring, options and outputs in every key mode.

Each test runs `__main__.py` afresh (mocks set inside the test, preview=False so ARNs and
ids are known), with lookups answered in the engine's camelCase from samples/atlas/.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
from typing import Any

import pulumi
import pytest

from config.stackfile import read_stack_config
from offline.harness import ATLAS_AWS_ACCOUNT_ARN, ROOT, ProgramRun, Registration, World, run_program

STACKS = ROOT / "samples" / "stacks"
COMPONENT = "atlas-kms:index:AtlasKmsEncryption"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/policy:Policy"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ATTACH_EXCLUSIVE = "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
INLINE_EXCLUSIVE = "aws:iam/rolePoliciesExclusive:RolePoliciesExclusive"
INLINE = "aws:iam/rolePolicy:RolePolicy"
PROVIDER = "pulumi:providers:aws"
SETUP = "mongodbatlas:index/cloudProviderAccessSetup:CloudProviderAccessSetup"
AUTH = "mongodbatlas:index/cloudProviderAccessAuthorization:CloudProviderAccessAuthorization"
EAR = "mongodbatlas:index/encryptionAtRest:EncryptionAtRest"
SLEEP = "time:index/sleep:Sleep"
ALERT = "mongodbatlas:index/alertConfiguration:AlertConfiguration"
ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"]


def run(stack: str, overrides: dict[str, Any] | None = None, world: World | None = None) -> ProgramRun:
    config = read_stack_config(STACKS / f"Pulumi.{stack}.yaml")
    for key, value in (overrides or {}).items():
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return run_program(config, stack=stack, world=world)


def doc(reg: Registration, key: str = "policy") -> dict[str, Any]:
    return json.loads(reg.inputs[key])


def provider_name(reg: Registration) -> str:
    return reg.provider.rsplit("::", 1)[0].split("::")[-1] if reg.provider else ""


def depends_on(reg: Registration, other: Registration) -> bool:
    return other.urn in reg.dependencies


# Mode 1: key created in the role's account ---------------------------------------------------


def test_every_child_is_parented_to_the_component_and_named_from_it() -> None:
    r = run("same-account")
    component = r.one(COMPONENT)
    children = [reg for reg in r.registrations if reg is not component]
    assert {reg.type for reg in children} == {SETUP, ROLE, KEY, ALIAS, POLICY, ATTACH, AUTH, EAR, SLEEP, ALERT,
                                              ATTACH_EXCLUSIVE, INLINE_EXCLUSIVE}
    assert all(reg.parent == component.urn for reg in children)
    assert all(reg.name.startswith("atlas-kms-") for reg in children)


@pytest.mark.parametrize("stack", ["same-account", "cross-account"])
def test_only_the_programs_grants_stay_on_atlas_role_and_they_are_in_place_first(stack: str) -> None:
    """The role's managed attachments and inline policies are owned exclusively: a hand-made grant is
    removed, but only after every policy the program attaches exists (so Atlas is never left without one)."""
    r = run(stack)
    role = r.one(ROLE)
    attachments, inline = r.one(ATTACH_EXCLUSIVE), r.one(INLINE_EXCLUSIVE)
    managed = r.of_type(POLICY)
    inlines = r.of_type("aws:iam/rolePolicy:RolePolicy")
    assert attachments.inputs["roleName"] == inline.inputs["roleName"] == role.state["name"]
    assert sorted(attachments.inputs["policyArns"]) == sorted(p.state["arn"] for p in managed)
    assert sorted(inline.inputs["policyNames"]) == sorted(p.state["name"] for p in inlines)
    program_grants = {p.urn for p in [*managed, *r.of_type(ATTACH), *inlines]}
    for exclusive in (attachments, inline):
        assert program_grants <= set(exclusive.dependencies)


def test_the_created_key_is_protected_rotated_symmetric_with_a_30_day_window_and_an_alias() -> None:
    r = run("same-account")
    key = r.one(KEY)
    assert key.protect is True
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert key.inputs["keyUsage"] == "ENCRYPT_DECRYPT"
    assert key.inputs["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert key.inputs["region"] == "eu-west-2"
    alias = r.one(ALIAS)
    assert alias.inputs["name"] == "alias/atlas-kms/6f1e2d3c4b5a697887766554/same-account"
    assert alias.inputs["targetKeyId"] == key.state["keyId"]


def test_the_key_policy_keeps_the_account_administrators_and_lets_the_atlas_role_use_it_from_atlas_addresses() -> None:
    r = run("same-account")
    admin, user = doc(r.one(KEY))["Statement"]
    assert admin["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert "kms:PutKeyPolicy" in admin["Action"]
    assert user["Principal"] == {"AWS": r.outputs["roleArn"]}
    assert user["Action"] == ACTIONS
    assert user["Condition"]["IpAddress"]["aws:SourceIp"] == r.outputs["allowedCidrs"]


def test_the_trust_policy_allows_only_atlas_with_the_external_id_atlas_returned() -> None:
    r = run("same-account")
    setup = r.one(SETUP)
    assert setup.inputs == {"projectId": "6f1e2d3c4b5a697887766554", "providerName": "AWS"}
    [stmt] = doc(r.one(ROLE), "assumeRolePolicy")["Statement"]
    assert stmt["Principal"] == {"AWS": ATLAS_AWS_ACCOUNT_ARN}
    assert stmt["Action"] == "sts:AssumeRole"
    external_id = setup.state["awsConfigs"][0]["atlasAssumedRoleExternalId"]
    assert stmt["Condition"] == {"StringEquals": {"sts:ExternalId": external_id}}


def test_the_role_policy_is_exactly_three_actions_on_the_key_arn_from_the_allowed_cidrs() -> None:
    r = run("same-account")
    policy = r.one(POLICY)
    assert doc(policy) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AtlasEncryptionAtRestKms",
                "Effect": "Allow",
                "Action": ACTIONS,
                "Resource": r.outputs["keyArn"],
                "Condition": {"IpAddress": {"aws:SourceIp": r.outputs["allowedCidrs"]}},
            }
        ],
    }
    attachment = r.one(ATTACH)
    assert attachment.inputs["role"] == r.one(ROLE).state["name"]
    assert attachment.inputs["policyArn"] == policy.state["arn"]


def test_allowed_cidrs_are_every_outbound_control_plane_address_and_cluster_address_collapsed() -> None:
    cidrs = run("same-account").outputs["allowedCidrs"]
    assert "3.92.113.229/32" in cidrs  # control plane, aws us-east-1 (real excerpt)
    assert "192.0.2.128/30" in cidrs  # gcp 192.0.2.128/32 + .129/32 + .130/31
    assert "198.51.100.10/31" in cidrs and "198.51.100.12/32" in cidrs  # cluster orders
    assert "203.0.113.140/31" in cidrs  # analytics + its announced future address
    assert "192.0.2.240/28" in cidrs  # extraCidrs
    assert "52.192.130.90/32" not in cidrs  # inbound control-plane addresses are not callers


def test_encryption_at_rest_gets_the_full_key_arn_atlas_region_and_role_and_waits_for_access() -> None:
    r = run("same-account")
    ear = r.one(EAR)
    kms = ear.inputs["awsKmsConfig"]
    assert kms["customerMasterKeyId"] == r.outputs["keyArn"]
    assert kms["customerMasterKeyId"].startswith("arn:aws:kms:eu-west-2:111122223333:key/")
    assert kms["region"] == "EU_WEST_2" and kms["enabled"] is True
    assert kms["roleId"] == r.one(SETUP).state["roleId"] == r.outputs["atlasRoleId"]
    for prerequisite in (r.one(AUTH), r.one(POLICY), r.one(ATTACH), r.one(KEY)):
        assert depends_on(ear, prerequisite), prerequisite.name


def test_the_authorization_names_the_role_atlas_assumes() -> None:
    r = run("same-account")
    auth = r.one(AUTH)
    assert auth.inputs["roleId"] == r.one(SETUP).state["roleId"]
    assert auth.inputs["aws"] == {"iamAssumedRoleArn": r.outputs["roleArn"]}


def test_key_and_role_carry_the_tags_the_drift_command_looks_for() -> None:
    r = run("same-account")
    expected = {"atlas-kms:project-id": "6f1e2d3c4b5a697887766554", "atlas-kms:stack": "same-account", "atlas-kms:managed-by": "atlas-kms"}
    assert r.one(KEY).inputs["tags"] == expected
    assert r.one(ROLE).inputs["tags"] == expected


def test_the_documented_outputs() -> None:
    outputs = run("same-account").outputs
    assert set(outputs) == {"mode", "keyArn", "keyRegion", "roleArn", "atlasRoleId", "allowedCidrs", "encryptionValid",
                            "retainedKeyArns", "privateEndpoints"}
    assert outputs["retainedKeyArns"] == [] and outputs["privateEndpoints"] == []
    assert outputs["mode"] == "same-account-created" and outputs["encryptionValid"] is True


def test_a_key_region_other_than_the_role_region_is_set_on_the_key_resources() -> None:
    r = run("same-account", {"atlas-kms:keyRegion": "us-east-1"})
    assert r.one(KEY).inputs["region"] == "us-east-1" and r.one(ALIAS).inputs["region"] == "us-east-1"
    assert r.one(EAR).inputs["awsKmsConfig"]["region"] == "US_EAST_1"
    assert r.of_type(PROVIDER) == []


# Mode 2: existing key in the role's account --------------------------------------------------


def test_an_existing_key_is_used_by_its_full_arn_and_not_created_or_edited() -> None:
    r = run("existing-key")
    arn = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert r.of_type(KEY) == [] and r.of_type(KEY_POLICY) == [] and r.of_type(INLINE) == []
    assert doc(r.one(POLICY))["Statement"][0]["Resource"] == arn
    assert r.one(EAR).inputs["awsKmsConfig"]["customerMasterKeyId"] == arn == r.outputs["keyArn"]


# Mode 3: key created in another account ------------------------------------------------------


def test_a_cross_account_key_is_created_through_an_explicit_provider_for_the_key_account() -> None:
    r = run("cross-account")
    provider = r.one(PROVIDER)
    assert provider.parent == r.one(COMPONENT).urn
    roles = json.loads(provider.inputs["assumeRoles"])
    assert roles[0]["roleArn"] == "arn:aws:iam::444455556666:role/atlas-kms-key-admin"
    assert roles[0]["externalId"] == "atlas-kms-prod"
    assert provider.inputs["region"] == "eu-west-2"
    for reg in (r.one(KEY), r.one(ALIAS)):
        assert provider_name(reg) == provider.name
    for reg in (r.one(ROLE), r.one(INLINE), r.one(SETUP), r.one(AUTH), r.one(EAR)):
        assert provider_name(reg) != provider.name


def test_the_cross_account_key_policy_names_the_role_of_the_other_account_with_the_ip_condition() -> None:
    r = run("cross-account")
    key = r.one(KEY)
    assert key.protect is True
    admin, user = doc(key)["Statement"]
    assert admin["Principal"] == {"AWS": "arn:aws:iam::444455556666:root"}
    assert user["Principal"] == {"AWS": r.outputs["roleArn"]}
    assert r.outputs["roleArn"].startswith("arn:aws:iam::111122223333:role/")
    assert user["Condition"]["IpAddress"]["aws:SourceIp"] == r.outputs["allowedCidrs"]


def test_the_cross_account_role_gets_an_inline_policy_and_atlas_the_full_arn() -> None:
    r = run("cross-account")
    assert r.of_type(POLICY) == [] and r.of_type(ATTACH) == []
    inline = r.one(INLINE)
    assert inline.inputs["role"] == r.one(ROLE).state["name"]
    [stmt] = doc(inline)["Statement"]
    assert stmt["Action"] == ACTIONS and stmt["Resource"] == r.outputs["keyArn"]
    assert r.outputs["keyArn"].startswith("arn:aws:kms:eu-west-2:444455556666:key/")
    ear = r.one(EAR)
    assert ear.inputs["awsKmsConfig"]["customerMasterKeyId"] == r.outputs["keyArn"]
    assert depends_on(ear, inline) and depends_on(ear, r.one(KEY))


# Mode 4: existing key in another account -----------------------------------------------------


def test_a_foreign_key_policy_is_never_touched_and_the_owner_gets_the_exact_statement() -> None:
    r = run("foreign-key")
    arn = "arn:aws:kms:eu-west-2:444455556666:key/mrk-0123456789abcdef0123456789abcdef"
    assert r.of_type(KEY) == [] and r.of_type(KEY_POLICY) == [] and r.of_type(PROVIDER) == []
    assert doc(r.one(INLINE))["Statement"][0]["Resource"] == arn
    assert r.outputs["keyPolicyStatementForOwner"] == {
        "Sid": "AtlasRoleUsesKey",
        "Effect": "Allow",
        "Principal": {"AWS": r.outputs["roleArn"]},
        "Action": ACTIONS,
        "Resource": "*",
        "Condition": {"IpAddress": {"aws:SourceIp": r.outputs["allowedCidrs"]}},
    }


def test_encryption_waits_until_the_owner_has_granted_the_statement() -> None:
    waiting = run("foreign-key")
    assert waiting.of_type(EAR) == [] and waiting.outputs["encryptionValid"] is False
    assert any("keyPolicyStatementForOwner" in line and "keyPolicyGranted" in line for line in waiting.logs)
    granted = run("foreign-key", {"atlas-kms:keyAccount": {"keyPolicyGranted": True}})
    ear = granted.one(EAR)
    assert ear.inputs["awsKmsConfig"]["customerMasterKeyId"] == granted.outputs["keyArn"]
    assert depends_on(ear, granted.one(INLINE))


def test_with_explicit_opt_in_the_foreign_key_policy_is_managed_through_the_key_account_and_retained() -> None:
    r = run(
        "foreign-key",
        {"atlas-kms:keyAccount": {"assumeRoleArn": "arn:aws:iam::444455556666:role/kms-admin", "manageKeyPolicy": True}},
    )
    key_policy = r.one(KEY_POLICY)
    assert provider_name(key_policy) == r.one(PROVIDER).name
    assert key_policy.retain_on_delete is True
    # The provider stores the bare key id; the ARN would show a change on every preview.
    assert key_policy.inputs["keyId"] == r.outputs["keyArn"].rsplit("key/", 1)[1]
    admin, user = doc(key_policy)["Statement"]
    assert admin["Principal"] == {"AWS": "arn:aws:iam::444455556666:root"}
    assert user["Principal"] == {"AWS": r.outputs["roleArn"]}
    assert depends_on(r.one(EAR), key_policy)
    assert "keyPolicyStatementForOwner" not in r.outputs


# A multi-region key reached through endpoints in several regions ------------------------------

MRK_ID = "mrk-0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(("stack", "overrides", "replica_regions"), [
    ("existing-key", {"atlas-kms:keyArn": f"arn:aws:kms:eu-west-2:111122223333:key/{MRK_ID}", "atlas-kms:network": "both",
                      "atlas-kms:privateEndpointRegions": ["eu-west-2", "eu-west-1"]}, ["eu-west-1"]),
    ("foreign-key", {"atlas-kms:keyAccount": {"keyPolicyGranted": True}, "atlas-kms:network": "private",
                     "atlas-kms:privateEndpointRegions": ["eu-west-2", "us-east-1", "eu-central-1"]},
     ["us-east-1", "eu-central-1"]),
])
def test_every_replica_of_a_multi_region_key_is_in_the_role_policy_for_the_endpoint_in_its_region(
        stack: str, overrides: dict[str, Any], replica_regions: list[str]) -> None:
    from drift.evaluate import Ranges, effective_allowed
    from offline.simulator import _identity, _live, aws_default_key_policy

    r = run(stack, overrides)
    key = r.outputs["keyArn"]
    replicas = [key.replace(":eu-west-2:", f":{region}:") for region in replica_regions]
    statements = [st for reg in [*r.of_type(POLICY), *r.of_type(INLINE)] for st in doc(reg)["Statement"]]
    assert statements
    for st in statements:
        named = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        assert set(named) == {key, *replicas}, st["Sid"]
    # Atlas's endpoint in each replica's region may use that replica, its key policy being AWS's default
    # (IAM decides) with, for a key of another account, the statements its owner was given.
    def key_policy(replica: str) -> dict[str, Any]:
        policy = aws_default_key_policy(replica)
        policy["Statement"] += r.outputs.get("keyPolicyStatementsForOwner") or []
        return policy

    role = r.outputs["roleArn"]
    identity = _identity(_live([], frozenset(), r, r), role)
    endpoints = {e["regionName"]: e["privateEndpointConnectionName"] for e in r.outputs["privateEndpoints"]}
    for region, replica in zip(replica_regions, replicas, strict=True):
        vpce = endpoints[region.upper().replace("-", "_")]
        for action in ACTIONS:
            assert effective_allowed(identity, key_policy(replica), role_arn=role, key_arn=replica,
                                     action=action, vpce=vpce) == Ranges.all(), (replica, action)


# Safety: failures stop everything before any resource ----------------------------------------


def custom(registrations: list[Registration]) -> list[Registration]:
    return [r for r in registrations if r.type != COMPONENT]


def test_bad_config_stops_the_program_naming_the_key_before_anything_is_registered() -> None:
    seen: list[Registration] = []
    config = read_stack_config(STACKS / "Pulumi.same-account.yaml") | {"atlas-kms:keyArn": "1234abcd-12ab-34cd-56ef-1234567890ab"}
    with pytest.raises(pulumi.RunError, match=r"atlas-kms:keyArn: '1234abcd-.*' is a bare key id"):
        run_program(config, stack="prod", registrations=seen)
    assert seen == []


def test_an_empty_control_plane_answer_stops_the_program_before_any_resource() -> None:
    world = World.sample()
    world.control_plane = {"outbound": {"aws": {}, "azure": {}, "gcp": {}}}
    seen: list[Registration] = []
    with pytest.raises(pulumi.RunError, match="no control-plane outbound addresses"):
        run_program(read_stack_config(STACKS / "Pulumi.same-account.yaml"), world=world, registrations=seen)
    assert custom(seen) == []


def test_a_malformed_address_from_atlas_stops_the_program_naming_the_cluster() -> None:
    world = World.sample()
    world.project["services"]["clusters"][0]["outbound"].append("198.51.100.300")
    seen: list[Registration] = []
    with pytest.raises(pulumi.RunError, match="cluster orders"):
        run_program(read_stack_config(STACKS / "Pulumi.same-account.yaml"), world=world, registrations=seen)
    assert custom(seen) == []


def big_world(clusters: int) -> World:
    world = World.sample()
    world.project = {
        "groupId": "6f1e2d3c4b5a697887766554",
        "services": {"clusters": [
            {"clusterName": f"c{i}", "outbound": [f"13.{i // 40}.{(i % 40) * 6 + j * 2}.1" for j in range(3)]}
            for i in range(clusters)
        ]},
    }
    return world


def test_too_many_addresses_for_a_role_stop_the_program_with_the_count_and_the_limit() -> None:
    seen: list[Registration] = []
    with pytest.raises(pulumi.RunError, match=r"allowed CIDRs .* need 1\d managed policies .* at most 10"):
        run_program(read_stack_config(STACKS / "Pulumi.existing-key.yaml"), world=big_world(1500), registrations=seen)
    assert custom(seen) == []


def test_many_addresses_are_split_across_managed_policies_all_attached_and_awaited() -> None:
    r = run("existing-key", world=big_world(400))
    policies = sorted(r.of_type(POLICY), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    attachments = r.of_type(ATTACH)
    assert 2 <= len(policies) == len(attachments) <= 10
    allowed = [c for p in policies for c in doc(p)["Statement"][0]["Condition"]["IpAddress"]["aws:SourceIp"]]
    assert sorted(allowed) == sorted(r.outputs["allowedCidrs"]) and len(allowed) == len(set(allowed))
    assert all(depends_on(r.one(EAR), reg) for reg in policies + attachments)
    # Written from the highest part down: part i waits for part i+1's attachment (core/split.py).
    by_name = {a.name: a for a in attachments}
    for lower, higher in itertools.pairwise(policies):
        assert depends_on(lower, by_name[f"{higher.name}-attachment"])
    assert not any(d.endswith("-attachment") for d in policies[-1].dependencies)  # the highest part waits for none


def test_a_named_cluster_atlas_does_not_know_is_a_warning_not_a_silent_gap() -> None:
    r = run("same-account", {"atlas-kms:sourceIps": {"clusters": ["orders", "not-yet-created"]}})
    assert any("'not-yet-created'" in line for line in r.logs if line.startswith("warning"))
    assert "203.0.113.20/32" not in r.outputs["allowedCidrs"]


def test_dropping_the_ip_condition_needs_an_explicit_opt_out_and_warns_every_run() -> None:
    r = run("same-account", {"atlas-kms:sourceIps": {"enforce": False}})
    assert "Condition" not in doc(r.one(POLICY))["Statement"][0]
    assert "Condition" not in doc(r.one(KEY))["Statement"][1]
    assert any("ANY" in line and "sourceIps.enforce" in line for line in r.logs if line.startswith("warning"))


def test_the_same_world_in_any_order_gives_byte_identical_policies() -> None:
    first = run("same-account")
    world = World.sample()
    shuffled = copy.deepcopy(world.project)
    rnd = random.Random(7)
    rnd.shuffle(shuffled["services"]["clusters"])
    for cluster in shuffled["services"]["clusters"]:
        rnd.shuffle(cluster["outbound"])
    for regions in world.control_plane["outbound"].values():
        for ips in regions.values():
            rnd.shuffle(ips)
    world.project = shuffled
    second = run("same-account", world=world)
    assert first.one(POLICY).inputs["policy"] == second.one(POLICY).inputs["policy"]
    assert first.one(KEY).inputs["policy"] == second.one(KEY).inputs["policy"]


def test_atlas_is_asked_for_the_addresses_on_every_run() -> None:
    tokens = [token for token, _ in run("same-account").calls]
    assert "mongodbatlas:index/getControlPlaneIpAddresses:getControlPlaneIpAddresses" in tokens
    assert ("mongodbatlas:index/getProjectIpAddresses:getProjectIpAddresses") in tokens


# Partitions: the created key's administrators are in the role's partition --------------------


@pytest.mark.parametrize("stack", ["same-account", "cross-account"])
def test_in_govcloud_the_created_key_policy_names_its_administrators_in_the_govcloud_partition(stack: str) -> None:
    overrides: dict[str, Any] = {"aws:region": "us-gov-west-1", "mongodbatlas:isMongodbgovCloud": "true"}
    if stack == "cross-account":
        overrides["atlas-kms:keyAccount"] = {"assumeRoleArn": "arn:aws-us-gov:iam::444455556666:role/atlas-kms-key-admin"}
    r = run(stack, overrides)
    account = "444455556666" if stack == "cross-account" else "111122223333"
    admin, user = doc(r.one(KEY))["Statement"]
    assert admin["Principal"] == {"AWS": f"arn:aws-us-gov:iam::{account}:root"}
    assert user["Principal"] == {"AWS": r.outputs["roleArn"]} and r.outputs["roleArn"].startswith("arn:aws-us-gov:iam::")
    assert r.outputs["keyArn"].startswith(f"arn:aws-us-gov:kms:us-gov-west-1:{account}:key/")


def test_a_china_region_is_refused_by_name_before_anything_is_registered() -> None:
    # Atlas's principal is in `aws` (or `aws-us-gov` for Atlas for Government); IAM never lets it assume a
    # role in `aws-cn`, so no China stack can work although Atlas's region enum lists CN_NORTH_1.
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    seen: list[Registration] = []
    config = read_stack_config(STACKS / "Pulumi.same-account.yaml") | {"aws:region": "cn-north-1"}
    with pytest.raises(pulumi.RunError) as err:
        run_program(config, stack="same-account", registrations=seen)
    assert "mongodbatlas:isMongodbgovCloud" in str(err.value) and "aws:region 'cn-north-1'" in str(err.value)
    assert "'aws-cn'" in str(err.value)
    assert seen == []


def test_a_key_account_role_of_another_partition_is_refused_before_anything_is_registered() -> None:
    seen: list[Registration] = []
    config = read_stack_config(STACKS / "Pulumi.cross-account.yaml") | {
        "atlas-kms:keyAccount": json.dumps({"assumeRoleArn": "arn:aws-us-gov:iam::444455556666:role/atlas-kms-key-admin"})}
    with pytest.raises(pulumi.RunError, match=r"atlas-kms:keyAccount\.assumeRoleArn: partition 'aws-us-gov' differs"):
        run_program(config, stack="cross-account", registrations=seen)
    assert seen == []


# Wide IPv6 ranges: the same rule as IPv4 ------------------------------------------------------


def test_ipv6_extra_cidrs_merging_wider_than_a_48_need_allow_wide_cidrs_and_then_warn() -> None:
    adjacent = ["2600:1f00::/48", "2600:1f00:1::/48"]  # together 2600:1f00::/47
    seen: list[Registration] = []
    config = read_stack_config(STACKS / "Pulumi.same-account.yaml") | {"atlas-kms:sourceIps": json.dumps({"extraCidrs": adjacent})}
    with pytest.raises(pulumi.RunError, match=r"atlas-kms:sourceIps\.extraCidrs: the entries merge into 2600:1f00::/47.*allowWideCidrs"):
        run_program(config, stack="same-account", registrations=seen)
    assert seen == []
    r = run("same-account", {"atlas-kms:sourceIps": {"extraCidrs": adjacent, "allowWideCidrs": True}})
    assert "2600:1f00::/47" in r.outputs["allowedCidrs"]
    assert any("allowWideCidrs" in line and "2600:1f00::/47" in line for line in r.logs if line.startswith("warning"))

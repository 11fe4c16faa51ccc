"""The guarantees: the key cannot be lost, Atlas is never locked out by a bad update, least privilege,
and bad input stops the program naming the config key before any resource is registered."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from config.stackfile import read_stack_config
from offline.harness import ROOT, Registration, World, run_program

from .documents import MODES, generated

BASE = read_stack_config(ROOT / "samples/stacks/Pulumi.same-account.yaml")
FOREIGN = "arn:aws:kms:eu-west-2:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize("mode", ["same-account", "cross-account"])
def test_created_keys_are_protected_rotated_with_a_30_day_window_and_stay_administrable(mode: str) -> None:
    g = generated(mode)
    [key] = g.run.of_type("aws:kms/key:Key")
    assert key.protect and key.inputs["enableKeyRotation"] is True and key.inputs["deletionWindowInDays"] == 30
    assert not key.inputs.get("bypassPolicyLockoutSafetyCheck")
    admin = g.key_policy["Statement"][0] if g.key_policy else {}
    account = g.key_arn.split(":")[4]
    assert admin["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"}
    assert {"kms:PutKeyPolicy", "kms:CancelKeyDeletion", "kms:EnableKeyRotation"} <= set(admin["Action"])


def test_a_foreign_key_policy_written_on_opt_in_is_retained_on_destroy() -> None:
    [policy] = generated("foreign-key-managed").run.of_type("aws:kms/keyPolicy:KeyPolicy")
    assert policy.retain_on_delete


def _wildcards(doc: Any, path: str = "") -> list[str]:
    if isinstance(doc, dict):
        return [w for k, v in doc.items() for w in _wildcards(v, f"{path}.{k}")]
    if isinstance(doc, list):
        return [w for v in doc for w in _wildcards(v, path)]
    return [f"{path}={doc}"] if isinstance(doc, str) and "*" in doc else []


@pytest.mark.parametrize("mode", MODES)
def test_no_wildcard_principal_action_or_resource_except_a_key_policys_self_reference(mode: str) -> None:
    g = generated(mode)
    for doc in [*g.role_policies, g.trust]:
        assert _wildcards(doc) == []
    for resource_doc in [g.key_policy, g.owner_statement]:
        if resource_doc is not None:
            # In a key policy "Resource": "*" means "this key" and is the only accepted form.
            assert set(_wildcards(resource_doc)) <= {".Statement.Resource=*", ".Resource=*"}


@pytest.mark.parametrize("mode", MODES)
def test_the_role_policy_is_exactly_three_actions_on_one_key_with_an_ip_condition(mode: str) -> None:
    g = generated(mode)
    for doc in g.role_policies:
        [stmt] = doc["Statement"]
        assert stmt["Effect"] == "Allow"
        assert stmt["Action"] == ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"]
        assert stmt["Resource"] == g.key_arn
        assert set(stmt["Condition"]) == {"IpAddress"} and stmt["Condition"]["IpAddress"]["aws:SourceIp"]


def _fails(config: dict[str, str], world: World | None = None) -> tuple[str, list[Registration]]:
    seen: list[Registration] = []
    with pytest.raises(pulumi.RunError) as err:
        run_program(config, stack="safety", world=world, registrations=seen)
    return str(err.value), [r for r in seen if r.type != "atlas-kms:index:AtlasKmsEncryption"]


def _world(**changes: Any) -> World:
    world = World.sample()
    for key, value in changes.items():
        setattr(world, key, value)
    return world


def test_an_empty_or_failed_lookup_a_malformed_address_or_an_oversized_list_changes_nothing() -> None:
    cases = {
        "no control-plane outbound addresses at all": _world(control_plane={"outbound": {}}),
        "is not an IP address or CIDR": _world(project={"services": {"clusters": [{"clusterName": "x", "outbound": ["10.0.0.256"]}]}}),
        "at most 10": _world(project={"services": {"clusters": [
            {"clusterName": f"c{i}", "outbound": [f"13.{i // 100}.{i % 100}.{j * 2}" for j in range(30)]} for i in range(150)]}}),
    }
    for message, world in cases.items():
        text, registered = _fails(BASE, world)
        assert message in text and registered == []


def test_the_ip_condition_is_dropped_only_by_explicit_opt_out_with_a_warning_every_run() -> None:
    config = BASE | {"atlas-kms:sourceIps": json.dumps({"enforce": False})}
    for _ in range(2):
        run = run_program(config, stack="safety")
        assert any(line.startswith("warning: atlas-kms:sourceIps.enforce is false") for line in run.logs)


BAD_CONFIGS: list[tuple[str, dict[str, Any], str]] = [
    ("missing project id", {"atlas-kms:projectId": None}, "atlas-kms:projectId"),
    ("short project id", {"atlas-kms:projectId": "abc123"}, "atlas-kms:projectId"),
    ("uppercase project id", {"atlas-kms:projectId": "6F1E2D3C4B5A697887766554"}, "atlas-kms:projectId"),
    ("key id instead of ARN", {"atlas-kms:keyArn": "1234abcd-12ab-34cd-56ef-1234567890ab"}, "atlas-kms:keyArn"),
    ("alias instead of ARN", {"atlas-kms:keyArn": "alias/atlas"}, "atlas-kms:keyArn"),
    ("alias ARN", {"atlas-kms:keyArn": "arn:aws:kms:eu-west-2:111122223333:alias/atlas"}, "atlas-kms:keyArn"),
    ("not a KMS ARN", {"atlas-kms:keyArn": "arn:aws:s3:::bucket"}, "atlas-kms:keyArn"),
    ("wrong key region", {"atlas-kms:keyArn": FOREIGN, "atlas-kms:keyRegion": "us-east-1"}, "atlas-kms:keyRegion"),
    ("not a region", {"atlas-kms:keyRegion": "europe"}, "atlas-kms:keyRegion"),
    ("partition mismatch", {"atlas-kms:keyArn": FOREIGN.replace("arn:aws:", "arn:aws-us-gov:")}, "atlas-kms:keyArn"),
    ("no aws region", {"aws:region": None}, "aws:region"),
    ("unknown top-level key", {"atlas-kms:sourceIp": "{}"}, "atlas-kms:sourceIp"),
    ("malformed extra CIDR", {"atlas-kms:sourceIps": {"extraCidrs": ["192.0.2.0/33"]}}, "atlas-kms:sourceIps.extraCidrs[0]"),
    ("host bits in extra CIDR", {"atlas-kms:sourceIps": {"extraCidrs": ["192.0.2.1/24"]}}, "atlas-kms:sourceIps.extraCidrs[0]"),
    ("unknown cloud", {"atlas-kms:sourceIps": {"controlPlane": ["aws", "oci"]}}, "atlas-kms:sourceIps.controlPlane"),
    ("control plane as a string", {"atlas-kms:sourceIps": {"controlPlane": "aws"}}, "atlas-kms:sourceIps.controlPlane"),
    ("clusters as a number", {"atlas-kms:sourceIps": {"clusters": 3}}, "atlas-kms:sourceIps.clusters"),
    ("includeFuture not a bool", {"atlas-kms:sourceIps": {"includeFuture": "sometimes"}}, "atlas-kms:sourceIps.includeFuture"),
    ("enforce not a bool", {"atlas-kms:sourceIps": {"enforce": 0}}, "atlas-kms:sourceIps.enforce"),
    ("unknown sourceIps key", {"atlas-kms:sourceIps": {"cidrs": []}}, "atlas-kms:sourceIps.cidrs"),
    ("sourceIps not an object", {"atlas-kms:sourceIps": ["10.0.0.0/8"]}, "atlas-kms:sourceIps"),
    ("unknown keyAccount key", {"atlas-kms:keyAccount": {"assumeRoleArn": "arn:aws:iam::444455556666:role/k", "role": "x"}}, "atlas-kms:keyAccount.role"),
    ("keyAccount in the role's own account", {"atlas-kms:keyAccount": {"assumeRoleArn": "arn:aws:iam::111122223333:role/k"}}, "atlas-kms:keyAccount.assumeRoleArn"),
    ("keyAccount assume role not a role", {"atlas-kms:keyAccount": {"assumeRoleArn": "arn:aws:iam::444455556666:user/k"}}, "atlas-kms:keyAccount.assumeRoleArn"),
    ("manageKeyPolicy without keyArn", {"atlas-kms:keyAccount": {"assumeRoleArn": "arn:aws:iam::444455556666:role/k", "manageKeyPolicy": True}}, "atlas-kms:keyAccount.manageKeyPolicy"),
    ("manageKeyPolicy not a bool", {"atlas-kms:keyArn": FOREIGN, "atlas-kms:keyAccount": {"manageKeyPolicy": "yes"}}, "atlas-kms:keyAccount.manageKeyPolicy"),
    ("keyAccount region disagrees", {"atlas-kms:keyRegion": "eu-west-2", "atlas-kms:keyAccount": {"assumeRoleArn": "arn:aws:iam::444455556666:role/k", "region": "us-west-2"}}, "atlas-kms:keyAccount.region"),
    ("invalid JSON object", {"atlas-kms:keyAccount": "{assumeRoleArn: x"}, "atlas-kms:keyAccount"),
]


@pytest.mark.parametrize(("case", "change", "key"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_names_its_key_and_registers_nothing(case: str, change: dict[str, Any], key: str) -> None:
    config = dict(BASE)
    for name, value in change.items():
        if value is None:
            config.pop(name, None)
        else:
            config[name] = value if isinstance(value, str) else json.dumps(value)
    text, registered = _fails(config)
    assert f"{key}:" in text or f"{key} " in text, text
    assert "nothing was changed" in text
    # At most the component itself: problems that need the AWS provider's region or credentials are
    # found right after it is registered, before any child resource.
    assert [r.type for r in registered] in ([], ["atlas-kms:index:AtlasKmsEncryption"])

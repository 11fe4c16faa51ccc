"""principalmapper's local policy simulation evaluates the generated policies as AWS would.

For every allowed CIDR its first and last addresses may use the key; addresses outside the set,
other actions, and other keys are denied; only Atlas, with the right external id, may assume the role.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import pytest

from .documents import Generated, generated
from .pmapper_compat import Node, Policy, local_check_authorization_full

ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:DescribeKey")
ATLAS_ROLE = "arn:aws:iam::536727724300:role/atlas-cloud-provider-access"
# Keys the program does not write carry AWS's default key policy (root: kms:*), and in mode 4 the owner
# adds the exported statement to it. https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
SIMULATED = ["same-account", "existing-key", "cross-account", "foreign-key", "foreign-key-managed"]


def role_node(g: Generated) -> Node:
    policies = [Policy(g.role_arn if len(g.role_policies) == 1 else f"{g.role_arn}", f"kms-{i}", doc)
                for i, doc in enumerate(g.role_policies)]
    return Node(g.role_arn, "AROAEXAMPLEROLEID01", policies, None, g.trust, None, 0, False, False, None, False, None)


def key_side(g: Generated) -> tuple[dict[str, Any], str]:
    owner = g.key_arn.split(":")[4]
    if g.key_policy is not None:
        return g.key_policy, owner
    default: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{owner}:root"}, "Action": "kms:*", "Resource": "*"}]}
    if g.owner_statement is not None:
        default["Statement"].append(g.owner_statement)
    return default, owner


def allowed(g: Generated, action: str, ip: str, key: str | None = None) -> bool:
    policy, owner = key_side(g)
    if key is not None:  # another key carries its own (default) policy, not ours
        owner = key.split(":")[4]
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{owner}:root"}, "Action": "kms:*", "Resource": "*"}]}
    return bool(local_check_authorization_full(
        role_node(g), action, key or g.key_arn, {"aws:SourceIp": ip}, policy, owner
    ))


def outside(cidrs: list[str], count: int, seed: int) -> list[str]:
    nets = [ipaddress.ip_network(c) for c in cidrs]
    rnd, found = random.Random(seed), list[str]()
    while len(found) < count:
        candidate = ipaddress.IPv4Address(rnd.getrandbits(32))
        if not any(candidate in n for n in nets):
            found.append(str(candidate))
    return found


@pytest.mark.parametrize("mode", SIMULATED)
def test_first_and_last_address_of_every_allowed_cidr_may_use_the_key(mode: str) -> None:
    g = generated(mode)
    for cidr in g.cidrs:
        net = ipaddress.ip_network(cidr)
        for ip in {net.network_address, net.broadcast_address}:
            for action in ACTIONS:
                assert allowed(g, action, str(ip)), (mode, action, ip)


@pytest.mark.parametrize("mode", SIMULATED)
def test_addresses_outside_the_set_are_denied(mode: str) -> None:
    g = generated(mode)
    for ip in outside(g.cidrs, 300, seed=len(mode)):
        assert not allowed(g, "kms:Decrypt", ip), ip
    for cidr in g.cidrs:  # the neighbours just outside each range
        net = ipaddress.ip_network(cidr)
        for neighbour in (net.network_address - 1, net.broadcast_address + 1):
            if not any(neighbour in ipaddress.ip_network(c) for c in g.cidrs):
                assert not allowed(g, "kms:Encrypt", str(neighbour)), neighbour


@pytest.mark.parametrize("mode", SIMULATED)
def test_other_actions_and_other_keys_are_denied(mode: str) -> None:
    g = generated(mode)
    ip = g.cidrs[0].split("/")[0]
    for action in ("kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:CreateGrant"):
        assert not allowed(g, action, ip), action
    other = g.key_arn.rsplit("/", 1)[0] + "/ffffffff-ffff-ffff-ffff-ffffffffffff"
    assert not allowed(g, "kms:Decrypt", ip, key=other)


def test_without_the_owners_statement_a_foreign_key_denies_atlas() -> None:
    g = generated("foreign-key")
    owner = g.key_arn.split(":")[4]
    default = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{owner}:root"}, "Action": "kms:*", "Resource": "*"}]}
    ip = g.cidrs[0].split("/")[0]
    assert not local_check_authorization_full(role_node(g), "kms:Decrypt", g.key_arn, {"aws:SourceIp": ip}, default, owner)


def atlas_node(arn: str = ATLAS_ROLE) -> Node:
    anything = Policy(arn, "assume", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    return Node(arn, "AROAATLASEXAMPLE0001", [anything], None, {"Version": "2012-10-17", "Statement": []},
                None, 0, False, False, None, False, None)


@pytest.mark.parametrize("mode", SIMULATED)
def test_only_atlas_with_the_external_id_may_assume_the_role(mode: str) -> None:
    g = generated(mode)
    external_id = g.trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"]
    owner = g.role_arn.split(":")[4]

    def assume(node: Node, ext: str | None) -> bool:
        keys = {} if ext is None else {"sts:ExternalId": ext}
        return bool(local_check_authorization_full(node, "sts:AssumeRole", g.role_arn, keys, g.trust, owner))

    assert assume(atlas_node(), external_id)
    assert not assume(atlas_node(), "someone-elses-id")
    assert not assume(atlas_node(), None)
    assert not assume(atlas_node("arn:aws:iam::999988887777:role/attacker"), external_id)


def test_the_simulation_is_not_vacuous_an_opted_out_policy_allows_any_address() -> None:
    import json

    from config.stackfile import read_stack_config
    from offline.harness import ROOT, run_program

    config = read_stack_config(ROOT / "samples/stacks/Pulumi.existing-key.yaml")
    config["atlas-kms:sourceIps"] = json.dumps({"enforce": False})
    run = run_program(config, stack="existing-key")
    g = Generated(mode="open", run=run, trust=generated("existing-key").trust, role_policies=[
        json.loads(r.inputs["policy"]) for r in run.of_type("aws:iam/policy:Policy")])
    assert allowed(g, "kms:Decrypt", "8.8.8.8")

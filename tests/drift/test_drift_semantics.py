"""Drift judges meaning, not spelling: every IAM form, both layers and Atlas's own verdict, over real HTTP.

Each form is tried once written differently but allowing exactly what the program allows (in sync, exit
0) and once allowing something else (drift, exit 1, or exit 2 where nothing can be decided).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.policies import canonical_json, key_policy
from drift.cli import run

from .conftest import AtlasState, atlas_uses, create_key, deploy_role, expected_documents, write_stack

ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"]
ROOT_ARN = "arn:aws:iam::123456789012:root"


def report(*args: str) -> tuple[int, dict[str, Any], list[str]]:
    lines: list[str] = []
    code = run(["--retries", "1", "--timeout", "2", "--no-cloudtrail", "--json", *args], out=lines.append)
    text: list[str] = []
    run(["--retries", "1", "--timeout", "2", "--no-cloudtrail", *args], out=text.append)
    return code, json.loads("\n".join(lines)), text


def kinds(body: dict[str, Any]) -> list[str]:
    return [f["kind"] for f in body["findings"]]


def program_statement(key: str) -> dict[str, Any]:
    [doc] = expected_documents(key_arn=key)
    return dict(json.loads(doc)["Statement"][0])


def rewrite(key: str, change: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> list[str]:
    """The program's one statement, rewritten into one policy with the statements `change` returns."""
    return [json.dumps({"Version": "2012-10-17", "Statement": change(program_statement(key))})]


@pytest.fixture()
def world(tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> dict[str, Any]:
    key = create_key(kms)
    atlas_uses(atlas, key)
    return {"key": key, "stack": write_stack(tmp_path, "prod", key_arn=key), "iam": iam, "kms": kms, "tmp": tmp_path}


def check(world: dict[str, Any], documents: list[str], *extra: str) -> tuple[int, dict[str, Any], list[str]]:
    deploy_role(world["iam"], "prod", documents)
    return report("--stack-file", str(world["stack"]), *extra)


# Written differently, allowing exactly the same: in sync ---------------------------------------


IN_SYNC: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
    "another Sid": lambda s: [{**s, "Sid": "HandWritten"}],
    "no Sid at all": lambda s: [{k: v for k, v in s.items() if k != "Sid"}],
    "Resource as a one-element list": lambda s: [{**s, "Resource": [s["Resource"]]}],
    "actions in another order, one as a string": lambda s: [{**s, "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"]}],
    "actions spread over three statements": lambda s: [{**s, "Sid": f"S{i}", "Action": a} for i, a in enumerate(ACTIONS)],
    "addresses spread over two statements": lambda s: [
        {**s, "Sid": "A", "Condition": {"IpAddress": {"aws:SourceIp": s["Condition"]["IpAddress"]["aws:SourceIp"][:10]}}},
        {**s, "Sid": "B", "Condition": {"IpAddress": {"aws:SourceIp": s["Condition"]["IpAddress"]["aws:SourceIp"][10:]}}}],
    "addresses uncollapsed, host bits set": lambda s: [{**s, "Condition": {"IpAddress": {"aws:SourceIp": [
        "192.0.2.17/28" if c == "192.0.2.16/28" else c for c in s["Condition"]["IpAddress"]["aws:SourceIp"]]}}}],
    "a Deny of an address Atlas does not use": lambda s: [s, {"Effect": "Deny", "Action": "kms:*", "Resource": "*",
                                                         "Condition": {"IpAddress": {"aws:SourceIp": "8.8.8.8/32"}}}],
    "a Deny outside Atlas's addresses (NotIpAddress)": lambda s: [s, {"Effect": "Deny", "Action": "kms:*", "Resource": "*",
        "Condition": {"NotIpAddress": {"aws:SourceIp": s["Condition"]["IpAddress"]["aws:SourceIp"]}}}],
}


@pytest.mark.parametrize("form", IN_SYNC, ids=list(IN_SYNC))
def test_an_equivalent_policy_is_in_sync_whatever_its_spelling(world: dict[str, Any], form: str) -> None:
    code, body, text = check(world, rewrite(world["key"], IN_SYNC[form]))
    assert code == 0, text
    assert body["findings"] == [] and text[0].startswith("stack prod: OK")


# Written differently, allowing something else: drift ------------------------------------------


def test_a_deny_without_condition_removes_everything_and_every_address_is_missing(world: dict[str, Any]) -> None:
    code, body, _text = check(world, rewrite(world["key"], lambda s: [s, {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]))
    assert code == 1
    missing = [f for f in body["findings"] if f["kind"] == "missing"]
    assert {c for f in missing for c in f["cidrs"]} == set(body["expectedCidrs"])
    assert all(f["actions"] == ["kms:Decrypt"] and f["layer"] == "role policy" for f in missing)


def test_a_deny_of_one_used_address_names_it_with_its_origin(world: dict[str, Any]) -> None:
    deny = {"Effect": "Deny", "Action": ["kms:Encrypt"], "Resource": world["key"],
            "Condition": {"IpAddress": {"aws:SourceIp": ["198.51.100.201"]}}}
    code, body, text = check(world, rewrite(world["key"], lambda s: [s, deny]))
    assert code == 1
    [missing] = [f for f in body["findings"] if f["kind"] == "missing"]
    assert (missing["cidrs"], missing["actions"], missing["origins"]) == (["198.51.100.201/32"], ["kms:Encrypt"], ["cluster payments"])
    assert any("198.51.100.201/32" in line and "role policy lacks it for kms:Encrypt (cluster payments)" in line for line in text)


@pytest.mark.parametrize(("actions", "named"), [
    (["kms:*"], "allows kms:*"),
    (["kms:De*", "kms:Encrypt"], "allows kms:De*"),
    (["*"], "allows *"),
    ([*ACTIONS, "kms:GenerateDataKey"], "allows kms:GenerateDataKey"),
])
def test_a_wildcard_or_extra_action_is_excess_named_precisely(world: dict[str, Any], actions: list[str], named: str) -> None:
    code, body, _ = check(world, rewrite(world["key"], lambda s: [{**s, "Action": actions}]))
    assert code == 1 and kinds(body) == ["excess"]
    assert named in body["findings"][0]["detail"] and body["findings"][0]["layer"] == "role policy"


@pytest.mark.parametrize("resource", ["*", "arn:aws:kms:*:123456789012:key/*"])
def test_a_resource_wider_than_the_key_is_excess(world: dict[str, Any], resource: str) -> None:
    code, body, _ = check(world, rewrite(world["key"], lambda s: [{**s, "Resource": resource}]))
    assert code == 1 and kinds(body) == ["excess"]
    assert f"applies to {resource} (more than the key" in body["findings"][0]["detail"]


def test_no_ip_condition_is_excess_and_every_other_address_stale(world: dict[str, Any]) -> None:
    code, body, _ = check(world, rewrite(world["key"], lambda s: [{k: v for k, v in s.items() if k != "Condition"}]))
    assert code == 1
    assert "excess" in kinds(body) and "stale" in kinds(body) and "missing" not in kinds(body)
    assert any("no source-IP condition" in f["detail"] for f in body["findings"])


def test_an_extra_attached_policy_is_excess_whatever_the_part_count(world: dict[str, Any]) -> None:
    extra = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
    code, body, _ = check(world, [*expected_documents(key_arn=world["key"]), extra])
    assert code == 1 and "excess" in kinds(body)


def test_an_ipv6_difference_is_reported_not_crashed_on(world: dict[str, Any], atlas: AtlasState) -> None:
    atlas.control_plane["outbound"]["aws"]["us-east-1"].append("2600:1f18:4000::/48")
    code, body, _ = check(world, rewrite(world["key"], lambda s: [s]))
    assert code == 1
    [missing] = [f for f in body["findings"] if f["kind"] == "missing"]
    assert missing["cidrs"] == ["2600:1f18:4000::/48"] and missing["origins"] == ["control plane aws/us-east-1"]


def test_a_role_with_no_policy_at_all_misses_every_address(world: dict[str, Any]) -> None:
    code, body, _text = check(world, [])
    assert code == 1
    assert {c for f in body["findings"] if f["kind"] == "missing" for c in f["cidrs"]} == set(body["expectedCidrs"])
    assert "the role has no policy attached at all" in body["notes"]


# What cannot be evaluated is never guessed ---------------------------------------------------


@pytest.mark.parametrize("condition", [
    {"StringEquals": {"aws:SourceVpc": "vpc-1a2b3c4d"}},
    {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24"]}, "StringEquals": {"aws:SourceVpc": "vpc-111"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"IpAddressIfExists": {"aws:SourceIp": "192.0.2.0/24"}},
])
def test_a_condition_it_cannot_evaluate_is_exit_2_naming_what(world: dict[str, Any], condition: dict[str, Any]) -> None:
    code, body, text = check(world, rewrite(world["key"], lambda s: [{**s, "Condition": condition}]))
    assert code == 2 and body["status"] == "error"
    assert "cannot be evaluated" in body["unread"][0] and "nothing is guessed" in body["unread"][0]
    assert text[0].startswith("stack prod: ERROR, could not decide:")


def test_something_certainly_wrong_is_exit_1_even_when_another_part_cannot_be_read(world: dict[str, Any], atlas: AtlasState) -> None:
    atlas_uses(atlas, world["key"], valid=False)
    code, body, text = check(world, rewrite(world["key"], lambda s: [{**s, "Condition": {"StringEquals": {"aws:SourceVpc": "v"}}}]))
    assert code == 1 and kinds(body) == ["atlas"] and body["unread"]
    assert any(line.startswith("  unread   ") for line in text)


# The key to judge against never comes from the policy being judged ----------------------------


def test_a_created_key_is_found_by_its_alias_so_a_resource_star_cannot_pass(tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> None:
    key = create_key(kms, stack="prod")
    create_key(kms, stack="other")  # another stack's key is never taken
    atlas_uses(atlas, key)
    stack = write_stack(tmp_path, "prod", key_arn=None)
    deploy_role(iam, "prod", rewrite(key, lambda s: [{**s, "Resource": "*"}]))
    code, body, _ = report("--stack-file", str(stack))
    assert code == 1 and body["keyArn"] == key
    assert "applies to * (more than the key" in body["findings"][0]["detail"]


def test_a_created_key_that_cannot_be_found_cannot_decide(tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> None:
    elsewhere = "arn:aws:kms:eu-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    atlas_uses(atlas, elsewhere)  # Atlas is fine with its key; which key that should be is unknown here
    stack = write_stack(tmp_path, "prod", key_arn=None)
    deploy_role(iam, "prod", expected_documents(key_arn=elsewhere))
    code, body, _ = report("--stack-file", str(stack))
    assert code == 2 and "cannot tell which key" in body["unread"][0]


# The key policy is the second layer -----------------------------------------------------------


def test_the_key_policy_lacking_an_address_is_named_with_its_layer(tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> None:
    role_arn = "arn:aws:iam::123456789012:role/atlas-kms-role-prod"
    expected = json.loads(expected_documents(key_arn="k")[0])["Statement"][0]["Condition"]["IpAddress"]["aws:SourceIp"]
    short = [c for c in expected if c != "198.51.100.201/32"]
    key = create_key(kms, policy=json.loads(canonical_json(key_policy(ROOT_ARN, role_arn, short))))
    atlas_uses(atlas, key)
    deploy_role(iam, "prod", expected_documents(key_arn=key))
    code, body, text = report("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key)))
    assert code == 1
    # The account's administrators may DescribeKey (delegated to IAM, which allows it): only the
    # cryptographic actions are lost.
    [missing] = [f for f in body["findings"] if f["kind"] == "missing"]
    assert (missing["layer"], missing["cidrs"], missing["actions"]) == ("key policy", ["198.51.100.201/32"], ["kms:Decrypt", "kms:Encrypt"])
    assert any("198.51.100.201/32" in line and "key policy lacks it" in line for line in text)


# Atlas's own verdict -------------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "says"), [
    ({"valid": False}, "INVALID (valid: false)"),
    ({"enabled": False}, "NOT enabled"),
    ({"other": True}, "Atlas uses the key"),
])
def test_atlas_own_view_of_the_key_is_drift_each_with_its_own_line(world: dict[str, Any], atlas: AtlasState,
                                                                   answer: dict[str, bool], says: str) -> None:
    key = world["key"] if not answer.get("other") else world["key"].replace(world["key"][-4:], "ffff")
    atlas_uses(atlas, key, valid=answer.get("valid", True), enabled=answer.get("enabled", True))
    code, body, text = check(world, expected_documents(key_arn=world["key"]))
    assert code == 1 and kinds(body) == ["atlas"] and says in body["findings"][0]["detail"]
    assert any(line.startswith("  atlas    ") and says in line for line in text)


# Gateways: warned, not drift -----------------------------------------------------------------


def test_gateway_addresses_the_policy_does_not_allow_are_warnings(world: dict[str, Any], atlas: AtlasState) -> None:
    atlas.control_plane["gateways"] = [{"name": "atlas-gateway", "ips": {
        "inbound": {"aws": {}, "azure": {}, "gcp": {}},
        "outbound": {"aws": {"us-east-1": ["203.0.113.200/32", "3.92.113.229/32"]}, "azure": {}, "gcp": {}}}}]
    code, body, text = check(world, expected_documents(key_arn=world["key"]))
    assert code == 0, text
    [warning] = body["findings"]
    assert (warning["kind"], warning["cidrs"], warning["origins"]) == ("warning", ["203.0.113.200/32"], ["gateway atlas-gateway aws/us-east-1"])
    assert any(line.startswith("  warning  203.0.113.200/32") for line in text)

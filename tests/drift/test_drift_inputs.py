"""What the drift command reads and prints can be trusted: odd, off-spec or spec-allowed Atlas answers,
ambiguous tags, Retry-After, gateways. Through the real command over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.policies import plan_policies
from core.settings import PROGRAM, TAG_PROGRAM, TAG_PROJECT, TAG_STACK
from drift.cli import run
from drift.evaluate import Ranges
from facts import atlas_api

from .conftest import PROJECT, AtlasState, atlas_uses, create_key, deploy_role, expected_documents, mutate, write_stack

ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"]


def drift(*args: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = run(["--retries", "2", "--timeout", "2", "--no-cloudtrail", *args], out=lines.append)
    return code, lines


def report(*args: str) -> tuple[int, Any]:
    code, lines = drift("--json", *args)
    return code, json.loads("\n".join(lines))


def findings(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in body["findings"] if f["kind"] == kind]


def documents(key: str, cidrs: list[str], *, enforce_ip: bool = True) -> list[str]:
    plan = plan_policies(cidrs, kind="managed", enforce_ip=enforce_ip, manage_key_policy=False)
    return plan.role_documents(key)  # type: ignore[no-any-return]


def expected_cidrs(key: str) -> list[str]:
    [doc] = expected_documents(key_arn=key)
    return list(json.loads(doc)["Statement"][0]["Condition"]["IpAddress"]["aws:SourceIp"])


@pytest.fixture()
def key(kms: Any) -> str:
    return create_key(kms)


@pytest.fixture()
def deployed(tmp_path: Path, atlas: AtlasState, iam: Any, key: str) -> Path:
    deploy_role(iam, "prod", expected_documents(key_arn=key))
    atlas_uses(atlas, key)
    return write_stack(tmp_path, "prod", key_arn=key)


def assert_cannot_decide(code: int, lines: list[str], *says: str) -> None:
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("stack prod: ERROR, could not decide: "), lines
    for text in says:
        assert text in lines[0], lines


# A. Addresses Atlas cannot call from, or that are not addresses -------------------------------------


@pytest.mark.parametrize(("where", "entry", "says"), [
    ("cluster", "10.1.2.3", "is in the private range 10.0.0.0/8"),
    ("cluster", "198.51.100.300", "is not an IP address or CIDR"),
    ("cluster", "198.51.100.10/24", "has host bits set"),
    ("control plane", "10.20.0.0/16", "is in the private range 10.0.0.0/8"),
    ("control plane", "3.92.113.229/33", "is not an IP address or CIDR"),
])
def test_a_private_or_malformed_address_in_atlas_answer_is_exit_2_on_one_line_never_a_traceback(
        deployed: Path, atlas: AtlasState, where: str, entry: str, says: str) -> None:
    if where == "cluster":
        mutate(atlas)["services"]["clusters"][0]["outbound"].append(entry)
    else:
        atlas.control_plane["outbound"]["aws"]["us-east-1"].append(entry)
    code, lines = drift("--stack-file", str(deployed))
    assert_cannot_decide(code, lines, says, "cluster orders" if where == "cluster" else "control plane aws/us-east-1")


def test_a_malformed_gateway_address_never_crashes_and_says_the_gateways_were_not_checked(
        deployed: Path, atlas: AtlasState) -> None:
    atlas.control_plane["gateways"] = [{"name": "gw", "ips": {"outbound": {"aws": {"us-east-1": ["203.0.113.999/32"]}}}}]
    code, body = report("--stack-file", str(deployed))
    assert code == 0 and body["findings"] == []
    assert any("gateways not checked" in n and "gw" in n for n in body["notes"]), body


def test_all_stacks_in_a_directory_without_stack_files_is_exit_2_with_one_clear_line(
        tmp_path: Path, atlas: AtlasState, iam: Any) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: atlas-kms\n")  # the project file is not a stack
    code, lines = drift("--all-stacks", "--dir", str(tmp_path))
    assert (code, lines) == (2, [f"drift: ERROR, no Pulumi.<stack>.yaml files in {tmp_path}"])


# A. The stack's own settings reach the verdict ------------------------------------------------------


def test_a_stack_with_enforce_false_is_in_sync_without_an_ip_condition_on_every_run(
        tmp_path: Path, atlas: AtlasState, iam: Any, key: str) -> None:
    unconditioned = documents(key, expected_cidrs(key), enforce_ip=False)
    assert "aws:SourceIp" not in unconditioned[0]
    atlas_uses(atlas, key)
    deploy_role(iam, "open", unconditioned)
    deploy_role(iam, "strict", unconditioned)
    write_stack(tmp_path, "open", "  atlas-kms:sourceIps:\n    enforce: false\n", key_arn=key)
    write_stack(tmp_path, "strict", key_arn=key)
    for _ in range(3):
        code, body = report("--stack-file", str(tmp_path / "Pulumi.open.yaml"))
        assert code == 0 and body["findings"] == [], body
        code, both = report("--all-stacks", "--dir", str(tmp_path))
        by_stack = {r["stack"]: r for r in both}
        assert (by_stack["open"]["exitCode"], by_stack["open"]["findings"]) == (0, [])
        assert by_stack["strict"]["exitCode"] == 1 and code == 1  # the same policy IS drift where enforced


def test_two_roles_with_one_stacks_tags_are_refused_with_the_role_arn_hint(deployed: Path, iam: Any, key: str) -> None:
    iam.create_role(RoleName="atlas-kms-role-prod-copy", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
                    Tags=[{"Key": TAG_PROJECT, "Value": PROJECT}, {"Key": TAG_STACK, "Value": "prod"}, {"Key": TAG_PROGRAM, "Value": PROGRAM}])
    for _ in range(3):
        code, lines = drift("--stack-file", str(deployed))
        assert_cannot_decide(code, lines, "2 IAM roles carry the tags of stack prod", "pass --role-arn")
    role = iam.get_role(RoleName="atlas-kms-role-prod")["Role"]["Arn"]
    assert drift("--stack-file", str(deployed), "--role-arn", role)[0] == 0


def test_another_stacks_created_key_in_the_same_project_is_never_taken_for_this_stacks(
        tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> None:
    other = create_key(kms, stack="staging")  # listed first: same project tag, other stack tag
    atlas_uses(atlas, other)
    stack = write_stack(tmp_path, "prod", key_arn=None)
    deploy_role(iam, "prod", expected_documents(key_arn=other))
    code, body = report("--stack-file", str(stack))
    assert code == 2 and body["keyArn"] == "" and "cannot tell which key" in body["unread"][0], body
    own = create_key(kms, stack="prod")
    code, body = report("--stack-file", str(stack))
    assert code == 1 and body["keyArn"] == own, body


# A. Retry-After, measured by a fake clock -----------------------------------------------------------


def test_retry_after_from_atlas_is_honoured_up_to_30_seconds_never_an_hour(
        deployed: Path, atlas: AtlasState, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(atlas_api, "time", SimpleNamespace(sleep=slept.append))
    atlas.faults = ["429:3600"]
    code, lines = drift("--stack-file", str(deployed))
    assert code == 0, lines
    assert atlas_api.MAX_RETRY_AFTER == 30.0 and max(slept) == 30.0, slept
    slept.clear()
    atlas.faults = ["429:2"]
    assert drift("--stack-file", str(deployed))[0] == 0 and 2.0 in slept and max(slept) < 30.0, slept


# A. Off-spec control-plane answers are malformed ----------------------------------------------------


@pytest.mark.parametrize("value", ["3.92.113.229/32", [3232235777], None, {"a": ["3.92.113.229/32"]}])
def test_a_control_plane_region_that_is_not_a_list_of_strings_is_a_malformed_answer(
        deployed: Path, atlas: AtlasState, value: Any) -> None:
    atlas.off_spec = {"control-plane"}
    atlas.control_plane["outbound"]["aws"]["us-east-1"] = value
    code, lines = drift("--stack-file", str(deployed))
    assert_cannot_decide(code, lines, "malformed control-plane answer", "outbound.aws")


# A. Where a missing address comes from --------------------------------------------------------------


def test_a_missing_address_inside_a_wider_atlas_entry_keeps_its_origin(deployed: Path, atlas: AtlasState, iam: Any, key: str) -> None:
    # Atlas reports azure/westeurope 192.0.2.64/28; the policy lacks only 192.0.2.70/32 inside it.
    assert "192.0.2.64/28" in expected_cidrs(key)
    allowed = (Ranges.of(expected_cidrs(key)) - Ranges.of(["192.0.2.70/32"])).cidrs()
    # The deployed policy is replaced by one with the shorter list.
    for attached in iam.list_attached_role_policies(RoleName="atlas-kms-role-prod")["AttachedPolicies"]:
        iam.detach_role_policy(RoleName="atlas-kms-role-prod", PolicyArn=attached["PolicyArn"])
    iam.put_role_policy(RoleName="atlas-kms-role-prod", PolicyName="short", PolicyDocument=documents(key, allowed)[0])
    code, body = report("--stack-file", str(deployed))
    assert code == 1, body
    assert [(m["cidrs"], m["origins"]) for m in findings(body, "missing")] == [(["192.0.2.70/32"], ["control plane azure/westeurope"])]


# B. What a spec-conformant Atlas may answer ---------------------------------------------------------


@pytest.mark.parametrize("answer", [
    {"outbound": {}},
    {"inbound": {"aws": {"us-east-1": ["52.192.130.90/32"]}}},
    {"outbound": {"aws": {}, "azure": {}, "gcp": {}}},
    {"outbound": {"aws": {"us-east-1": []}}},
])
def test_a_control_plane_answer_without_addresses_says_atlas_reported_none_not_malformed(
        deployed: Path, atlas: AtlasState, answer: dict[str, Any]) -> None:
    atlas.control_plane = answer
    code, lines = drift("--stack-file", str(deployed))
    assert_cannot_decide(code, lines, "Atlas reported no control-plane outbound addresses", "nothing to judge against")
    assert "malformed" not in lines[0] and "Nothing was changed" not in lines[0]  # drift changes nothing anyway


def test_a_control_plane_cloud_other_than_aws_azure_gcp_is_refused_by_name_not_dropped(deployed: Path, atlas: AtlasState) -> None:
    atlas.control_plane["outbound"]["oci"] = {"us-ashburn-1": ["192.0.2.250/32"]}
    code, lines = drift("--stack-file", str(deployed))
    assert_cannot_decide(code, lines, "'oci'")
    atlas.control_plane["outbound"]["oci"] = {}  # a cloud without addresses drops nothing
    assert drift("--stack-file", str(deployed))[0] == 0


def test_encryption_enabled_without_a_key_says_atlas_reports_no_key(deployed: Path, atlas: AtlasState, key: str) -> None:
    atlas.encryption = {"awsKms": {"enabled": True, "region": "EU_WEST_2", "valid": True}}
    code, lines = drift("--stack-file", str(deployed))
    assert code == 1
    [line] = [ln for ln in lines if ln.startswith("  atlas    ")]
    assert "Atlas reports no key" in line and key in line and "None" not in line


def test_a_bare_key_id_from_atlas_naming_the_stacks_key_is_that_key(deployed: Path, atlas: AtlasState, key: str) -> None:
    key_id = key.split(":key/")[1]
    atlas_uses(atlas, key_id)
    code, lines = drift("--stack-file", str(deployed))
    assert code == 0, lines
    atlas_uses(atlas, key_id.replace(key_id[-4:], "ffff"))
    code, lines = drift("--stack-file", str(deployed))
    assert code == 1 and any(ln.startswith("  atlas    Atlas uses the key") for ln in lines), lines


def test_gateway_warnings_are_one_line_per_address_naming_all_its_gateways(deployed: Path, atlas: AtlasState) -> None:
    many = [f"203.0.113.{i}/32" for i in range(150, 200)]  # none allowed by the policy
    atlas.control_plane["gateways"] = [
        {"name": "gw-a", "ips": {"outbound": {"aws": {"us-east-1": many, "us-west-2": many}, "azure": {}, "gcp": {}}}},
        {"name": "gw-b", "ips": {"outbound": {"aws": {}, "azure": {"eastus": [*many, "203.0.113.200"]}, "gcp": {}}}},
    ]
    code, body = report("--stack-file", str(deployed))
    assert code == 0
    warnings = findings(body, "warning")
    assert [w["cidrs"] for w in warnings] == [[c] for c in [*many, "203.0.113.200/32"]]
    assert warnings[0]["origins"] == ["gateway gw-a aws/us-east-1", "gateway gw-a aws/us-west-2", "gateway gw-b azure/eastus"]
    assert warnings[-1]["origins"] == ["gateway gw-b azure/eastus"]
    code, lines = drift("--stack-file", str(deployed))
    assert len([ln for ln in lines if ln.startswith("  warning  ")]) == 51


def test_two_clusters_with_one_name_keep_both_address_lists(deployed: Path, atlas: AtlasState) -> None:
    # The policy allows orders' 198.51.100.10-12; Atlas now also lists a second "orders" entry.
    mutate(atlas)["services"]["clusters"].append(
        {"clusterName": "orders", "inbound": [], "outbound": ["203.0.113.50"], "futureInbound": [], "futureOutbound": []})
    code, body = report("--stack-file", str(deployed))
    assert code == 1
    assert [(m["cidrs"], m["origins"]) for m in findings(body, "missing")] == [(["203.0.113.50/32"], ["cluster orders"])]
    assert findings(body, "stale") == []  # the first entry's addresses are still Atlas's

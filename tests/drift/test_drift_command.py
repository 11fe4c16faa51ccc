"""The drift command against real HTTP on 127.0.0.1: a digest-auth Atlas stand-in and moto's IAM server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drift.cli import run
from facts.atlas_api import ATLAS_CONCURRENCY

from .conftest import PRIVATE, AtlasState, atlas_uses, create_key, deploy_role, expected_documents, mutate, write_stack

ACTIONS = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt")

FOREIGN_KEY = "arn:aws:kms:eu-west-2:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def drift(*args: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = run(["--retries", "2", "--timeout", "1", "--no-cloudtrail", *args], out=lines.append)
    return code, lines


def report(*args: str) -> tuple[int, Any]:
    code, lines = drift("--json", *args)
    return code, json.loads("\n".join(lines))


@pytest.fixture()
def key(kms: Any) -> str:
    """A real key in moto with AWS's default key policy (the account's IAM policies decide)."""
    return create_key(kms)


@pytest.fixture()
def deployed(tmp_path: Path, atlas: AtlasState, iam: Any, key: str) -> Path:
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=key))
    atlas_uses(atlas, key)
    return write_stack(tmp_path, "prod", key_arn=key)


def findings(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in body["findings"] if f["kind"] == kind]


def test_no_drift_when_the_live_policy_is_what_the_program_writes(deployed: Path, atlas: AtlasState) -> None:
    code, lines = drift("--stack-file", str(deployed))
    assert code == 0, lines
    assert lines[0].startswith("stack prod: OK, 31 CIDRs allowed as expected (arn:aws:iam::")
    assert {(path, accept) for path, accept, _ in atlas.requests} == {
        ("/api/atlas/v2/unauth/controlPlaneIPAddresses", "application/vnd.atlas.2023-11-15+json"),
        ("/api/atlas/v2/groups/6f1e2d3c4b5a697887766554/ipAddresses", "application/vnd.atlas.2023-01-01+json"),
        ("/api/atlas/v2/groups/6f1e2d3c4b5a697887766554/encryptionAtRest", "application/vnd.atlas.2023-01-01+json"),
        ("/api/atlas/v2/groups/6f1e2d3c4b5a697887766554/cloudProviderAccess", "application/vnd.atlas.2023-01-01+json"),
        *((f"/api/atlas/v2/groups/6f1e2d3c4b5a697887766554/clusters/{c}/backup/snapshots?pageNum=1&itemsPerPage=500",
           "application/vnd.atlas.2023-01-01+json") for c in ("analytics", "orders", "payments")),
    }


def test_a_node_ip_change_is_a_missing_address_named_by_cluster_and_a_stale_one(deployed: Path, atlas: AtlasState) -> None:
    mutate(atlas)["services"]["clusters"][2]["outbound"][0] = "198.51.100.77"  # payments: .201 -> .77
    code, body = report("--stack-file", str(deployed))
    assert code == 1 and body["status"] == "drift"
    assert findings(body, "missing") == [{
        "kind": "missing", "layer": "role policy", "cidrs": ["198.51.100.77/32"], "actions": list(ACTIONS),
        "origins": ["cluster payments"], "future": False, "detail": ""}]
    assert [(f["cidrs"], f["layer"]) for f in findings(body, "stale")] == [(["198.51.100.201/32"], "role policy")]
    assert findings(body, "excess") == [] and findings(body, "atlas") == []


def test_an_announced_future_ip_is_reported_as_future_before_it_is_used(deployed: Path, atlas: AtlasState) -> None:
    mutate(atlas)["services"]["clusters"][0]["futureOutbound"] = ["198.51.100.99"]
    code, lines = drift("--stack-file", str(deployed))
    assert code == 1
    assert lines[0].startswith("stack prod: DRIFT, 1 missing (")
    assert any("198.51.100.99/32" in line and "announced future address of cluster orders" in line for line in lines)


def test_the_future_flag_is_set_only_when_every_source_is_future(deployed: Path, atlas: AtlasState) -> None:
    project = mutate(atlas)
    project["services"]["clusters"][0]["futureOutbound"] = ["198.51.100.99"]
    project["services"]["clusters"][1]["outbound"].append("198.51.100.99")  # also a current address elsewhere
    _, body = report("--stack-file", str(deployed))
    [missing] = findings(body, "missing")
    assert missing["future"] is False and missing["origins"] == ["cluster analytics", "cluster orders"]


def test_a_new_cluster_is_missing_with_all_its_nodes(deployed: Path, atlas: AtlasState) -> None:
    mutate(atlas)["services"]["clusters"].append(
        {"clusterName": "search", "inbound": [], "outbound": ["203.0.113.50", "203.0.113.51", "203.0.113.60"], "futureInbound": [], "futureOutbound": []}
    )
    code, body = report("--stack-file", str(deployed))
    assert code == 1
    assert [m["cidrs"] for m in findings(body, "missing")] == [["203.0.113.50/31"], ["203.0.113.60/32"]]
    assert all(m["origins"] == ["cluster search"] for m in findings(body, "missing"))


def test_a_new_control_plane_range_is_missing_named_by_cloud_and_region(deployed: Path, atlas: AtlasState) -> None:
    atlas.control_plane["outbound"]["gcp"]["asia-east1"] = ["192.0.2.224/29"]
    code, body = report("--stack-file", str(deployed))
    assert code == 1
    [missing] = findings(body, "missing")
    assert missing["cidrs"] == ["192.0.2.224/29"] and missing["origins"] == ["control plane gcp/asia-east1"]


def test_an_address_atlas_no_longer_reports_is_stale(deployed: Path, atlas: AtlasState) -> None:
    atlas.control_plane["outbound"]["azure"].pop("eastus2")
    code, body = report("--stack-file", str(deployed))
    assert code == 1 and findings(body, "missing") == []
    assert [f["cidrs"] for f in findings(body, "stale")] == [["192.0.2.96/31"]]


def test_cross_account_roles_are_read_from_their_inline_policy_and_the_owner_side_is_said_unchecked(
        tmp_path: Path, atlas: AtlasState, iam: Any) -> None:
    deploy_role(iam, "shared", expected_documents("inline", key_arn=FOREIGN_KEY), inline=True)
    atlas_uses(atlas, FOREIGN_KEY)
    code, lines = drift("--stack-file", str(write_stack(tmp_path, "shared", key_arn=FOREIGN_KEY)))
    assert code == 0, lines
    assert any(line.startswith("  note     key policy not checked (NotFoundException") and "NOT checked" in line
               for line in lines), lines


def test_wrong_credentials_cannot_decide_and_never_print_the_secret(deployed: Path, atlas: AtlasState, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_ATLAS_PRIVATE_KEY", "wrong")
    code, lines = drift("--stack-file", str(deployed))
    assert code == 2
    assert lines == [lines[0]] and "refused the credentials (401)" in lines[0]
    monkeypatch.setenv("MONGODB_ATLAS_PRIVATE_KEY", PRIVATE)
    _, json_lines = drift("--json", "--stack-file", str(deployed))
    assert PRIVATE not in "\n".join(lines + json_lines)


def test_a_500_then_success_is_retried(deployed: Path, atlas: AtlasState) -> None:
    atlas.faults = ["500", "429"]
    code, lines = drift("--stack-file", str(deployed))
    assert code == 0, lines


def test_persistent_errors_give_up_after_bounded_retries(deployed: Path, atlas: AtlasState) -> None:
    # Every answer a 500: the four first reads (made concurrently) take at most 4 x 3 attempts.
    atlas.faults = ["500"] * 12
    code, lines = drift("--stack-file", str(deployed))
    assert code == 2 and "answered 500" in lines[0] and "gave up after 3 attempts" in lines[0]
    # Bounded by count, not by the clock: no read is asked more than its attempts.
    assert len(atlas.requests) <= 12


def test_a_timeout_cannot_decide(deployed: Path, atlas: AtlasState) -> None:
    atlas.faults_for["project"] = ["slow", "slow", "slow"]  # the addresses stall, every attempt
    code, lines = drift("--stack-file", str(deployed))
    assert code == 2 and "timed out after 1s" in lines[0]


def test_malformed_json_cannot_decide(deployed: Path, atlas: AtlasState) -> None:
    atlas.faults_for["project"] = ["malformed"]  # the addresses come back broken
    code, lines = drift("--stack-file", str(deployed))
    assert code == 2 and "malformed JSON" in lines[0]


def test_an_unknown_stack_cannot_decide(tmp_path: Path, atlas: AtlasState, iam: Any) -> None:
    code, lines = drift("--stack", "nope", "--dir", str(tmp_path))
    assert code == 2 and "cannot read the stack config" in lines[0]


def test_a_stack_without_a_deployed_role_cannot_decide(tmp_path: Path, atlas: AtlasState, iam: Any) -> None:
    code, lines = drift("--stack-file", str(write_stack(tmp_path, "staging")))
    assert code == 2 and "no IAM role tagged" in lines[0] and "--role-arn" in lines[0]


def test_an_explicit_role_arn_skips_the_tag_search(tmp_path: Path, atlas: AtlasState, iam: Any, key: str) -> None:
    # Two roles carry the stack's tags and Atlas reports none: the tag search cannot choose.
    arn = deploy_role(iam, "prod", expected_documents(key_arn=key), name="atlas-kms-role-blue")
    deploy_role(iam, "prod", expected_documents(key_arn=key), name="atlas-kms-role-green")
    atlas_uses(atlas, key)
    stack = write_stack(tmp_path, "prod", key_arn=key)
    code, lines = drift("--stack-file", str(stack))
    assert code == 2 and "2 IAM roles carry the tags of stack prod" in lines[0], lines
    code, lines = drift("--stack-file", str(stack), "--role-arn", arn)
    assert code == 0, lines


def test_all_stacks_are_checked_concurrently_and_the_worst_exit_code_wins(tmp_path: Path, atlas: AtlasState, iam: Any,
                                                                          kms: Any, key: str) -> None:
    atlas_uses(atlas, key)
    for stack in ("dev", "staging", "prod"):
        deploy_role(iam, stack, expected_documents(key_arn=key))
        write_stack(tmp_path, stack, key_arn=key)
    (tmp_path / "Pulumi.yaml").write_text("name: atlas-kms\n")
    # The stand-in holds every answer until 8 requests are in flight. Before any answer, one stack has at
    # most its 3 first reads in flight (cloudProviderAccess, ipAddresses, encryptionAtRest: the rest
    # waits for them) and the run 1 control-plane read: two stacks reach 7 at most, so 8 in flight means
    # the three stacks' reads were in flight at once. Checked one after another, the first stack would
    # wait alone (until the gate gives up). The client's timeout is longer than the gate's, so no retry
    # can pose as another stack; the client's pool (ATLAS_CONCURRENCY) lets 8 be in flight.
    assert ATLAS_CONCURRENCY >= 8
    atlas.hold_until, atlas.max_in_flight = 8, 0
    code, body = report("--timeout", "60", "--all-stacks", "--dir", str(tmp_path))
    assert code == 0 and [r["stack"] for r in body] == ["dev", "prod", "staging"]
    assert atlas.max_in_flight >= 8, f"at most {atlas.max_in_flight} request(s) in flight at once"
    # The worst exit code wins: drift (1) over in sync (0), and could-not-decide (2) over both.
    deploy_role(iam, "qa", expected_documents(key_arn=create_key(kms)))  # the role may use another key only
    write_stack(tmp_path, "qa", key_arn=key)
    code, body = report("--all-stacks", "--dir", str(tmp_path))
    assert code == 1 and [r["status"] for r in body] == ["ok", "ok", "drift", "ok"]
    write_stack(tmp_path, "broken", "  atlas-kms:sourceIps:\n    extraCidrs: [10.0.0.1/8]\n", key_arn=key)
    code, body = report("--all-stacks", "--dir", str(tmp_path))
    assert code == 2
    broken = next(r for r in body if r["stack"] == "broken")
    assert broken["status"] == "error" and "atlas-kms:sourceIps.extraCidrs[0]" in broken["unread"][0]


def test_the_region_comes_from_the_standard_chain_when_the_stack_file_has_none(tmp_path: Path, atlas: AtlasState, iam: Any, key: str) -> None:
    deploy_role(iam, "prod", expected_documents(key_arn=key))
    atlas_uses(atlas, key)
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(f'config:\n  atlas-kms:projectId: "6f1e2d3c4b5a697887766554"\n  atlas-kms:keyArn: {key}\n')
    code, lines = drift("--stack-file", str(path))  # AWS_DEFAULT_REGION=eu-west-2, as the program's provider would use
    assert code == 0, lines

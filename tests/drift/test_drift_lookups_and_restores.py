"""The drift command finds the stack's role and key by what Atlas reports and by names the program
controls (a bounded number of calls, whatever the account holds), and reports retained snapshots
whose key the role can no longer use for a restore (finding `restore`)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from core.policies import KeyAccess
from drift.cli import run

from .conftest import (
    PROJECT,
    AtlasState,
    atlas_uses,
    create_key,
    deploy_role,
    expected_documents,
    snapshot,
    write_stack,
)


def counted(calls: Counter[str], service: str) -> Any:
    client = boto3.session.Session().client(service, region_name="eu-west-2")  # type: ignore[call-overload]
    client.meta.events.register("before-call", lambda model, **_: calls.update([f"{service}:{model.name}"]))
    return client


def drift_json(*args: str, calls: Counter[str] | None = None) -> tuple[int, dict[str, Any]]:
    lines: list[str] = []
    calls = calls if calls is not None else Counter()
    code = run(["--retries", "1", "--timeout", "2", "--no-cloudtrail", "--json", *args], out=lines.append,
               iam_factory=lambda: counted(calls, "iam"), kms_factory=lambda region: counted(calls, "kms"))
    return code, json.loads("\n".join(lines))


def kinds(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in body["findings"] if f["kind"] == kind]


def unrelated_roles(iam: Any, n: int) -> None:
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                               "Action": "sts:AssumeRole"}]})
    for i in range(n):
        iam.create_role(RoleName=f"unrelated-{i}", AssumeRolePolicyDocument=trust)


# --- the role and the key, by what Atlas reports ---------------------------------------------


def test_the_role_atlas_reports_is_judged_with_one_get_role_and_no_role_is_listed(
        tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> None:
    key = create_key(kms)
    unrelated_roles(iam, 25)
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=key))
    atlas_uses(atlas, key)
    calls: Counter[str] = Counter()
    code, body = drift_json("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key)), calls=calls)
    assert code == 0, body
    assert body["roleArn"] == atlas.encryption_role
    assert calls["iam:GetRole"] == 1
    assert calls["iam:ListRoles"] == 0 and calls["iam:ListRoleTags"] == 0


def test_without_a_role_reported_by_atlas_the_tags_are_the_fallback(tmp_path: Path, atlas: AtlasState, iam: Any,
                                                                      kms: Any) -> None:
    key = create_key(kms)
    role = deploy_role(iam, "prod", expected_documents(key_arn=key))
    atlas_uses(atlas, key)
    calls: Counter[str] = Counter()
    code, body = drift_json("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key)), calls=calls)
    assert code == 0 and body["roleArn"] == role
    assert calls["iam:ListRoles"] >= 1


def test_a_role_atlas_uses_that_is_not_the_stacks_is_drift(tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> None:
    key = create_key(kms)
    deploy_role(iam, "prod", expected_documents(key_arn=key))
    atlas.encryption_role = deploy_role(iam, "staging", expected_documents(key_arn=key))
    atlas_uses(atlas, key)
    code, body = drift_json("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key)))
    assert code == 1
    [finding] = kinds(body, "atlas")
    assert f"Atlas uses the role {atlas.encryption_role} for encryption at rest, which is not this stack's" in finding["detail"]
    assert "stack 'staging'" in finding["detail"]


def test_a_created_key_is_found_by_its_alias_with_one_describe_key_and_no_key_is_listed(
        tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> None:
    for _ in range(5):
        create_key(kms)  # unrelated keys in the same account
    key = create_key(kms, stack="prod")
    create_key(kms, stack="staging")  # another stack's created key in the same project
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=key))
    atlas_uses(atlas, key)
    calls: Counter[str] = Counter()
    code, body = drift_json("--stack-file", str(write_stack(tmp_path, "prod", key_arn=None)), calls=calls)
    assert body["keyArn"] == key
    assert calls["kms:DescribeKey"] <= 3  # the alias of the generation in use, and the probe of earlier ones
    assert calls["kms:ListKeys"] == 0 and calls["kms:ListResourceTags"] == 0
    assert code in (0, 1)  # the verdict itself is the key policy's (moto's default here); the key is the point


# --- created keys after a rotation (keyGeneration) --------------------------------------------------


@pytest.fixture()
def rotated(atlas: AtlasState, kms: Any) -> tuple[str, str]:
    """Two generations the stack created (by their aliases); Atlas uses the second."""
    gen1, gen2 = create_key(kms, stack="prod"), create_key(kms, stack="prod", generation=2)
    atlas_uses(atlas, gen2)
    return gen1, gen2


def generations_stack(tmp_path: Path, extra: str = "") -> Path:
    return write_stack(tmp_path, "prod", key_arn=None, extra=f"  atlas-kms:keyGeneration: 2\n{extra}")


def test_after_a_rotation_the_role_is_judged_against_the_generation_in_use(
        tmp_path: Path, atlas: AtlasState, iam: Any, rotated: tuple[str, str]) -> None:
    gen1, gen2 = rotated
    # What the program writes once Atlas moved: the new generation in use, the first kept for restores.
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=KeyAccess.of([gen2], [gen1])))  # type: ignore[arg-type]
    code, body = drift_json("--stack-file", str(generations_stack(tmp_path)))
    assert code == 0, body["findings"]
    assert body["keyArn"] == gen2


def test_after_a_rotation_a_role_that_may_not_use_the_new_generation_is_drift(
        tmp_path: Path, atlas: AtlasState, iam: Any, rotated: tuple[str, str]) -> None:
    gen1, gen2 = rotated
    # The grants of before the rotation, the other way round: Atlas's key only for restores.
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=KeyAccess.of([gen1], [gen2])))  # type: ignore[arg-type]
    code, body = drift_json("--stack-file", str(generations_stack(tmp_path)))
    assert code == 1 and body["keyArn"] == gen2
    missing = kinds(body, "missing")
    assert missing and all(f["actions"] == ["kms:Encrypt"] and f["layer"] == "role policy" for f in missing)
    assert sorted(c for f in missing for c in f["cidrs"]) == sorted(body["expectedCidrs"])


def test_a_retired_generation_the_role_can_still_use_is_excess(
        tmp_path: Path, atlas: AtlasState, iam: Any, rotated: tuple[str, str]) -> None:
    gen1, gen2 = rotated
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=KeyAccess.of([gen2], [gen1])))  # type: ignore[arg-type]
    code, body = drift_json("--stack-file", str(generations_stack(tmp_path, "  atlas-kms:retiredKeyGenerations: [1]\n")))
    assert code == 1
    [finding] = kinds(body, "excess")
    assert finding["layer"] == "role policy" and f"applies to {gen1}" in finding["detail"]


def test_a_retired_generation_the_role_no_longer_names_is_in_sync(
        tmp_path: Path, atlas: AtlasState, iam: Any, rotated: tuple[str, str]) -> None:
    _, gen2 = rotated
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=gen2))
    code, body = drift_json("--stack-file", str(generations_stack(tmp_path, "  atlas-kms:retiredKeyGenerations: [1]\n")))
    assert code == 0, body["findings"]


# --- restores -----------------------------------------------------------------------------------


@pytest.fixture()
def two_keys(tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> tuple[str, str]:
    old, new = create_key(kms), create_key(kms)
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=new))
    atlas_uses(atlas, new)
    return old, new


def key_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


def test_a_snapshot_of_a_key_nobody_retained_is_a_restore_finding_with_the_line_that_keeps_it(
        tmp_path: Path, atlas: AtlasState, two_keys: tuple[str, str]) -> None:
    old, new = two_keys
    atlas.snapshots["orders"] = [snapshot(key_id(old), days_old=40, id_="64b0c0ffee0000000000aaaa"), snapshot(key_id(new))]
    code, body = drift_json("--stack-file", str(write_stack(tmp_path, "prod", key_arn=new)))
    assert code == 1 and body["status"] == "drift"
    [finding] = kinds(body, "restore")
    assert "1 snapshot(s) of orders (64b0c0ffee0000000000aaaa" in finding["detail"]
    assert f"encrypted with key {old}" in finding["detail"]
    assert f"pulumi config set --path 'atlas-kms:retainedKeyArns[0]' {old}" in finding["detail"]
    assert finding["actions"] == ["kms:Decrypt", "kms:DescribeKey"]


def test_a_retained_key_granted_for_restores_is_in_sync(tmp_path: Path, atlas: AtlasState, iam: Any,
                                                       kms: Any) -> None:
    old, new = create_key(kms), create_key(kms)
    docs = [doc for doc in expected_documents(key_arn=KeyAccess.of([new], [old]))]  # type: ignore[arg-type]
    atlas.encryption_role = deploy_role(iam, "prod", docs)
    atlas_uses(atlas, new)
    atlas.snapshots["orders"] = [snapshot(key_id(old), days_old=40)]
    stack = write_stack(tmp_path, "prod", key_arn=new, extra=f"  atlas-kms:retainedKeyArns: [{old}]\n")
    code, body = drift_json("--stack-file", str(stack))
    assert code == 0, body["findings"]
    assert kinds(body, "restore") == []


def test_a_retained_key_the_role_lost_is_a_restore_finding(tmp_path: Path, atlas: AtlasState, two_keys: tuple[str, str]) -> None:
    old, new = two_keys  # the role's policies name only the new key
    atlas.snapshots["payments"] = [snapshot(key_id(old), days_old=3)]
    stack = write_stack(tmp_path, "prod", key_arn=new, extra=f"  atlas-kms:retainedKeyArns: [{old}]\n")
    code, body = drift_json("--stack-file", str(stack))
    assert code == 1
    [finding] = kinds(body, "restore")
    assert "the role lacks kms:Decrypt, kms:DescribeKey on it from" in finding["detail"]


def test_expired_snapshots_and_snapshots_without_a_customer_key_need_nothing(
        tmp_path: Path, atlas: AtlasState, two_keys: tuple[str, str]) -> None:
    old, new = two_keys
    atlas.snapshots["orders"] = [snapshot(key_id(old), days_old=60, keep_days=-1), snapshot(None)]
    code, body = drift_json("--stack-file", str(write_stack(tmp_path, "prod", key_arn=new)))
    assert code == 0, body


def test_snapshots_that_cannot_be_read_are_a_note_not_a_verdict(tmp_path: Path, atlas: AtlasState,
                                                                two_keys: tuple[str, str]) -> None:
    _, new = two_keys
    atlas.project["groupId"] = PROJECT
    atlas.snapshots["orders"] = [{"id": "not-hex", "masterKeyUUID": "x"}]  # the stand-in refuses to serve it
    atlas.off_spec.discard("snapshots")
    code, body = drift_json("--stack-file", str(write_stack(tmp_path, "prod", key_arn=new)))
    assert code == 0
    assert any(n.startswith("backup snapshots not checked") for n in body["notes"])


def test_a_snapshot_of_a_retained_key_in_another_region_is_matched_by_its_key_id(
        tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> None:
    # Atlas names a snapshot's key by its id (masterKeyUUID); the retained key is in another region, where
    # the stack's KMS client (the key region's) cannot look it up.
    elsewhere = create_key(boto3.client("kms", region_name="us-east-1"))
    new = create_key(kms)
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=KeyAccess.of([new], [elsewhere])))  # type: ignore[arg-type]
    atlas_uses(atlas, new)
    atlas.snapshots["orders"] = [snapshot(key_id(elsewhere), days_old=40)]
    stack = write_stack(tmp_path, "prod", key_arn=new, extra=f"  atlas-kms:retainedKeyArns: [{elsewhere}]\n")
    code, body = drift_json("--stack-file", str(stack))
    assert code == 0, body["findings"]
    assert kinds(body, "restore") == []

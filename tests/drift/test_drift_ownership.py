"""Issue 22, the drift side: policies on the stack's role that the program did not write (`foreign`), and the
role of `adopt.moveFrom` for as long as it can still use the stack's key (`adopt`). Against moto over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.settings import PROGRAM, TAG_PROGRAM, TAG_PROJECT, TAG_STACK
from drift.cli import run
from drift.compare import REPORT_SCHEMA_VERSION

from .conftest import PROJECT, AtlasState, atlas_uses, create_key, deploy_role, expected_documents, write_stack

ROLE = "atlas-kms-role-prod"
OLD = "legacy-atlas-encryption"
NOTHING_ON_KMS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "Debug", "Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                            "Principal": {"AWS": "arn:aws:iam::536727724300:root"}}]})


def drift(*args: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = run(["--retries", "2", "--timeout", "5", "--no-cloudtrail", "--no-restores", *args], out=lines.append)
    return code, lines


def report(*args: str) -> tuple[int, Any]:
    code, lines = drift("--json", *args)
    return code, json.loads("\n".join(lines))


def kinds(body: dict[str, Any]) -> list[str]:
    return [f["kind"] for f in body["findings"]]


@pytest.fixture()
def key(kms: Any) -> str:
    return create_key(kms)


@pytest.fixture()
def stack(tmp_path: Path, atlas: AtlasState, iam: Any, key: str) -> Path:
    """The stack as `pulumi up` leaves it: managed policies tagged with the stack's tags."""
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=key))
    atlas_uses(atlas, key)
    return write_stack(tmp_path, "prod", key_arn=key)


# foreign -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("inline", [False, True], ids=["managed", "inline"])
def test_a_role_with_the_programs_policies_only_is_in_sync(tmp_path: Path, atlas: AtlasState, iam: Any, key: str,
                                                            inline: bool) -> None:
    documents = expected_documents("inline" if inline else "managed", key_arn=key)
    atlas.encryption_role = deploy_role(iam, "prod", documents, inline=inline)
    atlas_uses(atlas, key)
    code, body = report("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key)))
    assert code == 0 and body["findings"] == [], body


def foreign(body: dict[str, Any]) -> list[str]:
    return [f["detail"] for f in body["findings"] if f["kind"] == "foreign"]


def test_a_hand_made_inline_policy_is_foreign_and_named(stack: Path, iam: Any) -> None:
    iam.put_role_policy(RoleName=ROLE, PolicyName="debug-access", PolicyDocument=NOTHING_ON_KMS)
    code, body = report("--stack-file", str(stack))
    assert code == 1 and len(foreign(body)) == 1, body  # and `excess`: it allows more than the program writes
    detail = foreign(body)[0]
    assert detail.startswith("inline policy debug-access on the role: an inline policy the program did not write")
    assert ("the program owns this role's policies exclusively (aws.iam.RolePolicyAttachmentsExclusive / "
            "RolePoliciesExclusive) and removes it on the next `pulumi up --refresh`; their drift is seen only "
            "with --refresh (pulumi-aws issue 4766)") in detail
    assert body["schemaVersion"] == REPORT_SCHEMA_VERSION == 3


def test_a_hand_made_copy_of_the_programs_own_policy_is_foreign(stack: Path, iam: Any, key: str) -> None:
    # It allows exactly what the program allows: only who wrote it differs.
    iam.put_role_policy(RoleName=ROLE, PolicyName="kms-copy", PolicyDocument=expected_documents("inline", key_arn=key)[0])
    code, body = report("--stack-file", str(stack))
    assert code == 1 and kinds(body) == ["foreign"], body


def test_an_untagged_managed_policy_is_foreign_even_if_it_grants_nothing(stack: Path, iam: Any) -> None:
    deny_only = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "NoS3", "Effect": "Deny", "Action": "s3:*", "Resource": "*"}]})
    arn = iam.create_policy(PolicyName="ops-guardrail", PolicyDocument=deny_only)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=arn)
    code, lines = drift("--stack-file", str(stack))
    assert code == 1 and lines[0].startswith("stack prod: DRIFT, 1 foreign ("), lines
    assert lines[1].startswith("  foreign  managed policy ops-guardrail on the role: a managed policy without this "
                               "stack's tags (untagged)"), lines
    assert lines[-1].startswith("  fix: run `pulumi up --refresh` for this stack"), lines


def test_a_managed_policy_of_another_stack_is_foreign(stack: Path, iam: Any, key: str) -> None:
    tags = [{"Key": TAG_PROJECT, "Value": PROJECT}, {"Key": TAG_STACK, "Value": "staging"},
            {"Key": TAG_PROGRAM, "Value": PROGRAM}]
    documents = expected_documents(key_arn=key)
    arn = iam.create_policy(PolicyName="atlas-kms-kms-policy-1-0a1b2c3", PolicyDocument=documents[0], Tags=tags)
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=arn["Policy"]["Arn"])
    code, body = report("--stack-file", str(stack))
    assert code == 1 and kinds(body) == ["foreign"], body
    assert f"tagged for project '{PROJECT}', stack 'staging'" in body["findings"][0]["detail"]


def test_an_inline_policy_named_like_the_programs_is_its_own(stack: Path, iam: Any, key: str) -> None:
    # Inline policies carry no tags in IAM: the program's are known by Pulumi's name for them.
    iam.put_role_policy(RoleName=ROLE, PolicyName="atlas-kms-kms-inline-2-5e6f7a8",
                        PolicyDocument=expected_documents("inline", key_arn=key)[0])
    code, body = report("--stack-file", str(stack))
    assert code == 0 and body["findings"] == [], body


def test_a_role_atlas_uses_that_is_another_stacks_is_not_judged_policy_by_policy(
        tmp_path: Path, atlas: AtlasState, iam: Any, key: str) -> None:
    deploy_role(iam, "prod", expected_documents(key_arn=key))
    atlas.encryption_role = deploy_role(iam, "staging", expected_documents(key_arn=key))
    atlas_uses(atlas, key)
    code, body = report("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key)))
    assert code == 1 and kinds(body) == ["atlas"], body  # the role is another's: its policies are that stack's


# adopt.moveFrom ----------------------------------------------------------------------------------------


def moving(tmp_path: Path, key: str, old_arn: str) -> Path:
    return write_stack(tmp_path, "prod", f"  atlas-kms:adopt:\n    moveFrom: {old_arn}\n", key_arn=key)


@pytest.fixture()
def old_role(iam: Any) -> str:
    """The hand-made role Atlas used before the stack moved it to its own."""
    return str(iam.create_role(RoleName=OLD, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"])


def test_the_old_role_is_drift_while_its_own_policy_lets_it_use_the_key(
        tmp_path: Path, stack: Path, iam: Any, key: str, old_role: str) -> None:
    iam.put_role_policy(RoleName=OLD, PolicyName="kms", PolicyDocument=expected_documents("inline", key_arn=key)[0])
    code, body = report("--stack-file", str(moving(tmp_path, key, old_role)))
    assert code == 1 and kinds(body) == ["adopt"], body
    finding = body["findings"][0]
    assert finding["detail"] == (
        f"the role {old_role} (adopt.moveFrom) can still use the key from {len(body['expectedCidrs'])} addresses "
        "(kms:Decrypt, kms:DescribeKey, kms:Encrypt): ask its owner to remove its grant, or delete it; then remove "
        "atlas-kms:adopt")
    assert finding["cidrs"] == body["expectedCidrs"]
    # Its owner removes the grant: no longer drift, and a note says the setting can go.
    iam.delete_role_policy(RoleName=OLD, PolicyName="kms")
    code, body = report("--stack-file", str(moving(tmp_path, key, old_role)))
    assert code == 0 and body["findings"] == [], body
    assert (f"the role {old_role} (adopt.moveFrom) can no longer use the key: atlas-kms:adopt can be removed "
            "(`pulumi config rm atlas-kms:adopt`)") in body["notes"]


def test_the_old_role_is_drift_while_the_key_policy_grants_it(tmp_path: Path, atlas: AtlasState, iam: Any,
                                                              kms: Any, old_role: str) -> None:
    # Nothing on the old role itself: the key policy names it, which in the key's account is enough.
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "Legacy", "Effect": "Allow", "Principal": {"AWS": old_role}, "Action": "kms:Decrypt", "Resource": "*"}]}
    key = create_key(kms, policy=policy)
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=key))
    atlas_uses(atlas, key)
    code, body = report("--stack-file", str(moving(tmp_path, key, old_role)))
    assert code == 1 and kinds(body) == ["adopt"], body
    assert body["findings"][0]["actions"] == ["kms:Decrypt"]
    assert "can still use the key from every address (kms:Decrypt)" in body["findings"][0]["detail"]


def test_a_deleted_old_role_can_no_longer_use_the_key(tmp_path: Path, stack: Path, iam: Any, key: str) -> None:
    gone = f"arn:aws:iam::123456789012:role/{OLD}"
    code, body = report("--stack-file", str(moving(tmp_path, key, gone)))
    assert code == 0 and body["findings"] == [], body
    assert f"the role {gone} (adopt.moveFrom) can no longer use the key: it no longer exists; remove atlas-kms:adopt" \
        in body["notes"]


def test_while_atlas_still_uses_the_old_role_it_is_not_asked_to_drop_its_grant(
        tmp_path: Path, stack: Path, atlas: AtlasState, iam: Any, key: str, old_role: str) -> None:
    iam.put_role_policy(RoleName=OLD, PolicyName="kms", PolicyDocument=expected_documents("inline", key_arn=key)[0])
    atlas.encryption_role = old_role  # before the first `pulumi up` moved Atlas
    code, body = report("--stack-file", str(moving(tmp_path, key, old_role)))
    assert code == 1 and kinds(body) == ["atlas"], body  # Atlas uses a role that is not the stack's
    assert any(n.startswith(f"Atlas still uses the role {old_role} (adopt.moveFrom)") for n in body["notes"]), body

"""The drift command reports Atlas's KMS calls that AWS refused (CloudTrail), finding `denied`, exit 1.

Against the CloudTrail stand-in (standins/cloudtrail.py, validated against botocore's own
service model and rate-limited as the service is), moto's IAM and KMS, and the Atlas stand-in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from core.policies import KeyAccess
from drift.cli import run
from standins.cloudtrail import CloudTrailState, kms_event, running_standin

from .conftest import AtlasState, atlas_uses, create_key, deploy_role, expected_documents, write_stack


@pytest.fixture()
def trail() -> Iterator[tuple[CloudTrailState, str]]:
    with running_standin() as found:
        yield found


@pytest.fixture()
def deployed(tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> tuple[Path, str, str]:
    key = create_key(kms)
    role = deploy_role(iam, "prod", expected_documents(key_arn=key))
    atlas.encryption_role = role
    atlas_uses(atlas, key)
    return write_stack(tmp_path, "prod", key_arn=key), role, key


def drift(trail: tuple[CloudTrailState, str], *args: str) -> tuple[int, dict[str, Any] | list[Any]]:
    _, url = trail
    lines: list[str] = []

    def client(region: str) -> Any:
        return boto3.client("cloudtrail", region_name=region, endpoint_url=url,
                            config=Config(retries={"total_max_attempts": 1}))

    code = run(["--retries", "1", "--timeout", "2", "--json", *args], out=lines.append, trail_factory=client)
    return code, json.loads("\n".join(lines))


def ago(minutes: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def test_denied_calls_are_reported_by_address_with_where_atlas_uses_it(trail: tuple[CloudTrailState, str],
                                                                       deployed: tuple[Path, str, str]) -> None:
    stack, role, key = deployed
    state, _ = trail
    state.events = [kms_event(at=ago(20), role_arn=role, key_arn=key, source_ip="198.51.100.10", error_code="AccessDenied"),
                    kms_event(at=ago(10), name="Encrypt", role_arn=role, key_arn=key, source_ip="198.51.100.10",
                              error_code="AccessDeniedException")]
    code, body = drift(trail, "--stack-file", str(stack))
    assert isinstance(body, dict) and code == 1 and body["status"] == "drift"
    [denied] = [f for f in body["findings"] if f["kind"] == "denied"]
    assert denied["cidrs"] == ["198.51.100.10"] and denied["actions"] == ["kms:Decrypt", "kms:Encrypt"]
    assert "2 call(s) of kms:Decrypt, kms:Encrypt from 198.51.100.10 (cluster orders)" in denied["detail"]
    assert any("CloudTrail delivers events about 5 minutes after the call" in n for n in body["notes"])


def test_a_disabled_key_is_said_to_be_the_keys_state_not_a_policy(trail: tuple[CloudTrailState, str],
                                                                  deployed: tuple[Path, str, str]) -> None:
    stack, role, key = deployed
    trail[0].events = [kms_event(at=ago(5), role_arn=role, key_arn=key, source_ip="203.0.113.9", error_code="DisabledException")]
    code, body = drift(trail, "--stack-file", str(stack))
    assert isinstance(body, dict) and code == 1
    [denied] = [f for f in body["findings"] if f["kind"] == "denied"]
    assert "not reported by Atlas" in denied["detail"] and "re-enable the key" in denied["detail"]


def test_other_principals_and_allowed_calls_are_never_reported(trail: tuple[CloudTrailState, str],
                                                               deployed: tuple[Path, str, str]) -> None:
    stack, role, key = deployed
    trail[0].events = [kms_event(at=ago(20), role_arn="arn:aws:iam::123456789012:role/someone-else", key_arn=key,
                                 error_code="AccessDenied"),
                       kms_event(at=ago(10), role_arn=role, key_arn=key)]
    code, body = drift(trail, "--stack-file", str(stack))
    assert code == 0, body


def test_no_permission_on_cloudtrail_is_a_note_never_a_changed_verdict(trail: tuple[CloudTrailState, str],
                                                                       deployed: tuple[Path, str, str]) -> None:
    stack, _, _ = deployed
    trail[0].faults = ["AccessDeniedException"]
    code, body = drift(trail, "--stack-file", str(stack))
    assert isinstance(body, dict) and code == 0
    assert any(n.startswith("CloudTrail: CloudTrail refused LookupEvents") for n in body["notes"])


def test_no_cloudtrail_skips_it(trail: tuple[CloudTrailState, str], deployed: tuple[Path, str, str]) -> None:
    stack, role, key = deployed
    trail[0].events = [kms_event(at=ago(5), role_arn=role, key_arn=key, error_code="AccessDenied")]
    code, _ = drift(trail, "--no-cloudtrail", "--stack-file", str(stack))
    assert code == 0 and trail[0].requests == []


def test_all_stacks_are_each_decided_under_cloudtrails_rate_limit(trail: tuple[CloudTrailState, str], tmp_path: Path,
                                                                  atlas: AtlasState, iam: Any, kms: Any) -> None:
    key = create_key(kms)
    for stack in ("a", "b", "c", "d"):
        deploy_role(iam, stack, expected_documents(key_arn=key))
        write_stack(tmp_path, stack, key_arn=key)
    atlas_uses(atlas, key)
    code, body = drift(trail, "--all-stacks", "--dir", str(tmp_path))
    assert code == 0 and isinstance(body, list) and [r["status"] for r in body] == ["ok"] * 4
    arrivals = sorted(r.at for r in trail[0].requests)
    assert len(arrivals) == 4 and all(c - a >= 1.0 for a, c in zip(arrivals, arrivals[2:], strict=False))
    assert all(r.code == "" for r in trail[0].requests)  # never throttled


def test_denied_calls_on_a_retained_key_are_reported_too(trail: tuple[CloudTrailState, str], tmp_path: Path,
                                                        atlas: AtlasState, iam: Any, kms: Any) -> None:
    # A restore from a snapshot of the retained key was refused: the key Atlas uses is fine.
    old, new = create_key(kms), create_key(kms)
    role = deploy_role(iam, "prod", expected_documents(key_arn=KeyAccess.of([new], [old])))  # type: ignore[arg-type]
    atlas.encryption_role = role
    atlas_uses(atlas, new)
    stack = write_stack(tmp_path, "prod", key_arn=new, extra=f"  atlas-kms:retainedKeyArns: [{old}]\n")
    trail[0].events = [kms_event(at=ago(10), role_arn=role, key_arn=old, source_ip="198.51.100.10", error_code="AccessDenied")]
    code, body = drift(trail, "--stack-file", str(stack))
    assert isinstance(body, dict) and code == 1
    [denied] = [f for f in body["findings"] if f["kind"] == "denied"]
    assert denied["cidrs"] == ["198.51.100.10"] and f"on {old}: a policy refused them" in denied["detail"]


def test_denied_calls_on_the_key_atlas_still_holds_while_it_moves_are_reported(
        trail: tuple[CloudTrailState, str], tmp_path: Path, atlas: AtlasState, iam: Any, kms: Any) -> None:
    # keyArn names the new key; until the change has deployed Atlas still uses the old one.
    old, new = create_key(kms), create_key(kms)
    role = deploy_role(iam, "prod", expected_documents(key_arn=KeyAccess.of([new, old])))  # type: ignore[arg-type]
    atlas.encryption_role = role
    atlas_uses(atlas, old)
    stack = write_stack(tmp_path, "prod", key_arn=new)
    trail[0].events = [kms_event(at=ago(10), name="Encrypt", role_arn=role, key_arn=old, source_ip="198.51.100.10",
                                 error_code="AccessDenied")]
    code, body = drift(trail, "--stack-file", str(stack))
    assert isinstance(body, dict) and code == 1
    [denied] = [f for f in body["findings"] if f["kind"] == "denied"]
    assert denied["actions"] == ["kms:Encrypt"] and f"on {old}: a policy refused them" in denied["detail"]


def test_since_is_a_bounded_duration() -> None:
    with pytest.raises(SystemExit):
        run(["--stack", "x", "--since", "91d"], out=lambda _: None)
    with pytest.raises(SystemExit):
        run(["--stack", "x", "--since", "an hour"], out=lambda _: None)

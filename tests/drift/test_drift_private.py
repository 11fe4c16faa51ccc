"""The drift command on a `network: private` or `both` stack: the private path's statement is evaluated
(Null and StringEquals on aws:SourceVpce), Atlas's KMS private endpoints are read, and an endpoint that
is missing or not ACTIVE, or private networking off in Atlas, is drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.policies import KeyAccess, plan_policies
from drift.cli import run

from .conftest import AtlasState, atlas_uses, create_key, deploy_role, expected_documents, write_stack

VPCE = "vpce-0a1b2c3d4e5f67890"


def private_documents(key: str, *, public: bool, ids: tuple[str, ...] = ()) -> list[str]:
    plan = plan_policies(["198.51.100.0/24"], kind="managed", enforce_ip=True, manage_key_policy=False, public=public,
                         private=ids)
    docs = expected_documents(key_arn=key) if public else []
    private = plan.private_document(KeyAccess.of([key]))
    assert private is not None
    return [*docs, private]


def endpoint(region: str = "EU_WEST_2", status: str = "ACTIVE", error: str = "") -> dict[str, Any]:
    return {"cloudProvider": "AWS", "regionName": region, "status": status, "errorMessage": error,
            "id": "65f0c0ffee00000000000001", "privateEndpointConnectionName": VPCE}


def drift(*args: str) -> tuple[int, dict[str, Any]]:
    lines: list[str] = []
    code = run(["--retries", "1", "--timeout", "2", "--no-cloudtrail", "--json", *args], out=lines.append)
    return code, json.loads("\n".join(lines))


@pytest.fixture()
def key(kms: Any) -> str:
    return create_key(kms)


def private_atlas(atlas: AtlasState, key: str, *, require: bool = True) -> None:
    atlas_uses(atlas, key)
    atlas.encryption["awsKms"]["requirePrivateNetworking"] = require


@pytest.mark.parametrize("network", ["private", "both"])
def test_a_private_stack_as_the_program_writes_it_is_in_sync(network: str, tmp_path: Path, atlas: AtlasState,
                                                             iam: Any, key: str) -> None:
    atlas.encryption_role = deploy_role(iam, "prod", private_documents(key, public=network == "both"))
    private_atlas(atlas, key)
    atlas.kms_endpoints = [endpoint()]
    code, body = drift("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key, extra=f"  atlas-kms:network: {network}\n")))
    assert code == 0, body["findings"]
    assert body["expectedCidrs"] == ([] if network == "private" else body["expectedCidrs"])


def test_without_the_private_statement_atlas_private_calls_are_missing(tmp_path: Path, atlas: AtlasState, iam: Any,
                                                                       key: str) -> None:
    atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=key))  # public statements only
    private_atlas(atlas, key)
    atlas.kms_endpoints = [endpoint()]
    code, body = drift("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key, extra="  atlas-kms:network: both\n")))
    assert code == 1
    [finding] = [f for f in body["findings"] if f["layer"] == "private path"]
    assert finding["kind"] == "missing" and finding["origins"] == [f"VPC endpoint {VPCE}"]


def test_a_private_stack_with_public_statements_left_is_over_permission(tmp_path: Path, atlas: AtlasState, iam: Any,
                                                                        key: str) -> None:
    atlas.encryption_role = deploy_role(iam, "prod", private_documents(key, public=True))
    private_atlas(atlas, key)
    atlas.kms_endpoints = [endpoint()]
    code, body = drift("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key, extra="  atlas-kms:network: private\n")))
    assert code == 1 and {f["kind"] for f in body["findings"]} == {"stale"}


def test_pinned_endpoint_ids_are_judged_with_those_ids(tmp_path: Path, atlas: AtlasState, iam: Any, key: str) -> None:
    atlas.encryption_role = deploy_role(iam, "prod", private_documents(key, public=False, ids=("vpce-0000000000000000b",)))
    private_atlas(atlas, key)
    atlas.kms_endpoints = [endpoint()]
    stack = write_stack(tmp_path, "prod", key_arn=key,
                        extra=f"  atlas-kms:network: private\n  atlas-kms:privateEndpointIds: [{VPCE}]\n")
    code, body = drift("--stack-file", str(stack))
    assert code == 1 and [f["layer"] for f in body["findings"]] == ["private path"]


@pytest.mark.parametrize(("endpoints", "says"), [
    ([], "no KMS private endpoint in EU_WEST_2, which the stack configures"),
    ([endpoint(status="FAILED", error="No capacity")], "the KMS private endpoint in EU_WEST_2 is FAILED, not ACTIVE: No capacity"),
    ([endpoint(status="PENDING_ACCEPTANCE")], "the KMS private endpoint in EU_WEST_2 is PENDING_ACCEPTANCE, not ACTIVE"),
])
def test_an_endpoint_missing_or_not_active_is_drift_naming_region_status_and_error(
        endpoints: list[dict[str, Any]], says: str, tmp_path: Path, atlas: AtlasState, iam: Any, key: str) -> None:
    atlas.encryption_role = deploy_role(iam, "prod", private_documents(key, public=False))
    private_atlas(atlas, key)
    atlas.kms_endpoints = endpoints
    code, body = drift("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key, extra="  atlas-kms:network: private\n")))
    assert code == 1
    assert any(says in f["detail"] for f in body["findings"] if f["kind"] == "atlas"), body["findings"]


def test_private_networking_off_in_atlas_for_a_private_stack_is_drift(tmp_path: Path, atlas: AtlasState, iam: Any,
                                                                      key: str) -> None:
    atlas.encryption_role = deploy_role(iam, "prod", private_documents(key, public=False))
    private_atlas(atlas, key, require=False)
    atlas.kms_endpoints = [endpoint()]
    code, body = drift("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key, extra="  atlas-kms:network: private\n")))
    assert code == 1
    assert any("requirePrivateNetworking is off in Atlas" in f["detail"] for f in body["findings"])


def test_a_private_stacks_snapshots_are_judged_over_the_private_path(tmp_path: Path, atlas: AtlasState, iam: Any,
                                                                     key: str) -> None:
    from .conftest import snapshot

    atlas.encryption_role = deploy_role(iam, "prod", private_documents(key, public=False))
    private_atlas(atlas, key)
    atlas.kms_endpoints = [endpoint()]
    atlas.snapshots["orders"] = [snapshot(key.rsplit("/", 1)[1])]
    code, body = drift("--stack-file", str(write_stack(tmp_path, "prod", key_arn=key, extra="  atlas-kms:network: private\n")))
    assert code == 0, body["findings"]


def test_no_key_to_judge_with_cloudtrail_on_is_a_verdict_and_a_note_never_a_traceback(
        tmp_path: Path, atlas: AtlasState, iam: Any) -> None:
    deploy_role(iam, "prod", [])
    lines: list[str] = []
    code = run(["--retries", "1", "--timeout", "2", "--stack-file", str(write_stack(tmp_path, "prod", key_arn=None))],
               out=lines.append, trail_factory=lambda region: None)
    # Atlas has no encryption enabled here, which is certainly wrong (exit 1); the key lookup found nothing.
    assert code == 1 and lines[0].startswith("stack prod: DRIFT")
    assert "  note     CloudTrail not checked: no key to look up (pass --key-arn)" in lines

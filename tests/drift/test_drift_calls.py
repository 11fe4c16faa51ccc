"""What one stack's check costs Atlas: its calls, counted by the stand-in, and how they are issued. No clock.

Issue 23: with `--no-restores` the calls do not depend on the number of clusters; with the restore check
there is one snapshot read per cluster (Atlas lists snapshots per cluster only), and a stack's
independent reads are in flight at once.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from core.arns import key_id_of
from drift.cli import run

from .conftest import (
    AtlasState,
    atlas_uses,
    create_key,
    deploy_role,
    expected_documents,
    project_of_clusters,
    snapshot,
    write_stack,
)


def report(*args: str) -> tuple[int, Any]:
    lines: list[str] = []
    code = run(["--retries", "2", "--timeout", "30", "--no-cloudtrail", "--json", *args], out=lines.append)
    return code, json.loads("\n".join(lines))


def deploy(tmp_path: Path, atlas: AtlasState, iam: Any, key: str, clusters: int) -> Path:
    """A stack in sync whose project has `clusters` clusters, each with two snapshots under the stack's key."""
    atlas.project = project_of_clusters(clusters)
    atlas.snapshots = {f"cluster-{i}": [snapshot(key_id_of(key)), snapshot(key_id_of(key), days_old=2)]
                       for i in range(clusters)}
    stack = f"c{clusters}"
    atlas.encryption_role = deploy_role(iam, stack, expected_documents(project=atlas.project, key_arn=key))
    atlas_uses(atlas, key)
    return write_stack(tmp_path, stack, key_arn=key)


def calls(atlas: AtlasState, *args: str) -> Counter[str]:
    """The Atlas calls of one run, by endpoint (the path without the project and cluster)."""
    atlas.requests = []
    code, body = report(*args)
    assert code == 0, body
    return Counter("snapshots" if "/backup/snapshots" in path else path.split("?")[0].rsplit("/", 1)[-1]
                   for path, _, _ in atlas.requests)


@pytest.fixture()
def key(kms: Any) -> str:
    return create_key(kms)


def test_without_restores_the_calls_do_not_grow_with_the_clusters(tmp_path: Path, atlas: AtlasState, iam: Any,
                                                                   key: str) -> None:
    one = calls(atlas, "--no-restores", "--stack-file", str(deploy(tmp_path, atlas, iam, key, 1)))
    twenty = calls(atlas, "--no-restores", "--stack-file", str(deploy(tmp_path, atlas, iam, key, 20)))
    assert one == twenty == Counter({"controlPlaneIPAddresses": 1, "ipAddresses": 1, "encryptionAtRest": 1,
                                     "cloudProviderAccess": 1})


def test_with_restores_there_is_one_snapshot_read_per_cluster_and_nothing_else_grows(
        tmp_path: Path, atlas: AtlasState, iam: Any, key: str) -> None:
    for clusters in (1, 5, 20):
        counted = calls(atlas, "--stack-file", str(deploy(tmp_path, atlas, iam, key, clusters)))
        assert counted.pop("snapshots") == clusters
        assert counted == Counter({"controlPlaneIPAddresses": 1, "ipAddresses": 1, "encryptionAtRest": 1,
                                   "cloudProviderAccess": 1})


def test_no_restores_skips_the_snapshots_and_says_so(tmp_path: Path, atlas: AtlasState, iam: Any, key: str,
                                                     kms: Any) -> None:
    stack = deploy(tmp_path, atlas, iam, key, 2)
    atlas.snapshots["cluster-1"] = [snapshot(key_id_of(create_key(kms)), days_old=40)]  # a key nobody retained
    code, body = report("--stack-file", str(stack))
    assert code == 1 and [f["kind"] for f in body["findings"]] == ["restore"], body
    code, body = report("--no-restores", "--stack-file", str(stack))
    assert code == 0 and "backup snapshots not checked (--no-restores)" in body["notes"], body


def test_a_stacks_reads_are_in_flight_at_once(tmp_path: Path, atlas: AtlasState, iam: Any, key: str) -> None:
    # The stand-in holds every answer until 4 requests are in flight: the run's control-plane read and the
    # stack's three first reads (cloudProviderAccess, ipAddresses, encryptionAtRest). One after another,
    # the first would wait alone until the gate gave up; the timeout is longer than the gate's wait.
    stack = deploy(tmp_path, atlas, iam, key, 1)
    atlas.hold_until, atlas.max_in_flight = 4, 0
    code, body = report("--no-restores", "--stack-file", str(stack))
    assert code == 0, body
    assert atlas.max_in_flight == 4, f"at most {atlas.max_in_flight} request(s) in flight at once"

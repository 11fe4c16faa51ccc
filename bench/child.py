"""One measured process: `python -m bench.child program N` or `python -m bench.child floor N`.

Prints one JSON line with what the process saw of itself; the parent measures wall time and peak
memory from outside (os.wait4), so that imports and interpreter start are counted as a user pays them.

The floor is what any program doing this job must pay: the same SDK modules loaded, the same two Atlas
lookups answered over the same world of N clusters by the same mocks, and one resource registered.
The difference to the program is then the program's own work: planning, policies, its resources.
"""

from __future__ import annotations

import json
import sys
import time


def world(clusters: int):  # type: ignore[no-untyped-def]
    from offline.harness import World

    w = World.sample()
    w.project = {
        "groupId": "6f1e2d3c4b5a697887766554",
        "services": {"clusters": [
            # three nodes each, scattered public addresses: no two addresses of the project collapse
            {"clusterName": f"cluster-{i}", "outbound": [f"13.{64 + i // 250}.{(i % 250)}.{10 + 40 * j}" for j in range(3)]}
            for i in range(clusters)
        ]},
    }
    return w


# samples/stacks/Pulumi.same-account.yaml as the engine hands it over: strings, objects as JSON. The
# engine reads the stack file; reading YAML here would charge the program for the engine's work.
SAME_ACCOUNT = {
    "aws:region": "eu-west-2",
    "atlas-kms:projectId": "6f1e2d3c4b5a697887766554",
    "atlas-kms:sourceIps": '{"controlPlane": "all", "clusters": "all", "includeFuture": true, "extraCidrs": ["192.0.2.240/28"]}',
}


def program(clusters: int) -> dict[str, object]:
    from offline.harness import run_program

    run = run_program(SAME_ACCOUNT, stack="bench", world=world(clusters))
    return {"resources": len(run.registrations), "cidrs": len(run.outputs["allowedCidrs"])}


def floor(clusters: int) -> dict[str, object]:
    """The same SDKs, the same two lookups over the same world, one resource, under the same mocks."""
    import pulumi
    import pulumi_aws as aws
    import pulumi_mongodbatlas as mongodbatlas
    import pulumiverse_time

    from offline.harness import AtlasKmsMocks, RecordingMonitor

    # The SDK modules the program loads (the SDKs load resource modules lazily, on first use).
    loaded = (aws.Provider, aws.kms.Key, aws.kms.Alias, aws.kms.KeyPolicy, aws.iam.Role, aws.iam.Policy,
              aws.iam.RolePolicy, aws.iam.RolePolicyAttachment, aws.get_region, aws.get_caller_identity,
              mongodbatlas.CloudProviderAccessSetup, mongodbatlas.CloudProviderAccessAuthorization,
              mongodbatlas.EncryptionAtRest, mongodbatlas.AlertConfiguration, pulumiverse_time.Sleep)
    assert all(loaded)

    mocks = AtlasKmsMocks(world(clusters))
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="atlas-kms", stack="floor", preview=False, monitor=monitor)

    @pulumi.runtime.test
    def one() -> pulumi.Output[str]:
        cp = mongodbatlas.get_control_plane_ip_addresses()
        project = mongodbatlas.get_project_ip_addresses(project_id="6f1e2d3c4b5a697887766554")
        assert cp.outbound is not None and project.services is not None
        return aws.iam.Role("floor", assume_role_policy="{}").arn

    one()
    return {"resources": len(monitor.registrations), "cidrs": 0}


if __name__ == "__main__":
    start = time.perf_counter()
    n = int(sys.argv[2])
    result = floor(n) if sys.argv[1] == "floor" else program(n)
    result["inner_seconds"] = time.perf_counter() - start
    print(json.dumps(result))

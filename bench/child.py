"""One measured process: `python -m bench.child program N` or `python -m bench.child floor`.

Prints one JSON line with what the process saw of itself; the parent measures wall time and peak
memory from outside (os.wait4), so that imports and interpreter start are counted as a user pays them.
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
            # three nodes each, scattered: no two addresses of the whole project collapse
            {"clusterName": f"cluster-{i}", "outbound": [f"100.{64 + i // 250}.{(i % 250)}.{10 + 40 * j}" for j in range(3)]}
            for i in range(clusters)
        ]},
    }
    return w


def program(clusters: int) -> dict[str, object]:
    from config.stackfile import read_stack_config
    from offline.harness import ROOT, run_program

    config = read_stack_config(ROOT / "samples/stacks/Pulumi.same-account.yaml")
    run = run_program(config, stack="bench", world=world(clusters))
    return {"resources": len(run.registrations), "cidrs": len(run.outputs["allowedCidrs"])}


def floor() -> dict[str, object]:
    """The same SDKs imported and one resource registered under the same mocks."""
    import pulumi
    import pulumi_aws as aws
    import pulumi_mongodbatlas  # noqa: F401

    from offline.harness import AtlasKmsMocks, RecordingMonitor, World

    mocks = AtlasKmsMocks(World.sample())
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="atlas-kms", stack="floor", preview=False, monitor=monitor)

    @pulumi.runtime.test
    def one() -> pulumi.Output[str]:
        return aws.iam.Role("floor", assume_role_policy="{}").arn

    one()
    return {"resources": len(monitor.registrations), "cidrs": 0}


if __name__ == "__main__":
    start = time.perf_counter()
    result = floor() if sys.argv[1] == "floor" else program(int(sys.argv[2]))
    result["inner_seconds"] = time.perf_counter() - start
    print(json.dumps(result))

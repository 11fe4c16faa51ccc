"""`make drift-demo`: the drift command as a newcomer would run it, against stand-ins on 127.0.0.1.

No account, no network: moto's IAM and KMS server, the Atlas Admin API stand-in and the CloudTrail
stand-in of the test suite (tests/drift/) play AWS and Atlas. The stack is deployed as `pulumi up` would
leave it (the role and its policies from the program's own functions, a key, Atlas using both), then the
command runs three times, as a real `python -m drift` process: in sync; after Atlas adds a node; after
Atlas's calls from that node were refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent


def _say(text: str) -> None:
    print(f"\n# {text}", flush=True)


def _drift(stack_file: Path, env: dict[str, str]) -> int:
    command = [sys.executable, "-m", "drift", "--stack-file", str(stack_file)]
    print(f"$ python -m drift --stack-file {stack_file.name}", flush=True)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    print(done.stdout.rstrip())
    if done.stderr.strip():
        print(done.stderr.rstrip(), file=sys.stderr)
    print(f"$ echo $?\n{done.returncode}", flush=True)
    return done.returncode


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from standins.atlas import (
        atlas_uses,
        create_key,
        deploy_role,
        expected_documents,
        mutate,
        write_stack,
    )
    from standins.cloudtrail import kms_event, running_standin
    from standins.servers import drift_standins

    with drift_standins() as (atlas, base), running_standin() as (trail, trail_url), \
            tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, **base, "AWS_ENDPOINT_URL_CLOUDTRAIL": trail_url}
        kms, iam = boto3.client("kms", region_name="eu-west-2"), boto3.client("iam", region_name="eu-west-2")
        key = create_key(kms)
        atlas.encryption_role = deploy_role(iam, "prod", expected_documents(key_arn=key))
        atlas_uses(atlas, key)
        stack = write_stack(Path(tmp), "prod", key_arn=key)
        print("atlas-kms drift demo: moto (IAM, KMS), an Atlas Admin API stand-in and a CloudTrail stand-in on "
              "127.0.0.1; the stack 'prod' deployed as `pulumi up` leaves it.")

        _say("1. Everything as the program wrote it: in sync, exit 0.")
        first = _drift(stack, env)

        _say("2. Atlas adds a node to cluster 'orders' (198.51.100.150): the role does not allow it yet, exit 1.")
        mutate(atlas)["services"]["clusters"][0]["outbound"].append("198.51.100.150")
        second = _drift(stack, env)

        _say("3. Atlas's calls from that node are refused, as CloudTrail records them: finding `denied`, exit 1.")
        now = datetime.now(UTC)
        trail.events = [kms_event(at=now - timedelta(minutes=m), role_arn=atlas.encryption_role, key_arn=key,
                                  source_ip="198.51.100.150", error_code="AccessDenied") for m in (12, 9, 6)]
        third = _drift(stack, env)
        print("\nFix: `pulumi up` for the stack regenerates the policies; the command then exits 0 again.")
    return 0 if (first, second, third) == (0, 1, 1) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Start states the program did not make: encryption at rest that a team already runs.

Set up by hand with MongoDB's procedure (a role, a managed policy granting the three KMS actions on the key
with no address condition, Atlas's authorization) or with the Terraform provider's example
(terraform-provider-mongodbatlas examples/atlas-encryption-at-rest/aws: an inline policy `mongo_setup_policy`
allowing `*` on `*`, on the role `mongo_setup_test_role`). Each is what the cloud holds, outside any Pulumi
state: the offline model's lookups see it, `import_` reads it, the simulator starts from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from core.arns import region_of
from core.atlas_regions import ATLAS_AWS_REGIONS
from core.policies import USE_ACTIONS
from offline.harness import ROLE_ACCOUNT, ProgramRun, Registration, World
from offline.model import ATLAS_PRINCIPALS, ATTACH, AUTH, EAR, INLINE, POLICY, ROLE, SETUP

Shape = Literal["console", "terraform"]
# The Atlas role and the external id of the hand-made setup (any 24 hex characters; a UUID).
ATLAS_ROLE_ID = "5e6521b270a1f0bb855c9a00"
EXTERNAL_ID = "0f2ffb76-da2d-146a-d947-97789eb7a000"
ROLE_NAMES: dict[Shape, str] = {"console": "atlas-encryption-at-rest", "terraform": "mongo_setup_test_role"}
Objects = dict[tuple[str, str], tuple[str, dict[str, Any]]]


def trust_policy(principal: str = ATLAS_PRINCIPALS[False], external_id: str = EXTERNAL_ID) -> dict[str, Any]:
    """The trust policy Atlas's setup asks for, as a person writes it (MongoDB's procedure)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": external_id}}}]}


def existing_setup(shape: Shape, *, project_id: str, key_arn: str, account: str = ROLE_ACCOUNT,
                   trust: dict[str, Any] | None = None) -> Objects:
    """The role, its grant, Atlas's setup and authorization, and the project's encryption at rest."""
    name = ROLE_NAMES[shape]
    role_arn = f"arn:aws:iam::{account}:role/{name}"
    objects: Objects = {
        (ROLE, "existing-role"): (name, {
            "name": name, "path": "/", "arn": role_arn, "uniqueId": "AROAEXISTINGROLE0001", "description": "",
            "assumeRolePolicy": json.dumps(trust or trust_policy(), indent=2), "tags": {}}),
        (SETUP, "existing-setup"): (f"{project_id}-AWS-{ATLAS_ROLE_ID}", {
            "projectId": project_id, "providerName": "AWS", "roleId": ATLAS_ROLE_ID,
            "awsConfigs": [{"atlasAwsAccountArn": ATLAS_PRINCIPALS[False], "atlasAssumedRoleExternalId": EXTERNAL_ID}]}),
        (AUTH, "existing-authorization"): (ATLAS_ROLE_ID, {
            "projectId": project_id, "roleId": ATLAS_ROLE_ID, "aws": {"iamAssumedRoleArn": role_arn},
            "authorizedDate": "2025-06-01T00:00:00Z"}),
        (EAR, "existing-encryption-at-rest"): (project_id, {
            "projectId": project_id, "enabledForSearchNodes": True, "awsKmsConfig": {
                "enabled": True, "customerMasterKeyId": key_arn, "region": ATLAS_AWS_REGIONS[region_of(key_arn)],
                "roleId": ATLAS_ROLE_ID, "requirePrivateNetworking": False, "valid": True}}),
    }
    if shape == "console":
        policy_arn = f"arn:aws:iam::{account}:policy/atlas-kms-access"
        grant = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(USE_ACTIONS), "Resource": key_arn}]}
        objects[(POLICY, "existing-policy")] = (policy_arn, {"name": "atlas-kms-access", "arn": policy_arn, "path": "/",
                                                             "policy": json.dumps(grant, indent=2)})
        objects[(ATTACH, "existing-attachment")] = (f"{name}/{policy_arn}", {"role": name, "policyArn": policy_arn})
    else:
        grant = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        objects[(INLINE, "existing-inline-policy")] = (f"{name}:mongo_setup_policy", {
            "name": "mongo_setup_policy", "role": name, "policy": json.dumps(grant, indent=2)})
    return objects


def world_with(objects: Objects) -> World:
    world = World.sample()
    world.unmanaged = dict(objects)
    return world


def start(objects: Objects) -> ProgramRun:
    """The start state as the simulator's `before`: everything exists, nothing is in the stack's state."""
    registrations = [
        Registration(type=typ, name=name, urn=f"unmanaged::{name}", id=id_, parent="", provider="", protect=False,
                     retain_on_delete=False, dependencies=[], inputs=dict(state), state=dict(state), unmanaged=True)
        for (typ, name), (id_, state) in objects.items()]
    return ProgramRun(outputs={"allowedCidrs": [], "retainedKeyArns": []}, registrations=registrations, calls=[], logs=[])


def save(objects: Objects, path: Path) -> None:
    """A world file for `python -m offline.preview --world` (samples/worlds/)."""
    rows = [{"type": t, "name": n, "id": i, "state": st} for (t, n), (i, st) in objects.items()]
    path.write_text(json.dumps({"unmanaged": rows}, indent=2, sort_keys=True) + "\n")


def load(path: Path) -> Objects:
    data = json.loads(path.read_text())
    return {(r["type"], r["name"]): (r["id"], r["state"]) for r in data.get("unmanaged", [])}

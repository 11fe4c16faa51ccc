"""Every document the program generates, in every key mode, taken from real mock-runtime runs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from config.stackfile import read_stack_config
from offline.harness import ROOT, ProgramRun, run_program

MODES: dict[str, dict[str, str]] = {
    "same-account": {},
    "existing-key": {},
    "cross-account": {},
    "foreign-key": {},
    "foreign-key-managed": {
        "atlas-kms:keyAccount": json.dumps(
            {"assumeRoleArn": "arn:aws:iam::444455556666:role/kms-admin", "manageKeyPolicy": True}
        )
    },
}


@dataclass
class Generated:
    mode: str
    run: ProgramRun
    role_policies: list[dict[str, Any]] = field(default_factory=list)
    trust: dict[str, Any] = field(default_factory=dict)
    key_policy: dict[str, Any] | None = None
    owner_statement: dict[str, Any] | None = None

    @property
    def key_arn(self) -> str:
        return str(self.run.outputs["keyArn"])

    @property
    def role_arn(self) -> str:
        return str(self.run.outputs["roleArn"])

    @property
    def cidrs(self) -> list[str]:
        return list(self.run.outputs["allowedCidrs"])


@cache
def generated(mode: str) -> Generated:
    stack = mode.removesuffix("-managed")
    config = read_stack_config(ROOT / "samples" / "stacks" / f"Pulumi.{stack}.yaml") | MODES[mode]
    run = run_program(config, stack=stack)
    out = Generated(mode=mode, run=run)
    for reg in run.registrations:
        if reg.type in ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy"):
            out.role_policies.append(json.loads(reg.inputs["policy"]))
        elif reg.type == "aws:iam/role:Role":
            out.trust = json.loads(reg.inputs["assumeRolePolicy"])
        elif reg.type in ("aws:kms/key:Key", "aws:kms/keyPolicy:KeyPolicy"):
            out.key_policy = json.loads(reg.inputs["policy"])
    owner = run.outputs.get("keyPolicyStatementForOwner")
    if owner is not None:
        out.owner_statement = dict(owner)
    return out


def all_generated() -> list[Generated]:
    return [generated(mode) for mode in MODES]

"""The atlas-kms policy pack: `pulumi preview --policy-pack policy_pack` (see docs/safety.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

# Pulumi runs this file from the pack's folder; the rules sit beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from rules import RULES, Rule


def _validator(rule: Rule) -> Any:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for problem in rule.check(args.resource_type, args.props):
            report_violation(problem, None)

    return validate


PolicyPack(
    name="atlas-kms-safety",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[ResourceValidationPolicy(name=r.name, description=r.description, validate=_validator(r)) for r in RULES],
)

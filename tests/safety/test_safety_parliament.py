"""parliament (an IAM linter we did not write) finds nothing in any document we generate.

parliament lints identity policies. Resource-based documents are linted in the identity form AWS
evaluates them in: without the Principal, and with the implicit resource made explicit (a key policy's
`"Resource": "*"` means "this key"; a trust policy's resource is the role itself).
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html#key-policy-elements
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from .documents import MODES, generated

# Findings inherent to what the documents are for, allowed exactly where they are expected:
# - CREDENTIALS_EXPOSURE on the trust policy: sts:AssumeRole hands Atlas credentials, which is its purpose.
# - PERMISSIONS_MANAGEMENT_ACTIONS on the key-admin statement: kms:PutKeyPolicy is what keeps the key
#   manageable (no lockout).
# - RESOURCE_MISMATCH for the alias actions in a key policy: CreateAlias/UpdateAlias/DeleteAlias need
#   permission on the alias (IAM) *and* on the key (key policy); parliament only knows the alias side.
#   https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html
ALIAS_ACTIONS = {"kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"}


def findings(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    policy = analyze_policy_string(json.dumps(doc), include_community_auditors=True)
    return [(f.issue, f.detail) for f in policy.findings]


def as_identity(doc: dict[str, Any], resource: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for stmt in out["Statement"]:
        assert "NotPrincipal" not in stmt
        stmt.pop("Principal")
        if stmt.get("Resource", "*") == "*":
            stmt["Resource"] = resource
    return out


@pytest.mark.parametrize("mode", MODES)
def test_role_policies_have_no_findings(mode: str) -> None:
    g = generated(mode)
    assert g.role_policies
    for doc in g.role_policies:
        assert findings(doc) == []


@pytest.mark.parametrize("mode", MODES)
def test_the_trust_policy_has_only_the_credentials_finding_that_is_its_purpose(mode: str) -> None:
    g = generated(mode)
    assert [issue for issue, _ in findings(as_identity(g.trust, g.role_arn))] == ["CREDENTIALS_EXPOSURE"]


@pytest.mark.parametrize("mode", [m for m in MODES if generated(m).key_policy is not None])
def test_key_policies_have_only_the_inherent_findings(mode: str) -> None:
    g = generated(mode)
    assert g.key_policy is not None
    admin, user = g.key_policy["Statement"]
    assert findings(as_identity({"Version": "2012-10-17", "Statement": [user]}, g.key_arn)) == []
    admin_findings = findings(as_identity({"Version": "2012-10-17", "Statement": [admin]}, g.key_arn))
    assert {issue for issue, _ in admin_findings} == {"PERMISSIONS_MANAGEMENT_ACTIONS", "RESOURCE_MISMATCH"}
    mismatched = {d["action"] for issue, detail in admin_findings if issue == "RESOURCE_MISMATCH" for d in detail}
    assert mismatched == ALIAS_ACTIONS


def test_the_exported_owner_statement_has_no_findings() -> None:
    g = generated("foreign-key")
    assert g.owner_statement is not None
    assert findings(as_identity({"Version": "2012-10-17", "Statement": [g.owner_statement]}, g.key_arn)) == []


def test_parliament_does_flag_a_broken_policy() -> None:
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:Decrypt", "kms:Decrpyt"], "Resource": "*"}]}
    assert "UNKNOWN_ACTION" in {issue for issue, _ in findings(bad)}

"""`python -m drift guard PREVIEW_JSON`: which `pulumi preview --json` may go ahead without a person.

The guard reads Pulumi's preview digest (pulumi/pulumi pkg/display/json.go: `steps[]` with `op`, `urn`,
`oldState` and `newState` holding `inputs`, `parent`, ...) and lets through, with the URNs to pass to
`pulumi up --target`, only what it can prove is Atlas's address list changing: the policy documents the
component writes for Atlas's role and key, identical before and after but for the `aws:SourceIp` lists,
every address in them a narrow public one, and the split of the role's policy growing or shrinking by
whole parts. Everything else needs a person (exit 1, one line per step and why). A document it cannot
read exits 2.

The before and after documents below are the program's own (core/policies.py), for two address sets, so
the digests are the ones a real address change produces.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.ips import canonical_cidrs
from core.policies import canonical_json, key_policy, plan_policies
from drift.cli import run
from drift.guard import COMPONENT_TYPE, UNKNOWN, Verdict, judge

STACK, PROJECT = "prod", "atlas-kms"
NAME = "atlas-kms"  # the component's name in __main__.py
ATLAS_PROJECT = "6f1e2d3c4b5a697887766554"
ACCOUNT = "123456789012"
ROLE_NAME = "atlas-kms-role-1a2b3c4"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
KEY_ARN = f"arn:aws:kms:eu-west-2:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TAGS = {"atlas-kms:managed-by": "atlas-kms", "atlas-kms:project-id": ATLAS_PROJECT, "atlas-kms:stack": STACK}
PROVIDER = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:providers:aws::default_6_83_0::0b3f6a52-1d0e-4c27-9d1e-2f0c7b8a9e41"

COMPONENT_URN = f"urn:pulumi:{STACK}::{PROJECT}::{COMPONENT_TYPE}::{NAME}"
STACK_URN = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"

POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
INLINE = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
ROLE = "aws:iam/role:Role"
# Only the program's grants stay on the role (components/atlas_kms.py `_exclusive_policies`).
ATTACHMENTS_EXCLUSIVE = "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
INLINE_EXCLUSIVE = "aws:iam/rolePoliciesExclusive:RolePoliciesExclusive"

# Atlas-like addresses: one per /24 (each its own bucket of the stable split), in 3.8.0.0/13 (AWS, public).
# 324 of them fit one managed policy, 325 need two; 621 fill two, one more makes three (checked below).
ONE_PART, FIRST_OF_TWO, TWO_PARTS, THREE_PARTS = 324, 325, 621, 622


def atlas_addresses(n: int, *extra: str) -> list[str]:
    return canonical_cidrs([f"3.{8 + i // 250}.{i % 250}.7" for i in range(n)] + list(extra))


def role_documents(cidrs: list[str], kind: str = "managed") -> list[str]:
    plan = plan_policies(cidrs, kind=kind, enforce_ip=True, manage_key_policy=True)  # type: ignore[arg-type]
    return plan.role_documents(KEY_ARN)


def key_document(cidrs: list[str], roles: tuple[str, ...] = (ROLE_ARN,)) -> str:
    return canonical_json(key_policy(ROOT, list(roles), cidrs))


# -- the digest, as `pulumi preview --json --show-sames` prints it ------------------------------------


def child_urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{COMPONENT_TYPE}${type_}::{name}"


def resource(type_: str, name: str, inputs: dict[str, Any], *, parent: str = COMPONENT_URN,
             urn: str | None = None) -> dict[str, Any]:
    """apitype.ResourceV3 as the digest prints it (outputs left out: the guard compares inputs)."""
    return {"urn": urn or child_urn(type_, name), "custom": True, "type": type_, "inputs": copy.deepcopy(inputs), "outputs": {},
            "parent": parent, "provider": PROVIDER}


def step(op: str, type_: str, name: str, old: dict[str, Any] | None, new: dict[str, Any] | None,
         *, parent: str = COMPONENT_URN, urn: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"op": op, "urn": urn or child_urn(type_, name), "provider": PROVIDER}
    if old is not None:
        out["oldState"] = resource(type_, name, old, parent=parent, urn=urn)
    if new is not None:
        out["newState"] = resource(type_, name, new, parent=parent, urn=urn)
    if op == "update" and old is not None and new is not None:
        changed = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
        out["diffReasons"] = changed
        out["detailedDiff"] = {k: {"kind": "update", "inputDiff": False} for k in changed}
    return out


def part_inputs(i: int, document: str) -> dict[str, Any]:
    return {"__defaults": ["name"], "description": f"Atlas encryption at rest: KMS use from Atlas addresses, part {i}",
            "name": f"{NAME}-kms-policy-{i}-{1000000 + i}", "policy": document, "tags": dict(TAGS)}


def attachment_inputs(i: int, *, created: bool = False, role: str = ROLE_NAME) -> dict[str, Any]:
    arn = UNKNOWN if created else policy_arn(i)
    return {"__defaults": [], "policyArn": arn, "role": role}


def inline_inputs(i: int, document: str) -> dict[str, Any]:
    return {"__defaults": ["name"], "name": inline_name(i), "policy": document,
            "role": f"{ROLE_NAME}"}


def policy_arn(i: int) -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy/{NAME}-kms-policy-{i}-{1000000 + i}"


def inline_name(i: int) -> str:
    return f"{NAME}-kms-inline-{i}-{2000000 + i}"


def exclusive_attachments_inputs(arns: list[Any], role: str = ROLE_NAME) -> dict[str, Any]:
    return {"__defaults": [], "policyArns": list(arns), "roleName": role}


def exclusive_inline_inputs(names: list[Any], role: str = ROLE_NAME) -> dict[str, Any]:
    return {"__defaults": [], "policyNames": list(names), "roleName": role}


def key_inputs(document: str, description: str = f"Atlas encryption at rest, project {ATLAS_PROJECT}, stack {STACK}") -> dict[str, Any]:
    return {"__defaults": ["bypassPolicyLockoutSafetyCheck", "isEnabled", "multiRegion"],
            "bypassPolicyLockoutSafetyCheck": False, "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
            "deletionWindowInDays": 30, "description": description, "enableKeyRotation": True, "isEnabled": True,
            "keyUsage": "ENCRYPT_DECRYPT", "multiRegion": False, "policy": document, "region": "eu-west-2",
            "rotationPeriodInDays": 365, "tags": dict(TAGS)}


def key_policy_inputs(document: str) -> dict[str, Any]:
    return {"__defaults": ["bypassPolicyLockoutSafetyCheck"], "bypassPolicyLockoutSafetyCheck": False,
            "keyId": KEY_ARN.rsplit("/", 1)[1], "policy": document, "region": "eu-west-2"}


def role_inputs(trust_external_id: str = "0f2ffb76-da2d-146a-d947-97789eb7acfc") -> dict[str, Any]:
    trust = canonical_json({"Version": "2012-10-17", "Statement": [{
        "Sid": "AtlasAssumesRole", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::536727724300:root"},
        "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": trust_external_id}}}]})
    return {"__defaults": ["name"], "assumeRolePolicy": trust, "description": f"Assumed by MongoDB Atlas for "
            f"encryption at rest of project {ATLAS_PROJECT}", "name": ROLE_NAME, "tags": dict(TAGS)}


def paired(op: str, type_: str, name: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any]:
    if op == "same":
        return step("same", type_, name, old, old)
    return step(op, type_, name, old, new)


def exclusive_steps(old_parts: int, new_parts: int, kind: str) -> list[dict[str, Any]]:
    """The role's exclusive attachments and inline policies: the program lists its own parts, highest first
    (a created part's ARN is not known in a preview; an auto-named inline policy's name is)."""
    def listed(parts: int, known: int, of: Callable[[int], str]) -> list[Any]:
        return [of(i) if i <= known else UNKNOWN for i in range(parts, 0, -1)]

    managed = (listed(old_parts, old_parts, policy_arn), listed(new_parts, old_parts, policy_arn)) \
        if kind == "managed" else ([], [])
    inline = (listed(old_parts, old_parts, inline_name), listed(new_parts, new_parts, inline_name)) \
        if kind == "inline" else ([], [])
    out = []
    for type_, name, inputs, (old, new) in (
            (ATTACHMENTS_EXCLUSIVE, f"{NAME}-role-attachments", exclusive_attachments_inputs, managed),
            (INLINE_EXCLUSIVE, f"{NAME}-role-inline-policies", exclusive_inline_inputs, inline)):
        out.append(paired("same" if old == new else "update", type_, name, inputs(old), inputs(new)))
    return out


def preview(before: list[str], after: list[str], *, kind: str = "managed", key: str = "created",
            show_sames: bool = True) -> dict[str, Any]:
    """The digest of the program's update from the `before` addresses to the `after` ones.

    kind: the role's policies ("managed" parts with attachments, or "inline"); key: "created" (the key
    policy is the Key's `policy` input), "existing" (a KeyPolicy on the stack's key) or "foreign" (none).
    """
    steps: list[dict[str, Any]] = [
        {"op": "same", "urn": STACK_URN, "oldState": {"urn": STACK_URN, "type": "pulumi:pulumi:Stack", "inputs": {}},
         "newState": {"urn": STACK_URN, "type": "pulumi:pulumi:Stack", "inputs": {}}},
        step("same", COMPONENT_TYPE, NAME, {}, {}, parent=STACK_URN, urn=COMPONENT_URN),
        step("same", ROLE, f"{NAME}-role", role_inputs(), role_inputs()),
    ]
    old_docs, new_docs = role_documents(before, kind), role_documents(after, kind)
    for index in reversed(range(max(len(old_docs), len(new_docs)))):
        i = index + 1
        old = old_docs[index] if index < len(old_docs) else None
        new = new_docs[index] if index < len(new_docs) else None
        op = "create" if old is None else "delete" if new is None else "same" if old == new else "update"
        if kind == "inline":
            steps.append(paired(op, INLINE, f"{NAME}-kms-inline-{i}", None if old is None else inline_inputs(i, old),
                                None if new is None else inline_inputs(i, new)))
            continue
        steps.append(paired(op, POLICY, f"{NAME}-kms-policy-{i}", None if old is None else part_inputs(i, old),
                            None if new is None else part_inputs(i, new)))
        attach = "same" if op == "update" else op
        steps.append(paired(attach, ATTACHMENT, f"{NAME}-kms-policy-{i}-attachment",
                            None if old is None else attachment_inputs(i),
                            None if new is None else attachment_inputs(i, created=old is None)))
    steps += exclusive_steps(len(old_docs), len(new_docs), kind)
    if key == "created":
        old_key, new_key = key_inputs(key_document(before)), key_inputs(key_document(after))
        steps.append(paired("same" if old_key == new_key else "update", KEY, f"{NAME}-key", old_key, new_key))
    elif key == "existing":
        old_kp, new_kp = key_policy_inputs(key_document(before)), key_policy_inputs(key_document(after))
        steps.append(paired("same" if old_kp == new_kp else "update", KEY_POLICY, f"{NAME}-key-policy", old_kp, new_kp))
    if not show_sames:
        steps = [s for s in steps if s["op"] != "same" or s["urn"] == STACK_URN]
    summary: dict[str, int] = {}
    for s in steps:
        summary[s["op"]] = summary.get(s["op"], 0) + 1
    return {"config": {"aws:region": "eu-west-2", "atlas-kms:projectId": ATLAS_PROJECT,
                       "mongodbatlas:privateKey": "[secret]"},
            "steps": steps, "diagnostics": [], "changeSummary": summary}


def find(digest: dict[str, Any], name: str, op: str | None = None) -> dict[str, Any]:
    [found] = [s for s in digest["steps"] if s["urn"].endswith(f"::{name}") and (op is None or s["op"] == op)]
    return found


def edit_document(found: dict[str, Any], change: Callable[[dict[str, Any]], None], state: str = "newState") -> None:
    """Change the step's policy document as a hand edit or a changed program would."""
    doc = json.loads(found[state]["inputs"]["policy"])
    change(doc)
    found[state]["inputs"]["policy"] = canonical_json(doc)


def urns(digest: dict[str, Any], *names: str) -> list[str]:
    return [s["urn"] for s in digest["steps"] if any(s["urn"].endswith(f"::{n}") for n in names)]


def refused(verdict: Verdict) -> dict[str, tuple[str, str]]:
    """name -> (op, reasons joined), for every step that needs a person."""
    return {r.urn.rsplit("::", 1)[1]: (r.op, "; ".join(r.reasons)) for r in verdict.refusals}


ADDED = "198.51.100.77"  # a node's new public address
BEFORE = atlas_addresses(300)
AFTER_ADDED = atlas_addresses(300, ADDED)
AFTER_REMOVED = atlas_addresses(299)


def test_the_worlds_below_are_what_the_program_writes() -> None:
    assert len(role_documents(BEFORE)) == 1
    assert len(role_documents(atlas_addresses(ONE_PART))) == 1
    assert len(role_documents(atlas_addresses(FIRST_OF_TWO))) == 2
    assert len(role_documents(atlas_addresses(TWO_PARTS))) == 2
    assert len(role_documents(atlas_addresses(THREE_PARTS))) == 3
    assert f'"{ADDED}/32"' in role_documents(AFTER_ADDED)[0]


def test_the_component_type_is_the_components_own() -> None:
    from components.atlas_kms import COMPONENT_TYPE as TYPE

    assert COMPONENT_TYPE == TYPE


# -- what goes ahead (exit 0) ---------------------------------------------------------------------------


def test_nothing_changing_goes_ahead_with_no_target() -> None:
    verdict = judge(preview(BEFORE, BEFORE))
    assert (verdict.exit_code, verdict.lines(), verdict.targets) == (0, [], ())


def test_an_address_added_to_the_role_policy_and_the_created_keys_policy_goes_ahead() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    verdict = judge(digest)
    assert verdict.refusals == ()
    assert verdict.exit_code == 0
    assert list(verdict.targets) == urns(digest, f"{NAME}-kms-policy-1", f"{NAME}-key")
    assert verdict.lines() == list(verdict.targets)


def test_an_address_removed_goes_ahead() -> None:
    digest = preview(BEFORE, AFTER_REMOVED)
    verdict = judge(digest)
    assert (verdict.exit_code, list(verdict.targets)) == (0, urns(digest, f"{NAME}-kms-policy-1", f"{NAME}-key"))


def test_an_address_change_in_the_key_policy_of_an_existing_key_goes_ahead() -> None:
    digest = preview(BEFORE, AFTER_ADDED, key="existing")
    verdict = judge(digest)
    assert (verdict.exit_code, list(verdict.targets)) == (0, urns(digest, f"{NAME}-kms-policy-1", f"{NAME}-key-policy"))


def test_an_address_change_in_an_inline_policy_goes_ahead() -> None:
    digest = preview(BEFORE, AFTER_REMOVED, kind="inline", key="foreign")
    verdict = judge(digest)
    assert (verdict.exit_code, list(verdict.targets)) == (0, urns(digest, f"{NAME}-kms-inline-1"))


def test_ipv6_addresses_are_judged_like_ipv4() -> None:
    digest = preview(BEFORE, atlas_addresses(300, "2600:1f18:4a3:6900::/56"))
    assert judge(digest).exit_code == 0


def test_a_grown_split_creates_a_part_and_its_attachment_and_goes_ahead() -> None:
    digest = preview(atlas_addresses(TWO_PARTS), atlas_addresses(THREE_PARTS))
    verdict = judge(digest)
    assert verdict.refusals == ()
    created = [s["urn"] for s in digest["steps"] if s["op"] == "create"]
    assert created == urns(digest, f"{NAME}-kms-policy-3", f"{NAME}-kms-policy-3-attachment")
    assert set(created) <= set(verdict.targets)
    assert set(verdict.targets) == {s["urn"] for s in digest["steps"] if s["op"] != "same"}


def test_a_shrunk_split_deletes_a_part_and_its_attachment_and_goes_ahead() -> None:
    digest = preview(atlas_addresses(THREE_PARTS), atlas_addresses(TWO_PARTS))
    verdict = judge(digest)
    assert verdict.refusals == ()
    deleted = [s["urn"] for s in digest["steps"] if s["op"] == "delete"]
    assert deleted == urns(digest, f"{NAME}-kms-policy-3", f"{NAME}-kms-policy-3-attachment")
    assert set(verdict.targets) == {s["urn"] for s in digest["steps"] if s["op"] != "same"}


def test_a_split_growing_from_one_part_to_two_renumbers_the_first_parts_sid_and_goes_ahead() -> None:
    """With one part the Sid is `AtlasEncryptionAtRestKms`, with more `...Part1`: the program's own numbering."""
    digest = preview(atlas_addresses(ONE_PART), atlas_addresses(FIRST_OF_TWO))
    first = find(digest, f"{NAME}-kms-policy-1")
    assert '"Sid":"AtlasEncryptionAtRestKmsPart1"' in first["newState"]["inputs"]["policy"]
    assert '"Sid":"AtlasEncryptionAtRestKms"' in first["oldState"]["inputs"]["policy"]
    verdict = judge(digest)
    assert verdict.refusals == ()
    assert set(verdict.targets) == {s["urn"] for s in digest["steps"] if s["op"] != "same"}
    back = judge(preview(atlas_addresses(FIRST_OF_TWO), atlas_addresses(ONE_PART)))
    assert back.refusals == ()


def test_another_sid_change_needs_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    edit_document(find(digest, f"{NAME}-kms-policy-1"), lambda d: d["Statement"][0].update(Sid="Anything"))
    why = refused(judge(digest))[f"{NAME}-kms-policy-1"][1]
    assert "statement Anything added" in why and "statement AtlasEncryptionAtRestKms removed" in why


def test_for_any_value_ip_address_on_both_sides_is_still_only_the_address_list() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    part = find(digest, f"{NAME}-kms-policy-1")

    def any_value(doc: dict[str, Any]) -> None:
        condition = doc["Statement"][0]["Condition"]
        condition["ForAnyValue:IpAddress"] = condition.pop("IpAddress")

    edit_document(part, any_value, "oldState")
    edit_document(part, any_value, "newState")
    assert judge(digest).exit_code == 0


def test_a_resource_outside_the_component_that_does_not_change_is_no_concern() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    bucket = "urn:pulumi:prod::atlas-kms::aws:s3/bucket:Bucket::logs"
    digest["steps"].append(step("same", "aws:s3/bucket:Bucket", "logs", {"bucket": "logs"}, {"bucket": "logs"},
                                parent=STACK_URN, urn=bucket))
    assert judge(digest).exit_code == 0


# -- what needs a person (exit 1) -----------------------------------------------------------------------


def test_a_key_change_other_than_its_policy_needs_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    find(digest, f"{NAME}-key")["newState"]["inputs"]["description"] = "something else"
    verdict = judge(digest)
    assert verdict.exit_code == 1
    assert refused(verdict) == {f"{NAME}-key": ("update", "the key's description changed")}
    assert verdict.lines() == [f"{child_urn(KEY, NAME + '-key')}  update  the key's description changed"]


def test_a_key_setting_alone_needs_a_person() -> None:
    digest = preview(BEFORE, BEFORE)
    key = find(digest, f"{NAME}-key")
    new = key_inputs(key_document(BEFORE))
    new["rotationPeriodInDays"] = 90
    digest["steps"][digest["steps"].index(key)] = step("update", KEY, f"{NAME}-key", key_inputs(key_document(BEFORE)), new)
    assert refused(judge(digest)) == {f"{NAME}-key": ("update", "the key's rotationPeriodInDays changed")}


def test_an_added_action_needs_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    edit_document(find(digest, f"{NAME}-kms-policy-1"), lambda d: d["Statement"][0]["Action"].append("kms:ReEncrypt*"))
    verdict = judge(digest)
    assert verdict.exit_code == 1
    op, why = refused(verdict)[f"{NAME}-kms-policy-1"]
    assert op == "update" and "Action added kms:ReEncrypt*" in why


def test_a_dropped_condition_needs_a_person() -> None:
    digest = preview(BEFORE, BEFORE)
    part = find(digest, f"{NAME}-kms-policy-1")
    part["op"] = "update"
    edit_document(part, lambda d: d["Statement"][0].pop("Condition"))
    assert "condition dropped" in refused(judge(digest))[f"{NAME}-kms-policy-1"][1]


def test_resource_star_needs_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    edit_document(find(digest, f"{NAME}-kms-policy-1"), lambda d: d["Statement"][0].update(Resource="*"))
    assert "Resource changed" in refused(judge(digest))[f"{NAME}-kms-policy-1"][1]


@pytest.mark.parametrize(("entry", "why"), [
    ("0.0.0.0/0", "0.0.0.0/0 is not a narrow public range"),
    ("3.0.0.0/8", "3.0.0.0/8 is not a narrow public range"),
    ("3.8.0.0/15", "3.8.0.0/15 is not a narrow public range"),
    ("10.0.0.0/24", "10.0.0.0/24 is not a narrow public range (it is in the private range 10.0.0.0/8)"),
    ("192.168.1.7/32", "private range"),
    ("127.0.0.1/32", "loopback"),
    ("169.254.169.254/32", "link-local"),
    ("100.64.0.0/24", "shared address space"),
    ("224.0.0.1/32", "multicast"),
    ("240.0.0.0/24", "reserved"),
    ("0.0.0.0/32", "'this network'"),
    ("::/0", "::/0 is not a narrow public range"),
    ("2600::/32", "2600::/32 is not a narrow public range (it is wider than /48)"),
    ("fd00:ec2::/64", "unique local"),
    ("10.0.0.1/24", "not an address or CIDR the program writes"),
    ("not-an-address", "not an address or CIDR the program writes"),
])
def test_an_address_atlas_cannot_call_from_or_a_wide_range_needs_a_person(entry: str, why: str) -> None:
    digest = preview(BEFORE, BEFORE)
    part = find(digest, f"{NAME}-kms-policy-1")
    part["op"] = "update"
    edit_document(part, lambda d: d["Statement"][0]["Condition"]["IpAddress"]["aws:SourceIp"].append(entry))
    verdict = judge(digest)
    assert verdict.exit_code == 1
    assert why in refused(verdict)[f"{NAME}-kms-policy-1"][1]


def test_a_bad_address_in_the_key_policy_needs_a_person() -> None:
    digest = preview(BEFORE, [*BEFORE, "10.0.0.0/24"])
    assert "10.0.0.0/24 is not a narrow public range" in refused(judge(digest))[f"{NAME}-key"][1]


def test_a_change_outside_the_component_needs_a_person_even_if_it_looks_like_an_address_change() -> None:
    digest = preview(BEFORE, BEFORE)
    old, new = role_documents(BEFORE)[0], role_documents(AFTER_ADDED)[0]
    urn = f"urn:pulumi:{STACK}::{PROJECT}::{POLICY}::hand-made"
    digest["steps"].append(step("update", POLICY, "hand-made", part_inputs(1, old), part_inputs(1, new),
                                parent=STACK_URN, urn=urn))
    assert refused(judge(digest)) == {"hand-made": ("update", "not a child of the atlas-kms component")}


def test_an_unrelated_resource_changing_needs_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    bucket = "urn:pulumi:prod::atlas-kms::aws:s3/bucket:Bucket::logs"
    digest["steps"].append(step("create", "aws:s3/bucket:Bucket", "logs", None, {"bucket": "logs"},
                                parent=STACK_URN, urn=bucket))
    verdict = judge(digest)
    assert verdict.exit_code == 1
    assert refused(verdict) == {"logs": ("create", "not a child of the atlas-kms component")}


def test_a_replaced_role_needs_a_person() -> None:
    digest = preview(BEFORE, BEFORE)
    old, new = role_inputs(), {**role_inputs(), "name": UNKNOWN}
    digest["steps"] += [step(op, ROLE, f"{NAME}-role", old if op != "create-replacement" else None,
                             new if op != "delete-replaced" else None)
                        for op in ("create-replacement", "replace", "delete-replaced")]
    verdict = judge(digest)
    assert verdict.exit_code == 1
    assert [line.split("  ")[1:] for line in verdict.lines()] == [
        ["create-replacement", "create-replacement of aws:iam/role:Role"],
        ["replace", "replace of aws:iam/role:Role"],
        ["delete-replaced", "delete-replaced of aws:iam/role:Role"]]


@pytest.mark.parametrize("op", ["import", "import-replacement", "read", "refresh", "discard", "remove-pending-replace"])
def test_any_other_step_needs_a_person(op: str) -> None:
    digest = preview(BEFORE, BEFORE)
    part = find(digest, f"{NAME}-kms-policy-1")
    part["op"] = op
    assert refused(judge(digest)) == {f"{NAME}-kms-policy-1": (op, f"{op} of {POLICY}")}


def test_a_changed_trust_policy_needs_a_person() -> None:
    digest = preview(BEFORE, BEFORE)
    role = find(digest, f"{NAME}-role")
    digest["steps"][digest["steps"].index(role)] = step("update", ROLE, f"{NAME}-role", role_inputs(),
                                                        role_inputs("another-external-id"))
    op, why = refused(judge(digest))[f"{NAME}-role"]
    assert op == "update" and "assumeRolePolicy changed" in why


def test_an_atlas_setting_needs_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    ear = "mongodbatlas:index/encryptionAtRest:EncryptionAtRest"
    old: dict[str, Any] = {"projectId": ATLAS_PROJECT, "awsKmsConfig": {"enabled": True, "customerMasterKeyId": KEY_ARN}}
    new = copy.deepcopy(old)
    new["awsKmsConfig"]["requirePrivateNetworking"] = True
    digest["steps"].append(step("update", ear, f"{NAME}-encryption-at-rest", old, new))
    why = refused(judge(digest))[f"{NAME}-encryption-at-rest"][1]
    assert "awsKmsConfig changed" in why


def test_a_changed_principal_needs_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    key = find(digest, f"{NAME}-key")
    key["newState"]["inputs"]["policy"] = key_document(AFTER_ADDED, (f"arn:aws:iam::{ACCOUNT}:role/someone-else",))
    assert "Principal changed" in refused(judge(digest))[f"{NAME}-key"][1]


@pytest.mark.parametrize("operator", ["NotIpAddress", "IpAddressIfExists", "ForAnyValue:IpAddress"])
def test_a_changed_condition_operator_needs_a_person(operator: str) -> None:
    digest = preview(BEFORE, AFTER_ADDED)

    def swap(doc: dict[str, Any]) -> None:
        condition = doc["Statement"][0]["Condition"]
        condition[operator] = condition.pop("IpAddress")

    edit_document(find(digest, f"{NAME}-kms-policy-1"), swap)
    assert "condition operator changed" in refused(judge(digest))[f"{NAME}-kms-policy-1"][1]


def test_an_added_condition_key_or_statement_needs_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    edit_document(find(digest, f"{NAME}-kms-policy-1"),
                  lambda d: d["Statement"][0]["Condition"]["IpAddress"].update({"aws:VpcSourceIp": ["10.0.0.0/8"]}))
    edit_document(find(digest, f"{NAME}-key"), lambda d: d["Statement"].append(
        {"Sid": "Debug", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}))
    why = refused(judge(digest))
    assert "condition IpAddress aws:VpcSourceIp added" in why[f"{NAME}-kms-policy-1"][1]
    assert "statement Debug added" in why[f"{NAME}-key"][1]


def test_unprotecting_the_key_needs_a_person_even_as_a_same_step() -> None:
    """A preview shows a `same` step whose `protect` changed even without `--show-sames`."""
    digest = preview(BEFORE, AFTER_ADDED)
    key = find(digest, f"{NAME}-key")
    key["oldState"]["protect"], key["newState"]["protect"] = True, False
    assert refused(judge(digest)) == {f"{NAME}-key": ("update", "protect changed (True -> False)")}
    digest = preview(BEFORE, BEFORE)
    key = find(digest, f"{NAME}-key")
    key["oldState"]["protect"], key["newState"]["retainOnDelete"] = True, True
    assert refused(judge(digest)) == {f"{NAME}-key": ("same", "protect changed (True -> False); "
                                                              "retainOnDelete changed (False -> True)")}


def test_a_secret_document_needs_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    find(digest, f"{NAME}-kms-policy-1")["newState"]["inputs"]["policy"] = "[secret]"
    assert "secret" in refused(judge(digest))[f"{NAME}-kms-policy-1"][1]


def test_an_unknown_document_needs_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    find(digest, f"{NAME}-kms-policy-1")["newState"]["inputs"]["policy"] = UNKNOWN
    assert "not known" in refused(judge(digest))[f"{NAME}-kms-policy-1"][1]


def test_only_the_change_that_needs_a_person_is_printed() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    edit_document(find(digest, f"{NAME}-kms-policy-1"), lambda d: d["Statement"][0].update(Resource="*"))
    verdict = judge(digest)
    assert [line.split("  ")[0] for line in verdict.lines()] == urns(digest, f"{NAME}-kms-policy-1")


# -- the split's parts: only whole parts of the same shape, attached to the same role -------------------


def grown() -> dict[str, Any]:
    return preview(atlas_addresses(TWO_PARTS), atlas_addresses(THREE_PARTS))


def test_a_created_part_with_another_statement_needs_a_person() -> None:
    digest = grown()
    edit_document(find(digest, f"{NAME}-kms-policy-3"), lambda d: d["Statement"][0]["Action"].append("kms:ReEncrypt*"))
    op, why = refused(judge(digest))[f"{NAME}-kms-policy-3"]
    assert op == "create" and "Action added kms:ReEncrypt*" in why


def test_a_created_part_with_a_private_address_needs_a_person() -> None:
    digest = grown()
    edit_document(find(digest, f"{NAME}-kms-policy-3"),
                  lambda d: d["Statement"][0]["Condition"]["IpAddress"]["aws:SourceIp"].append("192.168.0.0/24"))
    assert "192.168.0.0/24 is not a narrow public range" in refused(judge(digest))[f"{NAME}-kms-policy-3"][1]


def test_a_created_attachment_to_another_role_needs_a_person() -> None:
    digest = grown()
    find(digest, f"{NAME}-kms-policy-3-attachment")["newState"]["inputs"]["role"] = "admin"
    op, why = refused(judge(digest))[f"{NAME}-kms-policy-3-attachment"]
    assert op == "create" and "another role" in why


def test_a_created_attachment_of_a_known_policy_needs_a_person() -> None:
    digest = grown()
    find(digest, f"{NAME}-kms-policy-3-attachment")["newState"]["inputs"]["policyArn"] = \
        "arn:aws:iam::aws:policy/AdministratorAccess"
    assert "policyArn" in refused(judge(digest))[f"{NAME}-kms-policy-3-attachment"][1]


def test_a_part_created_without_its_attachment_needs_a_person() -> None:
    digest = grown()
    digest["steps"].remove(find(digest, f"{NAME}-kms-policy-3-attachment"))
    assert "without its attachment" in refused(judge(digest))[f"{NAME}-kms-policy-3"][1]


def test_a_created_part_with_other_tags_needs_a_person() -> None:
    digest = grown()
    find(digest, f"{NAME}-kms-policy-3")["newState"]["inputs"]["tags"] = {"owner": "someone"}
    assert "tags" in refused(judge(digest))[f"{NAME}-kms-policy-3"][1]


def test_a_created_part_needs_an_existing_part_to_compare_with() -> None:
    """Without `--show-sames` an unchanged part is not in the digest; a part with nothing to compare
    with is never guessed."""
    digest = preview(atlas_addresses(TWO_PARTS), atlas_addresses(THREE_PARTS), show_sames=False)
    for name in (f"{NAME}-kms-policy-1", f"{NAME}-kms-policy-2"):
        digest["steps"] = [s for s in digest["steps"] if not s["urn"].endswith(f"::{name}")]
    why = refused(judge(digest))
    assert "--show-sames" in why[f"{NAME}-kms-policy-3"][1]


def test_the_private_path_policy_is_not_an_address_part() -> None:
    digest = grown()
    private = canonical_json({"Version": "2012-10-17", "Statement": []})
    digest["steps"] += [
        step("create", POLICY, f"{NAME}-kms-policy-private", None, {**part_inputs(9, private), "description": "x"}),
        step("create", ATTACHMENT, f"{NAME}-kms-policy-private-attachment", None, attachment_inputs(9, created=True))]
    why = refused(judge(digest))
    assert set(why) == {f"{NAME}-kms-policy-private", f"{NAME}-kms-policy-private-attachment"}


def test_deleting_anything_but_a_part_of_the_split_needs_a_person() -> None:
    digest = preview(BEFORE, BEFORE)
    digest["steps"] += [step("delete", KEY_POLICY, f"{NAME}-key-policy", key_policy_inputs(key_document(BEFORE)), None),
                        step("delete", POLICY, f"{NAME}-kms-policy-private", part_inputs(9, "{}"), None)]
    assert set(refused(judge(digest))) == {f"{NAME}-key-policy", f"{NAME}-kms-policy-private"}


def test_deleting_every_part_needs_a_person() -> None:
    """That is the public path going away (`network: private`), not an address change."""
    digest = preview(BEFORE, BEFORE)
    for name, type_ in ((f"{NAME}-kms-policy-1", POLICY), (f"{NAME}-kms-policy-1-attachment", ATTACHMENT)):
        found = find(digest, name)
        digest["steps"][digest["steps"].index(found)] = step("delete", type_, name, found["oldState"]["inputs"], None)
    assert set(refused(judge(digest))) == {f"{NAME}-kms-policy-1", f"{NAME}-kms-policy-1-attachment"}


def test_a_part_deleted_without_its_attachment_needs_a_person() -> None:
    digest = preview(atlas_addresses(THREE_PARTS), atlas_addresses(TWO_PARTS))
    digest["steps"].remove(find(digest, f"{NAME}-kms-policy-3-attachment"))
    assert "without its attachment" in refused(judge(digest))[f"{NAME}-kms-policy-3"][1]


# -- the role's exclusive attachments and inline policies: only the parts created or deleted ----------------

ROLE_ATTACHMENTS = f"{NAME}-role-attachments"
ROLE_INLINE = f"{NAME}-role-inline-policies"


def listed(digest: dict[str, Any], name: str, state: str = "newState") -> list[Any]:
    inputs = find(digest, name)[state]["inputs"]
    return inputs["policyArns"] if "policyArns" in inputs else inputs["policyNames"]


def test_the_digests_list_the_programs_own_parts_in_the_exclusive_attachments() -> None:
    digest = grown()
    assert listed(digest, ROLE_ATTACHMENTS, "oldState") == [policy_arn(2), policy_arn(1)]
    assert listed(digest, ROLE_ATTACHMENTS) == [UNKNOWN, policy_arn(2), policy_arn(1)]
    assert find(digest, ROLE_ATTACHMENTS)["op"] == "update" and find(digest, ROLE_INLINE)["op"] == "same"
    assert find(preview(BEFORE, AFTER_ADDED), ROLE_ATTACHMENTS)["op"] == "same"


def test_a_grown_split_adds_the_created_parts_arn_to_the_exclusive_attachments_and_goes_ahead() -> None:
    digest = grown()
    verdict = judge(digest)
    assert verdict.refusals == ()
    assert urns(digest, ROLE_ATTACHMENTS)[0] in verdict.targets


def test_the_created_parts_arn_printed_as_null_by_an_older_pulumi_goes_ahead_too() -> None:
    """Before 3.x printed an unknown as the placeholder string, a computed array element was `null`."""
    digest = grown()
    listed(digest, ROLE_ATTACHMENTS)[0] = None
    assert judge(digest).refusals == ()


def test_a_shrunk_split_removes_the_deleted_parts_arn_from_the_exclusive_attachments_and_goes_ahead() -> None:
    digest = preview(atlas_addresses(THREE_PARTS), atlas_addresses(TWO_PARTS))
    assert listed(digest, ROLE_ATTACHMENTS, "oldState") == [policy_arn(3), policy_arn(2), policy_arn(1)]
    assert listed(digest, ROLE_ATTACHMENTS) == [policy_arn(2), policy_arn(1)]
    verdict = judge(digest)
    assert verdict.refusals == ()
    assert urns(digest, ROLE_ATTACHMENTS)[0] in verdict.targets


def test_a_deleted_parts_arn_is_known_from_its_state_without_its_attachments_inputs() -> None:
    """The part's ARN is its id and its `arn` output; the attachment's old `policyArn` says the same."""
    digest = preview(atlas_addresses(THREE_PARTS), atlas_addresses(TWO_PARTS))
    part = find(digest, f"{NAME}-kms-policy-3")
    part["oldState"]["id"] = policy_arn(3)
    find(digest, f"{NAME}-kms-policy-3-attachment")["oldState"]["inputs"]["policyArn"] = "[secret]"
    assert judge(digest).refusals == ()


def test_the_exclusive_inline_policies_stay_the_same_when_addresses_change() -> None:
    """The program writes one inline policy (all of a role's inline policies share 10,240 characters)."""
    digest = preview(BEFORE, AFTER_ADDED, kind="inline", key="foreign")
    assert find(digest, ROLE_INLINE)["op"] == "same" and listed(digest, ROLE_INLINE) == [inline_name(1)]
    assert judge(digest).exit_code == 0


@pytest.mark.parametrize("known", [True, False], ids=["name-known", "name-unknown"])
def test_the_exclusive_inline_policies_follow_an_inline_part_created_alongside(known: bool) -> None:
    """Were the inline split to grow, the list gains the created part's auto-name (known in a preview, or not)."""
    digest = preview(BEFORE, AFTER_ADDED, kind="inline", key="foreign")
    document = find(digest, f"{NAME}-kms-inline-1")["newState"]["inputs"]["policy"]
    digest["steps"].append(step("create", INLINE, f"{NAME}-kms-inline-2", None, inline_inputs(2, document)))
    found = find(digest, ROLE_INLINE)
    new = exclusive_inline_inputs([inline_name(2) if known else UNKNOWN, inline_name(1)])
    digest["steps"][digest["steps"].index(found)] = step("update", INLINE_EXCLUSIVE, ROLE_INLINE,
                                                         found["oldState"]["inputs"], new)
    verdict = judge(digest)
    assert verdict.refusals == ()
    assert urns(digest, ROLE_INLINE)[0] in verdict.targets


@pytest.mark.parametrize(("edit", "why"), [
    (lambda arns: arns.append("arn:aws:iam::aws:policy/AdministratorAccess"),
     "adds 'arn:aws:iam::aws:policy/AdministratorAccess', which is not a part created in this update"),
    (lambda arns: arns.append(UNKNOWN), "lists 2 values not known in the preview for 1 part created"),
    (lambda arns: arns.remove(policy_arn(1)),
     f"drops {policy_arn(1)!r}, which is not a part deleted in this update"),
    (lambda arns: arns.__setitem__(0, policy_arn(1)), "does not list the created part atlas-kms-kms-policy-3"),
], ids=["another-policy", "two-unknowns", "an-existing-part-dropped", "the-created-part-missing"])
def test_the_exclusive_attachments_changing_otherwise_need_a_person(edit: Callable[[list[Any]], None], why: str) -> None:
    digest = grown()
    edit(listed(digest, ROLE_ATTACHMENTS))
    op, reasons = refused(judge(digest))[ROLE_ATTACHMENTS]
    assert op == "update" and why in reasons


def test_an_arn_added_without_a_part_created_needs_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    found = find(digest, ROLE_ATTACHMENTS)
    new = exclusive_attachments_inputs([policy_arn(1), UNKNOWN])
    digest["steps"][digest["steps"].index(found)] = step("update", ATTACHMENTS_EXCLUSIVE, ROLE_ATTACHMENTS,
                                                         found["oldState"]["inputs"], new)
    assert "lists 1 value not known in the preview for 0 parts created" in refused(judge(digest))[ROLE_ATTACHMENTS][1]


def test_the_exclusive_attachments_of_another_role_need_a_person() -> None:
    digest = grown()
    find(digest, ROLE_ATTACHMENTS)["newState"]["inputs"]["roleName"] = "admin"
    assert f"roleName changed ({ROLE_NAME!r} -> 'admin')" in refused(judge(digest))[ROLE_ATTACHMENTS][1]


def test_exclusive_attachments_not_known_as_a_whole_need_a_person() -> None:
    """Never guessed: a list unknown as a whole could hold anything besides the created part."""
    for unknown in (UNKNOWN, None):
        digest = grown()
        inputs = find(digest, ROLE_ATTACHMENTS)["newState"]["inputs"]
        if unknown is None:
            del inputs["policyArns"]
        else:
            inputs["policyArns"] = unknown
        assert "the new policyArns is not known in the preview" in refused(judge(digest))[ROLE_ATTACHMENTS][1]


def test_another_input_of_the_exclusive_attachments_needs_a_person() -> None:
    digest = grown()
    found = find(digest, ROLE_ATTACHMENTS)
    found["newState"]["inputs"]["region"] = "us-east-1"
    found["diffReasons"] = [*found["diffReasons"], "region"]
    assert "region changed" in refused(judge(digest))[ROLE_ATTACHMENTS][1]


def test_a_part_deleted_with_its_arn_unknown_needs_a_person() -> None:
    digest = preview(atlas_addresses(THREE_PARTS), atlas_addresses(TWO_PARTS))
    find(digest, f"{NAME}-kms-policy-3-attachment")["oldState"]["inputs"]["policyArn"] = "[secret]"
    why = refused(judge(digest))[ROLE_ATTACHMENTS][1]
    assert f"drops {policy_arn(3)!r}, which is not a part deleted in this update" in why


def test_creating_or_deleting_the_exclusive_attachments_needs_a_person() -> None:
    """Their first write removes every grant the program did not make: a person runs that one."""
    digest = preview(BEFORE, BEFORE)
    attachments, inline = find(digest, ROLE_ATTACHMENTS), find(digest, ROLE_INLINE)
    digest["steps"][digest["steps"].index(attachments)] = step("create", ATTACHMENTS_EXCLUSIVE, ROLE_ATTACHMENTS, None,
                                                               attachments["newState"]["inputs"])
    digest["steps"][digest["steps"].index(inline)] = step("delete", INLINE_EXCLUSIVE, ROLE_INLINE,
                                                          inline["oldState"]["inputs"], None)
    assert {name: op for name, (op, _) in refused(judge(digest)).items()} == {ROLE_ATTACHMENTS: "create",
                                                                               ROLE_INLINE: "delete"}


def test_the_exclusive_inline_policies_adding_a_name_no_part_has_need_a_person() -> None:
    digest = preview(BEFORE, AFTER_ADDED, kind="inline", key="foreign")
    found = find(digest, ROLE_INLINE)
    new = exclusive_inline_inputs([inline_name(1), "mongo_setup_policy"])
    digest["steps"][digest["steps"].index(found)] = step("update", INLINE_EXCLUSIVE, ROLE_INLINE,
                                                         found["oldState"]["inputs"], new)
    why = refused(judge(digest))[ROLE_INLINE][1]
    assert "adds 'mongo_setup_policy', which is not a part created in this update" in why


# -- the command: `python -m drift guard PREVIEW_JSON` ---------------------------------------------------


def guard(tmp_path: Path, digest: Any, *extra: str) -> tuple[int, list[str]]:
    path = tmp_path / "preview.json"
    path.write_text(digest if isinstance(digest, str) else json.dumps(digest, indent=4))
    lines: list[str] = []
    return run(["guard", str(path), *extra], out=lines.append), lines


def test_the_command_prints_the_targets_and_exits_0(tmp_path: Path) -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    assert guard(tmp_path, digest) == (0, urns(digest, f"{NAME}-kms-policy-1", f"{NAME}-key"))


def test_the_command_prints_nothing_when_nothing_changes(tmp_path: Path) -> None:
    assert guard(tmp_path, preview(BEFORE, BEFORE)) == (0, [])


def test_the_command_prints_what_needs_a_person_and_exits_1(tmp_path: Path) -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    find(digest, f"{NAME}-key")["newState"]["inputs"]["description"] = "something else"
    assert guard(tmp_path, digest) == (1, [f"{child_urn(KEY, NAME + '-key')}  update  the key's description changed"])


def test_the_command_reads_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    digest = preview(BEFORE, AFTER_ADDED)
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(digest)))
    lines: list[str] = []
    assert run(["guard", "-"], out=lines.append) == 0
    assert lines == urns(digest, f"{NAME}-kms-policy-1", f"{NAME}-key")


def test_the_command_json_verdict(tmp_path: Path) -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    edit_document(find(digest, f"{NAME}-kms-policy-1"), lambda d: d["Statement"][0].update(Resource="*"))
    code, lines = guard(tmp_path, digest, "--json")
    body = json.loads("\n".join(lines))
    assert code == 1 and body["status"] == "refused" and body["exitCode"] == 1
    assert body["targets"] == urns(digest, f"{NAME}-key")
    [refusal] = body["refusals"]
    assert refusal["urn"] == urns(digest, f"{NAME}-kms-policy-1")[0] and refusal["op"] == "update"
    assert any("Resource changed" in r for r in refusal["reasons"])


@pytest.mark.parametrize(("content", "why"), [
    (None, "cannot read"),
    ("{not json", "not JSON"),
    ("[]", "not a preview digest"),
    (json.dumps({"config": {}}), "no steps list"),
    (json.dumps({"steps": {}}), "no steps list"),
    (json.dumps({"steps": [{"urn": STACK_URN}]}), "step 1 has no op"),
    (json.dumps({"steps": [{"op": "same"}]}), "step 1 has no urn"),
    (json.dumps({"steps": [{"op": "update", "urn": "bucket"}]}), "step 1's urn 'bucket' is not a Pulumi URN"),
])
def test_a_document_it_cannot_read_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None,
                                          why: str) -> None:
    path = tmp_path / "preview.json"
    if content is not None:
        path.write_text(content)
    lines: list[str] = []
    assert run(["guard", str(path)], out=lines.append) == 2
    assert lines == []
    assert why in capsys.readouterr().err


def test_a_preview_that_failed_cannot_be_judged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    digest["diagnostics"] = [{"urn": STACK_URN, "message": "error: an unhandled error occurred", "severity": "error"}]
    assert guard(tmp_path, digest)[0] == 2
    assert "the preview reported errors" in capsys.readouterr().err


def test_the_drift_command_is_unchanged_without_guard() -> None:
    with pytest.raises(SystemExit) as exc:
        run([])
    assert exc.value.code == 2  # argparse: one of --stack, --stack-file, --all-stacks is required


# -- `--summary FILE`: the verdict as markdown, for a job's summary page ----------------------------------


def summarised(tmp_path: Path, digest: Any, *extra: str) -> tuple[int, str]:
    page = tmp_path / "summary.md"
    page.write_text("# earlier steps\n")  # $GITHUB_STEP_SUMMARY is appended to
    code, _ = guard(tmp_path, digest, "--summary", str(page), *extra)
    return code, page.read_text().removeprefix("# earlier steps\n")


def drift_report(tmp_path: Path, findings: list[dict[str, Any]]) -> str:
    path = tmp_path / "drift.json"
    path.write_text(json.dumps({"schemaVersion": 2, "stack": STACK, "status": "drift", "exitCode": 1,
                                "findings": findings}))
    return str(path)


def test_the_summary_names_each_address_added_and_where_atlas_uses_it(tmp_path: Path) -> None:
    report = drift_report(tmp_path, [
        {"kind": "missing", "layer": "role policy", "cidrs": [f"{ADDED}/32"], "origins": ["cluster payments"], "future": False},
        {"kind": "missing", "layer": "key policy", "cidrs": [f"{ADDED}/32"], "origins": ["cluster payments"], "future": False},
        {"kind": "warning", "layer": "role policy", "cidrs": ["203.0.113.200/32"], "origins": ["gateway g aws/us-east-1"]}])
    code, page = summarised(tmp_path, preview(BEFORE, AFTER_ADDED), "--report", report)
    assert code == 0
    assert page.startswith(f"### atlas-kms heal: stack `{STACK}`\n")
    assert "Only Atlas's address lists change: `pulumi up` applies 2 changes without a person." in page
    assert f"| {ADDED}/32 | added | cluster payments |" in page
    assert "203.0.113.200" not in page
    assert f"`{NAME}-kms-policy-1` (update), `{NAME}-key` (update)" in page


def test_the_summary_names_each_address_removed(tmp_path: Path) -> None:
    [gone] = sorted(set(BEFORE) - set(AFTER_REMOVED))
    code, page = summarised(tmp_path, preview(BEFORE, AFTER_REMOVED))
    assert code == 0 and f"| {gone} | removed | no longer reported by Atlas |" in page


def test_an_address_moving_between_parts_is_no_change_of_atlass_list(tmp_path: Path) -> None:
    before, after = atlas_addresses(TWO_PARTS), atlas_addresses(THREE_PARTS)
    [added] = sorted(set(after) - set(before))
    page = summarised(tmp_path, preview(before, after))[1]
    assert [line for line in page.splitlines() if line.startswith("| ") and "address" not in line] == \
        [f"| {added} | added |  |"]


def test_the_summary_says_when_a_person_is_needed_and_why(tmp_path: Path) -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    find(digest, f"{NAME}-key")["newState"]["inputs"]["description"] = "a | b"
    code, page = summarised(tmp_path, digest)
    assert code == 1
    assert "**A person is needed**: nothing is applied." in page
    assert f"| `{NAME}-key` | update | the key's description changed |" in page


def test_the_summary_of_nothing_to_do_and_of_a_digest_that_cannot_be_read(tmp_path: Path) -> None:
    assert "Nothing to change" in summarised(tmp_path, preview(BEFORE, BEFORE))[1]
    code, page = summarised(tmp_path, "{not json")
    assert code == 2 and "**The preview could not be judged**: nothing is applied." in page


def test_an_unreadable_drift_report_leaves_only_the_origins_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, page = summarised(tmp_path, preview(BEFORE, AFTER_ADDED), "--report", str(tmp_path / "missing.json"))
    assert code == 0 and f"| {ADDED}/32 | added |  |" in page
    assert "the summary says nothing of where Atlas uses the addresses" in capsys.readouterr().err

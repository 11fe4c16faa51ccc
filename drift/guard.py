"""The guard: which changes of a `pulumi preview --json` are only Atlas's address list. Pure code.

`judge(digest)` reads Pulumi's preview digest (pulumi/pulumi pkg/display/json.go: `steps[]`, each with
`op`, `urn`, `oldState` and `newState` as apitype.ResourceV3) and accepts a step only when it can prove the
step changes nothing but the `aws:SourceIp` lists of the documents the component writes for Atlas's role
and key, every address in them a narrow public one (core.ips' own checks), or grows or shrinks the split
of the role's policy by whole parts of the same shape (and the role's exclusive list of its own grants by
exactly those parts). The accepted URNs are what `pulumi up --target`
needs; anything else is a `Refusal` that a person must look at. `main` is the thin command around it
(`python -m drift guard PREVIEW_JSON`): exit 0 accepted, 1 needs a person, 2 cannot read the digest.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.ips import AddressError, check_span, is_wide, to_span

# The component's type token (components/atlas_kms.py COMPONENT_TYPE; the tests check they agree). Kept
# here so that the guard, like the rest of drift, does not import Pulumi.
COMPONENT_TYPE = "atlas-kms:index:AtlasKmsEncryption"
# How a preview prints a value not known until the update (Pulumi's UnknownStringValue), and a secret.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET = "[secret]"

POLICY = "aws:iam/policy:Policy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
INLINE = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
ATTACHMENTS_EXCLUSIVE = "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
INLINE_EXCLUSIVE = "aws:iam/rolePoliciesExclusive:RolePoliciesExclusive"

# The resources whose policy document may change, the input holding it, and how a reason names them.
DOCUMENTS: dict[str, tuple[str, str]] = {
    POLICY: ("policy", "the policy's"),
    INLINE: ("policy", "the inline policy's"),
    KEY: ("policy", "the key's"),
    KEY_POLICY: ("policy", "the key policy's"),
}
# The only operators whose `aws:SourceIp` list is Atlas's address list: what core/policies.py writes
# (`IpAddress`), and its set-operator spelling when both sides use it.
IP_OPERATORS = ("IpAddress", "ForAnyValue:IpAddress")
SOURCE_IP = "aws:SourceIp"
# Only the program's grants stay on Atlas's role (components/atlas_kms.py `_exclusive_policies`): by type, the
# suffix of the resource's name after the component's, the input listing the program's own grants, and the
# kind of part of the split listed there (managed parts by ARN, inline parts by name).
EXCLUSIVE: dict[str, tuple[str, str, str]] = {
    ATTACHMENTS_EXCLUSIVE: ("-role-attachments", "policyArns", "part"),
    INLINE_EXCLUSIVE: ("-role-inline-policies", "policyNames", "inline"),
}
# Inputs a created part may have of its own: the provider's auto-name, its numbered description, its document.
OWN_INPUTS = {POLICY: {"name", "namePrefix", "description", "policy"}, INLINE: {"name", "namePrefix", "policy"},
              ATTACHMENT: {"policyArn"}}
# Resource options a preview shows even on a `same` step: unprotecting the key is never an address change.
FLAGS = ("protect", "retainOnDelete")
SHOW_SAMES = "run `pulumi preview --json --show-sames` so that unchanged parts are in the digest"


class DigestError(ValueError):
    """The preview digest cannot be read: the guard decides nothing (exit 2)."""


@dataclass(frozen=True)
class Refusal:
    """One step that needs a person, and why."""

    urn: str
    op: str
    reasons: tuple[str, ...]

    def line(self) -> str:
        return f"{self.urn}  {self.op}  {'; '.join(self.reasons)}"


@dataclass(frozen=True)
class Verdict:
    """`targets`: the URNs of the changes proven to be only Atlas's address list, in the digest's order;
    `refusals`: every step that needs a person. Exit 0 only when there is no refusal."""

    targets: tuple[str, ...] = ()
    refusals: tuple[Refusal, ...] = ()

    @property
    def exit_code(self) -> int:
        return 1 if self.refusals else 0

    def lines(self) -> list[str]:
        """What the command prints: the targets, one a line; or, when a person is needed, one line per refusal."""
        return [r.line() for r in self.refusals] if self.refusals else list(self.targets)

    def to_json(self) -> dict[str, Any]:
        return {"schemaVersion": 1, "status": "refused" if self.refusals else "accepted", "exitCode": self.exit_code,
                "targets": list(self.targets),
                "refusals": [{"urn": r.urn, "op": r.op, "reasons": list(r.reasons)} for r in self.refusals]}


# -- reading the digest ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestStep:
    index: int
    op: str
    urn: str
    types: tuple[str, ...]  # the URN's type chain: parents' types, then the resource's own
    name: str
    old: Mapping[str, Any] | None  # the states' inputs
    new: Mapping[str, Any] | None
    parent: str | None
    diff_keys: frozenset[str] = field(default_factory=frozenset)
    flags_changed: tuple[str, ...] = ()  # resource options of the state that differ: `protect`, `retainOnDelete`
    old_arn: str | None = None  # the old state's ARN (its `arn` output, or an id that is an ARN), when known

    @property
    def type(self) -> str:
        return self.types[-1]

    @property
    def is_child(self) -> bool:
        """A direct child of the atlas-kms component."""
        return len(self.types) >= 2 and self.types[-2] == COMPONENT_TYPE

    @property
    def component(self) -> str | None:
        """The name of the component instance the resource belongs to, from its parent's URN."""
        if self.parent is None or not self.is_child:
            return None
        parsed = _parse_urn(self.parent)
        if parsed is None or parsed[0][-1] != COMPONENT_TYPE or parsed[0] != self.types[:-1]:
            return None
        return parsed[1]

    @property
    def inputs(self) -> Mapping[str, Any] | None:
        return self.new if self.new is not None else self.old


def _parse_urn(urn: str) -> tuple[tuple[str, ...], str] | None:
    """(type chain, name) of `urn:pulumi:STACK::PROJECT::PARENT_TYPE$TYPE::NAME`; None if it is not one."""
    parts = urn.split("::", 3)
    if len(parts) != 4 or not parts[0].startswith("urn:pulumi:") or not parts[2] or not parts[3]:
        return None
    return tuple(parts[2].split("$")), parts[3]


def _inputs(state: Any) -> Mapping[str, Any] | None:
    if not isinstance(state, Mapping):
        return None
    inputs = state.get("inputs")
    return inputs if isinstance(inputs, Mapping) else {}


def digest_steps(digest: Mapping[str, Any]) -> list[DigestStep]:
    """The digest's steps, read as the guard reads them. Raises DigestError."""
    return _steps(digest)


def document_of(inputs: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    """The parsed policy document of a state's inputs, None when the preview does not show it."""
    return _document(inputs, key, "")[0]


def _steps(digest: Mapping[str, Any]) -> list[DigestStep]:
    if not isinstance(digest, Mapping):
        raise DigestError("not a preview digest (expected the JSON object `pulumi preview --json` prints)")
    raw = digest.get("steps")
    if not isinstance(raw, list):
        raise DigestError("no steps list: not the output of `pulumi preview --json`")
    errors = [d for d in digest.get("diagnostics") or [] if isinstance(d, Mapping) and d.get("severity") == "error"]
    if errors:
        raise DigestError("the preview reported errors, so its steps may be incomplete: "
                          + " | ".join(str(d.get("message", "")).strip() for d in errors))
    steps = []
    for i, item in enumerate(raw, start=1):
        if not isinstance(item, Mapping):
            raise DigestError(f"step {i} is not an object")
        op, urn = item.get("op"), item.get("urn")
        if not isinstance(op, str) or not op:
            raise DigestError(f"step {i} has no op")
        if not isinstance(urn, str) or not urn:
            raise DigestError(f"step {i} has no urn")
        parsed = _parse_urn(urn)
        if parsed is None:
            raise DigestError(f"step {i}'s urn {urn!r} is not a Pulumi URN")
        parent = None
        for state in (item.get("newState"), item.get("oldState")):
            if isinstance(state, Mapping) and isinstance(state.get("parent"), str):
                parent = state["parent"]
                break
        diff_keys = {k for k in item.get("diffReasons") or [] if isinstance(k, str)}
        diff_keys |= {re.split(r"[.\[]", k, maxsplit=1)[0] for k in item.get("detailedDiff") or {} if isinstance(k, str)}
        old, new = item.get("oldState"), item.get("newState")
        flags = tuple(f"{flag} changed ({old.get(flag, False)} -> {new.get(flag, False)})" for flag in FLAGS
                      if isinstance(old, Mapping) and isinstance(new, Mapping)
                      and bool(old.get(flag, False)) != bool(new.get(flag, False)))
        steps.append(DigestStep(i, op, urn, parsed[0], parsed[1], _inputs(old), _inputs(new), parent, frozenset(diff_keys),
                                flags, _arn_of(old)))
    return steps


def _arn_of(state: Any) -> str | None:
    """The ARN a state holds: its `arn` output, or its id (an IAM policy's id is its ARN)."""
    if not isinstance(state, Mapping):
        return None
    outputs = state.get("outputs")
    for value in ((outputs or {}).get("arn") if isinstance(outputs, Mapping) else None, state.get("id")):
        if _known(value) and str(value).startswith("arn:"):
            return str(value)
    return None


def _known(value: Any) -> bool:
    """A value the preview shows: not unknown (the placeholder, or `null` in an older Pulumi), not secret."""
    return isinstance(value, str) and value not in (UNKNOWN, SECRET)


# -- documents: equal but for Atlas's address lists ---------------------------------------------------------


def _statements(doc: Mapping[str, Any]) -> list[Any]:
    found = doc.get("Statement")
    return list(found) if isinstance(found, list) else [found] if found is not None else []


def _as_set(value: Any) -> set[str]:
    items = value if isinstance(value, list) else [value]
    return {json.dumps(v, sort_keys=True) if not isinstance(v, str) else v for v in items}


def _masked_condition(stmt: Mapping[str, Any]) -> Any:
    """The statement's Condition with Atlas's address lists taken out (Allow statements only)."""
    condition = stmt.get("Condition")
    if not isinstance(condition, Mapping) or stmt.get("Effect") != "Allow":
        return condition
    out: dict[str, Any] = {}
    for operator, block in condition.items():
        if operator in IP_OPERATORS and isinstance(block, Mapping) and SOURCE_IP in block:
            out[operator] = {**block, SOURCE_IP: "<Atlas's addresses>"}
        else:
            out[operator] = block
    return out


def _masked(stmt: Any, *, with_sid: bool = True) -> str:
    """A statement as text with its address lists taken out: two equal ones differ only in those lists."""
    if not isinstance(stmt, Mapping):
        return json.dumps(stmt, sort_keys=True)
    body = {k: v for k, v in stmt.items() if k != "Condition" and (with_sid or k != "Sid")}
    if "Condition" in stmt:
        body["Condition"] = _masked_condition(stmt)
    return json.dumps(body, sort_keys=True)


def address_lists(doc: Mapping[str, Any]) -> list[list[Any]]:
    """Every `aws:SourceIp` list of an `IpAddress` (or `ForAnyValue:IpAddress`) condition of an Allow statement."""
    found = []
    for stmt in _statements(doc):
        if not isinstance(stmt, Mapping) or stmt.get("Effect") != "Allow" or not isinstance(stmt.get("Condition"), Mapping):
            continue
        for operator in IP_OPERATORS:
            block = stmt["Condition"].get(operator)
            if isinstance(block, Mapping) and SOURCE_IP in block:
                value = block[SOURCE_IP]
                found.append(list(value) if isinstance(value, list) else [value])
    return found


def _sid(stmt: Any, position: int) -> str:
    sid = stmt.get("Sid") if isinstance(stmt, Mapping) else None
    return sid if isinstance(sid, str) and sid else f"#{position + 1}"


def _condition_reasons(old: Any, new: Any, *, mask: bool) -> list[str]:
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        if old is not None and new is None:
            return ["condition dropped"]
        if old is None and new is not None:
            return ["condition added"]
        return ["condition changed"]
    reasons = []
    dropped, added = sorted(set(old) - set(new)), sorted(set(new) - set(old))
    if dropped and added:
        reasons.append(f"condition operator changed ({', '.join(dropped)} -> {', '.join(added)})")
    else:
        reasons += [f"condition {op} dropped" for op in dropped] + [f"condition {op} added" for op in added]
    for op in sorted(set(old) & set(new)):
        before, after = old[op], new[op]
        if not isinstance(before, Mapping) or not isinstance(after, Mapping):
            if before != after:
                reasons.append(f"condition {op} changed")
            continue
        reasons += [f"condition {op} {key} dropped" for key in sorted(set(before) - set(after))]
        reasons += [f"condition {op} {key} added" for key in sorted(set(after) - set(before))]
        for key in sorted(set(before) & set(after)):
            if before[key] != after[key] and not (mask and op in IP_OPERATORS and key == SOURCE_IP):
                reasons.append(f"condition {op} {key} changed")
    return reasons


def statement_reasons(old: Any, new: Any, *, with_sid: bool = True) -> list[str]:
    """Why two statements differ other than in Atlas's address lists (nothing when only those differ)."""
    if _masked(old, with_sid=with_sid) == _masked(new, with_sid=with_sid):
        return []
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return ["statement changed"]
    reasons = []
    for key in sorted(set(old) | set(new)):
        if key == "Condition" or (key == "Sid" and not with_sid):
            continue
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key in ("Action", "NotAction") and before is not None and after is not None:
            added, removed = sorted(_as_set(after) - _as_set(before)), sorted(_as_set(before) - _as_set(after))
            reasons += [f"{key} added {', '.join(added)}"] if added else []
            reasons += [f"{key} removed {', '.join(removed)}"] if removed else []
            if not added and not removed:
                reasons.append(f"{key} rewritten")
        elif key in ("Resource", "NotResource") and after == "*":
            reasons.append(f"{key} changed to *")
        elif before is None:
            reasons.append(f"{key} added")
        elif after is None:
            reasons.append(f"{key} dropped")
        else:
            reasons.append(f"{key} changed")
    if old.get("Condition") != new.get("Condition"):
        # Atlas's address lists are only those of Allow statements: in a Deny a changed list is a change.
        reasons += _condition_reasons(old.get("Condition"), new.get("Condition"),
                                      mask=old.get("Effect") == new.get("Effect") == "Allow")
    return reasons or ["statement changed"]


def document_reasons(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why `new` is not `old` with other address lists: nothing when it is."""
    reasons = [f"{key} changed" for key in sorted(set(old) | set(new)) if key != "Statement" and old.get(key) != new.get(key)]
    before, after = _statements(old), _statements(new)
    sids_before, sids_after = [_sid(s, i) for i, s in enumerate(before)], [_sid(s, i) for i, s in enumerate(after)]
    if len(set(sids_before)) == len(before) and len(set(sids_after)) == len(after):
        by_sid = dict(zip(sids_before, before, strict=True))
        for sid, stmt in zip(sids_after, after, strict=True):
            if sid not in by_sid:
                reasons.append(f"statement {sid} added")
            else:
                reasons += [f"statement {sid}: {r}" for r in statement_reasons(by_sid[sid], stmt)]
        reasons += [f"statement {sid} removed" for sid in sids_before if sid not in set(sids_after)]
        if not reasons and sids_before != [s for s in sids_after if s in by_sid]:
            reasons.append("statements reordered")
    else:
        for i, (o, n) in enumerate(zip(before, after, strict=False)):
            reasons += [f"statement {_sid(n, i)}: {r}" for r in statement_reasons(o, n)]
        reasons += [f"statement {_sid(s, i)} added" for i, s in enumerate(after) if i >= len(before)]
        reasons += [f"statement {_sid(s, i)} removed" for i, s in enumerate(before) if i >= len(after)]
    return reasons


def address_reasons(doc: Mapping[str, Any]) -> list[str]:
    """Every entry of the document's address lists that is not a narrow public range (core.ips' checks)."""
    reasons: list[str] = []
    for entries in address_lists(doc):
        if not entries:
            reasons.append("an empty address list (it denies Atlas everything)")
        for entry in entries:
            reason = address_problem(entry)
            if reason and reason not in reasons:
                reasons.append(reason)
    return reasons


def address_problem(entry: Any) -> str | None:
    """Why Atlas may not be allowed from `entry` without a person: None for a narrow public range.

    The program's own checks (core.ips): a CIDR as the program writes it (`to_span`: no host bits), not in
    a range Atlas never calls from (private, loopback, link-local, multicast, 100.64/10, reserved,
    unspecified), no wider than `WIDEST_PREFIX` (/16, IPv6 /48): the guard has no `allowWideCidrs`.
    """
    try:
        span = to_span(entry, "address")
    except AddressError:
        return f"{entry!r} is not an address or CIDR the program writes"
    where = "address"
    try:
        check_span(span, where)
    except AddressError as exc:
        # "<where>: <cidr> is in the <name> range <special>; ..." or "<where>: <cidr> is wider than /16 (...)".
        detail = str(exc).removeprefix(f"{where}: {span.cidr} ").split(";")[0]
        if detail.startswith("is wider"):
            detail = detail.split(" (")[0]
        return f"{span.cidr} is not a narrow public range (it {detail})"
    if is_wide(span.cidr):  # check_span refuses these too; kept explicit, as the guard has no settings
        return f"{span.cidr} is not a narrow public range"
    return None


def _document(inputs: Mapping[str, Any] | None, key: str, side: str) -> tuple[Mapping[str, Any] | None, str | None]:
    """The parsed document of one side, or why it cannot be compared."""
    value = (inputs or {}).get(key)
    if value == SECRET:
        return None, f"the {side} document is secret in the preview ({SECRET}): it cannot be compared"
    if value == UNKNOWN:
        return None, f"the {side} document is not known in the preview"
    if not isinstance(value, str):
        return None, f"the {side} document is not in the preview"
    try:
        doc = json.loads(value)
    except ValueError:
        return None, f"the {side} document is not JSON"
    if not isinstance(doc, Mapping):
        return None, f"the {side} document is not a policy document"
    return doc, None


# -- the steps ---------------------------------------------------------------------------------------------

_PART = re.compile(r"-kms-policy-([1-9][0-9]*)$")
_ATTACHMENT = re.compile(r"-kms-policy-([1-9][0-9]*)-attachment$")
_INLINE = re.compile(r"-kms-inline-([1-9][0-9]*)$")


@dataclass(frozen=True)
class Part:
    """A resource of the split of the role's policy: `{name}-kms-policy-{i}` (managed), its
    `-attachment`, or `{name}-kms-inline-{i}` (components/atlas_kms.py `_role_policies`)."""

    component: str
    role: str  # "part", "attachment" or "inline"
    index: int


def part_of(step: DigestStep) -> Part | None:
    component = step.component
    if component is None or not step.name.startswith(f"{component}-"):
        return None
    rest = step.name[len(component):]
    for role, type_, pattern in (("part", POLICY, _PART), ("attachment", ATTACHMENT, _ATTACHMENT),
                                 ("inline", INLINE, _INLINE)):
        match = pattern.fullmatch(rest)
        if match and step.type == type_:
            return Part(component, role, int(match.group(1)))
    return None


def _secret_inputs(inputs: Mapping[str, Any] | None, skip: str) -> list[str]:
    return sorted(k for k, v in (inputs or {}).items() if k != skip and SECRET in json.dumps(v))


def _judge_update(step: DigestStep) -> list[str]:
    if step.type not in DOCUMENTS:
        changed = sorted({k for k in {*(step.old or {}), *(step.new or {})}
                          if (step.old or {}).get(k) != (step.new or {}).get(k)} | step.diff_keys)
        return [f"update of {step.type}" + (f": {', '.join(changed)} changed" if changed else "")]
    if step.type in (POLICY, INLINE) and part_of(step) is None:
        return [f"{step.name} is not a part of the split of Atlas's address list"]
    if step.old is None or step.new is None:
        return ["the old or the new state is not in the preview"]
    key, whose = DOCUMENTS[step.type]
    reasons = [f"{whose} {k} changed" for k in sorted({*step.old, *step.new} - {key})
               if step.old.get(k) != step.new.get(k)]
    reasons += [f"{whose} {k} changed" for k in sorted(step.diff_keys - {key})
                if f"{whose} {k} changed" not in reasons]
    reasons += [f"{whose} {k} is secret in the preview ({SECRET}): it cannot be compared"
                for k in _secret_inputs(step.new, key)]
    old, why_old = _document(step.old, key, "old")
    new, why_new = _document(step.new, key, "new")
    reasons += [w for w in (why_old, why_new) if w]
    if old is not None and new is not None:
        part = part_of(step)
        if part is not None:
            old, new = _renumbered(old, part.index), _renumbered(new, part.index)
        reasons += document_reasons(old, new) + address_reasons(new)
    return reasons


def _renumbered(doc: Mapping[str, Any], index: int) -> Mapping[str, Any]:
    """The part's document with its number taken out of the Sids.

    The program numbers the Sids only when the split has more than one part (core/policies.py
    `_part_sid`): part 1's Sids gain `Part1` when the split grows from one part to two, and lose it when
    it shrinks back. A Sid grants nothing; any other change of one is still a change.
    """
    suffix = f"Part{index}"

    def strip(stmt: Any) -> Any:
        sid = stmt.get("Sid") if isinstance(stmt, Mapping) else None
        return {**stmt, "Sid": sid[: -len(suffix)]} if isinstance(sid, str) and sid.endswith(suffix) else stmt

    found = doc.get("Statement")
    if isinstance(found, list):
        return {**doc, "Statement": [strip(s) for s in found]}
    return {**doc, "Statement": strip(found)} if "Statement" in doc else doc


@dataclass
class _Component:
    """The parts of one component instance in the digest, by role and index."""

    steps: dict[tuple[str, int], DigestStep] = field(default_factory=dict)

    def existing(self, role: str) -> list[tuple[int, DigestStep]]:
        """Parts that are there before and stay (same or updated), lowest index first."""
        return sorted((i, s) for (r, i), s in self.steps.items() if r == role and s.op in ("same", "update"))

    def remaining(self, role: str) -> list[int]:
        return sorted(i for (r, i), s in self.steps.items() if r == role and s.op in ("same", "update", "create"))

    def op_of(self, role: str, index: int) -> str | None:
        found = self.steps.get((role, index))
        return found.op if found else None

    def created(self, kind: str) -> list[tuple[str, str | None]]:
        """(name, the ARN or name the exclusive list holds it by, when the preview knows it) of each part of
        `kind` ("part": managed, by ARN; "inline": by name) created in this update."""
        out = []
        for (role, index), s in sorted(self.steps.items()):
            if role != kind or s.op != "create":
                continue
            attachment = self.steps.get(("attachment", index))
            value = (attachment.new or {}).get("policyArn") if kind == "part" and attachment is not None \
                else (s.new or {}).get("name") if kind == "inline" else None
            out.append((s.name, str(value) if _known(value) else None))
        return out

    def deleted(self, kind: str) -> set[str]:
        """The ARNs or names the exclusive list held the parts of `kind` deleted in this update by."""
        out: set[str] = set()
        for (role, index), s in self.steps.items():
            if role != kind or s.op != "delete":
                continue
            attachment = self.steps.get(("attachment", index))
            values = [s.old_arn, (attachment.old or {}).get("policyArn") if attachment is not None else None] \
                if kind == "part" else [(s.old or {}).get("name")]
            out |= {str(v) for v in values if _known(v)}
        return out


def _compare_inputs(new: Mapping[str, Any], reference: Mapping[str, Any], skip: set[str], what: str) -> list[str]:
    return [f"{k} differs from the existing {what}'" for k in sorted({*new, *reference} - skip)
            if new.get(k) != reference.get(k)]


def _judge_created_document(step: DigestStep, part: Part, component: _Component) -> list[str]:
    existing = component.existing(part.role)
    if not existing:
        return [f"no existing part in the preview to compare it with ({SHOW_SAMES})"]
    reasons = []
    if part.index <= existing[-1][0]:
        reasons.append(f"part {part.index} is not after the existing parts")
    if part.role == "part" and component.op_of("attachment", part.index) != "create":
        reasons.append("created without its attachment")
    reference_index, reference = existing[-1]
    ref_inputs = reference.inputs or {}
    new_inputs = step.new or {}
    reasons += _compare_inputs(new_inputs, ref_inputs, OWN_INPUTS[step.type], "parts")
    if step.type == POLICY:
        description = str(ref_inputs.get("description", ""))
        number = str(reference_index)
        expected = description[: -len(number)] + str(part.index) if description.endswith(number) else description
        if new_inputs.get("description") != expected:
            reasons.append("its description is not the existing parts' with its number")
    reasons += [f"{k} is secret in the preview ({SECRET}): it cannot be compared" for k in _secret_inputs(new_inputs, "policy")]
    doc, why = _document(step.new, "policy", "new")
    if doc is None:
        return [*reasons, str(why)]
    references = []
    for _, other in existing:
        ref_doc, _ = _document(other.old or other.new, "policy", "existing")
        if ref_doc is not None:
            references.append(ref_doc)
    if not references:
        return [*reasons, "no existing part's document can be read to compare it with"]
    # The same document but for its address lists and the Sids, which number the part.
    known = {_masked(s, with_sid=False) for d in references for s in _statements(d)}
    ref_statements = [s for d in references for s in _statements(d)]
    reasons += [f"{k} differs from the existing parts'" for k in sorted({*doc, *references[-1]} - {"Statement"})
                if doc.get(k) != references[-1].get(k)]
    if not _statements(doc):
        reasons.append("it has no statement")
    for position, stmt in enumerate(_statements(doc)):
        if _masked(stmt, with_sid=False) in known:
            continue
        closest = _closest(stmt, position, ref_statements)
        why_not = statement_reasons(closest, stmt, with_sid=False) if closest is not None else []
        reasons += [f"statement {_sid(stmt, position)}: {r}" for r in why_not] or \
            [f"statement {_sid(stmt, position)} is not one the existing parts have"]
    return reasons + address_reasons(doc)


def _closest(stmt: Any, position: int, candidates: Sequence[Any]) -> Any:
    """The existing statement a created part's statement stands for: the same Sid but for the part's number."""
    def base(s: Any) -> str:
        return re.sub(r"Part[0-9]+$", "", _sid(s, -1)) if isinstance(s, Mapping) else ""

    for candidate in candidates:
        if base(candidate) == base(stmt) and base(stmt):
            return candidate
    return candidates[position] if position < len(candidates) else None


def _judge_created_attachment(step: DigestStep, part: Part, component: _Component) -> list[str]:
    reasons = []
    if component.op_of("part", part.index) != "create":
        reasons.append("created without its part")
    existing = component.existing("attachment")
    if not existing:
        return [*reasons, f"no existing attachment in the preview to compare its role with ({SHOW_SAMES})"]
    new_inputs, ref_inputs = step.new or {}, existing[-1][1].inputs or {}
    if new_inputs.get("role") != ref_inputs.get("role") or new_inputs.get("role") in (SECRET, UNKNOWN, None):
        reasons.append(f"it attaches to another role ({new_inputs.get('role')!r}) than the existing parts "
                       f"({ref_inputs.get('role')!r})")
    reasons += _compare_inputs(new_inputs, ref_inputs, OWN_INPUTS[ATTACHMENT] | {"role"}, "attachments")
    arn = new_inputs.get("policyArn")
    if arn not in (None, UNKNOWN):
        reasons.append(f"its policyArn ({arn!r}) is known before the part exists: not the created part")
    return reasons


def _judge_deleted(part: Part, component: _Component) -> list[str]:
    reasons = []
    if part.role != "inline":
        other = "attachment" if part.role == "part" else "part"
        if component.op_of(other, part.index) != "delete":
            reasons.append(f"deleted without its {other}")
    kind = "inline" if part.role == "inline" else "part"
    remaining = component.remaining(kind)
    if not remaining:
        reasons.append(f"no part remains in the preview: the address list would go away, or {SHOW_SAMES}")
    elif part.index < remaining[-1]:
        reasons.append(f"part {part.index} is not the last of the split")
    return reasons


def _judge_exclusive(step: DigestStep, component: _Component) -> list[str]:
    """An update of the role's exclusive attachments (or inline policies) that only follows the split: the
    same role, and the list gains exactly the parts created and loses exactly the parts deleted in this
    update (a created part's ARN is not known in a preview). A list not known as a whole is never guessed."""
    suffix, key, kind = EXCLUSIVE[step.type]
    if step.component is None or step.name != f"{step.component}{suffix}":
        return [f"{step.name} is not the list of the component role's own grants"]
    if step.old is None or step.new is None:
        return ["the old or the new state is not in the preview"]
    reasons = [f"{k} changed" for k in sorted({*step.old, *step.new} - {key, "roleName"})
               if step.old.get(k) != step.new.get(k)]
    reasons += [f"{k} changed" for k in sorted(step.diff_keys - {key, "roleName"}) if f"{k} changed" not in reasons]
    role_before, role_after = step.old.get("roleName"), step.new.get("roleName")
    if role_before != role_after or not _known(role_after):
        reasons.append(f"roleName changed ({role_before!r} -> {role_after!r})" if role_before != role_after
                       else "the roleName is not known in the preview")
    before, after = step.old.get(key), step.new.get(key)
    if not isinstance(after, list):
        return [*reasons, f"the new {key} is not known in the preview"]
    if not isinstance(before, list) or not all(_known(v) for v in before):
        return [*reasons, f"the old {key} is not in the preview"]
    return reasons + _listed_reasons(before, after, component.created(kind), component.deleted(kind))


def _listed_reasons(before: list[Any], after: list[Any], created: list[tuple[str, str | None]],
                    deleted: set[str]) -> list[str]:
    """Why `after` is not `before` with the created parts added and the deleted parts taken out."""
    reasons = []
    remaining = list(after)
    for entry in before:
        if entry in deleted:
            continue
        if entry in remaining:
            remaining.remove(entry)
        else:
            reasons.append(f"drops {entry!r}, which is not a part deleted in this update")
    reasons += [f"still lists {entry!r}, the part it deletes" for entry in remaining if entry in deleted]
    unlisted = []
    for name, value in created:
        if value is not None and value in remaining:
            remaining.remove(value)
        else:
            unlisted.append(name)
    unknown = [e for e in remaining if not _known(e)]
    reasons += [f"adds {e!r}, which is not a part created in this update" for e in remaining
                if _known(e) and e not in deleted]
    if len(unknown) > len(unlisted):
        reasons.append(f"lists {len(unknown)} value{'s' if len(unknown) != 1 else ''} not known in the preview for "
                       f"{len(unlisted)} part{'s' if len(unlisted) != 1 else ''} created")
    reasons += [f"does not list the created part {name}" for name in unlisted[len(unknown):]]
    return reasons


def judge(digest: Mapping[str, Any]) -> Verdict:
    """The verdict on a `pulumi preview --json` digest. Raises DigestError when it cannot be read."""
    steps = _steps(digest)
    components: dict[str, _Component] = {}
    parts: dict[int, Part] = {}
    for s in steps:
        part = part_of(s)
        if part is not None and s.op in ("same", "update", "create", "delete"):
            parts[s.index] = part
            components.setdefault(part.component, _Component()).steps[(part.role, part.index)] = s
    targets: list[str] = []
    refusals: list[Refusal] = []
    for s in steps:
        reasons: list[str]
        part = parts.get(s.index)
        if s.op == "same":
            if s.flags_changed:
                refusals.append(Refusal(s.urn, s.op, s.flags_changed))
            continue
        if s.op not in ("update", "create", "delete"):
            reasons = [f"{s.op} of {s.type}"]
        elif not s.is_child:
            reasons = ["not a child of the atlas-kms component"]
        elif s.op == "update" and s.type in EXCLUSIVE:
            reasons = _judge_exclusive(s, components.get(s.component or "", _Component()))
        elif s.op == "update":
            reasons = _judge_update(s)
        elif part is None:
            reasons = [f"{s.op} of {s.type}, which is not a part of the split of Atlas's address list"]
        elif s.op == "create":
            component = components[part.component]
            reasons = _judge_created_attachment(s, part, component) if part.role == "attachment" \
                else _judge_created_document(s, part, component)
        else:
            reasons = _judge_deleted(part, components[part.component])
        if s.is_child and s.op in ("update", "create", "delete"):
            reasons += s.flags_changed
        if reasons:
            refusals.append(Refusal(s.urn, s.op, tuple(dict.fromkeys(reasons))))
        elif s.urn not in targets:
            targets.append(s.urn)
    return Verdict(tuple(targets), tuple(refusals))


# -- the command -------------------------------------------------------------------------------------------


def read_digest(path: str) -> Mapping[str, Any]:
    """The digest in the file `path` (`-`: standard input). Raises DigestError."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DigestError(f"cannot read {path}: {exc}") from None
    try:
        digest = json.loads(text)
    except ValueError as exc:
        raise DigestError(f"{path} is not JSON ({exc})") from None
    if not isinstance(digest, Mapping):
        raise DigestError(f"{path} is not a preview digest (expected the JSON object `pulumi preview --json` prints)")
    return digest


def _drift_report(path: str | None, report: Callable[[str], None]) -> Any:
    """The drift command's JSON report, for the summary only: unreadable, it is left out (and said so)."""
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        report(f"drift guard: the summary says nothing of where Atlas uses the addresses: cannot read {path} ({exc})")
        return None


def _summarise(path: str | None, text: Callable[[], str], report: Callable[[str], None]) -> None:
    if path is None:
        return
    try:
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(text())
    except OSError as exc:
        report(f"drift guard: cannot write the summary to {path} ({exc})")


def main(argv: Sequence[str], *, out: Callable[[str], None] = print,
         err: Callable[[str], None] | None = None) -> int:
    """`python -m drift guard PREVIEW_JSON [--json] [--summary FILE [--report DRIFT_JSON]]`: 0 go ahead (the
    targets printed), 1 a person is needed (one line per step), 2 the digest cannot be read (a message on
    stderr). `--summary` appends the verdict as markdown (drift/summary.py) whatever it is."""
    from drift import summary  # it reads the guard's own types

    parser = argparse.ArgumentParser(
        prog="python -m drift guard",
        description="Judge a `pulumi preview --json` digest: exit 0 when every change is only Atlas's address "
                    "list (prints the URNs for `pulumi up --target`), 1 when a person is needed, 2 when the "
                    "digest cannot be read.")
    parser.add_argument("preview", metavar="PREVIEW_JSON", help="the output of `pulumi preview --json --show-sames` "
                                                                "(- for standard input)")
    parser.add_argument("--json", action="store_true", help="a machine-readable verdict")
    parser.add_argument("--summary", metavar="FILE", help="append a markdown summary of the verdict to FILE "
                                                          "(in GitHub Actions: $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--report", metavar="DRIFT_JSON", help="the drift command's --json report taken before the "
                                                               "update: the summary says where Atlas uses each address")
    args = parser.parse_args(list(argv))
    report = err or (lambda text: print(text, file=sys.stderr))
    try:
        digest = read_digest(args.preview)
        verdict = judge(digest)
    except DigestError as exc:
        report(f"drift guard: cannot judge the preview: {exc}")
        why = str(exc)
        _summarise(args.summary, lambda: summary.unjudged(why), report)
        if args.json:
            out(json.dumps({"schemaVersion": 1, "status": "error", "exitCode": 2, "error": str(exc)}, indent=2))
        return 2
    _summarise(args.summary, lambda: summary.markdown(verdict, digest, _drift_report(args.report, report)), report)
    if args.json:
        out(json.dumps(verdict.to_json(), indent=2))
    else:
        for line in verdict.lines():
            out(line)
    return verdict.exit_code

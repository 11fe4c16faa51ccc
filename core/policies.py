"""IAM and KMS policy documents, built in-process and canonical. Pure code.

Canonical means: keys sorted, no whitespace, actions sorted, CIDRs collapsed and
sorted (see core.ips). The same world therefore always gives byte-identical JSON
and `pulumi preview` shows no diff when nothing changed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.arns import LONGEST_KEY_ARN
from core.errors import PolicySizeError
from core.split import greedy_split, stable_split

# The only KMS actions Atlas needs on the key.
# https://www.mongodb.com/docs/atlas/security-aws-kms/#prerequisites
ATLAS_KMS_ACTIONS: tuple[str, ...] = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt")

# Key administration without any cryptographic use: the key account keeps full
# control of the key (no unmanageable key) while only Atlas's role can encrypt or
# decrypt with it. Listed one by one: no `kms:*`.
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-administrators
KEY_ADMIN_ACTIONS: tuple[str, ...] = tuple(
    sorted(
        (
            "kms:CancelKeyDeletion",
            "kms:CreateAlias",
            "kms:DeleteAlias",
            "kms:DescribeKey",
            "kms:DisableKey",
            "kms:DisableKeyRotation",
            "kms:EnableKey",
            "kms:EnableKeyRotation",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:ListGrants",
            "kms:ListKeyPolicies",
            "kms:ListResourceTags",
            "kms:PutKeyPolicy",
            "kms:RevokeGrant",
            "kms:ScheduleKeyDeletion",
            "kms:TagResource",
            "kms:UntagResource",
            "kms:UpdateAlias",
            "kms:UpdateKeyDescription",
        )
    )
)

# IAM quotas, counted without whitespace.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
MANAGED_POLICY_MAX_CHARS = 6_144
INLINE_POLICIES_MAX_CHARS = 10_240  # all inline policies of one role together
MANAGED_POLICIES_PER_ROLE = 10  # default quota of managed policies attached to a role
# https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html#key-policy-limit
KEY_POLICY_MAX_BYTES = 32_768

# A role ARN of maximal length (64-character name, longest partition), to size a key
# policy before the role exists.
LONGEST_ROLE_ARN = "arn:aws-us-gov:iam::000000000000:role/" + "r" * 64

PolicyKind = Literal["managed", "inline"]
Document = dict[str, Any]

ROLE_STATEMENT_SID = "AtlasEncryptionAtRestKms"
KEY_ADMIN_SID = "KeyAccountAdministration"
KEY_ATLAS_SID = "AtlasRoleUsesKey"


__all__ = ["PolicySizeError"]  # re-exported: callers import it from here


def canonical_json(doc: Document) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def policy_size(doc: Document) -> int:
    """Characters IAM counts: the JSON without whitespace outside strings."""
    return len(canonical_json(doc))


def _ip_condition(cidrs: Sequence[str]) -> dict[str, Any]:
    # aws:SourceIp is the caller's public address: exactly what Atlas's control plane
    # and cluster nodes present to KMS. An empty list would deny everything.
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceip
    if not cidrs:
        raise PolicySizeError("internal: an IP condition with no addresses would deny Atlas everything")
    return {"IpAddress": {"aws:SourceIp": list(cidrs)}}


RESTORE_STATEMENT_SID = "AtlasRestoresRetainedKeys"
# What a restore from a snapshot encrypted with a retained key needs: Atlas decrypts the snapshot's
# data key with the key of its time, and describes that key before it restores. Encrypt is not
# needed: Atlas never writes with a key it no longer holds.
# https://www.mongodb.com/docs/atlas/security-aws-kms/#prerequisites
RESTORE_ACTIONS: tuple[str, ...] = ("kms:Decrypt", "kms:DescribeKey")


@dataclass(frozen=True)
class KeyAccess:
    """The keys Atlas's role may use: `use` with all three actions, `restore` with what a restore needs.

    The ARNs are sorted, so that the same keys always give the same document.
    """

    use: tuple[str, ...]
    restore: tuple[str, ...] = ()

    @classmethod
    def of(cls, use: Sequence[str], restore: Sequence[str] = ()) -> KeyAccess:
        used = tuple(sorted(set(use)))
        return cls(use=used, restore=tuple(sorted(set(restore) - set(used))))

    @property
    def statements(self) -> int:
        return 1 + bool(self.restore)


def _resource(arns: Sequence[str]) -> str | list[str]:
    # One key stays a plain string: the documents of a stack whose key never changed stay byte-identical.
    return arns[0] if len(arns) == 1 else list(arns)


def role_kms_statement(key_arn: str | Sequence[str], cidrs: Sequence[str] | None, sid: str = ROLE_STATEMENT_SID,
                       actions: Sequence[str] = ATLAS_KMS_ACTIONS) -> Document:
    """One statement of the Atlas role: `actions` on the keys. `cidrs=None` only with an explicit opt-out."""
    arns = [key_arn] if isinstance(key_arn, str) else list(key_arn)
    stmt: Document = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": _resource(arns),
    }
    if cidrs is not None:
        stmt["Condition"] = _ip_condition(cidrs)
    return stmt


def role_kms_document(key_arn: str | KeyAccess, cidrs: Sequence[str] | None, sid: str = ROLE_STATEMENT_SID) -> Document:
    access = KeyAccess.of([key_arn]) if isinstance(key_arn, str) else key_arn
    suffix = sid[len(ROLE_STATEMENT_SID):]
    statements = [role_kms_statement(access.use, cidrs, sid)]
    if access.restore:
        statements.append(role_kms_statement(access.restore, cidrs, RESTORE_STATEMENT_SID + suffix, RESTORE_ACTIONS))
    return {"Version": "2012-10-17", "Statement": statements}


def _part_sid(index: int, total: int) -> str:
    # No part count in the Sid: a part whose addresses did not change must not be rewritten just
    # because another part was added or removed (a new IAM policy version each time; IAM keeps five).
    return ROLE_STATEMENT_SID if total == 1 else f"{ROLE_STATEMENT_SID}Part{index + 1}"


def _longest_access(use_keys: int, restore_keys: int) -> KeyAccess:
    return KeyAccess(use=(LONGEST_KEY_ARN,) * use_keys, restore=(LONGEST_KEY_ARN,) * restore_keys)


def part_room(kind: PolicyKind, use_keys: int = 1, restore_keys: int = 0) -> int:
    """Characters one document of `kind` leaves for its CIDR list (which each statement repeats).

    Sized with the longest possible key ARN for each key and the widest Sid, so the split is known
    before the keys exist and never changes when only an ARN does.
    """
    limit = MANAGED_POLICY_MAX_CHARS if kind == "managed" else INLINE_POLICIES_MAX_CHARS
    max_parts = MANAGED_POLICIES_PER_ROLE if kind == "managed" else 1
    widest_sid = _part_sid(max_parts - 1, max_parts)
    access = _longest_access(use_keys, restore_keys)
    empty = policy_size(role_kms_document(access, ["0.0.0.0/0"], widest_sid)) - access.statements * len('"0.0.0.0/0"')
    return (limit - empty) // access.statements


def chunk_cidrs(cidrs: Sequence[str], kind: PolicyKind, use_keys: int = 1, restore_keys: int = 0) -> list[list[str]]:
    """Split the CIDRs across role policies of the same shape, within IAM's quotas.

    Managed: each document <= 6,144 characters, at most 10 per role, split stably (core.split):
    a small change of the address set rewrites only the parts that hold it, and no address that
    stays is ever allowed by no part while the parts are updated. Inline: all documents of a role
    together <= 10,240 characters, so one document. Each statement (use, restore) repeats the list.
    """
    room = part_room(kind, use_keys, restore_keys)
    max_parts = MANAGED_POLICIES_PER_ROLE if kind == "managed" else 1
    for cidr in cidrs:
        if len(cidr) + 2 > room:
            raise PolicySizeError(f"internal: one CIDR ({cidr}) cannot fit a policy")
    chunks = stable_split(cidrs, room=room, max_parts=max_parts) if kind == "managed" else greedy_split(cidrs, room=room)
    if len(chunks) > max_parts:
        capacity = _capacity_hint(kind)
        keys = f" for {use_keys + restore_keys} keys (atlas-kms:retainedKeyArns and earlier generations each repeat the list)" \
            if restore_keys else ""
        raise PolicySizeError(
            f"{len(cidrs)} allowed CIDRs (after collapsing){keys} need {len(chunks)} "
            f"{'managed policies of ' + format(MANAGED_POLICY_MAX_CHARS, ',') + ' characters' if kind == 'managed' else 'inline policy budgets of ' + format(INLINE_POLICIES_MAX_CHARS, ',') + ' characters'}; "
            f"a role carries at most {max_parts} ({capacity}). Nothing was changed. Narrow "
            f"atlas-kms:sourceIps (controlPlane clouds, clusters) or collapse extraCidrs into wider ranges."
        )
    return chunks


def _capacity_hint(kind: PolicyKind) -> str:
    if kind == "managed":
        return f"{MANAGED_POLICIES_PER_ROLE} x {MANAGED_POLICY_MAX_CHARS:,} characters, the IAM default quotas"
    return f"{INLINE_POLICIES_MAX_CHARS:,} characters of inline policy per role, an IAM quota"


def role_policy_documents(
    key_arn: str | KeyAccess, chunks: Sequence[Sequence[str]] | None, *, enforce_ip: bool = True
) -> list[Document]:
    """One document per chunk, each allowing Atlas's actions on the keys from its CIDRs."""
    if not enforce_ip:
        return [role_kms_document(key_arn, None)]
    if not chunks:
        raise PolicySizeError("internal: no CIDR chunks for an IP-restricted policy")
    return [role_kms_document(key_arn, list(c), _part_sid(i, len(chunks))) for i, c in enumerate(chunks)]


def trust_policy(atlas_aws_account_arn: str, external_id: str) -> Document:
    """Only Atlas's AWS principal, and only with this project's external id.

    https://www.mongodb.com/docs/atlas/security/set-up-unified-aws-access/
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html
    """
    if not atlas_aws_account_arn or not external_id:
        raise ValueError("Atlas did not return its AWS account ARN and external id for the role")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AtlasAssumesRole",
                "Effect": "Allow",
                "Principal": {"AWS": atlas_aws_account_arn},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def key_user_statement(role_arn: str | Sequence[str], cidrs: Sequence[str] | None,
                       actions: Sequence[str] = ATLAS_KMS_ACTIONS) -> Document:
    """The key-policy statement that lets Atlas's role use the key.

    In a key policy `Resource: "*"` means "this key" (the policy is attached to one key).
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html#key-policy-elements
    """
    stmt: Document = {
        "Sid": KEY_ATLAS_SID,
        "Effect": "Allow",
        "Principal": {"AWS": role_arn if isinstance(role_arn, str) else _resource(sorted(set(role_arn)))},
        "Action": list(actions),
        "Resource": "*",
    }
    if cidrs is not None:
        stmt["Condition"] = _ip_condition(cidrs)
    return stmt


def key_policy(key_account_root: str, role_arn: str | Sequence[str], cidrs: Sequence[str] | None,
               actions: Sequence[str] = ATLAS_KMS_ACTIONS) -> Document:
    """Key policy of a key this program manages: the key account administers, Atlas uses it with
    `actions` (all three, what a restore needs for a retained key, or none for a retired one).

    `role_arn` may name several roles: while a replaced role is swapped for its successor, Atlas
    calls with the old one until it is re-authorized with the new one, so both must be allowed."""
    statements: list[Document] = [
        {
            "Sid": KEY_ADMIN_SID,
            "Effect": "Allow",
            "Principal": {"AWS": key_account_root},
            "Action": list(KEY_ADMIN_ACTIONS),
            "Resource": "*",
        }
    ]
    if actions:
        statements.append(key_user_statement(role_arn, cidrs, actions))
    return {"Version": "2012-10-17", "Statement": statements}


def check_key_policy_budget(cidrs: Sequence[str] | None) -> None:
    size = len(canonical_json(key_policy("arn:aws-us-gov:iam::000000000000:root", LONGEST_ROLE_ARN, cidrs)).encode())
    if size > KEY_POLICY_MAX_BYTES:
        raise PolicySizeError(
            f"{len(cidrs or [])} allowed CIDRs make a key policy of {size:,} bytes; KMS allows "
            f"{KEY_POLICY_MAX_BYTES:,}. Nothing was changed. Narrow atlas-kms:sourceIps."
        )


@dataclass(frozen=True)
class PolicyPlan:
    """How the role's KMS permission is laid out, known before any resource exists."""

    kind: PolicyKind
    chunks: tuple[tuple[str, ...], ...]  # empty when the IP condition is opted out
    enforce_ip: bool
    manage_key_policy: bool

    def role_documents(self, key_arn: str | KeyAccess) -> list[str]:
        return [canonical_json(d) for d in role_policy_documents(key_arn, self.chunks, enforce_ip=self.enforce_ip)]


def plan_policies(
    cidrs: Sequence[str], *, kind: PolicyKind, enforce_ip: bool, manage_key_policy: bool,
    use_keys: int = 1, restore_keys: int = 0,
) -> PolicyPlan:
    """Check every size budget; raise PolicySizeError before anything is registered."""
    chunks = tuple(tuple(c) for c in chunk_cidrs(cidrs, kind, use_keys, restore_keys)) if enforce_ip else ()
    if manage_key_policy:
        check_key_policy_budget(cidrs if enforce_ip else None)
    return PolicyPlan(kind=kind, chunks=chunks, enforce_ip=enforce_ip, manage_key_policy=manage_key_policy)

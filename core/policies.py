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
USE_ACTIONS: tuple[str, ...] = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt")

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
                       actions: Sequence[str] = USE_ACTIONS, condition: Document | None = None) -> Document:
    """One statement of the Atlas role: `actions` on the keys, from `cidrs` (or under `condition`, the
    private path). `cidrs=None` and no condition only with an explicit opt-out."""
    arns = [key_arn] if isinstance(key_arn, str) else list(key_arn)
    stmt: Document = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": _resource(arns),
    }
    if condition is not None:
        stmt["Condition"] = condition
    elif cidrs is not None:
        stmt["Condition"] = _ip_condition(cidrs)
    return stmt


PRIVATE_SID = "AtlasEncryptionAtRestKmsPrivate"
PRIVATE_RESTORE_SID = "AtlasRestoresRetainedKeysPrivate"
KEY_ATLAS_PRIVATE_SID = "AtlasRoleUsesKeyPrivately"


def private_condition(endpoint_ids: Sequence[str] = ()) -> Document:
    """Atlas's calls through a VPC endpoint (AWS PrivateLink), and only those.

    A request through a VPC endpoint carries aws:SourceVpce (and aws:SourceVpc, aws:VpcSourceIp) and
    no aws:SourceIp ("aws:sourceIP is not effective when the request comes from an Amazon VPC
    endpoint"), so the IP statements never match it. aws:SourceVpce is "included in the request
    context only if the requester uses a VPC endpoint": requiring it present (`Null: false`) admits
    every VPC-endpoint request of the role and nothing from the internet or without network context.
    Atlas's endpoint lives in Atlas's own account and its id is not published, so it is pinned only
    when the user gives the ids (`privateEndpointIds`). aws:VpceAccount would pin Atlas's account, but
    KMS's support for it is not documented, and a condition key that is absent denies: not used.
    https://docs.aws.amazon.com/kms/latest/developerguide/vpce-policy-condition.html
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourcevpce
    """
    if endpoint_ids:
        return {"StringEquals": {"aws:SourceVpce": sorted(endpoint_ids)}}
    return {"Null": {"aws:SourceVpce": "false"}}


def private_statements(access: KeyAccess, endpoint_ids: Sequence[str] = ()) -> list[Document]:
    condition = private_condition(endpoint_ids)
    out = [role_kms_statement(access.use, None, PRIVATE_SID, condition=condition)]
    if access.restore:
        out.append(role_kms_statement(access.restore, None, PRIVATE_RESTORE_SID, RESTORE_ACTIONS, condition=condition))
    return out


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


def part_room(kind: PolicyKind, use_keys: int = 1, restore_keys: int = 0, reserve: int = 0) -> int:
    """Characters one document of `kind` leaves for its CIDR list (which each statement repeats).

    Sized with the longest possible key ARN for each key and the widest Sid, so the split is known
    before the keys exist and never changes when only an ARN does.
    """
    limit = MANAGED_POLICY_MAX_CHARS if kind == "managed" else INLINE_POLICIES_MAX_CHARS
    max_parts = MANAGED_POLICIES_PER_ROLE if kind == "managed" else 1
    widest_sid = _part_sid(max_parts - 1, max_parts)
    access = _longest_access(use_keys, restore_keys)
    empty = policy_size(role_kms_document(access, ["0.0.0.0/0"], widest_sid)) - access.statements * len('"0.0.0.0/0"')
    return (limit - empty - reserve) // access.statements


def chunk_cidrs(cidrs: Sequence[str], kind: PolicyKind, use_keys: int = 1, restore_keys: int = 0, *,
                reserve: int = 0, max_parts: int = MANAGED_POLICIES_PER_ROLE) -> list[list[str]]:
    """Split the CIDRs across role policies of the same shape, within IAM's quotas.

    Managed: each document <= 6,144 characters, at most 10 per role, split stably (core.split):
    a small change of the address set rewrites only the parts that hold it, and no address that
    stays is ever allowed by no part while the parts are updated. Inline: all documents of a role
    together <= 10,240 characters, so one document. Each statement (use, restore) repeats the list.
    """
    room = part_room(kind, use_keys, restore_keys, reserve)
    max_parts = max_parts if kind == "managed" else 1
    for cidr in cidrs:
        if len(cidr) + 2 > room:
            raise PolicySizeError(f"internal: one CIDR ({cidr}) cannot fit a policy")
    chunks = stable_split(cidrs, room=room, max_parts=max_parts) if kind == "managed" else greedy_split(cidrs, room=room)
    if len(chunks) > max_parts:
        capacity = _capacity_hint(kind)
        keys = f" for {use_keys + restore_keys} keys (atlas-kms:retainedKeyArns and earlier generations each repeat the list)" \
            if restore_keys else ""
        taken = MANAGED_POLICIES_PER_ROLE - max_parts if kind == "managed" else 0
        carries = (f"a role carries at most {max_parts} ({capacity})" if not taken else
                   f"a role carries at most {MANAGED_POLICIES_PER_ROLE} ({capacity}) and the private path's own policy "
                   f"(atlas-kms:network) takes {taken}, leaving {max_parts} for the addresses")
        raise PolicySizeError(
            f"{len(cidrs)} allowed CIDRs (after collapsing){keys} need {len(chunks)} "
            f"{'managed policies of ' + format(MANAGED_POLICY_MAX_CHARS, ',') + ' characters' if kind == 'managed' else 'inline policy budgets of ' + format(INLINE_POLICIES_MAX_CHARS, ',') + ' characters'}; "
            f"{carries}. Nothing was changed. Narrow "
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
                       actions: Sequence[str] = USE_ACTIONS, private: Sequence[str] | None = None) -> Document:
    """The key-policy statement that lets Atlas's role use the key.

    In a key policy `Resource: "*"` means "this key" (the policy is attached to one key).
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html#key-policy-elements
    """
    stmt: Document = {
        "Sid": KEY_ATLAS_SID if private is None else KEY_ATLAS_PRIVATE_SID,
        "Effect": "Allow",
        "Principal": {"AWS": role_arn if isinstance(role_arn, str) else _resource(sorted(set(role_arn)))},
        "Action": list(actions),
        "Resource": "*",
    }
    if private is not None:
        stmt["Condition"] = private_condition(private)
    elif cidrs is not None:
        stmt["Condition"] = _ip_condition(cidrs)
    return stmt


def key_policy(key_account_root: str, role_arn: str | Sequence[str], cidrs: Sequence[str] | None,
               actions: Sequence[str] = USE_ACTIONS, *, public: bool = True,
               private: Sequence[str] | None = None) -> Document:
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
    if actions and public:
        statements.append(key_user_statement(role_arn, cidrs, actions))
    if actions and private is not None:
        statements.append(key_user_statement(role_arn, None, actions, private))
    return {"Version": "2012-10-17", "Statement": statements}


def check_key_policy_budget(cidrs: Sequence[str] | None, *, public: bool = True,
                            private: Sequence[str] | None = None) -> None:
    doc = key_policy("arn:aws-us-gov:iam::000000000000:root", LONGEST_ROLE_ARN, cidrs, public=public, private=private)
    size = len(canonical_json(doc).encode())
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
    # The public path (IP statements) and the private one (VPC-endpoint statements, `network`).
    public: bool = True
    private: tuple[str, ...] | None = None  # None: no private path; else the endpoint ids it is pinned to

    def role_documents(self, key_arn: str | KeyAccess) -> list[str]:
        """The documents of the IP-restricted parts; inline, the one document with the private path too."""
        access = KeyAccess.of([key_arn]) if isinstance(key_arn, str) else key_arn
        docs = role_policy_documents(access, self.chunks, enforce_ip=self.enforce_ip) if self.public else []
        if self.kind == "inline" and self.private is not None:
            extra = private_statements(access, self.private)
            if docs:
                docs[0]["Statement"] += extra
            else:
                docs = [{"Version": "2012-10-17", "Statement": extra}]
        return [canonical_json(d) for d in docs]

    def private_document(self, key_arn: str | KeyAccess) -> str | None:
        """Managed: the private path's own policy (the IP parts stay as they are when it comes or goes)."""
        if self.kind != "managed" or self.private is None:
            return None
        access = KeyAccess.of([key_arn]) if isinstance(key_arn, str) else key_arn
        return canonical_json({"Version": "2012-10-17", "Statement": private_statements(access, self.private)})


def plan_policies(
    cidrs: Sequence[str], *, kind: PolicyKind, enforce_ip: bool, manage_key_policy: bool,
    use_keys: int = 1, restore_keys: int = 0, public: bool = True, private: Sequence[str] | None = None,
) -> PolicyPlan:
    """Check every size budget; raise PolicySizeError before anything is registered."""
    endpoints = tuple(sorted(private)) if private is not None else None
    chunks: tuple[tuple[str, ...], ...] = ()
    if public and enforce_ip:
        # The private path takes a managed-policy slot of its own, or its share of the inline budget.
        longest = _longest_access(use_keys, restore_keys)
        reserve = policy_size({"S": private_statements(longest, endpoints)}) if endpoints is not None and kind == "inline" else 0
        slots = MANAGED_POLICIES_PER_ROLE - (endpoints is not None)
        chunks = tuple(tuple(c) for c in chunk_cidrs(cidrs, kind, use_keys, restore_keys, reserve=reserve, max_parts=slots))
    if endpoints is not None:
        # The private path's own document: its size grows with the keys it names, not the addresses.
        longest = _longest_access(use_keys, restore_keys)
        size = policy_size({"Version": "2012-10-17", "Statement": private_statements(longest, endpoints)})
        limit = MANAGED_POLICY_MAX_CHARS if kind == "managed" else INLINE_POLICIES_MAX_CHARS
        if size > limit:
            raise PolicySizeError(
                f"the private-path policy for {use_keys + restore_keys} keys may reach {size:,} characters; IAM allows "
                f"{limit:,}. Nothing was changed. Retire keys no snapshot needs (atlas-kms:retiredKeyGenerations, "
                "atlas-kms:retainedKeyArns).")
    if manage_key_policy:
        check_key_policy_budget(cidrs if enforce_ip else None, public=public, private=endpoints)
    return PolicyPlan(kind=kind, chunks=chunks, enforce_ip=enforce_ip, manage_key_policy=manage_key_policy,
                      public=public, private=endpoints)

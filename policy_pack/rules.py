"""atlas-kms safety rules, as plain functions of (resource type, engine properties). Pure code.

`__main__.py` wires them into a Pulumi policy pack, so that `pulumi preview --policy-pack policy_pack`
enforces the same invariants the test suite proves, even for stacks edited by hand or by other programs.
Properties use the engine's camelCase names, as policy packs receive them.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ATLAS_ACTIONS = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt"]
ATLAS_SID_PREFIX = "AtlasEncryptionAtRestKms"
# Keys Atlas no longer uses, kept for restores: what a restore needs, nothing more.
RESTORE_ACTIONS = ["kms:Decrypt", "kms:DescribeKey"]
RESTORE_SID_PREFIX = "AtlasRestoresRetainedKeys"
# The private path (AWS PrivateLink): only requests through a VPC endpoint, never from the internet.
PRIVATE_SID_SUFFIX = "Private"
KEY_POLICY_PRIVATE_SID = "AtlasRoleUsesKeyPrivately"
VPCE_ID = re.compile(r"^vpce-[0-9a-f]{8,17}$")


def _private_path_problem(sid: str, condition: Any) -> str | None:
    """None when the condition admits only VPC-endpoint requests: aws:SourceVpce present, or pinned."""
    if isinstance(condition, dict) and condition == {"Null": {"aws:SourceVpce": "false"}}:
        return None
    if isinstance(condition, dict) and list(condition) == ["StringEquals"]:
        ids = _list((condition["StringEquals"] or {}).get("aws:SourceVpce")) if isinstance(condition["StringEquals"], dict) else []
        if ids and all(isinstance(i, str) and VPCE_ID.match(i) for i in ids) and len(condition["StringEquals"]) == 1:
            return None
    return (f"{sid}: the private path must be conditioned on aws:SourceVpce (Null false, or StringEquals with vpce- "
            f"ids) and nothing else, got {condition!r}")
KEY_POLICY_ATLAS_SID = "AtlasRoleUsesKey"
# Written out here, not imported: the pack runs from its own folder (see core/ips.py NON_PUBLIC).
NON_PUBLIC = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8"))
WIDEST_PREFIX = {4: 16, 6: 48}
KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
MANAGED_BY = ("atlas-kms:managed-by", "atlas-kms")

Check = Callable[[str, Mapping[str, Any]], list[str]]


def _doc(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None  # unknown during preview: nothing to judge yet


def _statements(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = doc.get("Statement", [])
    return [raw] if isinstance(raw, dict) else [s for s in raw if isinstance(s, dict)]


def _list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value or [])


def kms_key_safety(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Rotation on, the longest deletion window, and KMS's lockout check never bypassed."""
    if resource_type != "aws:kms/key:Key":
        return []
    problems = []
    if props.get("enableKeyRotation") is not True:
        problems.append("KMS key rotation must be enabled (enableKeyRotation: true)")
    if props.get("deletionWindowInDays") not in (30, 30.0):
        problems.append(f"KMS key deletion window must be 30 days, got {props.get('deletionWindowInDays')!r}")
    if props.get("bypassPolicyLockoutSafetyCheck"):
        problems.append("bypassPolicyLockoutSafetyCheck must not be set: it can make the key unmanageable")
    return problems


def atlas_role_policy_least_privilege(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Atlas's statements: exactly the three actions (or, for retained keys, what a restore needs) on
    full key ARNs, with a non-empty aws:SourceIp. Two keys are in use only while Atlas moves between them."""
    if resource_type not in ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy"):
        return []
    doc = _doc(props.get("policy"))
    if doc is None:
        return []
    problems = []
    for stmt in _statements(doc):
        sid = str(stmt.get("Sid", ""))
        if sid.startswith(ATLAS_SID_PREFIX):
            actions, most = ATLAS_ACTIONS, 2
        elif sid.startswith(RESTORE_SID_PREFIX):
            actions, most = RESTORE_ACTIONS, None
        else:
            continue
        if stmt.get("Effect") != "Allow" or sorted(_list(stmt.get("Action"))) != actions:
            problems.append(f"{sid}: must Allow exactly {', '.join(actions)}")
        resources = _list(stmt.get("Resource"))
        # Replicas of a multi-region key share its mrk- id (one per private endpoint region): they count once.
        keys = {str(r).rsplit("/", 1)[-1] for r in resources}
        if not resources or (most is not None and len(keys) > most) or not all(KEY_ARN.match(str(r)) for r in resources):
            what = "one full KMS key ARN (two while Atlas moves to a new key)" if most else "full KMS key ARNs"
            problems.append(f"{sid}: Resource must be {what}, got {stmt.get('Resource')!r}")
        if sid.endswith(PRIVATE_SID_SUFFIX):
            problem = _private_path_problem(sid, stmt.get("Condition"))
            if problem:
                problems.append(problem)
            continue
        ips = _list(((stmt.get("Condition") or {}).get("IpAddress") or {}).get("aws:SourceIp"))
        if not ips:
            problems.append(f"{sid}: must carry an IpAddress aws:SourceIp condition with Atlas's addresses")
    return problems


def atlas_trust_policy(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """The role atlas-kms manages trusts one named principal, and only with an external id."""
    if resource_type != "aws:iam/role:Role":
        return []
    tags = props.get("tags") or {}
    if tags.get(MANAGED_BY[0]) != MANAGED_BY[1]:
        return []
    doc = _doc(props.get("assumeRolePolicy"))
    if doc is None:
        return []
    problems = []
    for stmt in _statements(doc):
        principals = _list((stmt.get("Principal") or {}).get("AWS")) if isinstance(stmt.get("Principal"), dict) else ["*"]
        if any("*" in str(p) for p in principals):
            problems.append("the trust policy must not use a wildcard principal")
        external = ((stmt.get("Condition") or {}).get("StringEquals") or {}).get("sts:ExternalId")
        if stmt.get("Effect") == "Allow" and not external:
            problems.append("the trust policy must require sts:ExternalId (Atlas's external id)")
    return problems


def encryption_uses_full_key_arn(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Atlas needs the key's full ARN, never a key id, whenever key and role are in different accounts."""
    if resource_type != "mongodbatlas:index/encryptionAtRest:EncryptionAtRest":
        return []
    kms = props.get("awsKmsConfig") or {}
    key = kms.get("customerMasterKeyId")
    if isinstance(key, str) and key and not KEY_ARN.match(key):
        return [f"awsKmsConfig.customerMasterKeyId must be the key's full ARN, got {key!r}"]
    return []


def _source_ip_entries(resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(statement Sid, entry) of every aws:SourceIp entry in Atlas's statements."""
    field = {"aws:iam/policy:Policy": "policy", "aws:iam/rolePolicy:RolePolicy": "policy",
             "aws:kms/key:Key": "policy", "aws:kms/keyPolicy:KeyPolicy": "policy"}.get(resource_type)
    doc = _doc(props.get(field)) if field else None
    if doc is None:
        return []
    out = []
    for stmt in _statements(doc):
        sid = str(stmt.get("Sid", ""))
        if sid.startswith((ATLAS_SID_PREFIX, RESTORE_SID_PREFIX)) or sid == KEY_POLICY_ATLAS_SID:
            out += [(sid, e) for e in _list(((stmt.get("Condition") or {}).get("IpAddress") or {}).get("aws:SourceIp"))]
    return out


def source_ips_are_public(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """No private, loopback, link-local, multicast, shared or reserved range: Atlas never calls from one."""
    problems = []
    for sid, entry in _source_ip_entries(resource_type, props):
        try:
            net = ipaddress.ip_network(str(entry), strict=False)
        except ValueError:
            problems.append(f"{sid}: {entry!r} is not an IP address or CIDR")
            continue
        special = next((n for n in NON_PUBLIC if n.version == net.version and net.subnet_of(n)), None)  # type: ignore[arg-type]
        if special is not None:
            problems.append(f"{sid}: {entry} lies in the non-public range {special}; Atlas never calls KMS from it")
    return problems


def source_ips_are_narrow(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Nothing wider than /16 (IPv6 /48): a wide range all but voids the condition (0.0.0.0/0 does).

    A stack that allows a wide range on purpose (`sourceIps.allowWideCidrs`) sets this one rule to
    advisory in the pack's config (docs/safety.md).
    """
    problems = []
    for sid, entry in _source_ip_entries(resource_type, props):
        try:
            net = ipaddress.ip_network(str(entry), strict=False)
        except ValueError:
            continue  # reported by source_ips_are_public
        if net.prefixlen < WIDEST_PREFIX[net.version]:
            problems.append(f"{sid}: {entry} is wider than /{WIDEST_PREFIX[net.version]} and all but removes the source-IP condition")
    return problems


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Check


RULES: tuple[Rule, ...] = (
    Rule("atlas-kms-key-safety", "KMS keys rotate, keep a 30-day deletion window and never bypass the lockout check.", kms_key_safety),
    Rule("atlas-kms-role-policy-least-privilege", "Atlas's KMS statements allow three actions on the key it uses (restore-only on retained keys) from Atlas's IPs.", atlas_role_policy_least_privilege),
    Rule("atlas-kms-trust-policy", "The Atlas role trusts one principal and requires the external id.", atlas_trust_policy),
    Rule("atlas-kms-full-key-arn", "Atlas is given the key's full ARN.", encryption_uses_full_key_arn),
    Rule("atlas-kms-source-ip-public", "Atlas's IP conditions hold only public ranges.", source_ips_are_public),
    Rule("atlas-kms-source-ip-narrow", "Atlas's IP conditions hold no range wider than /16 (IPv6 /48).", source_ips_are_narrow),
)

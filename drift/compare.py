"""Judge a stack: what Atlas uses against what the role and the key really allow. Pure code.

The verdict is semantic: `drift.evaluate` computes, from every policy on the role and from the key
policy, the exact set of source addresses from which each of Atlas's three actions is allowed, as KMS
and IAM evaluate them. Spelling (Sids, statement and action order, a one-element `Resource` list) never
matters; only the allowed sets do.

Findings, each with its own line and JSON entry:
- missing: Atlas uses the address and some action is not allowed from it (the outage risk), naming
  the layer that lacks it ("role policy", "key policy") and where Atlas uses it (cluster, region, future);
- stale: allowed, but Atlas no longer uses it (over-permission);
- excess: a statement broader than what the program writes (other actions, other keys, no IP
  condition, a wildcard), named precisely;
- atlas: Atlas's own view of the key (not enabled, another key, `valid: false`), or a role Atlas uses
  that is not the stack's;
- restore: a retained backup snapshot whose key the role can no longer use for a restore (drift.restore);
- denied: Atlas's KMS calls that AWS refused, from CloudTrail (drift.cloudtrail);
- warning: gateway addresses the policy does not allow (the provider cannot allow them; not drift).
Exit 1 whenever something is certainly wrong, even if another part could not be read; exit 2 only when
the verdict depends on what could not be read or fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from core.arns import account_of
from core.ips import AddressSet
from drift.evaluate import (
    USE_ACTIONS,
    CannotEvaluate,
    Labeled,
    Ranges,
    effective_allowed,
    excess,
    identity_sets,
    key_policy_view,
)

Status = Literal["ok", "drift", "error"]
Kind = Literal["missing", "stale", "excess", "atlas", "restore", "denied", "warning"]
# The --json report's version (docs/drift.md): raised whenever a kind or a field is added.
REPORT_SCHEMA_VERSION = 2
EXIT_CODES: dict[Status, int] = {"ok": 0, "drift": 1, "error": 2}
CERTAIN: tuple[Kind, ...] = ("missing", "stale", "excess", "atlas", "restore", "denied")


@dataclass(frozen=True)
class Finding:
    kind: Kind
    layer: str = ""  # "role policy", "key policy", "atlas", "" (not about one layer)
    cidrs: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()  # "cluster orders", "control plane aws/us-east-1", "gateway x aws/us-east-1"
    future: bool = False  # every origin is an announced future address
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "layer": self.layer, "cidrs": list(self.cidrs), "actions": list(self.actions),
                "origins": list(self.origins), "future": self.future, "detail": self.detail}

    def line(self) -> str:
        cidr = ", ".join(self.cidrs)
        where = "; ".join(self.origins)
        if self.kind == "missing":
            what = "announced future address of " if self.future else ""
            return (f"  missing  {cidr:<20} {self.layer} lacks it for {', '.join(self.actions)}"
                    f"{f' ({what}{where})' if where else ''}: Atlas calls from it are DENIED")
        if self.kind == "stale" and not cidr:
            return f"  stale    {self.detail}"
        if self.kind == "stale":
            return f"  stale    {cidr:<20} {self.layer} allows it but Atlas no longer reports it (over-permission)"
        if self.kind == "warning" and cidr:
            return f"  warning  {cidr:<20} {where}: {self.detail}"
        return f"  {self.kind:<8} {self.detail}"


@dataclass
class Report:
    stack: str
    role_arn: str = ""
    key_arn: str = ""
    expected_cidrs: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # what could not be read or fetched
    notes: list[str] = field(default_factory=list)  # what was not checked, said plainly

    @property
    def status(self) -> Status:
        if any(f.kind in CERTAIN for f in self.findings):
            return "drift"
        return "error" if self.unread else "ok"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def count(self, kind: Kind) -> int:
        return sum(1 for f in self.findings if f.kind == kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": REPORT_SCHEMA_VERSION, "stack": self.stack, "status": self.status, "exitCode": self.exit_code, "roleArn": self.role_arn,
            "keyArn": self.key_arn, "expectedCidrs": self.expected_cidrs,
            "findings": [f.to_json() for f in self.findings], "unread": self.unread, "notes": self.notes,
        }

    def lines(self) -> list[str]:
        subject = f" ({self.role_arn})" if self.role_arn else ""
        if self.status == "ok":
            head = [f"stack {self.stack}: OK, {len(self.expected_cidrs)} CIDRs allowed as expected{subject}"]
        elif self.status == "error":
            head = [f"stack {self.stack}: ERROR, could not decide: {'; '.join(self.unread)}"]
        else:
            counts = ", ".join(f"{self.count(k)} {k}" for k in CERTAIN if self.count(k))
            head = [f"stack {self.stack}: DRIFT, {counts}{subject}"]
        body = [f.line() for f in self.findings]
        if self.status == "drift" and self.unread:
            body += [f"  unread   {u}" for u in self.unread]
        body += [f"  note     {n}" for n in self.notes]
        if self.status == "drift":
            body.append("  fix: run `pulumi up` for this stack (it regenerates the policies), and undo hand edits")
        return head + body


def _origins(addresses: AddressSet, cidr: str) -> tuple[tuple[str, ...], bool]:
    found = addresses.origins_of(cidr)
    names = tuple(sorted({o.describe().replace(" (announced future address)", "") for o in found}))
    return names, bool(found) and all(o.kind == "cluster-future" for o in found)


def _per_cidr(lacks: dict[str, Ranges]) -> list[tuple[str, tuple[str, ...]]]:
    """(CIDR, the actions lacking it), from one address set per action."""
    union = Ranges.none()
    for r in lacks.values():
        union |= r
    out = []
    for cidr in union.cidrs():
        one = Ranges.of([cidr])
        out.append((cidr, tuple(a for a in USE_ACTIONS if not (lacks[a] & one).is_empty())))
    return out


@dataclass(frozen=True)
class Evidence:
    """What was read about one stack; `None` where it could not be read (the note says why)."""

    role_arn: str
    key_arn: str | None
    identity: list[Labeled]
    key_policy: dict[str, Any] | None
    key_policy_note: str = ""
    atlas: dict[str, Any] | None = None  # the project's `awsKms` settings as Atlas answers them
    atlas_note: str = ""
    gateways: list[tuple[str, str, str]] = field(default_factory=list)  # (name, cloud/region, CIDR)
    # Other keys the program grants on purpose: retained ones, and the key Atlas still holds while it moves.
    other_keys: tuple[str, ...] = ()
    # `network` of the stack, and for private/both: the endpoint regions it configures, the vpce ids it
    # pins, and Atlas's KMS private endpoints (None: could not be read; the note says why).
    network: str = "public"
    endpoint_regions: tuple[str, ...] = ()
    endpoint_ids: tuple[str, ...] = ()
    endpoints: list[dict[str, Any]] | None = None
    endpoints_note: str = ""


def judge(stack: str, addresses: AddressSet, evidence: Evidence, *, enforce_ip: bool = True,
          expects_encryption: bool = True) -> Report:
    e = evidence
    public = e.network != "private"
    report = Report(stack=stack, role_arn=e.role_arn, key_arn=e.key_arn or "",
                    expected_cidrs=list(addresses.cidrs) if public else [])
    # network private: Atlas uses no public address, so any address allowed is over-permission.
    expected = (Ranges.of(addresses.cidrs) if enforce_ip else Ranges.all()) if public else Ranges.none()
    allowed: dict[str, Ranges] = {}
    if e.key_arn is None:
        report.unread.append("cannot tell which key to judge the policies against (no keyArn, and no key carries this stack's tags)")
    else:
        try:
            allowed = _judge_policies(report, addresses, expected, e, e.key_arn, enforce_ip)
            if e.network != "public":
                _judge_private_path(report, e, e.key_arn)
        except CannotEvaluate as exc:
            report.unread.append(f"{exc} (only IpAddress/NotIpAddress on aws:SourceIp and Null/String conditions on "
                                 "aws:SourceVpce are evaluated; nothing is guessed)")
    _judge_atlas(report, e, expects_encryption)
    if e.network != "public" and expects_encryption:
        _judge_endpoints(report, e)
    if allowed and public:
        everywhere = Ranges.all()
        for r in allowed.values():
            everywhere &= r
        # One line per address, naming every gateway and region that lists it: a large answer repeats
        # the same address across gateways and regions.
        by_cidr: dict[str, list[str]] = {}
        for name, region, cidr in e.gateways:
            by_cidr.setdefault(cidr, []).append(f"gateway {name} {region}")
        for cidr, where in by_cidr.items():
            if not (Ranges.of([cidr]) - everywhere).is_empty():
                report.findings.append(Finding(
                    "warning", "role policy", (cidr,), origins=tuple(sorted(set(where))),
                    detail="not allowed: the provider's data source does not expose gateways, so the program cannot "
                           "allow them; add them to sourceIps.extraCidrs if Atlas calls KMS through this gateway"))
    return report


def _judge_policies(report: Report, addresses: AddressSet, expected: Ranges, e: Evidence, key_arn: str,
                    enforce_ip: bool) -> dict[str, Ranges]:
    role_lacks: dict[str, Ranges] = {}
    key_lacks: dict[str, Ranges] = {}
    key_denies: dict[str, Ranges] = {}
    allowed: dict[str, Ranges] = {}
    direct_any = Ranges.none()
    same_account = account_of(key_arn) == account_of(e.role_arn)
    for action in USE_ACTIONS:
        role_allows, role_denies = identity_sets(e.identity, action=action, resource=key_arn)
        role = role_allows - role_denies
        # The verdict itself is the evaluator's, which follows KMS's rules; the layers below only say
        # which side lacks what.
        allowed[action] = effective_allowed(e.identity, e.key_policy, role_arn=e.role_arn, key_arn=key_arn, action=action)
        if e.key_policy is None:
            role_lacks[action] = expected - role
            key_lacks[action] = key_denies[action] = Ranges.none()
            continue
        view = key_policy_view(e.key_policy, role_arn=e.role_arn, key_arn=key_arn, action=action)
        # KMS: in the key's own account the key policy may grant the role itself; otherwise, or from
        # another account always, the role's policies must allow too. A Deny anywhere wins.
        # https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html
        key_lacks[action] = expected - (view.direct | view.delegated)
        key_denies[action] = expected & view.denied
        role_lacks[action] = (expected - role - (view.direct if same_account else Ranges.none())) | (expected & role_denies)
        direct_any |= view.direct
    if e.key_policy is None and same_account:
        # The key policy of a key in the role's own account is the main grant (for a created key, the only
        # one for Encrypt and Decrypt): without it the verdict is not known.
        report.unread.append(f"the key policy of {key_arn} ({e.key_policy_note or 'not readable'}): the key is in "
                             "the role's own account, so its policy decides; let these credentials kms:GetKeyPolicy")
    elif e.key_policy is None:
        report.notes.append(f"key policy not checked ({e.key_policy_note or 'not readable'}): judged the role's "
                            "policies alone; the key owner's side was NOT checked")
    for layer, lacks in (("key policy", key_lacks), ("role policy", role_lacks)):
        for cidr, actions in _per_cidr(lacks):
            origins, future = _origins(addresses, cidr)
            report.findings.append(Finding("missing", layer, (cidr,), actions, origins, future))
    for cidr, actions in _per_cidr(key_denies):
        origins, future = _origins(addresses, cidr)
        report.findings.append(Finding("missing", "key policy (a Deny)", (cidr,), actions, origins, future))
    if not e.identity:
        report.notes.append("the role has no policy attached at all")
    if enforce_ip:
        _stale(report, addresses, expected, allowed, direct_any)
    for x in excess(e.identity, e.key_policy, role_arn=e.role_arn, key_arn=key_arn, also=e.other_keys):
        if not enforce_ip and x.what.startswith("no source-IP condition"):
            continue  # sourceIps.enforce: false asks for exactly that
        layer = "role policy" if x.layer == "role" else x.layer
        report.findings.append(Finding("excess", layer, detail=f"{layer} {x.policy}, statement {x.sid}: {x.what}"))
    return allowed


def _stale(report: Report, addresses: AddressSet, expected: Ranges, allowed: dict[str, Ranges], direct_any: Ranges) -> None:
    """`stale` findings: addresses allowed for some action that Atlas does not use, by the layer that allows them."""
    any_allowed = Ranges.none()
    for r in allowed.values():
        any_allowed |= r
    stale = any_allowed - expected
    if not stale.is_empty() and (~expected - stale).is_empty():
        # No IP condition somewhere: listing the complement of Atlas's set would be noise.
        layer = "key policy" if not (direct_any & stale).is_empty() else "role policy"
        report.findings.append(Finding("stale", layer, detail=f"{layer} allows every address, not only Atlas's "
                                       f"{len(addresses.cidrs)} CIDRs (no source-IP condition)"))
        stale = Ranges.none()
    for cidr in stale.cidrs():
        layer = "key policy" if not (direct_any & Ranges.of([cidr])).is_empty() else "role policy"
        report.findings.append(Finding("stale", layer, (cidr,)))


# A stand-in for "some VPC endpoint" when neither the stack nor Atlas names one: the private path
# without pinned ids admits any endpoint, and a pinned one would refuse it (rightly: Atlas's is unknown).
ANY_ENDPOINT = "vpce-0000000000000000a"


def _judge_private_path(report: Report, e: Evidence, key_arn: str) -> None:
    """The private path: Atlas's calls through its VPC endpoint, which carry aws:SourceVpce and no
    aws:SourceIp (https://docs.aws.amazon.com/kms/latest/developerguide/vpce-policy-condition.html)."""
    named = [str(p.get("privateEndpointConnectionName")) for p in e.endpoints or []
             if str(p.get("privateEndpointConnectionName", "")).startswith("vpce-")]
    for vpce in (e.endpoint_ids or tuple(named) or (ANY_ENDPOINT,)):
        lacking = tuple(a for a in USE_ACTIONS if effective_allowed(
            e.identity, e.key_policy, role_arn=e.role_arn, key_arn=key_arn, action=a, vpce=vpce).is_empty())
        if lacking:
            report.findings.append(Finding("missing", "private path", (), lacking, (f"VPC endpoint {vpce}",), detail=(
                f"the role may not call {', '.join(lacking)} on the key through Atlas's VPC endpoint "
                f"{'(any endpoint)' if vpce == ANY_ENDPOINT else vpce}: Atlas's private calls are DENIED")))


def _judge_endpoints(report: Report, e: Evidence) -> None:
    """Atlas's KMS private endpoints: one ACTIVE per configured region, and private networking required."""
    if e.atlas is not None and e.atlas.get("enabled") and not e.atlas.get("requirePrivateNetworking"):
        report.findings.append(Finding("atlas", "atlas", detail=(
            f"requirePrivateNetworking is off in Atlas, although the stack's network is {e.network}: Atlas "
            "reaches KMS over the internet; run `pulumi up`")))
    if e.endpoints is None:
        report.unread.append(f"Atlas's KMS private endpoints: {e.endpoints_note or 'not fetched'}")
        return
    by_region = {str(p.get("regionName")): p for p in e.endpoints}
    for region in e.endpoint_regions:
        found = by_region.get(region)
        if found is None:
            report.findings.append(Finding("atlas", "atlas", origins=(region,), detail=(
                f"no KMS private endpoint in {region}, which the stack configures: Atlas cannot use the private path "
                "there; run `pulumi up`")))
        elif found.get("status") != "ACTIVE":
            error = found.get("errorMessage") or ""
            report.findings.append(Finding("atlas", "atlas", origins=(region,), detail=(
                f"the KMS private endpoint in {region} is {found.get('status')}, not ACTIVE"
                f"{': ' + str(error) if error else ''}")))


def _judge_atlas(report: Report, e: Evidence, expects_encryption: bool) -> None:
    if e.atlas is None:
        report.unread.append(f"Atlas's encryption-at-rest settings: {e.atlas_note or 'not fetched'}")
        return
    if not expects_encryption:
        return  # mode 4 before the key's owner granted access: the program has not enabled it yet
    atlas = e.atlas
    if not atlas.get("enabled"):
        report.findings.append(Finding("atlas", "atlas", detail="encryption at rest with AWS KMS is NOT enabled in "
                                       "Atlas for this project, although the stack enables it"))
        return
    held = atlas.get("customerMasterKeyID")
    if e.key_arn and not held:
        report.findings.append(Finding("atlas", "atlas", detail="Atlas reports no key (encryption at rest enabled, but no "
                                       f"customerMasterKeyID in its answer), not this stack's key {e.key_arn}"))
    # customerMasterKeyID may be the key's ARN or its bare key id; a bare id is compared with the id part
    # of the key's ARN (arn:...:key/<id>). https://www.mongodb.com/docs/atlas/security-aws-kms/
    elif e.key_arn and held != (e.key_arn if str(held).startswith("arn:") else e.key_arn.rpartition("/")[2]):
        report.findings.append(Finding("atlas", "atlas", detail=f"Atlas uses the key {held!r}, not this stack's key {e.key_arn}"))
    if atlas.get("valid") is False:
        report.findings.append(Finding("atlas", "atlas", detail="Atlas reports the key configuration INVALID (valid: false): "
                                       "Atlas cannot use the key and will shut the clusters down at its next check"))

"""Compare what Atlas uses with what the role and the key allow: exit 0 in sync, 1 drift, 2 could not decide."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import boto3

from config.settings import SettingsError, parse_settings
from config.stackfile import StackFileError, read_stack_config, stack_name
from core.arns import Arn, ArnError, RoleArn, account_of, key_id_of, parse_key_arn, parse_role_arn, partition_of_arn
from core.errors import ReadError
from core.facts import Snapshot
from core.ips import AddressError, AddressSet, ClusterAddresses, build_address_set
from core.lifecycle import AtlasEncryption
from core.plan import probe_generations, probe_regions
from core.policies import RESTORE_ACTIONS
from core.settings import NAMESPACE, TAG_PROJECT, TAG_STACK, Settings
from drift.aws_iam import (
    LivePolicy,
    RoleIndex,
    existing_role_arn,
    find_role,
    key_arn_of,
    live_policies,
    read_key_policy,
    role_index,
    role_tags,
)
from drift.cloudtrail import cloudtrail_client, denied_calls
from drift.compare import ANY_ENDPOINT, Evidence, Finding, Report, foreign_policies, judge, judge_moved_from
from drift.evaluate import CannotEvaluate, Labeled, Ranges, effective_allowed
from drift.guard import main as guard_main
from drift.restore import EvaluatedAccess, needed_keys, restore_gaps, retained_snapshots
from facts.atlas_api import AtlasClient

NOT_STACKS = {"Pulumi.yaml", "Pulumi.yml", "Pulumi.example.yaml"}
T = TypeVar("T")


def _find_role(asked: Future[list[str]], iam: Any, settings: Any, stack: str,
               roles: Callable[[], RoleIndex]) -> tuple[str, str, list[Finding], list[str]]:
    """(role name, role ARN, findings, notes): the role Atlas really uses for encryption at rest.

    Asked of Atlas (one GET), checked against the program's tags with one GetRole: the cost does not
    depend on how many roles the account has. Tags are the fallback only when Atlas reports no role
    (mode 4 before the owner's grant, or before the first `pulumi up`): that lists every role.
    """
    try:
        used = asked.result()
    except ReadError as exc:
        used, note = [], f"could not ask Atlas which role it uses ({exc}); found the role by its tags"
    else:
        note = ""
    if len(used) > 1:
        raise ReadError(f"Atlas lists {len(used)} roles for encryption at rest ({', '.join(used)}): pass --role-arn")
    if used:
        arn = used[0]
        tags = role_tags(iam, arn)
        findings = []
        if tags.get(TAG_PROJECT) != settings.project_id or tags.get(TAG_STACK) != stack:
            findings.append(Finding("atlas", "atlas", detail=(
                f"Atlas uses the role {arn} for encryption at rest, which is not this stack's (its tags say project "
                f"{tags.get(TAG_PROJECT)!r}, stack {tags.get(TAG_STACK)!r}): another stack or a hand-made role holds "
                "the project's key; judged that role's policies")))
        return Arn.parse(arn).name, arn, findings, []
    name, arn = find_role(roles(), settings.project_id, stack)
    return name, arn, [], [note] if note else []


def _created_key(kms: Any, settings: Any) -> str | None:
    """The created key Atlas should use, by the alias the program gives it (one DescribeKey)."""
    return key_arn_of(kms, settings.generation_alias(settings.key_generation))


def _generations(kms_in: Callable[[str], Any], settings: Any, judged_key: str | None, held: Any) -> list[str]:
    """ARNs of the created generations the stack retains, found by their aliases with the program's own
    probe (core.plan.probe_generations: the key's region and the held key's, upward until one is missing;
    one DescribeKey each), the judged key and retired ones aside."""
    atlas = AtlasEncryption(enabled=True, key_id=held if isinstance(held, str) and held else None)
    found = probe_generations(settings, probe_regions(settings, atlas),
                              lambda alias, region: key_arn_of(kms_in(region), alias))
    return [arn for g, arn in sorted(found.items()) if g not in settings.retired_generations and arn != judged_key]


def _restore_allowed(settings: Any, identity: list[Labeled], policy: dict[str, Any] | None, role_arn: str,
                     key_arn: str, action: str) -> Ranges:
    """Where a restore may call from: Atlas's addresses (the public path) and, with private networking,
    its VPC endpoint (every address, when the private path allows the action)."""
    allowed = effective_allowed(identity, policy, role_arn=role_arn, key_arn=key_arn, action=action) \
        if settings.uses_public else Ranges.none()
    if settings.uses_private:
        vpce = (settings.private_endpoint_ids or (ANY_ENDPOINT,))[0]
        if not effective_allowed(identity, policy, role_arn=role_arn, key_arn=key_arn, action=action, vpce=vpce).is_empty():
            return Ranges.all()
    return allowed


def _restores(snapshots: Callable[[], list[Snapshot]], kms: Any, settings: Any, report: Report, addresses: AddressSet,
              identity: list[Labeled], role_arn: str, stack_keys: list[str | None]) -> None:
    """`restore` findings: retained snapshots whose key the role can no longer use for a restore."""
    try:
        taken = retained_snapshots(snapshots(), datetime.now(UTC))
    except ReadError as exc:
        report.notes.append(f"backup snapshots not checked ({exc})")
        return
    known: dict[str, str] = {}
    for arn in [*stack_keys, *map(str, settings.retained_key_arns)]:
        if arn:
            known[key_id_of(arn)] = arn
    access: dict[str, EvaluatedAccess] = {}
    for key_id in needed_keys(taken):
        try:
            arn = known.get(key_id_of(key_id)) or key_arn_of(kms, key_id)
        except ReadError as exc:
            report.notes.append(f"the key {key_id} of some snapshots was not checked ({exc})")
            continue
        if arn is None:
            continue
        policy, _ = read_key_policy(kms, arn)
        access[key_id_of(key_id)] = EvaluatedAccess(arn, {
            action: _restore_allowed(settings, identity, policy, role_arn, arn, action) for action in RESTORE_ACTIONS})
    for gap in restore_gaps(taken, access, addresses):
        line = f"pulumi config set --path '{NAMESPACE}:retainedKeyArns[{len(settings.retained_key_arns)}]' {gap.arn or gap.key_id}"
        report.findings.append(Finding("restore", "role policy", gap.cidrs[:1], gap.lacking,
                                       detail=gap.detail(line)))


def _origin_of(cidr: str, addresses: AddressSet, gateways: list[tuple[str, str, str]]) -> str:
    """Where Atlas says an address is: a cluster, the control plane, a gateway, or nowhere."""
    origins = [o.describe() for o in addresses.origins_of(cidr)]
    inside = Ranges.of([cidr])
    origins += [f"gateway {name} {region}" for name, region, entry in gateways if (inside - Ranges.of([entry])).is_empty()]
    return "; ".join(sorted(set(origins))) or "not reported by Atlas"


def _denied(trail: Any, report: Report, role_arn: str, keys: list[str], since: datetime, addresses: AddressSet,
            gateways: list[tuple[str, str, str]]) -> None:
    """`denied` findings: Atlas's KMS calls that AWS refused, as CloudTrail recorded them."""
    found = denied_calls(trail, role_arn=role_arn, key_arns=keys, since=since)
    report.notes += [f"CloudTrail: {n}" for n in found.notes]
    for group in found.groups:
        where = (f"{group.origin} ({_origin_of(group.origin, addresses, gateways)})" if group.origin_kind == "ip"
                 else f"VPC endpoint {group.origin}")
        why = ("the key's state refused them (disabled, pending deletion or gone): re-enable the key or cancel its "
               "deletion" if group.key_state else "a policy refused them")
        report.findings.append(Finding(
            "denied", "role policy", (group.origin,) if group.origin_kind == "ip" else (), group.actions,
            origins=(where,), detail=(
                f"{group.count} call(s) of {', '.join(group.actions)} from {where} refused ({', '.join(group.error_codes)}) "
                f"between {group.first_seen:%Y-%m-%dT%H:%M:%SZ} and {group.last_seen:%Y-%m-%dT%H:%M:%SZ}, on "
                f"{', '.join(group.key_ids) or 'an unnamed key'}: {why}")))
    if found.groups:
        report.notes.append(f"CloudTrail: {found.caveat}")


@dataclass(frozen=True)
class _StackFile:
    """One stack file, read: the stack's name, its config, and the AWS region and Atlas cloud the program
    would use."""

    name: str
    raw: dict[str, Any]
    region: str | None
    gov: Any

    @classmethod
    def read(cls, path: Path) -> _StackFile:
        raw = read_stack_config(path)
        # As the program's AWS provider: aws:region, else the standard chain (AWS_REGION, the profile).
        region = raw.get("aws:region") or boto3.session.Session().region_name
        return cls(stack_name(path), raw, region, raw.get("mongodbatlas:isMongodbgovCloud"))

    def settings(self, role_arn: str | None = None) -> Settings:
        """The stack's settings, validated like the program does; with the role, for its account and partition."""
        if role_arn is None:
            return parse_settings(self.raw, stack=self.name, aws_region=self.region, atlas_gov=self.gov)
        return parse_settings(self.raw, stack=self.name, aws_region=self.region, role_account=account_of(role_arn),
                              role_partition=partition_of_arn(role_arn), atlas_gov=self.gov)


@dataclass
class _AtlasReads:
    """One stack's Atlas reads, issued at once on the client's bounded pool (AtlasClient.submit): none
    depends on another, only the snapshot reads (one per cluster) on the clusters' names."""

    atlas: AtlasClient
    project_id: str
    roles: Future[list[str]] | None
    clusters: Future[list[ClusterAddresses]]
    encryption: Future[dict[str, Any]]
    endpoints: Future[list[dict[str, Any]]] | None
    snapshot_reads: list[Future[list[Snapshot]]] = field(default_factory=list)

    @classmethod
    def start(cls, atlas: AtlasClient, settings: Settings, ask_role: bool) -> _AtlasReads:
        atlas.prefetch_control_plane()  # once per run, for every stack
        project = settings.project_id
        return cls(atlas, project, atlas.submit(atlas.encryption_roles, project) if ask_role else None,
                   atlas.submit(atlas.project_clusters, project), atlas.submit(atlas.encryption_at_rest, project),
                   atlas.submit(atlas.kms_private_endpoints, project) if settings.uses_private else None)

    def start_snapshots(self, clusters: list[ClusterAddresses]) -> None:
        self.snapshot_reads = [self.atlas.submit(self.atlas.snapshots, self.project_id, c.name) for c in clusters]

    def snapshots(self) -> list[Snapshot]:
        return [s for read in self.snapshot_reads for s in read.result()]


@dataclass
class _Checked:
    """What one stack's check has read, before the verdict."""

    settings: Settings
    role_arn: str
    policies: list[LivePolicy]
    identity: list[Labeled]
    clusters: list[ClusterAddresses]
    addresses: AddressSet
    kms: Any
    judged_key: str | None
    generations: list[str]
    gateways: list[tuple[str, str, str]]
    gateway_note: str = ""
    other_keys: tuple[str, ...] = ()


def check_stack(path: Path, atlas: AtlasClient, iam: Any, role_arn: str | None = None,
                roles: Callable[[], RoleIndex] | None = None, kms_for: Callable[[str], Any] | None = None,
                key_arn: str | None = None, trail_for: Callable[[str], Any] | None = None,
                since: datetime | None = None, restores: bool = True) -> Report:
    """One stack's report; a failure to read what the verdict needs becomes an `error` report.

    `restores` False (`--no-restores`) skips the snapshot reads, the only Atlas calls that grow with
    the number of clusters; what they check changes only when keys change.
    """
    stack = path.name
    try:
        stack = stack_name(path)
        stack_file = _StackFile.read(path)
        reads = _AtlasReads.start(atlas, stack_file.settings(), ask_role=not role_arn)
        role_name, role_arn, found, notes = _the_role(stack_file, reads, iam, role_arn, roles)
        checked, evidence = _read_stack(stack_file, reads, iam, role_name, role_arn, kms_for, key_arn, restores)
        report = judge(stack, checked.addresses, evidence, enforce_ip=checked.settings.enforce_ip,
                       expects_encryption=checked.settings.enables_encryption)
        report.findings[:0] = found
        report.notes += notes
        if checked.gateway_note:
            report.notes.append(f"gateways not checked ({checked.gateway_note})")
        _ownership(report, iam, checked, evidence, role_is_ours=not found)
        if restores:
            _restores(reads.snapshots, checked.kms, checked.settings, report, checked.addresses, checked.identity,
                      role_arn, [checked.judged_key, *checked.generations])
        else:
            report.notes.append("backup snapshots not checked (--no-restores)")
        if trail_for is not None and since is not None:
            _denied_of_stack(trail_for, report, checked, since)
        return report
    except SettingsError as exc:
        return Report(stack=stack, unread=["; ".join(exc.problems)])
    except (ReadError, StackFileError, ArnError, AddressError, CannotEvaluate) as exc:
        return Report(stack=stack, unread=[str(exc)])


def _the_role(stack_file: _StackFile, reads: _AtlasReads, iam: Any, role_arn: str | None,
              roles: Callable[[], RoleIndex] | None) -> tuple[str, str, list[Finding], list[str]]:
    """(role name, role ARN, findings, notes): `--role-arn`, or the role Atlas uses (_find_role)."""
    if role_arn:
        return parse_role_arn(role_arn, "--role-arn").name, role_arn, [], []
    assert reads.roles is not None  # asked of Atlas whenever no --role-arn is given
    return _find_role(reads.roles, iam, stack_file.settings(), stack_file.name, roles or (lambda: role_index(iam)))


def _judged_key(kms: Any, settings: Settings, key_arn: str | None) -> str | None:
    """The key to judge against comes from the stack, or from the key itself: never from the policies
    being judged."""
    if key_arn:
        return str(parse_key_arn(key_arn, "--key-arn"))
    if settings.key_arn:
        return str(settings.key_arn)
    return _created_key(kms, settings)


def _read_stack(stack_file: _StackFile, reads: _AtlasReads, iam: Any, role_name: str, role_arn: str,
                kms_for: Callable[[str], Any] | None, key_arn: str | None,
                restores: bool) -> tuple[_Checked, Evidence]:
    """Everything the verdict needs: the role's policies, Atlas's addresses and settings, the keys. The
    Atlas reads are under way meanwhile (_AtlasReads); the snapshot reads start once the clusters are known."""
    settings = stack_file.settings(role_arn)
    policies = live_policies(iam, role_name)
    identity = [(f"{p.kind} policy {p.name}", p.document) for p in policies]
    clusters = reads.clusters.result()
    if restores:
        reads.start_snapshots(clusters)
    addresses = build_address_set(reads.atlas.control_plane_outbound(), clusters, settings.selection)
    kms_in = kms_for or (lambda r: boto3.client("kms", region_name=r))
    kms = kms_in(settings.key_region)
    judged_key = _judged_key(kms, settings, key_arn)
    policy, note = read_key_policy(kms, judged_key) if judged_key else (None, "")
    ear, ear_note = _outcome(reads.encryption.result)
    # Warnings only: a malformed gateway list never hides the verdict.
    gateways, gateway_note = _outcome(reads.atlas.gateways)
    held = (ear or {}).get("customerMasterKeyID")
    generations = _generations(lambda r: kms if r == settings.key_region else kms_in(r), settings, judged_key, held)
    other_keys = tuple(sorted({*map(str, settings.retained_key_arns), *generations, *settings.replica_key_arns,
                               *([held] if isinstance(held, str) and held.startswith("arn:") else [])} - {judged_key}))
    endpoints, endpoints_note = _outcome(reads.endpoints.result) if reads.endpoints is not None else (None, "")
    checked = _Checked(settings, role_arn, policies, identity, clusters, addresses, kms, judged_key, generations,
                       gateways or [], gateway_note, other_keys)
    evidence = Evidence(role_arn=role_arn, key_arn=judged_key, identity=identity, key_policy=policy,
                        key_policy_note=note, atlas=ear, atlas_note=ear_note, gateways=gateways or [],
                        other_keys=other_keys, network=settings.network,
                        endpoint_regions=settings.private_endpoint_regions,
                        endpoint_ids=settings.private_endpoint_ids, endpoints=endpoints,
                        endpoints_note=endpoints_note)
    return checked, evidence


def _ownership(report: Report, iam: Any, checked: _Checked, evidence: Evidence, role_is_ours: bool) -> None:
    """`foreign` policies on the stack's own role (not on a role Atlas uses that is another's: the `atlas`
    finding says so), and the role of adopt.moveFrom for as long as it can use the key."""
    s = checked.settings
    if role_is_ours:
        report.findings += foreign_policies(((p.name, p.kind, p.tags) for p in checked.policies), s.project_id, s.stack)
    if s.adopt is not None and s.adopt.move_from is not None:
        _moved_from(report, iam, checked, evidence, s.adopt.move_from)


def _moved_from(report: Report, iam: Any, checked: _Checked, evidence: Evidence, old: RoleArn) -> None:
    """The role the stack moved Atlas from: its policies (one GetRole, then as for the stack's role) and the
    key policy, evaluated for the stack's key."""
    written = str(Arn(old.partition, "iam", "", old.account, f"role/{old.name}"))
    here = Arn.parse(checked.role_arn)
    if old.account != here.account:
        report.notes.append(f"the role {written} (adopt.moveFrom) not checked: it is in account {old.account}, the "
                            f"stack's role in {here.account}; check it with that account's credentials")
        return
    if old.name == here.name:
        report.notes.append(f"Atlas still uses the role {written} (adopt.moveFrom): `pulumi up` moves it to the "
                            "stack's own role")
        return
    try:
        arn = existing_role_arn(iam, old.name)
        identity = None if arn is None else [(f"{p.kind} policy {p.name} of role {old.name}", p.document)
                                             for p in live_policies(iam, old.name)]
        judge_moved_from(report, arn or written, identity, evidence, checked.settings.private_endpoint_ids)
    except (ReadError, CannotEvaluate) as exc:
        report.unread.append(f"the role {written} (adopt.moveFrom): {exc}")


def _outcome(read: Callable[[], T]) -> tuple[T | None, str]:
    """(what was read, "") or (None, why it could not be read)."""
    try:
        return read(), ""
    except ReadError as exc:
        return None, str(exc)


def _denied_of_stack(trail_for: Callable[[str], Any], report: Report, checked: _Checked, since: datetime) -> None:
    """CloudTrail's refused calls on every key the stack judges or grants on purpose."""
    keys = sorted({k for k in (checked.judged_key, *checked.other_keys) if k})
    if keys:
        _denied(trail_for(checked.settings.key_region), report, checked.role_arn, keys, since, checked.addresses,
                checked.gateways)
    else:
        report.notes.append("CloudTrail not checked: no key to look up (pass --key-arn)")


def _shared_index(iam: Any) -> Callable[[], RoleIndex]:
    """The role index, listed at most once per run however many stacks need it."""
    lock, cache = threading.Lock(), list[RoleIndex]()

    def get() -> RoleIndex:
        with lock:
            if not cache:
                cache.append(role_index(iam))
            return cache[0]

    return get


def stack_files(args: argparse.Namespace) -> list[Path]:
    if args.all_stacks:
        return sorted(p for p in Path(args.dir).glob("Pulumi.*.y*ml") if p.name not in NOT_STACKS)
    if args.stack_file:
        return [Path(args.stack_file)]
    return [Path(args.dir) / f"Pulumi.{args.stack}.yaml"]


def _duration(text: str) -> timedelta:
    """`--since`: 90m, 1h, 2d (CloudTrail keeps 90 days of event history)."""
    units = {"m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 1h or 2d")
    seconds = int(text[:-1]) * units[text[-1]]
    if seconds > 90 * 86400:
        raise argparse.ArgumentTypeError("CloudTrail keeps 90 days of event history: at most 90d")
    return timedelta(seconds=seconds)


def run(argv: list[str] | None = None, *, out: Callable[[str], None] = print,
        iam_factory: Callable[[], Any] | None = None, kms_factory: Callable[[str], Any] | None = None,
        trail_factory: Callable[[str], Any] | None = None, err: Callable[[str], None] | None = None) -> int:
    given = sys.argv[1:] if argv is None else list(argv)
    if given[:1] == ["guard"]:
        # `python -m drift guard PREVIEW_JSON`: judge a `pulumi preview --json` (drift/guard.py).
        return guard_main(given[1:], out=out, err=err)
    parser = argparse.ArgumentParser(
        prog="python -m drift", description=__doc__,
        epilog="python -m drift guard PREVIEW_JSON judges a `pulumi preview --json` instead (docs/drift.md).")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="stack name: reads <dir>/Pulumi.<stack>.yaml")
    which.add_argument("--stack-file", help="a Pulumi.<stack>.yaml file")
    which.add_argument("--all-stacks", action="store_true", help="every Pulumi.*.yaml in --dir, checked concurrently")
    parser.add_argument("--dir", default=".", help="where the stack files are (default: .)")
    parser.add_argument("--role-arn", help="the role to check, instead of finding it by its tags")
    parser.add_argument("--key-arn", help="the key to judge against, when the stack creates it in an account these "
                                          "credentials cannot list (key mode 3)")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per Atlas API request (default 10)")
    parser.add_argument("--retries", type=int, default=3, help="retries on 429/5xx/timeouts (default 3)")
    parser.add_argument("--no-restores", action="store_true", help="skip the backup snapshot reads (one per cluster); "
                                                                   "run them hourly or daily, not every 15 minutes")
    parser.add_argument("--since", type=_duration, default=timedelta(hours=1),
                        help="how far back to look for Atlas's denied KMS calls in CloudTrail (default 1h; 30m, 2d)")
    parser.add_argument("--no-cloudtrail", action="store_true", help="do not read CloudTrail for denied calls")
    args = parser.parse_args(given)

    files = stack_files(args)
    if not files:
        out(f"drift: ERROR, no Pulumi.<stack>.yaml files in {args.dir}")
        return 2
    try:
        atlas = AtlasClient.from_env(timeout=args.timeout, retries=args.retries)
    except ReadError as exc:
        reports = [Report(stack=stack_name(p) if p.name.startswith("Pulumi.") else p.name, unread=[str(exc)]) for p in files]
    else:
        iam = (iam_factory or (lambda: boto3.client("iam")))()
        roles = _shared_index(iam)
        # CloudTrail, in the key's region, with the credentials of the role's account (where KMS logs
        # Atlas's denied calls, even for a key in another account); one throttle per account and region.
        trail = None if args.no_cloudtrail else (
            trail_factory or (lambda region: cloudtrail_client(boto3.session.Session(), region)))
        since = datetime.now(UTC) - args.since
        with ThreadPoolExecutor(max_workers=min(8, len(files))) as pool:
            reports = list(pool.map(lambda p: check_stack(p, atlas, iam, args.role_arn, roles, kms_factory, args.key_arn,
                                                          trail, since, not args.no_restores), files))
        atlas.close()
    if args.json:
        body: Any = [r.to_json() for r in reports] if args.all_stacks else reports[0].to_json()
        out(json.dumps(body, indent=2))
    else:
        for report in reports:
            for line in report.lines():
                out(line)
    return max(r.exit_code for r in reports)


def main() -> None:
    sys.exit(run())

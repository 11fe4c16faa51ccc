"""Compare what Atlas uses with what the role and the key allow: exit 0 in sync, 1 drift, 2 could not decide."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3

from config.settings import SettingsError, parse_settings
from config.stackfile import StackFileError, read_stack_config, stack_name
from core.arns import Arn, ArnError, account_of, key_id_of, parse_key_arn, parse_role_arn, partition_of_arn
from core.errors import ReadError
from core.ips import AddressError, AddressSet, build_address_set
from core.policies import RESTORE_ACTIONS
from core.settings import MAX_KEY_GENERATION, NAMESPACE, TAG_PROJECT, TAG_STACK
from drift.aws_iam import RoleIndex, find_role, key_arn_of, live_policies, read_key_policy, role_index, role_tags
from drift.cloudtrail import cloudtrail_client, denied_calls
from drift.compare import ANY_ENDPOINT, Evidence, Finding, Report, judge
from drift.evaluate import CannotEvaluate, Labeled, Ranges, effective_allowed
from drift.guard import main as guard_main
from drift.restore import EvaluatedAccess, needed_keys, restore_gaps, retained_snapshots
from facts.atlas_api import AtlasClient

NOT_STACKS = {"Pulumi.yaml", "Pulumi.yml", "Pulumi.example.yaml"}


def _find_role(atlas: AtlasClient, iam: Any, settings: Any, stack: str,
               roles: Callable[[], RoleIndex]) -> tuple[str, str, list[Finding], list[str]]:
    """(role name, role ARN, findings, notes): the role Atlas really uses for encryption at rest.

    Asked of Atlas (one GET), checked against the program's tags with one GetRole: the cost does not
    depend on how many roles the account has. Tags are the fallback only when Atlas reports no role
    (mode 4 before the owner's grant, or before the first `pulumi up`): that lists every role.
    """
    try:
        used = atlas.encryption_roles(settings.project_id)
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


def _generations(kms: Any, settings: Any, judged_key: str | None) -> list[str]:
    """ARNs of the created generations the stack retains, found by their aliases as the program finds
    them (upward from 1 until one is missing; one DescribeKey each), the judged key and retired ones aside."""
    found = []
    for generation in range(1, MAX_KEY_GENERATION + 1):
        arn = key_arn_of(kms, settings.generation_alias(generation))
        if arn is None:
            if generation >= settings.key_generation:
                break
            continue
        if generation not in settings.retired_generations and arn != judged_key:
            found.append(arn)
    return found


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


def _restores(atlas: AtlasClient, kms: Any, settings: Any, report: Report, addresses: AddressSet,
              identity: list[Labeled], role_arn: str, stack_keys: list[str | None], clusters: list[str]) -> None:
    """`restore` findings: retained snapshots whose key the role can no longer use for a restore."""
    try:
        taken = retained_snapshots([s for c in clusters for s in atlas.snapshots(settings.project_id, c)],
                                   datetime.now(UTC))
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


def _judged_key(kms: Any, settings: Any, key_arn: str | None) -> str | None:
    """The key to judge against: `--key-arn`, the stack's `keyArn`, or the created key by its alias; never
    taken from the policies being judged."""
    if key_arn:
        return str(parse_key_arn(key_arn, "--key-arn"))
    if settings.key_arn:
        return str(settings.key_arn)
    return _created_key(kms, settings)


def _atlas_views(atlas: AtlasClient, settings: Any) -> tuple[dict[str, Any] | None, str, list[tuple[str, str, str]], str,
                                                              list[dict[str, Any]] | None, str]:
    """Atlas's encryption at rest, its gateways and (private networking) its KMS private endpoints, each with
    why it could not be read ("" when it was)."""
    try:
        ear, ear_note = atlas.encryption_at_rest(settings.project_id), ""
    except ReadError as exc:
        ear, ear_note = None, str(exc)
    try:
        gateways, gateway_note = atlas.gateways(), ""
    except ReadError as exc:
        gateways, gateway_note = [], str(exc)  # warnings only: a malformed gateway list never hides the verdict
    endpoints: list[dict[str, Any]] | None = None
    endpoints_note = ""
    if settings.uses_private:
        try:
            endpoints = atlas.kms_private_endpoints(settings.project_id)
        except ReadError as exc:
            endpoints_note = str(exc)
    return ear, ear_note, gateways, gateway_note, endpoints, endpoints_note


def check_stack(path: Path, atlas: AtlasClient, iam: Any, role_arn: str | None = None,
                roles: Callable[[], RoleIndex] | None = None, kms_for: Callable[[str], Any] | None = None,
                key_arn: str | None = None, trail_for: Callable[[str], Any] | None = None,
                since: datetime | None = None) -> Report:
    """One stack's report; a failure to read what the verdict needs becomes an `error` report."""
    stack = path.name
    try:
        stack = stack_name(path)
        raw = read_stack_config(path)
        # As the program's AWS provider: aws:region, else the standard chain (AWS_REGION, the profile).
        region = raw.get("aws:region") or boto3.session.Session().region_name
        gov = raw.get("mongodbatlas:isMongodbgovCloud")
        preliminary = parse_settings(raw, stack=stack, aws_region=region, atlas_gov=gov)
        found: list[Finding] = []
        notes: list[str] = []
        if role_arn:
            role_name = parse_role_arn(role_arn, "--role-arn").name
        else:
            role_name, role_arn, found, notes = _find_role(atlas, iam, preliminary, stack,
                                                           roles or (lambda: role_index(iam)))
        settings = parse_settings(raw, stack=stack, aws_region=region, role_account=account_of(role_arn),
                                  role_partition=partition_of_arn(role_arn), atlas_gov=gov)
        identity = [(f"{p.kind} policy {p.name}", p.document) for p in live_policies(iam, role_name)]
        clusters = atlas.project_clusters(settings.project_id)
        addresses = build_address_set(atlas.control_plane_outbound(), clusters, settings.selection)
        kms = (kms_for or (lambda r: boto3.client("kms", region_name=r)))(settings.key_region)
        judged_key = _judged_key(kms, settings, key_arn)
        policy, note = read_key_policy(kms, judged_key) if judged_key else (None, "")
        ear, ear_note, gateways, gateway_note, endpoints, endpoints_note = _atlas_views(atlas, settings)
        held = (ear or {}).get("customerMasterKeyID")
        generations = _generations(kms, settings, judged_key)
        other_keys = tuple(sorted({*map(str, settings.retained_key_arns), *generations, *settings.replica_key_arns,
                                   *([held] if isinstance(held, str) and held.startswith("arn:") else [])} - {judged_key}))
        evidence = Evidence(role_arn=role_arn, key_arn=judged_key, identity=identity, key_policy=policy,
                            key_policy_note=note, atlas=ear, atlas_note=ear_note, gateways=gateways,
                            other_keys=other_keys, network=settings.network,
                            endpoint_regions=settings.private_endpoint_regions,
                            endpoint_ids=settings.private_endpoint_ids, endpoints=endpoints,
                            endpoints_note=endpoints_note)
        report = judge(stack, addresses, evidence, enforce_ip=settings.enforce_ip,
                       expects_encryption=settings.enables_encryption)
        report.findings[:0] = found
        report.notes += notes
        if gateway_note:
            report.notes.append(f"gateways not checked ({gateway_note})")
        _restores(atlas, kms, settings, report, addresses, identity, role_arn, [judged_key, *generations],
                  [c.name for c in clusters])
        if trail_for is not None and since is not None:
            keys = sorted({k for k in (judged_key, *other_keys) if k})
            if keys:
                _denied(trail_for(settings.key_region), report, role_arn, keys, since, addresses, gateways)
            else:
                report.notes.append("CloudTrail not checked: no key to look up (pass --key-arn)")
        return report
    except SettingsError as exc:
        return Report(stack=stack, unread=["; ".join(exc.problems)])
    except (ReadError, StackFileError, ArnError, AddressError, CannotEvaluate) as exc:
        return Report(stack=stack, unread=[str(exc)])


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
                                                          trail, since), files))
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

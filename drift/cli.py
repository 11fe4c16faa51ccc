"""Compare what Atlas uses with what the role and the key allow: exit 0 in sync, 1 drift, 2 could not decide."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

from config.settings import SettingsError, parse_settings
from config.stackfile import StackFileError, read_stack_config, stack_name
from core.arns import ArnError, parse_key_arn, parse_role_arn
from core.ips import AddressError, build_address_set
from drift.atlas_api import AtlasClient
from drift.aws_iam import RoleIndex, find_created_key, find_role, key_policy, live_policies, role_index
from drift.compare import DriftError, Evidence, Report, judge

NOT_STACKS = {"Pulumi.yaml", "Pulumi.yml", "Pulumi.example.yaml"}


def check_stack(path: Path, atlas: AtlasClient, iam: Any, role_arn: str | None = None,
                roles: Callable[[], RoleIndex] | None = None, kms_for: Callable[[str], Any] | None = None,
                key_arn: str | None = None) -> Report:
    """One stack's report; a failure to read what the verdict needs becomes an `error` report."""
    stack = path.name
    try:
        stack = stack_name(path)
        raw = read_stack_config(path)
        # As the program's AWS provider: aws:region, else the standard chain (AWS_REGION, the profile).
        region = raw.get("aws:region") or boto3.session.Session().region_name
        gov = raw.get("mongodbatlas:isMongodbgovCloud")
        preliminary = parse_settings(raw, stack=stack, aws_region=region, atlas_gov=gov)
        if role_arn:
            role_name = parse_role_arn(role_arn, "--role-arn").name
        else:
            role_name, role_arn = find_role((roles or (lambda: role_index(iam)))(), preliminary.project_id, stack)
        settings = parse_settings(raw, stack=stack, aws_region=region, role_account=role_arn.split(":")[4],
                                  role_partition=role_arn.split(":")[1], atlas_gov=gov)
        identity = [(f"{p.kind} policy {p.name}", p.document) for p in live_policies(iam, role_name)]
        addresses = build_address_set(
            atlas.control_plane_outbound(), atlas.project_clusters(settings.project_id), settings.selection
        )
        kms = (kms_for or (lambda r: boto3.client("kms", region_name=r)))(settings.key_region)
        # The key to judge against comes from the stack, or from the key itself: never from the
        # policies being judged.
        if key_arn:
            judged_key: str | None = str(parse_key_arn(key_arn, "--key-arn"))
        elif settings.key_arn:
            judged_key = str(settings.key_arn)
        else:
            judged_key = find_created_key(kms, settings.project_id, stack)
        policy, note = key_policy(kms, judged_key) if judged_key else (None, "")
        try:
            ear, ear_note = atlas.encryption_at_rest(settings.project_id), ""
        except DriftError as exc:
            ear, ear_note = None, str(exc)
        try:
            gateways = atlas.gateways()
        except DriftError:
            gateways = []  # warnings only: a malformed gateway list never hides the verdict
        evidence = Evidence(role_arn=role_arn, key_arn=judged_key, identity=identity, key_policy=policy,
                            key_policy_note=note, atlas=ear, atlas_note=ear_note, gateways=gateways)
        return judge(stack, addresses, evidence, enforce_ip=settings.enforce_ip,
                     expects_encryption=settings.enables_encryption)
    except SettingsError as exc:
        return Report(stack=stack, unread=["; ".join(exc.problems)])
    except (DriftError, StackFileError, ArnError, AddressError) as exc:
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


def run(argv: list[str] | None = None, *, out: Callable[[str], None] = print,
        iam_factory: Callable[[], Any] | None = None, kms_factory: Callable[[str], Any] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drift", description=__doc__)
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
    args = parser.parse_args(argv)

    files = stack_files(args)
    if not files:
        out(f"drift: ERROR, no Pulumi.<stack>.yaml files in {args.dir}")
        return 2
    try:
        atlas = AtlasClient.from_env(timeout=args.timeout, retries=args.retries)
    except DriftError as exc:
        reports = [Report(stack=stack_name(p) if p.name.startswith("Pulumi.") else p.name, unread=[str(exc)]) for p in files]
    else:
        iam = (iam_factory or (lambda: boto3.client("iam")))()
        roles = _shared_index(iam)
        with ThreadPoolExecutor(max_workers=min(8, len(files))) as pool:
            reports = list(pool.map(lambda p: check_stack(p, atlas, iam, args.role_arn, roles, kms_factory, args.key_arn), files))
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

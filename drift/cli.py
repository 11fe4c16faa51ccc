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
from core.arns import ArnError, parse_role_arn
from core.ips import AddressError, build_address_set
from core.policies import PolicySizeError, plan_policies
from drift.atlas_api import AtlasClient
from drift.aws_iam import RoleIndex, find_role, live_policies, role_index
from drift.compare import DriftError, Report, compare, live_key_arn

NOT_STACKS = {"Pulumi.yaml", "Pulumi.yml", "Pulumi.example.yaml"}


def check_stack(path: Path, atlas: AtlasClient, iam: Any, role_arn: str | None = None,
                roles: Callable[[], RoleIndex] | None = None) -> Report:
    """One stack's report; every failure becomes an `error` report with a one-line reason."""
    stack = path.name
    try:
        stack = stack_name(path)
        raw = read_stack_config(path)
        region = raw.get("aws:region")
        preliminary = parse_settings(raw, stack=stack, aws_region=region)
        if role_arn:
            role_name = parse_role_arn(role_arn, "--role-arn").name
        else:
            role_name, role_arn = find_role((roles or (lambda: role_index(iam)))(), preliminary.project_id, stack)
        account = role_arn.split(":")[4]
        settings = parse_settings(raw, stack=stack, aws_region=region, role_account=account,
                                  role_partition=role_arn.split(":")[1])
        live = live_policies(iam, role_name)
        addresses = build_address_set(
            atlas.control_plane_outbound(), atlas.project_clusters(settings.project_id), settings.selection
        )
        key_arn = str(settings.key_arn) if settings.key_arn else live_key_arn(live)
        if not key_arn:
            raise DriftError(f"cannot tell the key ARN: the role {role_name} has no atlas-kms statement and keyArn is not set")
        plan = plan_policies(addresses.cidrs, kind=settings.policy_kind, enforce_ip=settings.enforce_ip,
                             manage_key_policy=False)
        return compare(stack, role_arn, key_arn, addresses, plan.role_documents(key_arn), live)
    except SettingsError as exc:
        return Report(stack=stack, status="error", reason="; ".join(exc.problems))
    except (DriftError, StackFileError, ArnError, AddressError, PolicySizeError) as exc:
        return Report(stack=stack, status="error", reason=str(exc))


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
        iam_factory: Callable[[], Any] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drift", description=__doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="stack name: reads <dir>/Pulumi.<stack>.yaml")
    which.add_argument("--stack-file", help="a Pulumi.<stack>.yaml file")
    which.add_argument("--all-stacks", action="store_true", help="every Pulumi.*.yaml in --dir, checked concurrently")
    parser.add_argument("--dir", default=".", help="where the stack files are (default: .)")
    parser.add_argument("--role-arn", help="the role to check, instead of finding it by its tags")
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
        reports = [Report(stack=stack_name(p) if p.name.startswith("Pulumi.") else p.name, status="error", reason=str(exc)) for p in files]
    else:
        iam = (iam_factory or (lambda: boto3.client("iam")))()
        roles = _shared_index(iam)
        with ThreadPoolExecutor(max_workers=min(8, len(files))) as pool:
            reports = list(pool.map(lambda p: check_stack(p, atlas, iam, args.role_arn, roles), files))
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

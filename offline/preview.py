"""Offline preview: run the real program on bundled sample answers and print the plan.

    venv/bin/python -m offline.preview --stack-file samples/stacks/Pulumi.same-account.yaml

No Pulumi CLI, no credentials, no network: Pulumi's mock runtime stands in for the
engine, and the Atlas and AWS lookups are answered from `samples/atlas/`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pulumi

from config.stackfile import StackFileError, read_stack_config, stack_name
from core.policies import policy_size
from offline.harness import ROOT, ProgramRun, Registration, World, run_program

POLICY_INPUTS = ("policy", "assumeRolePolicy")
SHORT_TYPES = {
    "atlas-kms:index:AtlasKmsEncryption": "component",
}


def _short_urn(urn: str) -> str:
    return urn.split("::")[-1] if urn else ""


def _provider_label(reg: Registration) -> str:
    if not reg.provider:
        return "default provider"
    return "provider " + reg.provider.rsplit("::", 1)[0].split("::")[-1]


def _render_value(key: str, value: Any) -> list[str]:
    if key in POLICY_INPUTS and isinstance(value, str):
        doc = json.loads(value)
        size = policy_size(doc)
        lines = [f"    {key}: ({size:,} characters without whitespace)"]
        lines += ["      " + line for line in json.dumps(doc, indent=2, sort_keys=True).splitlines()]
        return lines
    if isinstance(value, dict | list):
        return [f"    {key}: {json.dumps(value, sort_keys=True)}"]
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # the engine carries every number as a double
    return [f"    {key}: {value}"]


def render(run: ProgramRun, stack: str) -> str:
    out: list[str] = [f"Offline preview of stack {stack!r} (Pulumi mock runtime, sample Atlas answers)", ""]
    custom = [r for r in run.registrations if r.type not in SHORT_TYPES]
    out.append(f"Resources to create: {len(custom)} (+1 component)")
    for reg in custom:
        flags = [_provider_label(reg)]
        if reg.protect:
            flags.append("PROTECTED")
        if reg.retain_on_delete:
            flags.append("retained on delete")
        out.append("")
        out.append(f"+ {reg.type}  {reg.name}  [{', '.join(flags)}]")
        if reg.dependencies:
            out.append("    depends on: " + ", ".join(sorted(_short_urn(d) for d in reg.dependencies)))
        for key in sorted(reg.inputs):
            out += _render_value(key, reg.inputs[key])
    if run.logs:
        out += ["", "Messages:"] + [f"  {line}" for line in run.logs]
    out += ["", "Outputs:"]
    for key in sorted(run.outputs):
        value = run.outputs[key]
        if isinstance(value, list | dict):
            out.append(f"  {key}: " + json.dumps(value, indent=2, sort_keys=True).replace("\n", "\n  "))
        else:
            out.append(f"  {key}: {value}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stack-file",
        type=Path,
        default=ROOT / "samples" / "stacks" / "Pulumi.same-account.yaml",
        help="a Pulumi.<stack>.yaml file (default: the same-account sample)",
    )
    args = parser.parse_args(argv)
    try:
        config = read_stack_config(args.stack_file)
        stack = stack_name(args.stack_file)
    except StackFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        run = run_program(config, stack=stack, world=World.sample())
    except pulumi.RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(run, stack))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

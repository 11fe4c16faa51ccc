"""Offline preview: run the real program on bundled sample answers and print the plan.

    venv/bin/python -m offline.preview --stack-file samples/stacks/Pulumi.same-account.yaml
    venv/bin/python -m offline.preview --save-state state.json            # the state `pulumi up` would leave
    venv/bin/python -m offline.preview --state state.json --project-addresses new.json --json   # the digest

`--json` prints what `pulumi preview --json --show-sames` prints (offline/digest.py), from the stored state
of `--state` (offline/state.py) to this run, the update simulator deciding the steps.

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
from offline import worlds
from offline.digest import SECRET, engine_order, error_digest, preview_digest, shown
from offline.harness import ROOT, ProgramRun, Registration, World, run_program
from offline.model import as_engine_holds, differs, is_secret, reveal
from offline.state import StateError, load_state, save_state

POLICY_INPUTS = ("policy", "assumeRolePolicy")
SHORT_TYPES = {
    "atlas-kms:index:AtlasKmsEncryption": "component",
}
PLACEHOLDER_NOTE = "(placeholder)"


def _short_urn(urn: str) -> str:
    return urn.split("::")[-1] if urn else ""


def _provider_label(reg: Registration) -> str:
    if reg.type.startswith("pulumi:providers:"):
        return "explicit provider resource"
    if not reg.provider:
        return "default provider"
    return "provider " + reg.provider.rsplit("::", 1)[0].split("::")[-1]


def _scalar(value: Any) -> str:
    # JSON spelling (true, false, null), as `pulumi preview` prints values.
    return value if isinstance(value, str) else json.dumps(value)


def _mark(text: str, placeholders: set[str]) -> str:
    """Flag ids and ARNs the offline model made up: real ones are known only after `pulumi up`."""
    hits = [p for p in placeholders if p and p in text]
    return f"{text}  {PLACEHOLDER_NOTE}" if hits else text


def _render_value(key: str, value: Any, placeholders: set[str]) -> list[str]:
    if key in POLICY_INPUTS and isinstance(value, str):
        doc = json.loads(value)
        size = policy_size(doc)
        lines = [f"    {key}: ({size:,} characters without whitespace)"]
        lines += ["      " + _mark(line, placeholders) for line in json.dumps(doc, indent=2, sort_keys=True).splitlines()]
        return lines
    value = shown(value)
    if isinstance(value, dict | list):
        return [_mark(f"    {key}: {json.dumps(value, sort_keys=True)}", placeholders)]
    return [_mark(f"    {key}: {_scalar(value)}", placeholders)]


def import_updates(run: ProgramRun, world: World) -> dict[str, list[str]]:
    """For each import: the properties the program sets otherwise than the existing object has them, which
    the same run updates in place (the engine's import diffs like any update)."""
    out: dict[str, list[str]] = {}
    for reg in run.registrations:
        found = next((st for (t, _), (i, st) in world.unmanaged.items() if t == reg.type and i == reg.import_id), None)
        if reg.import_id and found is not None:
            out[reg.urn] = sorted(k for k, v in reveal(reg.inputs).items() if differs(v, reveal(found.get(k))))
    return out


def render(run: ProgramRun, stack: str, updates: dict[str, list[str]] | None = None) -> str:
    out: list[str] = [f"Offline preview of stack {stack!r} (Pulumi mock runtime, sample Atlas answers)",
                      f"Ids and ARNs marked {PLACEHOLDER_NOTE} are made up offline; {SECRET} is what "
                      "`pulumi preview` shows for a secret.", ""]
    custom = [r for r in engine_order(run.registrations) if r.type not in SHORT_TYPES]
    imported = [r for r in custom if r.import_id]
    out.append(f"Resources to create: {len(custom) - len(imported)} (+1 component)"
               + (f"; to import: {len(imported)} (read from what exists, then updated in place)" if imported else ""))
    for reg in custom:
        flags = [_provider_label(reg)]
        if reg.protect:
            flags.append("PROTECTED")
        if reg.retain_on_delete:
            flags.append("retained on delete")
        out.append("")
        if reg.import_id:
            out.append(f"= {reg.type}  {reg.name}  [import {reg.import_id}, {', '.join(flags)}]")
            changed = (updates or {}).get(reg.urn)
            if changed:
                out.append(f"    ~ then updated in place: {', '.join(changed)}")
        else:
            out.append(f"+ {reg.type}  {reg.name}  [{', '.join(flags)}]")
        if reg.dependencies:
            out.append("    depends on: " + ", ".join(sorted(_short_urn(d) for d in reg.dependencies)))
        held = as_engine_holds(reg.type, reg.inputs)
        for key in sorted(held):
            out += _render_value(key, held[key], run.placeholders)
        secret_state = sorted(k for k, v in reg.state.items() if is_secret(v) and k not in reg.inputs)
        secret_state += sorted(k for k, v in reg.state.items() if is_secret(v) and k in reg.inputs and not is_secret(reg.inputs[k]))
        for key in secret_state:
            out.append(f"    {key} (returned by the provider): {SECRET}")
    if run.logs:
        out += ["", "Messages:"] + [f"  {line}" for line in run.logs]
    out += ["", "Outputs:"]
    for key in sorted(run.outputs):
        value = SECRET if key in run.secret_outputs else shown(run.outputs[key])
        if isinstance(value, list | dict):
            text = json.dumps(value, indent=2, sort_keys=True).replace("\n", "\n  ")
            out.append(f"  {key}: " + text)
        else:
            out.append(_mark(f"  {key}: {_scalar(value)}", run.placeholders))
    return "\n".join(out) + "\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m offline.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--stack-file",
        type=Path,
        default=ROOT / "samples" / "stacks" / "Pulumi.same-account.yaml",
        help="a Pulumi.<stack>.yaml file (default: the same-account sample)",
    )
    parser.add_argument(
        "--world",
        type=Path,
        help="a world file (samples/worlds/): what exists outside the stack, set up by hand or by Terraform",
    )
    parser.add_argument("--project-addresses", type=Path, metavar="FILE",
                        help="Atlas's answer of GET /groups/{groupId}/ipAddresses to use instead of "
                             "samples/atlas/project-ip-addresses.json (the same shape)")
    parser.add_argument("--state", type=Path, metavar="FILE",
                        help="the stored state of a previous run (written by --save-state): preview the update from it")
    parser.add_argument("--save-state", type=Path, metavar="FILE",
                        help="write the state this run leaves once applied (`pulumi up`), for a later --state")
    parser.add_argument("--json", action="store_true",
                        help="print the preview digest `pulumi preview --json --show-sames` prints, from --state "
                             "(or from nothing) to this run")
    return parser


def _world(args: argparse.Namespace, before: ProgramRun | None) -> World:
    """The world this run answers from: the samples, what exists outside the stack (--world), Atlas's
    project addresses (--project-addresses), and the stored state (--state)."""
    world = World.sample()
    if args.world is not None:
        world.unmanaged = worlds.load(args.world)
    if args.project_addresses is not None:
        project = json.loads(args.project_addresses.read_text())
        if not isinstance(project, dict) or not isinstance((project.get("services") or {}).get("clusters"), list):
            raise ValueError(f"{args.project_addresses}: not an answer of GET /groups/{{groupId}}/ipAddresses "
                             "(no services.clusters list)")
        world.project = project
    if before is not None:
        world.stored = before.stored_state()
    return world


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = read_stack_config(args.stack_file)
        stack = stack_name(args.stack_file)
        before = load_state(args.state) if args.state is not None else None
        world = _world(args, before)
    except (StackFileError, StateError, OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        # The digest is a preview's: what is not created yet has no id, and what depends on it is unknown.
        run = run_program(config, stack=stack, world=world, preview=args.json)
        if args.save_state is not None:
            save_state(run if not args.json else run_program(config, stack=stack, world=_world(args, before)),
                       args.save_state)
    except pulumi.RunError as exc:
        if args.json:
            print(json.dumps(error_digest(stack, config, str(exc)), indent=4))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        digest = preview_digest(before, run)
        print(json.dumps(digest, indent=4))
        return 1 if any(d["severity"] == "error" for d in digest["diagnostics"]) else 0
    sys.stdout.write(render(run, stack, import_updates(run, world)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

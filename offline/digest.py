"""The preview digest `pulumi preview --json --show-sames` prints, computed offline.

From a stored state (a previous run, `offline/state.py`) and this run's registrations, the update
simulator (`offline/simulator.plan`) derives the engine's steps; this module prints them in the shape of
Pulumi's preview digest (pulumi/pulumi pkg/display/json.go PreviewDigest, pkg/backend/display/json.go
ShowPreviewDigest): top-level `config`, `steps[]`, `diagnostics[]`, `changeSummary`; each step with `op`,
`urn`, `provider`, `oldState`/`newState` as apitype.ResourceV3 (`urn`, `custom`, `id`, `type`, `inputs`,
`outputs`, `parent`, `protect`, `retainOnDelete`, `dependencies`, `provider`), `diffReasons`,
`replaceReasons` and `detailedDiff`. As the CLI prints them: secrets as "[secret]" (MassageSecrets),
values not known in a preview as Pulumi's unknown string (pkg/resource/stack SerializePropertyValue),
`protect`/`retainOnDelete` only when true (omitempty), a replacement as `create-replacement`, `replace`
and, with the deletes at the end, `delete-replaced`; the stack itself and the default providers are
steps too, and unchanged resources are `same` steps (`--show-sames`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pulumi.output import Unknown

from config.settings import SECRET_IN_STACK_FILE
from offline.harness import ProgramRun, Registration, engine_urn
from offline.model import REPLACE_ON, as_engine_holds, is_secret
from offline.simulator import EngineRefusedError, Step, plan

# Pulumi's UnknownStringValue (sdk/go/common/resource/plugin), and how a secret is printed.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SECRET = "[secret]"
PROJECT = "atlas-kms"
STACK_TYPE = "pulumi:pulumi:Stack"
# Ops the change summary does not count: the halves of a replacement (counted once, as `replace`).
UNCOUNTED = ("create-replacement", "delete-replaced")


def shown(value: Any) -> Any:
    """A value as `pulumi preview --json` prints it: secrets hidden, unknowns as the placeholder, whole
    numbers as integers (the engine carries every number as a double)."""
    if is_secret(value):
        return SECRET
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shown(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def stack_urn(stack: str) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{STACK_TYPE}::{PROJECT}-{stack}"


def default_provider(stack: str, typ: str) -> str:
    """The reference `urn::id` of the default provider of a resource's package. The engine names it
    `default_<version>`; offline it is `default`, and its id is made up (stable)."""
    urn = f"urn:pulumi:{stack}::{PROJECT}::pulumi:providers:{typ.split(':', 1)[0]}::default"
    return f"{urn}::{uuid.uuid5(uuid.NAMESPACE_URL, urn)}"


def _provider_of(r: Registration, stack: str) -> str:
    if r.provider:
        return engine_urn(r.provider)
    custom = not r.type.startswith(PROJECT + ":")
    return default_provider(stack, r.type) if custom and not r.type.startswith("pulumi:providers:") else ""


def resource(r: Registration, stack: str) -> dict[str, Any]:
    """apitype.ResourceV3 of one registration (in a preview, a resource to create has no id yet)."""
    out: dict[str, Any] = {"urn": engine_urn(r.urn), "custom": not r.type.startswith(PROJECT + ":"), "type": r.type,
                           "inputs": shown(as_engine_holds(r.type, r.inputs)), "outputs": shown(r.state),
                           "parent": engine_urn(r.parent)}
    if r.id:
        out["id"] = r.id
    if r.protect:
        out["protect"] = True
    if r.retain_on_delete:
        out["retainOnDelete"] = True
    if r.dependencies:
        out["dependencies"] = [engine_urn(d) for d in r.dependencies]
    provider = _provider_of(r, stack)
    if provider:
        out["provider"] = provider
    return out


def _diff(step: Step, old: Registration, new: Registration, forced: frozenset[str]) -> dict[str, Any]:
    kinds = {}
    for key in step.changed:
        kind = "add" if key not in old.inputs else "delete" if key not in new.inputs else "update"
        kinds[key] = {"kind": f"{kind}-replace" if key in forced else kind, "inputDiff": False}
    return {"diffReasons": list(step.changed), "detailedDiff": kinds}


def _step(op: str, urn: str, provider: str, old: dict[str, Any] | None, new: dict[str, Any] | None,
          **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"op": op, "urn": engine_urn(urn)}
    if provider:
        out["provider"] = provider
    if old is not None:
        out["oldState"] = old
    if new is not None:
        out["newState"] = new
    return {**out, "detailedDiff": None, **extra}


def engine_order(registrations: list[Registration]) -> list[Registration]:
    """Parents, providers and dependencies first (the engine registers nothing before them), ties by type
    and name, so that the same program prints the same digest whatever order the SDK's threads took."""
    by_urn = {r.urn: r for r in registrations}
    done: set[str] = set()
    out: list[Registration] = []

    def visit(r: Registration) -> None:
        if r.urn in done:
            return
        done.add(r.urn)
        provider = r.provider.rsplit("::", 1)[0] if r.provider else ""
        for urn in [r.parent, provider, *sorted(r.dependencies)]:
            if urn in by_urn:
                visit(by_urn[urn])
        out.append(r)

    for r in sorted(registrations, key=lambda r: (r.type, r.name)):
        visit(r)
    return out


def _resource_steps(before: ProgramRun, after: ProgramRun, steps: list[Step]) -> list[dict[str, Any]]:
    stack = after.stack
    old = {(r.type, r.name): r for r in before.registrations if not r.unmanaged and not r.pending_delete}
    found = {s.key: s for s in steps if s.kind not in ("delete", "delete-replaced")}
    out: list[dict[str, Any]] = []
    for r in engine_order(after.registrations):
        k, s = (r.type, r.name), found.get((r.type, r.name))
        provider = _provider_of(r, stack)
        new = resource(r, stack)
        if s is None:
            out.append(_step("same", r.urn, provider, resource(old[k], stack), new))
        elif s.kind in ("create", "import"):
            out.append(_step(s.kind, r.urn, provider, None, new, **({"diffReasons": list(s.changed)} if s.changed else {})))
        elif s.kind == "update":
            out.append(_step("update", r.urn, provider, resource(old[k], stack), new,
                             **_diff(s, old[k], r, frozenset())))
        else:  # replace: the new resource first, then the old one is deleted with the deletes
            forced = REPLACE_ON.get(r.type, frozenset()) | set(r.replace_on_changes)
            diff = _diff(s, old[k], r, frozenset(forced))
            reasons = [key for key in s.changed if key in forced] or list(s.changed)
            for op in ("create-replacement", "replace"):
                out.append(_step(op, r.urn, provider, resource(old[k], stack), new, **diff,
                                 replaceReasons=reasons))
    for s in steps:
        if s.kind in ("delete", "delete-replaced"):
            gone = next(r for r in before.registrations if (r.type, r.name) == s.key and not r.unmanaged)
            out.append(_step(s.kind, gone.urn, _provider_of(gone, stack), resource(gone, stack), None))
    return out


def _top_steps(before: ProgramRun | None, after: ProgramRun) -> list[dict[str, Any]]:
    """The stack resource and the default providers, as the engine registers them first."""
    stack, existed = after.stack, before is not None and bool(before.registrations)
    root = stack_urn(stack)
    outputs = {k: SECRET if k in after.secret_outputs else shown(v) for k, v in after.outputs.items()}
    old_outputs = {k: SECRET if k in before.secret_outputs else shown(v) for k, v in before.outputs.items()} \
        if before is not None else {}

    def state(outs: dict[str, Any]) -> dict[str, Any]:
        return {"urn": root, "custom": False, "type": STACK_TYPE, "inputs": {}, "outputs": outs}

    out = [_step("same" if existed else "create", root, "", state(old_outputs) if existed else None, state(outputs))]
    used = sorted({default_provider(stack, r.type) for r in after.registrations if _provider_of(r, stack)
                   and not r.provider})
    stored = {default_provider(stack, r.type) for r in (before.registrations if before is not None else [])}
    for ref in used:
        urn, id_ = ref.rsplit("::", 1)
        provider = {"urn": urn, "custom": True, "id": id_, "type": urn.split("::")[2], "inputs": {}, "outputs": {},
                    "parent": ""}
        out.append(_step("same" if ref in stored else "create", urn, "", provider if ref in stored else None, provider))
    return out


def _diagnostics(after: ProgramRun, urn: str) -> list[dict[str, Any]]:
    """The program's messages: `warning: ...` lines as warnings, the rest as info."""
    out = []
    for line in after.logs:
        severity, _, message = line.partition(": ")
        out.append({"urn": urn, "message": f"{severity}: {message}" if severity == "warning" else message,
                    "severity": "warning" if severity == "warning" else "info"})
    return out


def config_shown(config: Mapping[str, str]) -> dict[str, str]:
    """The stack config as the digest prints it: a secret one as [secret]."""
    return {k: SECRET if SECRET_IN_STACK_FILE in v else v for k, v in sorted(config.items())}


def preview_digest(before: ProgramRun | None, after: ProgramRun) -> dict[str, Any]:
    """The digest of the update from `before` (the stored state; None: a stack never deployed) to `after`.
    An update the engine refuses (a protected resource deleted or replaced) is an error diagnostic, as the
    CLI reports it, with no resource step."""
    start = before or ProgramRun(outputs={}, registrations=[], calls=[], logs=[], stack=after.stack)
    component = next((engine_urn(r.urn) for r in after.registrations if r.type.startswith(PROJECT + ":")),
                     stack_urn(after.stack))
    diagnostics = _diagnostics(after, component)
    try:
        steps = _top_steps(before, after) + _resource_steps(start, after, plan(start, after))
    except EngineRefusedError as exc:
        steps = []
        diagnostics.append({"urn": stack_urn(after.stack), "message": f"error: {exc}", "severity": "error"})
    summary: dict[str, int] = {}
    for s in steps:
        if s["op"] not in UNCOUNTED:
            summary[s["op"]] = summary.get(s["op"], 0) + 1
    return {"config": config_shown(after.config), "steps": steps, "diagnostics": diagnostics,
            "changeSummary": summary}


def error_digest(stack: str, config: Mapping[str, str], message: str) -> dict[str, Any]:
    """What the CLI prints when the program fails: no step, the error as a diagnostic."""
    return {"config": config_shown(config), "steps": [],
            "diagnostics": [{"urn": stack_urn(stack), "message": f"error: {message}", "severity": "error"}],
            "changeSummary": {}}

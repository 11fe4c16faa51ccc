"""The stored state of an offline run: what `pulumi up` would leave, written to a file and read back.

`python -m offline.preview --save-state FILE` writes it; `--state FILE` previews the next run against it
(the offline model's providers and lookups answer from it, as after a real `pulumi up`). The format, version 1:

    {"version": 1, "stack": "prod", "project": "atlas-kms",
     "outputs": {...the stack outputs...}, "secretOutputs": ["..."],
     "resources": [{"urn", "type", "name", "id", "parent", "provider", "protect", "retainOnDelete",
                    "dependencies", "inputs", "outputs", "replaceOnChanges", "importId", "delete"}, ...]}

one resource per registration of the run, in registration order: `inputs` as the program registered them,
`outputs` the state the provider returned (ids, ARNs, computed fields), `delete` true for a resource left
marked for deletion. A secret value is kept as the engine carries it in the Python SDK, an object with the
secret signature (`{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": ...}`),
in the clear: this is the offline model's file, never a real stack's state (Pulumi's own state encrypts
secrets). What exists outside the state (`--world`) is not in it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from offline.harness import ProgramRun, Registration

VERSION = 1
PROJECT = "atlas-kms"


class StateError(ValueError):
    """A state file that cannot be read."""


def to_json(run: ProgramRun) -> dict[str, Any]:
    resources = [{
        "urn": r.urn, "type": r.type, "name": r.name, "id": r.id, "parent": r.parent, "provider": r.provider,
        "protect": r.protect, "retainOnDelete": r.retain_on_delete, "dependencies": list(r.dependencies),
        "inputs": r.inputs, "outputs": r.state, "replaceOnChanges": list(r.replace_on_changes),
        "importId": r.import_id, "delete": r.pending_delete,
    } for r in run.registrations if not r.unmanaged]
    return {"version": VERSION, "stack": run.stack, "project": PROJECT, "outputs": run.outputs,
            "secretOutputs": sorted(run.secret_outputs), "resources": resources}


def from_json(data: Any) -> ProgramRun:
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("resources"), list):
        raise StateError(f"not a version {VERSION} state file (python -m offline.preview --save-state writes one)")
    try:
        registrations = [Registration(
            type=r["type"], name=r["name"], urn=r["urn"], id=r["id"], parent=r.get("parent", ""),
            provider=r.get("provider", ""), protect=bool(r.get("protect")), retain_on_delete=bool(r.get("retainOnDelete")),
            dependencies=list(r.get("dependencies") or []), inputs=dict(r.get("inputs") or {}),
            state=dict(r.get("outputs") or {}), replace_on_changes=list(r.get("replaceOnChanges") or []),
            import_id=str(r.get("importId") or ""), pending_delete=bool(r.get("delete"))) for r in data["resources"]]
    except (KeyError, TypeError) as exc:
        raise StateError(f"a resource of the state file lacks {exc}") from None
    return ProgramRun(outputs=dict(data.get("outputs") or {}), registrations=registrations, calls=[], logs=[],
                      secret_outputs=set(data.get("secretOutputs") or []), stack=str(data.get("stack") or "dev"))


def save_state(run: ProgramRun, path: Path) -> None:
    path.write_text(json.dumps(to_json(run), indent=2, sort_keys=True) + "\n")


def load_state(path: Path) -> ProgramRun:
    try:
        return from_json(json.loads(path.read_text()))
    except (OSError, ValueError) as exc:
        if isinstance(exc, StateError):
            raise
        raise StateError(f"cannot read the state file {path}: {exc}") from None

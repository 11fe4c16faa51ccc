"""`make heal-demo`: the scheduled job of .github/workflows/heal.yml, offline, as a newcomer would watch it.

No account, no Pulumi CLI, no network. The stack `same-account` is applied by the offline model and made
real in the drift command's stand-ins on 127.0.0.1 (moto's IAM and KMS, the Atlas Admin API stand-in:
offline/heal.py). Atlas adds a node; the job's steps run as real commands: the preview digest
(`python -m offline.preview --json` standing in for `pulumi preview --json --show-sames`), the guard, the
targeted `pulumi up` (in the update simulator, then written to the stand-ins), the drift command. Then a
change that is not only addresses: the guard refuses it and nothing is applied.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACK = "same-account"
STACK_FILE = ROOT / "samples" / "stacks" / f"Pulumi.{STACK}.yaml"
NODES = ("198.51.100.150", "198.51.100.151")


def _say(text: str) -> None:
    print(f"\n# {text}", flush=True)


def _command(args: list[str], shown: str, out: Path | None = None, *, note: str = "") -> int:
    """One command as a real process; its output printed (or written to `out`, as `> out` would)."""
    print(f"$ {shown}" + (f" > {out.name}" if out is not None else "") + (f"   # {note}" if note else ""), flush=True)
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                          timeout=120, check=False)
    if out is not None:
        out.write_text(done.stdout)
    else:
        print(done.stdout.rstrip())
    if done.stderr.strip():
        print(done.stderr.rstrip(), file=sys.stderr)
    print(f"$ echo $?\n{done.returncode}", flush=True)
    return done.returncode


def _drift(stack_file: Path, out: Path | None = None) -> int:
    args = ["--stack-file", str(stack_file), "--no-cloudtrail"] + (["--json"] if out is not None else [])
    return _command(["-m", "drift", *args], f"python -m drift --stack-file {stack_file.name} --no-cloudtrail"
                    + (" --json" if out is not None else ""), out)


def _preview(stack_file: Path, tmp: Path) -> Path:
    digest = tmp / "preview.json"
    _command(["-m", "offline.preview", "--stack-file", str(stack_file), "--state", str(tmp / "state.json"),
              "--project-addresses", str(tmp / "project.json"), "--json"],
             f"python -m offline.preview --stack-file {stack_file.name} --state state.json "
             "--project-addresses project.json --json", digest, note="pulumi preview --json --show-sames")
    summary = json.loads(digest.read_text())["changeSummary"]
    print(f"  (the digest: {', '.join(f'{n} {op}' for op, n in sorted(summary.items()))})")
    return digest


def _guard(tmp: Path, *extra: str) -> tuple[int, list[str]]:
    targets = tmp / "targets.txt"
    code = _command(["-m", "drift", "guard", str(tmp / "preview.json"), "--summary", str(tmp / "summary.md"), *extra],
                    "python -m drift guard preview.json --summary summary.md"
                    + (" --report drift-before.json" if extra else ""), targets)
    lines = targets.read_text().splitlines()
    print("\n".join(f"  {line}" for line in lines))
    return code, lines


def _node_added(cloud: object, tmp: Path, node: str) -> None:
    from standins.atlas import mutate

    project = mutate(cloud.atlas)  # type: ignore[attr-defined]
    project["services"]["clusters"][0]["outbound"].append(node)
    (tmp / "project.json").write_text(json.dumps(project))


def _heal(cloud: object, tmp: Path, targets: list[str]) -> bool:
    """`pulumi up --yes --target ...`: only the targets' steps, in the update simulator, then written."""
    from config.stackfile import read_stack_config
    from offline.heal import heal_update, materialise
    from offline.state import load_state, save_state

    print(f"$ pulumi up --yes --plan plan.json {' '.join('--target ' + t.rsplit('::', 1)[1] for t in targets)}"
          "   # in the update simulator")
    t, after = heal_update(load_state(tmp / "state.json"), read_stack_config(STACK_FILE), STACK,
                           json.loads((tmp / "project.json").read_text()), targets)
    for step in t.steps:
        print(f"  {step}")
    print(f"  {t.states} states the update can pass through, checked: "
          + ("none denies Atlas a key it used" if not t.gaps else f"{len(t.gaps)} GAPS"))
    save_state(materialise(after, cloud), tmp / "state.json")  # type: ignore[arg-type]
    return not t.gaps


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from config.stackfile import read_stack_config
    from offline.harness import run_program
    from offline.heal import heal_standins, materialise
    from offline.state import save_state

    with heal_standins() as cloud, tempfile.TemporaryDirectory() as work:
        tmp = Path(work)
        print("atlas-kms heal demo: moto (IAM, KMS) and an Atlas Admin API stand-in on 127.0.0.1; the stack "
              f"'{STACK}' applied by the offline model and written to them, its state in state.json.")
        save_state(materialise(run_program(read_stack_config(STACK_FILE), stack=STACK), cloud), tmp / "state.json")
        _say("1. As `pulumi up` left it: in sync.")
        results = [_drift(STACK_FILE) == 0]

        _say(f"2. Atlas adds a node to cluster 'orders' ({NODES[0]}): Atlas's calls from it are denied.")
        _node_added(cloud, tmp, NODES[0])
        results.append(_drift(STACK_FILE) == 1)

        _say("3. The scheduled job (.github/workflows/heal.yml): preview, guard, targeted update, drift check.")
        _preview(STACK_FILE, tmp)
        _drift(STACK_FILE, tmp / "drift-before.json")
        code, targets = _guard(tmp, "--report", str(tmp / "drift-before.json"))
        results += [code == 0, _heal(cloud, tmp, targets), _drift(STACK_FILE) == 0]
        print("\n$ cat summary.md   # what $GITHUB_STEP_SUMMARY shows\n" + (tmp / "summary.md").read_text().rstrip())

        _say(f"4. Someone changed a setting (rotationPeriodInDays: 180) and Atlas adds another node ({NODES[1]}): "
             "the guard refuses, nothing is applied, the job fails and says why.")
        changed = tmp / f"Pulumi.{STACK}.yaml"
        changed.write_text(STACK_FILE.read_text() + "  atlas-kms:rotationPeriodInDays: 180\n")
        _node_added(cloud, tmp, NODES[1])
        (tmp / "summary.md").write_text("")
        _preview(changed, tmp)
        code, _ = _guard(tmp)
        results += [code == 1, _drift(changed) == 1]
        print("\nA person reviews `pulumi preview --diff` for this stack and runs `pulumi up`.")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())

""".github/workflows/heal.yml: the scheduled heal job.

It parses (PyYAML), runs every 15 minutes for a matrix of stacks, can be turned off by a repository
variable, and its steps call `pulumi preview --json --show-sames --save-plan plan.json > preview.json`, the
guard, `pulumi up --yes --plan plan.json --target ...` and the drift command. Its shell is run here too, as
Actions runs it (`bash -eo pipefail`), step after step, with stand-ins for `pulumi` and for the drift
command's AWS and Atlas side, and the real guard judging digests built from the program's own documents;
and so is docs/drift.md's `heal.sh`, the same loop for any other scheduler.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from offline.harness import ROOT
from tests.drift.test_guard import ADDED, AFTER_ADDED, BEFORE, NAME, find, preview, urns

WORKFLOW = ROOT / ".github" / "workflows" / "heal.yml"


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def steps() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = workflow()["jobs"]["heal"]["steps"]
    return found


def step(name: str) -> dict[str, Any]:
    [found] = [s for s in steps() if s.get("name") == name]
    return found


def test_the_job_runs_every_15_minutes_for_each_stack_and_a_variable_turns_it_off() -> None:
    w: dict[Any, Any] = workflow()
    on = w["on"] if "on" in w else w[True]  # YAML 1.1 reads the key `on` as true
    assert on["schedule"] == [{"cron": "*/15 * * * *"}] and "workflow_dispatch" in on
    assert w["permissions"] == {"id-token": "write", "contents": "read"}
    job = w["jobs"]["heal"]
    assert job["if"] == "vars.ATLAS_KMS_HEAL != 'off'"
    assert job["strategy"]["fail-fast"] is False and len(job["strategy"]["matrix"]["stack"]) >= 1
    assert job["concurrency"] == {"group": "atlas-kms-heal-${{ matrix.stack }}", "cancel-in-progress": False}
    assert job["env"]["STACK"] == "${{ matrix.stack }}"


def test_the_steps_call_the_preview_the_guard_the_targeted_update_and_the_drift_command() -> None:
    names = [s.get("name") for s in steps()]
    assert names.index("Preview") < names.index("Guard") < names.index("Apply") < names.index("Drift check")
    assert step("Preview")["run"].strip() == \
        'pulumi preview --stack "$STACK" --json --show-sames --save-plan plan.json > preview.json'
    guard = step("Guard")["run"]
    assert "venv/bin/python -m drift guard preview.json > targets.txt" in guard
    assert '--summary "$GITHUB_STEP_SUMMARY"' in step("Summary")["run"]
    apply = step("Apply")
    assert apply["if"] == "steps.guard.outputs.targets == 'yes'"
    assert 'pulumi up --stack "$STACK" --yes --plan plan.json "${targets[@]}"' in apply["run"]
    assert 'targets+=(--target "$urn")' in apply["run"]
    assert step("Drift check")["run"].strip() == 'venv/bin/python -m drift --stack-file "Pulumi.$STACK.yaml" --no-cloudtrail'


# -- the job's shell, run -------------------------------------------------------------------------------

PULUMI = """#!/usr/bin/env bash
echo "pulumi $*" >> "$CALLS"
if [ "$1" = preview ]; then cat "$DIGEST"; echo '{"plan": true}' > plan.json; fi
"""
# venv/bin/python: the real interpreter for the guard; the drift command's report stands in for AWS and Atlas.
PYTHON = """#!/usr/bin/env bash
if [ "$1 $2 $3" = "-m drift guard" ]; then exec "$REAL_PYTHON" "$@"; fi
if [ "$1 $2" = "-m drift" ]; then
  echo "python $*" >> "$CALLS"
  case " $* " in *" --json "*) cat "$DRIFT_REPORT";; *) echo "stack $STACK: drift command says exit $DRIFT_CODE";; esac
  exit "$DRIFT_CODE"
fi
exit 99
"""


@dataclass
class Job:
    code: int
    output: str
    calls: list[str]
    summary: str
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)


def _expand(value: str, outputs: dict[str, dict[str, str]]) -> str:
    return re.sub(r"\$\{\{\s*steps\.(\w+)\.outputs\.(\w+)\s*\}\}", lambda m: outputs.get(m[1], {}).get(m[2], ""), value)


def _runs(condition: str | None, outputs: dict[str, dict[str, str]]) -> bool:
    if condition is None:
        return True
    match = re.fullmatch(r"steps\.(\w+)\.outputs\.(\w+) == '(.*)'", condition)
    assert match, f"the test cannot evaluate `if: {condition}`"
    return outputs.get(match[1], {}).get(match[2]) == match[3]


def run_job(tmp: Path, digest: dict[str, Any], *, drift_code: int = 0, script: str | None = None) -> Job:
    """The steps from Preview on, as Actions runs them for the stack `prod` (or `script`, as one step);
    stops at the first that fails."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "bin").mkdir()
    (tmp / "venv" / "bin").mkdir(parents=True)
    for path, text in ((tmp / "bin" / "pulumi", PULUMI), (tmp / "venv" / "bin" / "python", PYTHON)):
        path.write_text(text)
        path.chmod(0o755)
    (tmp / "digest.json").write_text(json.dumps(digest))
    (tmp / "drift.json").write_text(json.dumps({"schemaVersion": 2, "stack": "prod", "status": "drift", "exitCode": 1,
                                                "findings": [{"kind": "missing", "cidrs": [f"{ADDED}/32"],
                                                              "origins": ["cluster payments"], "future": False}]}))
    env = {**os.environ, "PATH": f"{tmp / 'bin'}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT), "STACK": "prod",
           "REAL_PYTHON": sys.executable, "CALLS": str(tmp / "calls.txt"), "DIGEST": str(tmp / "digest.json"),
           "DRIFT_REPORT": str(tmp / "drift.json"), "DRIFT_CODE": str(drift_code),
           "GITHUB_STEP_SUMMARY": str(tmp / "summary.md")}
    outputs: dict[str, dict[str, str]] = {}
    output, code = "", 0
    names = [s.get("name") for s in steps()]
    chosen: list[dict[str, Any]] = [{"run": script}] if script is not None else steps()[names.index("Preview"):]
    for s in chosen:
        if not _runs(s.get("if"), outputs):
            continue
        (tmp / "github_output").write_text("")
        step_env = {**env, **{k: _expand(str(v), outputs) for k, v in (s.get("env") or {}).items()},
                    "GITHUB_OUTPUT": str(tmp / "github_output")}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s["run"]], cwd=tmp, env=step_env,
                              capture_output=True, text=True, timeout=120, check=False)
        output += done.stdout + done.stderr
        if "id" in s:
            outputs[s["id"]] = dict(line.split("=", 1) for line in (tmp / "github_output").read_text().splitlines() if line)
        if done.returncode != 0:
            code = done.returncode
            break
    calls = (tmp / "calls.txt").read_text().splitlines() if (tmp / "calls.txt").exists() else []
    summary = (tmp / "summary.md").read_text() if (tmp / "summary.md").exists() else ""
    return Job(code, output, calls, summary, outputs)


def test_an_address_change_is_applied_targeted_and_held_to_the_plan_then_checked(tmp_path: Path) -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    job = run_job(tmp_path, digest)
    assert job.code == 0, job.output
    targets = " ".join(f"--target {u}" for u in urns(digest, f"{NAME}-kms-policy-1", f"{NAME}-key"))
    assert job.calls == [
        "pulumi preview --stack prod --json --show-sames --save-plan plan.json",
        "python -m drift --stack-file Pulumi.prod.yaml --no-cloudtrail --json",
        f"pulumi up --stack prod --yes --plan plan.json {targets}",
        "python -m drift --stack-file Pulumi.prod.yaml --no-cloudtrail"]
    assert f"| {ADDED}/32 | added | cluster payments |" in job.summary


def test_nothing_to_change_updates_nothing_and_still_checks(tmp_path: Path) -> None:
    job = run_job(tmp_path, preview(BEFORE, BEFORE))
    assert job.code == 0, job.output
    assert job.outputs["guard"] == {"targets": "no"}
    assert job.calls == ["pulumi preview --stack prod --json --show-sames --save-plan plan.json",
                         "python -m drift --stack-file Pulumi.prod.yaml --no-cloudtrail"]
    assert "Nothing to change" in job.summary


def test_a_change_that_needs_a_person_fails_the_job_with_the_guards_lines_and_applies_nothing(tmp_path: Path) -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    find(digest, f"{NAME}-key")["newState"]["inputs"]["description"] = "something else"
    job = run_job(tmp_path, digest)
    assert job.code == 1
    assert f"{urns(digest, f'{NAME}-key')[0]}  update  the key's description changed" in job.output
    assert "::error title=atlas-kms heal (prod)::" in job.output
    assert job.calls == ["pulumi preview --stack prod --json --show-sames --save-plan plan.json"]
    assert "**A person is needed**: nothing is applied." in job.summary


def test_a_preview_that_cannot_be_judged_fails_the_job(tmp_path: Path) -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    digest["diagnostics"] = [{"message": "error: boom", "severity": "error"}]
    job = run_job(tmp_path, digest)
    assert job.code == 1 and "guard exit 2" in job.output and not any(c.startswith("pulumi up") for c in job.calls)
    assert "The preview could not be judged" in job.summary


def test_the_job_fails_when_the_drift_command_does_not_agree_after_the_update(tmp_path: Path) -> None:
    job = run_job(tmp_path, preview(BEFORE, AFTER_ADDED), drift_code=1)
    assert job.code == 1 and job.calls[-1] == "python -m drift --stack-file Pulumi.prod.yaml --no-cloudtrail"


# -- docs/drift.md's `heal.sh`: the same loop for any scheduler -------------------------------------------


def heal_script() -> str:
    text = (ROOT / "docs" / "drift.md").read_text()
    start = text.index("<!-- heal.sh")
    match = re.search(r"```bash\n(.*?)```", text[start:], re.S)
    assert match is not None
    return match[1]


def run_script(tmp: Path, digest: dict[str, Any]) -> Job:
    """docs/drift.md's script as one step, with the same stand-ins as the job."""
    return run_job(tmp, digest, script=heal_script())


def test_the_documented_script_heals_an_address_change_and_refuses_anything_else(tmp_path: Path) -> None:
    digest = preview(BEFORE, AFTER_ADDED)
    job = run_script(tmp_path / "a", digest)
    targets = " ".join(f"--target {u}" for u in urns(digest, f"{NAME}-kms-policy-1", f"{NAME}-key"))
    assert job.code == 0, job.output
    assert job.calls == ["pulumi preview --stack prod --json --show-sames --save-plan plan.json",
                         f"pulumi up --stack prod --yes --plan plan.json {targets}",
                         "python -m drift --stack-file Pulumi.prod.yaml --no-cloudtrail"]
    quiet = run_script(tmp_path / "b", preview(BEFORE, BEFORE))
    assert quiet.code == 0 and not any(c.startswith("pulumi up") for c in quiet.calls)
    find(digest, f"{NAME}-key")["newState"]["inputs"]["description"] = "something else"
    refused = run_script(tmp_path / "c", digest)
    assert refused.code == 1 and "guard exit 1, nothing applied" in refused.output
    assert refused.calls == ["pulumi preview --stack prod --json --show-sames --save-plan plan.json"]

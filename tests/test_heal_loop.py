"""Issue 23, the whole loop offline: Atlas adds a node, and the new address is allowed with nobody paged.

Each test plays what `.github/workflows/heal.yml` does for one stack, with the project's own pieces and
no cloud: the stack is applied (`run_program`) and its state made real in the drift command's stand-ins
(moto's IAM and KMS, the Atlas stand-in: `offline/heal.py` `materialise`); Atlas's answer changes; the next
run's preview digest is printed (`python -m offline.preview --state ... --json`); the guard judges it
(`python -m drift guard`); the targeted update runs in the update simulator (only the targets' steps, every
state on the way judged) and what it leaves is made real; the drift command (`drift.cli.run`) has the last
word. When the preview wants more than Atlas's address lists, the guard refuses and nothing is applied.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from config.stackfile import read_stack_config
from core.arns import Arn
from drift.cli import run
from offline.harness import ROOT, ProgramRun, World, atlas_requests, run_program
from offline.heal import Cloud, heal_standins, heal_update, materialise
from offline.model import POLICY
from offline.preview import main as preview
from offline.state import load_state, save_state
from standins.atlas import mutate, sample_project

STACK = "same-account"
STACK_FILE = ROOT / "samples" / "stacks" / f"Pulumi.{STACK}.yaml"
NODE = "198.51.100.150"  # the new node of cluster `orders`


@dataclass
class Loop:
    """One stack, applied and made real; the files the scheduled job passes between its steps."""

    cloud: Cloud
    stack_file: Path
    tmp: Path
    state: ProgramRun

    @property
    def state_file(self) -> Path:
        return self.tmp / "state.json"

    def drift(self, *extra: str) -> tuple[int, list[str]]:
        lines: list[str] = []
        return run(["--stack-file", str(self.stack_file), "--no-cloudtrail", *extra], out=lines.append), lines

    def atlas_answers(self, project: dict[str, Any]) -> Path:
        """Atlas's project answer changes: the stand-in serves it, and the preview is given the same."""
        mutate(self.cloud.atlas)
        self.cloud.atlas.project = project
        path = self.tmp / "project.json"
        path.write_text(json.dumps(project))
        return path

    def preview(self, project: Path) -> Path:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = preview(["--stack-file", str(self.stack_file), "--state", str(self.state_file),
                            "--project-addresses", str(project), "--json"])
        assert code == 0
        path = self.tmp / "preview.json"
        path.write_text(out.getvalue())
        return path

    def guard(self, digest: Path, *extra: str) -> tuple[int, list[str]]:
        lines: list[str] = []
        return run(["guard", str(digest), *extra], out=lines.append), lines


@contextlib.contextmanager
def applied_stack(tmp_path: Path, stack_file: Path = STACK_FILE, project: dict[str, Any] | None = None) -> Iterator[Loop]:
    """`pulumi up` of the stack, made real in the stand-ins; its state saved as the next preview reads it."""
    config = read_stack_config(stack_file)
    with heal_standins() as cloud:
        world = World.sample()
        if project is not None:
            world.project = project
            cloud.atlas.project = project
        state = materialise(run_program(config, stack=STACK, world=world), cloud)
        loop = Loop(cloud, stack_file, tmp_path, state)
        save_state(state, loop.state_file)
        yield loop


def with_node(*nodes: str, project: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = json.loads(json.dumps(project or sample_project()))
    answer["services"]["clusters"][0]["outbound"] += list(nodes)
    return answer


def versions(cloud: Cloud, arn: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cloud.iam.list_policy_versions(PolicyArn=arn)["Versions"]
    return found


def test_a_new_atlas_node_is_allowed_by_the_next_run_with_nobody_paged(tmp_path: Path) -> None:
    with applied_stack(tmp_path) as loop:
        assert loop.drift()[0] == 0
        # Atlas adds a node: its calls from the new address are denied until the policies change.
        project = loop.atlas_answers(with_node(NODE))
        code, lines = loop.drift()
        assert code == 1 and any(line.startswith(f"  missing  {NODE}/32") for line in lines)
        report = tmp_path / "drift-before.json"
        report.write_text("\n".join(loop.drift("--json")[1]))
        # The next run's preview, judged: only the role policy's and the key policy's address lists change.
        digest = loop.preview(project)
        code, targets = loop.guard(digest, "--summary", str(tmp_path / "summary.md"), "--report", str(report))
        assert code == 0
        assert [t.rsplit("::", 1)[1] for t in targets] == ["atlas-kms-key", "atlas-kms-kms-policy-1"]
        assert f"| {NODE}/32 | added | cluster orders |" in (tmp_path / "summary.md").read_text()
        # `pulumi up --target ...`: only those steps, and no state on the way denies Atlas anything it used.
        t, after = heal_update(load_state(loop.state_file), read_stack_config(STACK_FILE), STACK,
                               json.loads(project.read_text()), targets)
        assert [str(s) for s in t.steps] == ["update atlas-kms-key (policy)", "update atlas-kms-kms-policy-1 (policy)"]
        assert t.exhaustive and t.gaps == []
        materialise(after, loop.cloud)
        [part] = [r.state["arn"] for r in after.of_type(POLICY)]
        assert [v["IsDefaultVersion"] for v in sorted(versions(loop.cloud, part), key=lambda v: v["VersionId"])] == \
            [False, True]  # a new default version, as the provider writes a changed policy
        code, lines = loop.drift()
        assert code == 0, lines
        assert lines == [f"stack {STACK}: OK, {len(after.outputs['allowedCidrs'])} CIDRs allowed as expected "
                         f"({loop.cloud.atlas.encryption_role})"]


def many(n: int) -> list[str]:
    return [f"3.{8 + i // 250}.{i % 250}.7" for i in range(n)]


def test_nodes_that_grow_the_split_are_allowed_too_a_new_part_attached_and_kept_by_the_exclusive_attachments(
        tmp_path: Path) -> None:
    crowded = with_node(*many(280))
    with applied_stack(tmp_path, project=crowded) as loop:
        assert len(loop.state.of_type(POLICY)) == 1 and loop.drift()[0] == 0
        project = loop.atlas_answers(with_node(*many(290)[280:], project=crowded))
        code, targets = loop.guard(loop.preview(project))
        assert code == 0
        assert {t.rsplit("::", 1)[1] for t in targets} == {
            "atlas-kms-key", "atlas-kms-kms-policy-1", "atlas-kms-kms-policy-2", "atlas-kms-kms-policy-2-attachment",
            "atlas-kms-role-attachments"}
        t, after = heal_update(load_state(loop.state_file), read_stack_config(STACK_FILE), STACK,
                               json.loads(project.read_text()), targets)
        assert t.gaps == [] and sorted(t.kinds("create")) == ["atlas-kms-kms-policy-2", "atlas-kms-kms-policy-2-attachment"]
        materialise(after, loop.cloud)
        role = Arn.parse(loop.cloud.atlas.encryption_role or "").name
        attached = loop.cloud.iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        assert len(attached) == 2
        assert loop.drift()[0] == 0


@pytest.mark.parametrize(("setting", "value", "refused"), [
    ("rotationPeriodInDays", "180", [  # the key, and Atlas's reminder that follows its rotation
        "atlas-kms-alert-aws-encryption-key-needs-rotation  update  update of "
        "mongodbatlas:index/alertConfiguration:AlertConfiguration: thresholdConfig changed",
        "atlas-kms-key  update  the key's rotationPeriodInDays changed"]),
    ("enabledForSearchNodes", "false", [
        "atlas-kms-encryption-at-rest  update  update of mongodbatlas:index/encryptionAtRest:EncryptionAtRest: "
        "enabledForSearchNodes changed"]),
], ids=["the-keys-rotation", "an-atlas-setting"])
def test_a_change_that_is_not_only_addresses_is_refused_and_nothing_is_applied(
        tmp_path: Path, setting: str, value: str, refused: list[str]) -> None:
    with applied_stack(tmp_path) as loop:
        changed = tmp_path / f"Pulumi.{STACK}.yaml"
        changed.write_text(STACK_FILE.read_text() + f"  atlas-kms:{setting}: {value}\n")
        loop.stack_file = changed
        project = loop.atlas_answers(with_node(NODE))
        before = loop.state_file.read_text()
        [part] = [r.state["arn"] for r in loop.state.of_type(POLICY)]
        code, lines = loop.guard(loop.preview(project), "--summary", str(tmp_path / "summary.md"))
        assert code == 1
        assert sorted(line.rsplit("::", 1)[1] for line in lines) == refused  # the address changes alone would go
        assert "**A person is needed**: nothing is applied." in (tmp_path / "summary.md").read_text()
        # Nothing applied: the state, the role's policy and Atlas's denied address are as they were.
        assert loop.state_file.read_text() == before
        assert len(versions(loop.cloud, part)) == 1
        code, lines = loop.drift()
        assert code == 1 and any(line.startswith(f"  missing  {NODE}/32") for line in lines)


# What one run of the scheduled job costs in Atlas API calls, per stack (README, "Keeping the addresses
# current by itself"): counted here on the stand-ins.
PROGRAM_CALLS = 4  # control-plane addresses, the project's addresses, encryption at rest, cloud provider access
DRIFT_CALLS = 4  # the same four, then one snapshots page per cluster


def test_what_one_run_costs_in_atlas_calls_is_what_the_readme_says(tmp_path: Path) -> None:
    seen = len(atlas_requests())
    program = run_program(read_stack_config(STACK_FILE), stack=STACK)
    calls = [token for token, _ in program.calls if token.startswith("mongodbatlas:")]
    calls += [path for path, _, _ in atlas_requests()[seen:]]
    assert len(calls) == PROGRAM_CALLS, calls
    clusters = len(sample_project()["services"]["clusters"])
    with applied_stack(tmp_path) as loop:
        seen = len(loop.cloud.atlas.requests)
        assert loop.drift()[0] == 0
        paths = [path for path, _, _ in loop.cloud.atlas.requests[seen:]]
    assert len(paths) == DRIFT_CALLS + clusters, paths
    assert sum("/backup/snapshots" in p for p in paths) == clusters
    quiet, healing = PROGRAM_CALLS + DRIFT_CALLS + clusters, 2 * (PROGRAM_CALLS + DRIFT_CALLS + clusters)
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"{PROGRAM_CALLS} Atlas API calls" in readme and f"{DRIFT_CALLS} + one per cluster" in readme
    assert f"{quiet} calls for the sample's {clusters} clusters" in readme
    assert f"{healing} when it heals" in readme


def test_make_heal_demo_shows_the_loop_heal_and_a_refusal() -> None:
    # In this process (the command is `python -m offline.heal_demo`, whose main this is): the same output.
    from offline.heal_demo import main as demo

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = demo()
    out = printed.getvalue()
    assert code == 0, out
    assert f"missing  {NODE}/32" in out
    assert "$ python -m drift guard preview.json --summary summary.md --report drift-before.json > targets.txt" in out
    assert "none denies Atlas a key it used" in out
    assert f"| {NODE}/32 | added | cluster orders |" in out
    assert f"stack {STACK}: OK, 33 CIDRs allowed as expected" in out
    assert "the key's rotationPeriodInDays changed" in out

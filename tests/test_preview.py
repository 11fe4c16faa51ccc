"""The offline preview, the README's first command, on every sample stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from config.stackfile import read_stack_config
from offline.digest import UNKNOWN
from offline.harness import ROOT
from offline.preview import main

STACKS = sorted((ROOT / "samples" / "stacks").glob("Pulumi.*.yaml"))


WORLDS = ROOT / "samples" / "worlds"


def world_args(stack_file: Path) -> list[str]:
    """As `make preview` calls it: a stack with a world file previews against what exists outside it."""
    world = WORLDS / f"{stack_file.name.split('.')[1]}.json"
    return ["--world", str(world)] if world.exists() else []


@pytest.mark.parametrize("stack_file", STACKS, ids=lambda p: p.name)
def test_the_preview_prints_every_resource_its_policies_and_the_outputs(stack_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack-file", str(stack_file), *world_args(stack_file)]) == 0
    out = capsys.readouterr().out
    assert ("= aws:iam/role:Role  atlas-kms-role" if world_args(stack_file) else "+ aws:iam/role:Role  atlas-kms-role") in out
    # The network path the stack allows: Atlas's addresses, or only its VPC endpoints (network private).
    assert ('"aws:SourceVpce": "false"' if stack_file.name == "Pulumi.private.yaml" else '"aws:SourceIp": [') in out
    assert "characters without whitespace" in out
    assert "keyArn: arn:aws:kms:eu-west-2:" in out
    assert "allowedCidrs: [" in out


def test_the_cross_account_preview_shows_both_accounts_documents(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack-file", str(ROOT / "samples/stacks/Pulumi.cross-account.yaml")]) == 0
    out = capsys.readouterr().out
    assert "+ aws:kms/key:Key  atlas-kms-key  [provider atlas-kms-key-account, PROTECTED, retained on delete]" in out
    assert '"AWS": "arn:aws:iam::444455556666:root"' in out
    assert "+ aws:iam/rolePolicy:RolePolicy  atlas-kms-kms-inline-1  [default provider]" in out


def test_the_example_stack_file_previews_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack-file", str(ROOT / "Pulumi.example.yaml")]) == 0
    assert "mode: same-account-created" in capsys.readouterr().out


def test_a_bad_stack_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(json.dumps({"config": {"aws:region": "eu-west-2", "atlas-kms:projectId": "nope"}}))
    assert main(["--stack-file", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "atlas-kms:projectId: 'nope' is not an Atlas project id" in err


def test_the_preview_runs_as_a_command_from_a_fresh_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "offline.preview"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Offline preview of stack 'same-account'" in done.stdout


def test_the_takeover_sample_previews_imports_and_in_place_updates_never_a_second_role(
        capsys: pytest.CaptureFixture[str]) -> None:
    stack = ROOT / "samples" / "stacks" / "Pulumi.adopt.yaml"
    assert main(["--stack-file", str(stack), *world_args(stack)]) == 0
    out = capsys.readouterr().out
    assert "to import: 3" in out
    assert "= aws:iam/role:Role  atlas-kms-role  [import atlas-encryption-at-rest" in out
    assert "= mongodbatlas:index/cloudProviderAccessSetup:CloudProviderAccessSetup  atlas-kms-access-setup  [import " in out
    assert "= mongodbatlas:index/encryptionAtRest:EncryptionAtRest  atlas-kms-encryption-at-rest  [import " in out
    assert "~ then updated in place: assumeRolePolicy, description, tags" in out
    assert "+ aws:iam/role:Role" not in out and "+ mongodbatlas:index/cloudProviderAccessSetup" not in out


def test_the_takeover_sample_world_is_the_hand_made_setup_the_simulator_starts_from() -> None:
    from offline.worlds import existing_setup, load

    stack = read_stack_config(ROOT / "samples" / "stacks" / "Pulumi.adopt.yaml")
    assert load(WORLDS / "adopt.json") == existing_setup("console", project_id=stack["atlas-kms:projectId"],
                                                         key_arn=stack["atlas-kms:keyArn"])


# --- `--json`: the digest `pulumi preview --json --show-sames` prints, from a stored state --------------------

SAME_ACCOUNT = ROOT / "samples" / "stacks" / "Pulumi.same-account.yaml"
EXISTING_KEY = ROOT / "samples" / "stacks" / "Pulumi.existing-key.yaml"
NEW_NODE = "198.51.100.150"


def project_answer(path: Path, *, new_node: str | None = None, outbound: list[str] | None = None) -> Path:
    """An answer of GET /groups/{groupId}/ipAddresses: the sample's, a node added to cluster `orders`."""
    answer = json.loads((ROOT / "samples" / "atlas" / "project-ip-addresses.json").read_text())
    orders = answer["services"]["clusters"][0]
    if outbound is not None:
        orders["outbound"] = outbound
    if new_node is not None:
        orders["outbound"].append(new_node)
    path.write_text(json.dumps(answer))
    return path


def many(n: int) -> list[str]:
    return [f"3.{8 + i // 250}.{i % 250}.7" for i in range(n)]


def digest_of(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> dict[str, Any]:
    assert main([*args, "--json"]) == code
    out = capsys.readouterr().out
    body: dict[str, Any] = json.loads(out)
    return body


def saved(tmp_path: Path, stack_file: Path = SAME_ACCOUNT, *extra: str) -> Path:
    state = tmp_path / "state.json"
    assert main(["--stack-file", str(stack_file), "--save-state", str(state), *extra]) == 0
    return state


def named(digest: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [s for s in digest["steps"] if s["urn"].endswith(f"::{name}")]


def judged(tmp_path: Path, digest: dict[str, Any]) -> tuple[int, list[str]]:
    from drift.cli import run

    path = tmp_path / "preview.json"
    path.write_text(json.dumps(digest))
    lines: list[str] = []
    return run(["guard", str(path)], out=lines.append), lines


def test_the_digest_has_pulumis_shape_and_an_unchanged_world_is_all_same_steps(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = saved(tmp_path)
    capsys.readouterr()
    digest = digest_of(capsys, "--stack-file", str(SAME_ACCOUNT), "--state", str(state))
    assert set(digest) == {"config", "steps", "diagnostics", "changeSummary"}
    assert {s["op"] for s in digest["steps"]} == {"same"}
    assert digest["changeSummary"] == {"same": len(digest["steps"])}
    assert digest["config"]["atlas-kms:projectId"] == "6f1e2d3c4b5a697887766554"
    stack, *providers = digest["steps"][:4]
    assert stack["urn"] == "urn:pulumi:same-account::atlas-kms::pulumi:pulumi:Stack::atlas-kms-same-account"
    assert [p["urn"].split("::")[2] for p in providers] == ["pulumi:providers:aws", "pulumi:providers:mongodbatlas",
                                                            "pulumi:providers:time"]
    # URNs as the engine writes them: the root stack is not in a type chain.
    [component] = named(digest, "atlas-kms")
    assert component["urn"] == "urn:pulumi:same-account::atlas-kms::atlas-kms:index:AtlasKmsEncryption::atlas-kms"
    [key] = named(digest, "atlas-kms-key")
    for state_of in (key["oldState"], key["newState"]):
        assert state_of["parent"] == component["urn"] and state_of["type"] == "aws:kms/key:Key"
        assert state_of["protect"] is True and state_of["retainOnDelete"] is True and state_of["custom"] is True
        assert state_of["id"] and state_of["outputs"]["arn"].startswith("arn:aws:kms:eu-west-2:111122223333:key/")
    assert key["provider"].startswith("urn:pulumi:same-account::atlas-kms::pulumi:providers:aws::default::")
    assert set(key) == {"op", "urn", "provider", "oldState", "newState", "detailedDiff"}
    # Secrets print as [secret], as the CLI's MassageSecrets leaves them.
    [ear] = named(digest, "atlas-kms-encryption-at-rest")
    assert ear["newState"]["outputs"]["awsKmsConfig"] == "[secret]"
    assert ear["newState"]["inputs"]["awsKmsConfig"]["customerMasterKeyId"] == "[secret]"
    assert judged(tmp_path, digest) == (0, [])


def test_a_new_atlas_node_is_an_update_of_the_role_policy_and_the_key_policy_that_the_guard_lets_through(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = saved(tmp_path)
    capsys.readouterr()
    digest = digest_of(capsys, "--stack-file", str(SAME_ACCOUNT), "--state", str(state),
                       "--project-addresses", str(project_answer(tmp_path / "project.json", new_node=NEW_NODE)))
    updates = [s for s in digest["steps"] if s["op"] != "same"]
    assert [s["urn"].rsplit("::", 1)[1] for s in updates] == ["atlas-kms-key", "atlas-kms-kms-policy-1"]
    for s in updates:
        assert s["diffReasons"] == ["policy"] and s["detailedDiff"] == {"policy": {"kind": "update", "inputDiff": False}}
        assert f"{NEW_NODE}/32" in s["newState"]["inputs"]["policy"]
        assert f"{NEW_NODE}/32" not in s["oldState"]["inputs"]["policy"]
    assert digest["changeSummary"]["update"] == 2
    assert judged(tmp_path, digest) == (0, [s["urn"] for s in updates])


def test_a_grown_split_creates_a_part_whose_arn_the_preview_does_not_know(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = saved(tmp_path, EXISTING_KEY, "--project-addresses", str(project_answer(tmp_path / "a.json", outbound=many(280))))
    capsys.readouterr()
    digest = digest_of(capsys, "--stack-file", str(EXISTING_KEY), "--state", str(state),
                       "--project-addresses", str(project_answer(tmp_path / "b.json", outbound=many(300))))
    [part] = named(digest, "atlas-kms-kms-policy-2")
    [attachment] = named(digest, "atlas-kms-kms-policy-2-attachment")
    assert part["op"] == attachment["op"] == "create" and "oldState" not in part and "id" not in part["newState"]
    assert attachment["newState"]["inputs"]["policyArn"] == UNKNOWN
    [exclusive] = named(digest, "atlas-kms-role-attachments")
    assert exclusive["op"] == "update" and exclusive["newState"]["inputs"]["policyArns"][0] == UNKNOWN
    code, targets = judged(tmp_path, digest)
    assert code == 0 and set(targets) == {s["urn"] for s in digest["steps"] if s["op"] != "same"}


def test_without_a_state_every_resource_is_created(capsys: pytest.CaptureFixture[str]) -> None:
    digest = digest_of(capsys, "--stack-file", str(SAME_ACCOUNT))
    assert {s["op"] for s in digest["steps"]} == {"create"}
    assert all("oldState" not in s for s in digest["steps"])


def test_a_replacement_prints_as_pulumi_prints_it_and_needs_a_person(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = saved(tmp_path)
    data = json.loads(state.read_text())
    [part] = [r for r in data["resources"] if r["name"] == "atlas-kms-kms-policy-1"]
    part["inputs"]["description"] = part["outputs"]["description"] = "written by hand"  # a description replaces
    state.write_text(json.dumps(data))
    capsys.readouterr()
    digest = digest_of(capsys, "--stack-file", str(SAME_ACCOUNT), "--state", str(state))
    steps = named(digest, "atlas-kms-kms-policy-1")
    assert [s["op"] for s in steps] == ["create-replacement", "replace", "delete-replaced"]
    assert steps[1]["replaceReasons"] == ["description"]
    assert steps[1]["detailedDiff"] == {"description": {"kind": "update-replace", "inputDiff": False}}
    assert digest["steps"][-1]["op"] == "delete-replaced"
    assert digest["changeSummary"]["replace"] == 1 and "create-replacement" not in digest["changeSummary"]
    code, lines = judged(tmp_path, digest)
    assert code == 1 and {line.split("  ")[1] for line in lines} == {"create-replacement", "replace", "delete-replaced"}


def test_what_the_engine_refuses_is_an_error_diagnostic_that_the_guard_cannot_judge(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = saved(tmp_path)
    data = json.loads(state.read_text())
    [key] = [r for r in data["resources"] if r["name"] == "atlas-kms-key"]
    data["resources"].append({**key, "name": "atlas-kms-key-old", "urn": key["urn"] + "-old"})  # protected, gone
    state.write_text(json.dumps(data))
    capsys.readouterr()
    digest = digest_of(capsys, "--stack-file", str(SAME_ACCOUNT), "--state", str(state), code=1)
    [error] = digest["diagnostics"]
    assert error["severity"] == "error" and "cannot be deleted because it is protected" in error["message"]
    assert judged(tmp_path, digest)[0] == 2


def test_a_program_error_is_an_error_digest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(json.dumps({"config": {"aws:region": "eu-west-2", "atlas-kms:projectId": "nope"}}))
    digest = digest_of(capsys, "--stack-file", str(bad), code=1)
    assert digest["steps"] == [] and "is not an Atlas project id" in digest["diagnostics"][0]["message"]
    assert judged(tmp_path, digest)[0] == 2


@pytest.mark.parametrize(("content", "flag", "why"), [
    ("{}", "--state", "not a version 1 state file"),
    ("not json", "--state", "cannot read the state file"),
    (json.dumps({"groupId": "x"}), "--project-addresses", "no services.clusters list"),
])
def test_an_unreadable_state_or_answer_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           content: str, flag: str, why: str) -> None:
    path = tmp_path / "input.json"
    path.write_text(content)
    assert main(["--stack-file", str(SAME_ACCOUNT), flag, str(path), "--json"]) == 2
    assert why in capsys.readouterr().err


def test_the_human_preview_is_unchanged_by_the_new_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack-file", str(SAME_ACCOUNT)]) == 0
    plain = capsys.readouterr().out
    state = saved(tmp_path)
    assert capsys.readouterr().out == plain  # --save-state prints the same preview
    assert main(["--stack-file", str(SAME_ACCOUNT), "--state", str(state)]) == 0
    # From a stored state the ids are the state's, not made up by this run.
    assert capsys.readouterr().out == plain.replace("  (placeholder)", "")


def test_the_json_preview_runs_as_a_command(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    done = subprocess.run([sys.executable, "-m", "offline.preview", "--save-state", str(state)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "offline.preview", "--state", str(state), "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert {s["op"] for s in json.loads(done.stdout)["steps"]} == {"same"}

"""The offline preview, the README's first command, on every sample stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from config.stackfile import read_stack_config
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

"""The program against providers that behave like the real ones (offline/model.py).

Each defect test also asserts the modelled behaviour it depends on, so that removing that piece of
the model makes the test fail rather than pass vacuously.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import offline.preview as preview
from config.settings import ADOPT_KEYS, ALERTS_KEYS, KEY_ACCOUNT_KEYS, KNOWN_KEYS, SOURCE_IPS_KEYS
from config.stackfile import read_stack_config
from core.policies import key_user_statement, role_kms_statement
from offline.harness import ROOT, ProgramRun, World, run_program
from offline.model import (
    ATLAS_PRINCIPALS,
    AUTH,
    EAR,
    KEY_POLICY,
    ROLE,
    SLEEP,
    ProviderError,
    ProviderModel,
    changes,
    is_secret,
    reveal,
)

STACKS = ROOT / "samples" / "stacks"
KEY_ID = "mrk-0123456789abcdef0123456789abcdef"
MANAGED_FOREIGN = {"atlas-kms:keyAccount": {"assumeRoleArn": "arn:aws:iam::444455556666:role/kms-admin",
                                            "manageKeyPolicy": True}}


def config(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg = read_stack_config(STACKS / f"Pulumi.{stack}.yaml")
    for key, value in (overrides or {}).items():
        cfg[key] = value if isinstance(value, str) else json.dumps(value)
    return cfg


def run(stack: str, overrides: dict[str, Any] | None = None, world: World | None = None) -> ProgramRun:
    return run_program(config(stack, overrides), stack=stack, world=world)


# 1. Search nodes -------------------------------------------------------------------------------


def test_search_nodes_are_encrypted_by_default_and_only_turned_off_on_request() -> None:
    assert run("same-account").one(EAR).inputs["enabledForSearchNodes"] is True
    off = run("same-account", {"atlas-kms:enabledForSearchNodes": "false"})
    assert off.one(EAR).inputs["enabledForSearchNodes"] is False


def test_the_provider_sends_false_for_search_nodes_when_the_program_omits_it() -> None:
    model = ProviderModel()
    _, state = model.create(EAR, "e", {"projectId": "p", "awsKmsConfig": {"enabled": True, "region": "EU_WEST_2"}},
                            "111122223333", [], lambda _: None)
    assert state["enabledForSearchNodes"] is False


# 2. encryptionValid in the clear, everything else as secret as the engine keeps it -----------


@pytest.mark.parametrize("valid", [True, False])
def test_encryption_valid_is_atlas_verdict_in_the_clear_although_the_kms_config_is_secret(valid: bool) -> None:
    r = run("same-account", world=World(**{**World.sample().__dict__, "key_valid": valid}))
    assert is_secret(r.one(EAR).state["awsKmsConfig"])  # what the real engine returns
    assert r.outputs["encryptionValid"] is valid
    assert "encryptionValid" not in r.secret_outputs


def test_the_preview_shows_the_sensitive_fields_as_secret_as_pulumi_preview_does(capsys: pytest.CaptureFixture[str]) -> None:
    assert preview.main(["--stack-file", str(STACKS / "Pulumi.same-account.yaml")]) == 0
    out = capsys.readouterr().out
    assert '"customerMasterKeyId": "[secret]"' in out
    assert "awsKmsConfig (returned by the provider): [secret]" in out
    assert "encryptionValid: true" in out


# 3. The foreign key's policy is stored by its bare id --------------------------------------------


def test_the_key_policy_is_sent_the_id_the_provider_stores() -> None:
    r = run("foreign-key", MANAGED_FOREIGN)
    policy = r.one(KEY_POLICY)
    assert policy.state["keyId"] == KEY_ID  # the provider's normalisation
    assert policy.inputs["keyId"] == KEY_ID


def test_the_provider_stores_the_bare_key_id_so_an_arn_would_diff_on_every_preview() -> None:
    arn = f"arn:aws:kms:eu-west-2:444455556666:key/{KEY_ID}"
    _, state = ProviderModel().create(KEY_POLICY, "kp", {"keyId": arn, "policy": "{}"}, "444455556666", [], lambda _: None)
    assert state["keyId"] == KEY_ID
    stored = {(KEY_POLICY, "kp"): ("kp", state)}
    assert changes(stored, [(KEY_POLICY, "kp", {"keyId": arn, "policy": "{}"})]) == [
        f"~ {KEY_POLICY} kp: keyId '{KEY_ID}' => '{arn}'"]
    assert changes(stored, [(KEY_POLICY, "kp", {"keyId": KEY_ID, "policy": "{}"})]) == []


@pytest.mark.parametrize(("stack", "overrides"), [
    ("same-account", None), ("existing-key", None), ("cross-account", None), ("foreign-key", None),
    ("foreign-key", MANAGED_FOREIGN), ("foreign-key", {"atlas-kms:keyAccount": {"keyPolicyGranted": True}}),
])
def test_a_second_run_against_the_state_the_first_left_changes_nothing(stack: str, overrides: dict[str, Any] | None) -> None:
    first = run(stack, overrides)
    world = World.sample()
    world.stored = first.stored_state()
    second = run(stack, overrides, world=world)
    assert second.changes_against(first) == []
    # The comparison is not vacuous: the stored state holds the providers' own normalisations.
    assert any(reg.state for reg in first.registrations)


# 4. A real wait between the role and Atlas assuming it ------------------------------------------


def test_atlas_is_authorized_only_after_a_wait_armed_by_the_role_and_its_trust_policy() -> None:
    r = run("same-account")
    sleep, auth, role = r.one(SLEEP), r.one(AUTH), r.one(ROLE)
    assert sleep.urn in auth.dependencies
    assert sleep.inputs["createDuration"] == "30s"
    assert sleep.inputs["triggers"] == {"roleUniqueId": role.state["uniqueId"], "trustPolicy": role.inputs["assumeRolePolicy"]}


def test_atlas_cannot_assume_a_role_nothing_waited_for() -> None:
    model = ProviderModel()
    model.create(ROLE, "role", {"assumeRolePolicy": "{}"}, "111122223333", [], lambda _: None)
    role = model.seen[-1]
    auth = {"projectId": "p", "roleId": "r", "aws": {"iamAssumedRoleArn": role.state["arn"]}}
    with pytest.raises(ProviderError, match="CANNOT_ASSUME_ROLE"):
        model.create(AUTH, "auth", auth, "111122223333", [role.urn], lambda _: role)
    short = model.create(SLEEP, "s", {"createDuration": "2s", "triggers": {"id": role.state["uniqueId"]}}, "", [], lambda _: None)
    assert short
    with pytest.raises(ProviderError, match="CANNOT_ASSUME_ROLE"):
        model.create(AUTH, "auth", auth, "111122223333", ["s"], lambda _: model.seen[-1])
    model.create(SLEEP, "long", {"createDuration": "30s", "triggers": {"id": role.state["uniqueId"]}}, "", [], lambda _: None)
    armed = model.seen[-1]
    assert model.create(AUTH, "auth", auth, "111122223333", ["long"], lambda _: armed)


# 5. Partitions and Atlas's regions -------------------------------------------------------------


def test_atlas_for_government_trusts_its_own_principal_and_uses_atlas_gov_region_names() -> None:
    gov = {"aws:region": "us-gov-west-1", "mongodbatlas:isMongodbgovCloud": "true"}
    r = run("same-account", gov)
    trust = json.loads(r.one(ROLE).inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"AWS": ATLAS_PRINCIPALS[True]}
    assert ATLAS_PRINCIPALS[True].startswith("arn:aws-us-gov:")
    assert reveal(r.one(EAR).inputs["awsKmsConfig"])["region"] == "US_GOV_WEST_1"
    assert r.outputs["keyArn"].startswith("arn:aws-us-gov:kms:us-gov-west-1:")


def test_a_partition_mismatch_stops_the_update_before_any_resource() -> None:
    registered: list[Any] = []
    with pytest.raises(Exception, match=r"isMongodbgovCloud input\): commercial Atlas.*'aws-us-gov'"):
        run_program(config("same-account", {"aws:region": "us-gov-west-1"}), stack="same-account", registrations=registered)
    # aws:region is in the stack config, so the program refuses it before even the component exists.
    assert [r.type for r in registered] == []


def test_atlas_refuses_a_region_outside_its_enum() -> None:
    model = ProviderModel()
    with pytest.raises(ProviderError, match="INVALID_ENUM_VALUE"):
        model.create(EAR, "e", {"projectId": "p", "awsKmsConfig": {"enabled": True, "region": "EU_SOUTH_3"}}, "", [], lambda _: None)


# 6. Address ranges Atlas never calls from ------------------------------------------------------


def test_atlas_answering_a_private_or_huge_range_stops_the_update_before_any_resource() -> None:
    for bad in ("10.20.30.40", "0.0.0.0/1", "100.64.0.1"):
        world = World.sample()
        world.project["services"]["clusters"][0]["outbound"].append(bad)
        registered: list[Any] = []
        with pytest.raises(Exception, match=f"Atlas's answer for cluster .*{bad.split('/')[0]}"):
            run_program(config("same-account"), stack="same-account", world=world, registrations=registered)
        assert [r.type for r in registered] == ["atlas-kms:index:AtlasKmsEncryption"]


def test_a_deliberately_wide_extra_range_is_allowed_only_by_the_setting_and_warned_on_every_run() -> None:
    wide = {"atlas-kms:sourceIps": {"extraCidrs": ["128.0.0.0/1"], "allowWideCidrs": True}}
    r = run("same-account", wide)
    assert "128.0.0.0/1" in r.outputs["allowedCidrs"]
    assert any("allowWideCidrs is true" in line and "128.0.0.0/1" in line for line in r.logs)
    with pytest.raises(Exception, match=r"atlas-kms:sourceIps.extraCidrs\[0\]: 128.0.0.0/1 is wider than /16"):
        run("same-account", {"atlas-kms:sourceIps": {"extraCidrs": ["128.0.0.0/1"]}})


def test_an_ip_condition_is_never_written_with_an_empty_list() -> None:
    with pytest.raises(ValueError, match="deny Atlas everything"):
        key_user_statement("arn:aws:iam::111122223333:role/r", [])
    with pytest.raises(ValueError, match="deny Atlas everything"):
        role_kms_statement("arn:aws:kms:eu-west-2:111122223333:key/k", [])
    assert "Condition" not in key_user_statement("arn:aws:iam::111122223333:role/r", None)


# 7. The key account's provider -----------------------------------------------------------------


def test_the_key_account_provider_carries_default_tags_and_a_session_name_sts_accepts() -> None:
    long_stack = "s" * 80
    cfg = config("cross-account", {"aws:defaultTags": {"tags": {"team": "data"}}})
    r = run_program(cfg, stack=long_stack)
    provider = r.one("pulumi:providers:aws")
    assert json.loads(provider.inputs["defaultTags"]) == {"tags": {"team": "data"}}
    [assume] = json.loads(provider.inputs["assumeRoles"])
    # STS: RoleSessionName is 2-64 characters. https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
    assert assume["sessionName"] == f"atlas-kms-{long_stack}"[:64] and len(assume["sessionName"]) == 64


# 8. What a newcomer reads ----------------------------------------------------------------------


def test_the_preview_labels_the_explicit_provider_marks_placeholders_and_prints_json_booleans(capsys: pytest.CaptureFixture[str]) -> None:
    assert preview.main(["--stack-file", str(STACKS / "Pulumi.cross-account.yaml")]) == 0
    out = capsys.readouterr().out
    assert "+ pulumi:providers:aws  atlas-kms-key-account  [explicit provider resource]" in out
    assert "enableKeyRotation: true" in out and "True" not in out
    assert "keyArn: arn:aws:kms:eu-west-2:444455556666:key/" in out
    key_line = next(line for line in out.splitlines() if line.startswith("  keyArn:"))
    assert key_line.endswith("(placeholder)")
    assert next(line for line in out.splitlines() if line.startswith("  keyRegion:")) == "  keyRegion: eu-west-2"


def test_the_preview_prints_the_same_plan_whatever_order_resources_registered_in() -> None:
    r = run("cross-account")
    first = preview.render(r, "cross-account")
    for seed in range(5):
        random.Random(seed).shuffle(r.registrations)
        assert preview.render(r, "cross-account") == first


def test_the_example_stack_file_lists_every_documented_setting() -> None:
    text = (ROOT / "Pulumi.example.yaml").read_text()
    for key in KNOWN_KEYS:
        assert f"atlas-kms:{key}" in text, key
    for key in KEY_ACCOUNT_KEYS + SOURCE_IPS_KEYS + ALERTS_KEYS + ADOPT_KEYS:
        assert f"{key}:" in text, key
    assert "mongodbatlas:isMongodbgovCloud" in text


@pytest.mark.parametrize("stack_file", sorted(STACKS.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_sample_stacks_quote_the_project_id_as_the_readme_says(stack_file: Path) -> None:
    line = next(line for line in stack_file.read_text().splitlines() if "atlas-kms:projectId:" in line)
    assert line.split(":", 2)[2].strip().startswith('"'), line
    assert isinstance(yaml.safe_load(stack_file.read_text())["config"]["atlas-kms:projectId"], str)


def test_the_readme_says_what_no_wildcards_means() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "no wildcards in anything generated" not in readme
    assert 'Resource: "*"' in readme


def test_make_help_lists_every_target() -> None:
    makefile = (ROOT / "Makefile").read_text()
    phony = next(line for line in makefile.splitlines() if line.startswith(".PHONY:")).split(":", 1)[1].split()
    shown = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for target in phony:
        if target != "help":
            assert f"make {target}" in shown, target


def test_drift_help_describes_the_command_not_itself() -> None:
    out = subprocess.run([sys.executable, "-m", "drift", "--help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "--help` for options" not in out and "exit 0" in out


def test_a_setting_spelt_the_python_way_is_refused_by_its_own_name_before_anything_is_registered() -> None:
    cfg = config("same-account")
    cfg["atlas-kms:project_id"] = cfg.pop("atlas-kms:projectId")
    registered: list[Any] = []
    with pytest.raises(Exception, match=r"atlas-kms:project_id: unknown setting"):
        run_program(cfg, stack="same-account", registrations=registered)
    assert registered == []


def test_a_webhook_kept_secret_in_the_stack_file_previews_as_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = tmp_path / "Pulumi.hooked.yaml"
    stack.write_text((STACKS / "Pulumi.same-account.yaml").read_text()
                     + "  atlas-kms:alerts:\n    webhookUrl:\n      secure: v1:AAAABBBBCCCC\n")
    assert preview.main(["--stack-file", str(stack)]) == 0
    out = capsys.readouterr().out
    assert "AAAABBBB" not in out and "notifications: [secret]" in out


def test_extra_ranges_merging_wide_are_warned_about_as_merged() -> None:
    r = run("same-account", {"atlas-kms:sourceIps": {"extraCidrs": ["3.0.0.0/16", "3.1.0.0/16"], "allowWideCidrs": True}})
    assert "3.0.0.0/15" in r.outputs["allowedCidrs"]
    assert any("allowWideCidrs is true" in line and "3.0.0.0/15" in line for line in r.logs)
